// The public API (`window.vigil`) and the start sequence: consent and manual start gates,
// session sampling, then every collector.
import { makeConfig, rate, type Options } from './config';
import { VERSION, context, endView, st, track, type State } from './core';
import { clearSession, persist, touch } from './session';
import { drop, flush, nativeFetch, setup } from './transport';
import { initErrors, reportError } from './collect/errors';
import { initInteractions } from './collect/interactions';
import { flushRequests, initNetwork } from './collect/network';
import { initPerf } from './collect/perf';
import { initViews } from './collect/views';
import { initVitals, vitalsAtHidden } from './collect/vitals';
import type { Scalar } from './types';
import { D, W, clip, debug, flat, now, on, safe, setDebug, unit, viewId } from './util';

export interface Vigil {
  /** Sends a business event: `vigil.event('checkout', {currency: 'EUR'}, 189.9)`. */
  event(name: string, properties?: Record<string, Scalar>, value?: number): void;
  /** Sets (or clears, with null) the application's user id. */
  setUser(id: string | number | null | undefined): void;
  /** Merges custom attributes into every following batch; a null value removes a key. */
  setAttributes(attributes: Record<string, Scalar | null>): void;
  /** Gives (true) or withdraws (false) consent. */
  consent(granted: boolean): void;
  /** Starts the agent when it was loaded with data-manual-start. */
  start(): void;
  /**
   * Reports an error the application caught; `fingerprint` groups it with the errors of the same
   * list (`'{{ default }}'` stands for the collector's own grouping; at most 16 parts of 256 bytes).
   */
  error(err: unknown, options?: { fingerprint?: string[] }): void;
  /** Sends what is queued now. */
  flush(): void;
  /** The current session and view ids (empty before start). */
  getContext(): { session_id: string; view_id: string };
  readonly version: string;
}

// Every browser with PerformanceObserver also has fetch, Promise, URL, Map, WeakMap and crypto.
const supported = (): boolean => typeof PerformanceObserver == 'function';

export function create(opts: Options, scriptSrc?: string): Vigil {
  const ok = supported();
  const cfg = makeConfig(opts, scriptSrc);
  setDebug(cfg.debug);
  st.cfg = cfg;
  const gpc =
    (navigator as Navigator & { globalPrivacyControl?: boolean }).globalPrivacyControl === true;
  let consented: boolean | undefined;
  let startCalled = !cfg.manualStart;
  let installed = false;

  const go = (): void => {
    if (!ok || !cfg.key || st.on || !startCalled) return;
    if ((cfg.consentRequired || gpc) && consented !== true) return debug('waiting for consent');
    if (consented === false) return;
    const s = touch(now());
    st.sid = s.id;
    st.out = unit(s.id) >= cfg.sampleRate;
    if (st.out) return debug('session not sampled');
    // The page's first view is named after its session once the session is known; nothing
    // has used its id before the first start.
    if (!installed) st.view = st.hard = viewId(s.id);
    st.on = true;
    if (installed) return;
    installed = true;
    // Session replay: its recorder is a separate chunk, fetched only for the sessions it records
    // (whole, or kept in memory until an error); it finds the agent's state at vigil._r.
    // One draw for both modes: [0, whole) records whole sessions, [whole, whole + onError) on error.
    if (unit('r' + s.id) < rate(opts.replaySampleRate) + rate(opts.replayOnErrorRate)) {
      (api as Vigil & { _r?: State })._r = st;
      st.o = opts;
      st.f = nativeFetch;
      const e = D.createElement('script');
      e.src = new URL(
        scriptSrc ? 'vigil-replay.js' : '/agent/vigil-replay.js',
        scriptSrc || cfg.endpoint,
      ).href;
      D.head.append(e);
    }
    setup(cfg.endpoint, cfg.key, context);
    for (const f of [
      initViews,
      initVitals,
      initErrors,
      () => initNetwork(cfg.endpoint),
      () => initPerf(cfg.endpoint),
      initInteractions,
    ])
      safe(f)();
    const hide = (e: Event): void => {
      if (!st.on) return;
      // A page being left gets pagehide while still visible, then, in the same task (HTML's
      // unload steps), visibilitychange to hidden, where web-vitals reports its final INP and CLS.
      // Ending the view at pagehide would send those in a second beacon that repeats the context,
      // so it waits for that visibilitychange where such vitals are measured (Safari 14, which
      // fires no visibilitychange when a page is left, measures neither).
      if (e.type == 'pagehide' && D.visibilityState != 'hidden' && vitalsAtHidden()) return;
      flushRequests();
      endView('hide');
      persist();
      flush(true);
    };
    on(D, 'visibilitychange', (e: Event) => D.visibilityState == 'hidden' && hide(e), false);
    on(W, 'pagehide', hide, false);
    debug('started', cfg);
  };

  const api: Vigil = {
    event: safe((name: string, properties?: Record<string, Scalar>, value?: number) => {
      if (!name) return;
      track({
        type: 'custom',
        name: clip(name, 200),
        properties: flat(properties),
        value: typeof value == 'number' && isFinite(value) ? value : undefined,
      });
    }),
    setUser: safe((id: string | number | null | undefined) => {
      const v = id == null || id === '' ? undefined : clip(id, 200);
      if (v !== st.user) {
        flush(false); // earlier events keep the earlier user
        st.user = v;
      }
    }),
    setAttributes: safe((a: Record<string, Scalar | null>) => {
      if (!a || typeof a != 'object') return;
      flush(false);
      const next: Record<string, Scalar> = Object.assign({}, st.attrs);
      for (const k in a) if (a[k] === null) delete next[k];
      st.attrs = flat(Object.assign(next, flat(a)));
    }),
    consent: safe((granted: boolean) => {
      consented = !!granted;
      if (consented) return go();
      // Withdrawn: stop, forget what is queued and the session id.
      st.on = false;
      drop();
      clearSession();
    }),
    start: safe(() => {
      startCalled = true;
      go();
    }),
    error: safe((err: unknown, o?: { fingerprint?: string[] }) =>
      reportError(err, 'manual', true, undefined, o?.fingerprint),
    ),
    flush: safe(() => flush(false)),
    getContext: () => ({ session_id: st.on ? st.sid : '', view_id: st.on ? st.view : '' }),
    version: VERSION,
  };
  go();
  return api;
}
