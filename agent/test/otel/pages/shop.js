// A shop page whose API lives on another origin (the OpenTelemetry-traced backend.py), given as
// ?api=<origin>; the agent (the npm build) sends traceparent there through traceOrigins.
import { init } from '/agent/vigil.esm.js';

const q = new URLSearchParams(location.search);
const api = q.get('api');
init({ key: q.get('key'), traceOrigins: ['self', api], resourceSampleRate: 0 });

const out = document.getElementById('out');
document.getElementById('cart').addEventListener('click', async () => {
  const r = await fetch(api + '/api/cart?cart=7');
  out.textContent = JSON.stringify(await r.json());
});
