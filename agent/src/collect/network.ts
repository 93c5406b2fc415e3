// fetch and XMLHttpRequest: method, URL, template, status, duration, phases and sizes from
// Resource Timing, failures, and a W3C traceparent header for allowed origins.
import type { Ev } from '../types';
import { st, track, crumb, activity, live } from '../core';
import { urlTemplate } from '../template';
import { W, P, abs, clip, hex, int, ms, now, phase, phases, safe, unit } from '../util';

type Req = Extract<Ev, { type: 'request' }>;
interface Rec {
  ev: Req;
  t0: number; // performance.now() at the start
  view: string;
  page: string;
  done?: boolean;
}

const pending: Rec[] = [];
let own = '';

function traced(url: string): boolean {
  return st.cfg.trace.some((r) => r.test(url));
}

function bodySize(b: unknown): number | undefined {
  if (b == null) return 0;
  if (typeof b == 'string') return new Blob([b]).size;
  if (b instanceof Blob) return b.size;
  if (b instanceof ArrayBuffer || ArrayBuffer.isView(b)) return b.byteLength;
  if (b instanceof URLSearchParams) return b.toString().length;
  return undefined;
}

function begin(api: string, method: string, url: string, body: unknown): Rec | undefined {
  const u = abs(url);
  if (!st.on || (own && u.indexOf(own) == 0) || !/^https?:/i.test(u)) return undefined;
  // A new session starts (and is sampled) before its first request is traced.
  live();
  activity();
  return {
    ev: {
      type: 'request',
      api,
      method: clip(method.toUpperCase(), 20),
      url: clip(u, 4000),
      url_template: clip(urlTemplate(u), 4000),
      duration: 0,
      request_size: int(bodySize(body)),
    },
    t0: P.now(),
    view: st.view,
    page: st.url,
  };
}

/**
 * Adds a traceparent to a request to a traced origin, unless the application set its own, and
 * records the ids and the sampled flag (bit 0 of the flags) of the header sent.
 */
function trace(r: Rec, v: string | null | undefined, set: (v: string) => void): void {
  const e = r.ev;
  if (!v) {
    if (!traced(e.url)) return;
    // Sampled or not by the session, so that a backend keeps or drops all of its traces.
    const k = !st.out && unit('t' + st.sid) < st.cfg.traceRate;
    set((v = '00-' + hex(16) + '-' + hex(8) + '-0' + +k));
  }
  const m = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]([\da-f])/.exec(v);
  if (m) {
    e.trace_id = m[1];
    e.span_id = m[2];
    e.trace_sampled = parseInt(m[3], 16) % 2 > 0;
  }
}

function end(r: Rec, status: number, failure?: string, size?: number | null): void {
  const e = r.ev;
  e.duration = ms(P.now() - r.t0) || 0;
  e.status = status;
  if (failure) e.failure = failure;
  if (size != null && size >= 0) e.response_size = size;
  e.ts = Math.round(now() - e.duration);
  e.view_id = r.view;
  e.page_url = r.page;
  // The trace id lets an error's breadcrumbs open the request's trace; an untraced
  // request's undefined is left out of the JSON.
  crumb('request', e.method + ' ' + e.url + ' ' + (failure || status), {
    method: e.method,
    status,
    duration: e.duration,
    trace_id: e.trace_id as string,
  });
  if (failure) return emit(r);
  // Wait (up to 1 s) for the Resource Timing entry with the phases.
  pending.push(r);
  setTimeout(
    safe(() => emit(r)),
    1000,
  );
  match(P.getEntriesByType('resource') as PerformanceResourceTiming[]);
}

function emit(r: Rec): void {
  if (r.done) return;
  r.done = true;
  const i = pending.indexOf(r);
  if (i >= 0) pending.splice(i, 1);
  track(r.ev);
}

/** Fills pending requests from Resource Timing entries (called by the resource observer). */
export function match(entries: PerformanceResourceTiming[]): void {
  if (!pending.length) return;
  for (const en of entries) {
    if (en.initiatorType != 'fetch' && en.initiatorType != 'xmlhttprequest') continue;
    for (const r of pending) {
      if (r.done || en.name != r.ev.url || Math.abs(en.startTime - r.t0) > 20) continue;
      const e = r.ev;
      if (en.requestStart > 0)
        Object.assign(e, phases(en), { ttfb: phase(en.startTime, en.responseStart) });
      if (en.encodedBodySize > 0) e.response_size = en.encodedBodySize;
      if (en.responseEnd > 0)
        e.duration = Math.max(e.duration, ms(en.responseEnd - en.startTime) || 0);
      emit(r);
      break;
    }
  }
}

