// The npm build with replay options as init() takes them (numbers and booleans).
import { init } from '/agent/vigil.esm.js';
const key = new URLSearchParams(location.search).get('key');
init({ key, endpoint: '/rum/ingest', replaySampleRate: 1, replayMaskAllText: true });
