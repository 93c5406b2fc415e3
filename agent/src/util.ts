// Small helpers shared by every module. Nothing here touches globals beyond reading them.
import type { Flat } from './types';

export const W = window;
export const D = document;
export const P = performance;

/** Wraps a function so that it can never throw into the host page. */
export function safe<A extends unknown[], R>(fn: (...a: A) => R): (...a: A) => R | undefined {
  return function (this: unknown, ...a: A) {
    try {
      return fn.apply(this, a);
    } catch (e) {
      debug('internal error', e);
      return undefined;
    }
  };
}

/** addEventListener with every listener wrapped in `safe`. */
export function on(
  target: EventTarget,
  type: string,
  fn: (e: any) => void,
  opts: AddEventListenerOptions | boolean = { capture: true, passive: true },
): void {
  target.addEventListener(type, safe(fn), opts);
}

let debugOn = false;
// Captured before console.error is wrapped, so debug output is never a breadcrumb.
const con = W.console;
const log = con?.debug?.bind(con);
export function setDebug(v: boolean): void {
  debugOn = v;
}
export function debug(...a: unknown[]): void {
  if (debugOn && log) log('[vigil]', ...a);
}

export const now = (): number => Date.now();
/** ms since the epoch of a performance timestamp, as an integer. (performance.timeOrigin is older
 *  than Array.prototype.at, which web-vitals needs.) */
export const epoch = (t: number): number => Math.round(P.timeOrigin + t);

/** A duration or time in ms, kept at 0.1 ms; undefined when not a finite non-negative number. */
export function ms(v: number | undefined | null): number | undefined {
  return typeof v == 'number' && v >= 0 && v < 1e12 ? Math.round(v * 10) / 10 : undefined;
}
/** A whole, non-negative byte count or undefined. */
export function int(v: number | undefined | null): number | undefined {
  return typeof v == 'number' && v >= 0 && v < 1e15 ? Math.round(v) : undefined;
}
/** The duration from a to b in ms, when b is not before a. */
export function phase(a: number, b: number): number | undefined {
  return b >= a ? ms(b - a) : undefined;
}

/** The DNS, TCP, TLS and download phases of a navigation or resource timing entry. */
export const phases = (t: PerformanceResourceTiming) => ({
  dns: phase(t.domainLookupStart, t.domainLookupEnd),
  tcp: phase(t.connectStart, t.connectEnd),
  tls: t.secureConnectionStart > 0 ? phase(t.secureConnectionStart, t.connectEnd) : undefined,
  download: phase(t.responseStart, t.responseEnd),
});

/** `n` random bytes as hex. (crypto.getRandomValues is older than every API the agent needs.) */
export function hex(n: number): string {
  let s = '';
  for (const b of crypto.getRandomValues(new Uint8Array(n))) s += (b + 256).toString(16).slice(1);
  return s;
}

/**
 * A new session's id, started at `t` (ms since the epoch, a whole number): the time in hex (11
 * characters from 1978 to 2527), then 40 random bits. Two sessions share an id only if they start
 * in the same millisecond and draw the same 40 bits. Sessions started close in time share the
 * id's first characters, which the server's segments (rows in time order) store once for a run
 * of rows: 7.4 bytes a row on the query benchmark, against 9.0 for 64 random bits.
 */
export const sessionId = (t: number): string => t.toString(16) + hex(5);

/**
 * A view's id: its session's id, a dash, the view's start in ms after the session's in base 36,
 * and 16 random bits. Two views of a session share an id only if they start in the same
 * millisecond (tabs opened at once) and draw the same 16 bits. The server stores only what
 * follows the session id, which the row holds anyway: for a session's first view about 2 bytes.
 * The same holds for a session id of an earlier agent (random hex, not a time: the start is then
 * the time less a random number, still one per millisecond) and for a clock set back (a `-`).
 */
export const viewId = (sid: string): string =>
  sid + '-' + (now() - (parseInt(sid.slice(0, 11), 16) || 0)).toString(36) + hex(2);

/** FNV-1a of a string mapped to [0, 1): deterministic sampling. */
export function unit(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 4294967296;
}

/**
 * Cuts a string so that it stays under `max` bytes once written as a JSON string (the
 * collector counts raw bytes between the quotes, escapes included), without splitting a
 * surrogate pair.
 */
export function clip(v: unknown, max: number): string {
  let s = typeof v == 'string' ? v : String(v);
  if (s.length * 6 <= max) return s;
  let b = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    b += c < 32 ? 6 : c == 34 || c == 92 ? 2 : c < 128 ? 1 : c < 2048 ? 2 : 3;
    if (b > max) {
      if (i && (s.charCodeAt(i - 1) & 0xfc00) == 0xd800) i--;
      return s.slice(0, i);
    }
  }
  return s;
}