/** Emits what is still waiting (the page is being hidden). */
export function flushRequests(): void {
  for (const r of pending.slice()) emit(r);
}

export function initNetwork(endpoint: string): void {
  own = endpoint;
  const nf = W.fetch;
  if (typeof nf == 'function') {
    // One declared parameter, like the native fetch (fetch.length == 1).
    W.fetch = function (this: unknown, input: RequestInfo | URL) {
      // eslint-disable-next-line prefer-rest-params
      let init = arguments[1] as RequestInit | undefined;
      let r: Rec | undefined;
      try {
        const req = input instanceof Request ? input : undefined;
        r = begin(
          'fetch',
          init?.method || req?.method || 'GET',
          req ? req.url : String(input),
          init?.body,
        );
        if (r) {
          const h = new Headers(init?.headers || req?.headers);
          trace(r, h.get('traceparent'), (v) => {
            h.set('traceparent', v);
            init = Object.assign({}, init, { headers: h });
          });
        }
      } catch {
        r = undefined;
      }
      const p = nf.call(
        this === W || this === undefined ? W : this,
        input,
        init,
      ) as Promise<Response>;
      if (!r) return p;
      const rec = r;
      return p.then(
        (res) => {
          try {
            const cl = res.headers.get('content-length');
            end(rec, res.status, undefined, cl != null && cl != '' ? +cl : undefined);
          } catch {
            /* ignore */
          }
          return res;
        },
        (err) => {
          try {
            end(rec, 0, err?.name == 'AbortError' ? 'abort' : 'network');
          } catch {
            /* ignore */
          }
          throw err;
        },
      );
    } as typeof fetch;
  }

  const X = W.XMLHttpRequest?.prototype;
  if (!X) return;
  const open = X.open;
  const send = X.send;
  const header = X.setRequestHeader;
  // method, URL and the application's own traceparent
  const meta = new WeakMap<XMLHttpRequest, { m: string; u: string; t?: string }>();
  // Declared parameters as in the native methods (open.length == 2, send.length == 0).
  X.open = function (this: XMLHttpRequest, m: string, u: string | URL) {
    try {
      meta.set(this, { m: String(m), u: String(u) });
    } catch {
      /* ignore */
    }
    // eslint-disable-next-line prefer-rest-params
    return (open as (...x: unknown[]) => void).apply(this, arguments as unknown as unknown[]);
  } as typeof X.open;
  // An XHR's request headers cannot be read back: the application's traceparent is kept here,
  // so that the agent records it instead of adding a second one.
  X.setRequestHeader = function (this: XMLHttpRequest, n: string, v: string) {
    const d = meta.get(this);
    if (d && /^traceparent$/i.test(n)) d.t = v;
    // eslint-disable-next-line prefer-rest-params
    return header.apply(this, arguments as unknown as [string, string]);
  };
  X.send = function (this: XMLHttpRequest) {
    // eslint-disable-next-line prefer-rest-params
    const body = arguments[0] as Document | XMLHttpRequestBodyInit | null | undefined;
    try {
      const d = meta.get(this);
      const r = d && begin('xhr', d.m, d.u, body);
      if (r) {
        trace(r, d.t, (v) => header.call(this, 'traceparent', v));
        let failure: string | undefined;
        const x = this;
        for (const k of ['abort', 'timeout', 'error'])
          x.addEventListener(k, () => (failure = k == 'error' ? 'network' : k));
        x.addEventListener(
          'loadend',
          safe(() => {
            const cl = x.getResponseHeader('content-length');
            end(r, x.status, x.status ? undefined : failure || 'network', cl ? +cl : undefined);
          }),
        );
      }
    } catch {
      /* ignore */
    }
    // eslint-disable-next-line prefer-rest-params
    return send.apply(
      this,
      arguments as unknown as [body?: Document | XMLHttpRequestBodyInit | null],
    );
  };
}
