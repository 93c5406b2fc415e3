// Script-tag entry (dist/vigil.js):
//   <script async src="https://rum.example.com/agent/vigil.js" data-key="pk_…"></script>
// Options come from data-attributes; the API is window.vigil. Calls made before the script
// loaded through a queue stub (window.vigil = {q: [["event", ["signup"]], …]}) are replayed.
import { create } from './api';
import { fromScript } from './config';
import { D, W } from './util';

(function () {
  try {
    const w = W as unknown as { vigil?: Record<string, unknown> & { q?: unknown[] } };
    const prev = w.vigil;
    if (prev?.version) return; // loaded twice
    const s = (D.currentScript ||
      D.querySelector('script[data-key][src*="vigil"]')) as HTMLScriptElement | null;
    if (!s) return;
    const api = create(fromScript(s), s.src) as unknown as Record<string, unknown>;
    w.vigil = api;
    const q = prev && Array.isArray(prev.q) ? prev.q : [];
    for (const item of q) {
      try {
        const [name, args] = item as [string, ArrayLike<unknown>];
        const f = api[name];
        if (typeof f == 'function') f.apply(api, Array.from(args || []));
      } catch {
        /* a bad queued call is skipped */
      }
    }
  } catch {
    /* never break the page */
  }
})();