/** Only the scalar values of an object, with keys and strings clipped; at most 64 keys. */
export function flat(o: unknown): Flat | undefined {
  if (!o || typeof o != 'object') return undefined;
  const out: Flat = {};
  let n = 0;
  for (const k of Object.keys(o)) {
    const v = (o as Record<string, unknown>)[k];
    const t = typeof v;
    if (n >= 64) break;
    if (t == 'string') out[clip(k, 200)] = clip(v, 1000);
    else if ((t == 'number' && isFinite(v as number)) || t == 'boolean')
      out[clip(k, 200)] = v as Scalar;
    else continue;
    n++;
  }
  return n ? out : undefined;
}
type Scalar = string | number | boolean;

/** Absolute URL of `u` relative to the page. */
export function abs(u: unknown): string {
  try {
    return new URL(String(u), location.href).href;
  } catch {
    return String(u);
  }
}

const CLICKABLE =
  'a,button,input,select,textarea,label,summary,[role=button],[role=link],[onclick]';

/** The element that a click on `t` is meant for: its closest interactive ancestor, or itself. */
export function clickTarget(t: EventTarget | null): Element | null {
  const el = t && (t as Node).nodeType === 1 ? (t as Element) : t && (t as Node).parentElement;
  if (!el) return null;
  return el.closest(CLICKABLE) || el;
}

/**
 * Classes that say what state an element is in rather than what it is: a toggle opened and
 * closed again must keep one selector.
 */
const STATE_CLASS =
  /^(is|has)-|^(active|open(ed)?|selected|shown?|hidden|visible|focus(ed)?|hover|disabled|expanded|collapsed|current|checked)$/;

/**
 * A stable CSS selector of an element, or of a text node's parent (a layout shift's source can be
 * a text node): `tag#id`, or up to four `tag.class` levels joined with ` > `. Never text. Classes
 * that look generated (three digits in a row) or like state are left out.
 */
export function sel(node: Node | null | undefined): string | undefined {
  const parts: string[] = [];
  let el = node ? (node.nodeType === 1 ? (node as Element) : node.parentElement) : null;
  while (el && parts.length < 4) {
    let p = el.localName;
    const id = el.id;
    if (id && /^[A-Za-z][\w-]{0,63}$/.test(id)) {
      parts.unshift(p + '#' + id);
      break;
    }
    const name = el.getAttribute('name');
    const cls = (el.getAttribute('class') || '')
      .split(/\s+/)
      .filter((c) => /^[A-Za-z_-][\w-]{0,47}$/.test(c) && !/\d{3}/.test(c) && !STATE_CLASS.test(c))
      .slice(0, 2);
    if (cls.length) p += '.' + cls.join('.');
    else if (name && /^[\w-]{1,64}$/.test(name)) p += '[name="' + name + '"]';
    parts.unshift(p);
    if (p == 'body' || p == 'html') break;
    el = el.parentElement;
  }
  return parts.length ? clip(parts.join(' > '), 400) : undefined;
}

/** Document load state at a time (ms from navigation start), as web-vitals names it. */
export function loadState(t: number): string | undefined {
  const n = navEntry();
  if (!n) return undefined;
  return t < n.domInteractive || !n.domInteractive
    ? 'loading'
    : t < n.domContentLoadedEventStart || !n.domContentLoadedEventStart
      ? 'dom-interactive'
      : t < n.domComplete || !n.domComplete
        ? 'dom-content-loaded'
        : 'complete';
}

/** First Contentful Paint (ms from navigation start), once painted. */
export function fcpAt(): number | undefined {
  const e = P.getEntriesByName('first-contentful-paint')[0];
  return e?.startTime;
}

export const navEntry = (): PerformanceNavigationTiming | undefined =>
  P.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;

/** A buffered PerformanceObserver of `type` (extra `init` such as durationThreshold); undefined when unsupported. */
export function observe(
  type: string,
  cb: (list: PerformanceEntry[]) => void,
  init?: object,
): PerformanceObserver | undefined {
  try {
    if (!PerformanceObserver.supportedEntryTypes.includes(type)) return undefined;
    const po = new PerformanceObserver(
      safe((l: PerformanceObserverEntryList) => cb(l.getEntries())),
    );
    po.observe({ type, buffered: true, ...init } as PerformanceObserverInit);
    return po;
  } catch {
    return undefined;
  }
}

let mo: MutationObserver | undefined;
const subs = new Set<() => void>();
/** Calls `cb` on every DOM change until the returned function is called. */
export function watchMutations(cb: () => void): () => void {
  const f = (): void => cb();
  subs.add(f);
  if (!mo) {
    mo = new MutationObserver(safe(() => subs.forEach((s) => s())));
    mo.observe(D.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
  }
  return () => {
    subs.delete(f);
    if (!subs.size && mo) {
      mo.disconnect();
      mo = undefined;
    }
  };
}
