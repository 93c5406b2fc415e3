// The agent's state: session, current view, breadcrumbs, and `track`, which every collector
// calls to queue an event.
import type { Config, Options } from './config';
import type { Breadcrumb, Context, Ev, Flat } from './types';
import { touch } from './session';
import { push, flush } from './transport';
import { W, D, clip, hex, now, safe, unit } from './util';

declare const __VERSION__: string;
export const VERSION = typeof __VERSION__ == 'string' ? __VERSION__ : '0.0.0';

export interface State {
  cfg: Config;
  /** collecting and sending */
  on?: boolean;
  /** the session is sampled out */
  out?: boolean;
  sid: string;
  /** the current view (page load, soft navigation or bfcache restore) and its URL */
  view: string;
  url: string;
  /** the view of the last hard load or restore: LCP, FCP and TTFB belong to it (INP and CLS to each view, see collect/vitals.ts) */
  hard: string;
  hardUrl: string;
  user?: string;
  attrs?: Flat;
  // For the replay chunk, which finds this state at `vigil._r`:
  /** the options as given (the chunk reads its own) */
  o?: Options;
  /** the page's fetch before the agent wrapped it */
  f?: typeof fetch;
  /** an error was reported on this page */
  err?: boolean;
  /** set by the chunk: told of every error reported */
  onError?: () => void;
  /** set by the chunk: it runs on this page */
  rec?: boolean;
}
// The page's view until its session is known (then named after it).
const view = hex(8);
const url = location.href;
// What is undefined at first is left out: the core's bundle is within a byte budget.
export const st = { sid: '', view, url, hard: view, hardUrl: url } as State;

const crumbs: Breadcrumb[] = [];
export function crumb(category: Breadcrumb['category'], message: string, data?: Flat): void {
  crumbs.push({ ts: now(), category, message: clip(message, 500), data });
  if (crumbs.length > 20) crumbs.shift();
}
export const breadcrumbs = (): Breadcrumb[] => crumbs.slice();

type Hook = (reason: 'hide' | 'route') => void;
const ends: Hook[] = [];
/** Registers what to do when a view ends (page hidden or left, or soft navigation). */
export function onEnd(f: Hook): void {
  ends.push(safe(f));
}
export function endView(reason: 'hide' | 'route'): void {
  for (const f of ends) f(reason);
}

let act = 0;
/** Marks that the page reacted (DOM change, request, navigation): clicks are not dead. */
export const activity = (): void => {
  act = now();
};
export const lastActivity = (): number => act;

/** Marks activity in the session (a new one is sampled afresh); true when it is sent. */
export function live(): boolean {
  const s = touch(now());
  if (s.renewed) {
    flush(false); // the old session's events go in their own batch
    st.out = unit(s.id) >= st.cfg.sampleRate;
  }
  st.sid = s.id;
  return !st.out;
}

/** Queues an event of the current view, unless the agent is off. */
export function track(ev: Ev): void {
  if (!st.on || !live()) return;
  const t = now();
  ev.ts = Math.round(ev.ts || t);
  if (ev.ts < 1577836800000) return; // a clock before 2020 would get the whole batch rejected
  ev.view_id = ev.view_id || st.view;
  ev.page_url = clip(ev.page_url || st.url, 4000);
  push(ev);
}

/** `v` when it is of type `t` (what browsers give is not trusted). */
const is = <T>(v: T, t: string): T | undefined => (typeof v == t ? v : undefined);

export function context(): Context {
  const n = navigator as Navigator & {
    connection?: { type?: string; effectiveType?: string; rtt?: number; downlink?: number };
    deviceMemory?: number;
  };
  const c = n.connection;
  const cfg = st.cfg;
  const sc = W.screen;
  return {
    session_id: st.sid,
    view_id: st.view,
    agent: { name: 'vigil-browser', version: VERSION },
    page_url: clip(st.url, 4000),
    referrer: D.referrer ? clip(D.referrer, 4000) : undefined,
    screen: sc ? { width: sc.width | 0, height: sc.height | 0 } : undefined,
    viewport: { width: W.innerWidth | 0, height: W.innerHeight | 0 },
    connection: c
      ? {
          type: is(c.type, 'string'),
          effective_type: is(c.effectiveType, 'string'),
          rtt: is(c.rtt, 'number'),
          downlink: is(c.downlink, 'number'),
        }
      : undefined,
    device_memory: is(n.deviceMemory, 'number'),
    user_id: st.user,
    release: cfg.release,
    environment: cfg.environment,
    attributes: st.attrs,
    sample_rate: cfg.sampleRate,
  };
}
