// The npm build, as a bundler would use it.
import { init } from '/agent/vigil.esm.js';
const key = new URLSearchParams(location.search).get('key');
const vigil = init({ key, endpoint: '/rum/ingest', release: 'esm-1', resourceSampleRate: 0 });
vigil.event('from_esm', { ok: true });
