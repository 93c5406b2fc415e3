// Page views: the hard load with its navigation timing, bfcache restores, and SPA route
// changes (history.pushState/replaceState, popstate, hashchange) as soft views.
import { st, track, endView, crumb, activity } from '../core';
import {
  W,
  D,
  P,
  clip,
  ms,
  int,
  phase,
  phases,
  navEntry,
  on,
  safe,
  viewId,
  now,
  epoch,
  fcpAt,
  watchMutations,
} from '../util';
import { busy, initBusy } from './busy';

const title = (): string | undefined => (D.title ? clip(D.title, 1000) : undefined);
const listeners: Array<() => void> = [];

/** Called after every view change (soft navigation, or a restore: then `st.view == st.hard`). */
export const onView = (f: () => void): void => {
  listeners.push(safe(f));
};

function hardView(b?: { tbt?: number; tti?: number }): void {
  const n = navEntry();
  const t = n && {
    redirect: phase(n.redirectStart, n.redirectEnd),
    ...phases(n),
    request: phase(n.requestStart, n.responseStart),
    ttfb: ms(n.responseStart),
    dom_interactive: ms(n.domInteractive) || undefined,
    dom_content_loaded: ms(n.domContentLoadedEventEnd) || undefined,
    dom_complete: ms(n.domComplete) || undefined,
    load: ms(n.loadEventEnd) || undefined,
  };
  const type = (n as (PerformanceNavigationTiming & { activationStart?: number }) | undefined)
    ?.activationStart
    ? 'prerender'
    : n?.type;
  track({
    type: 'view',
    ts: epoch(0),
    view_id: st.hard,
    page_url: st.hardUrl,
    navigation_type: type,
    timing: t,
    fcp: ms(fcpAt()),
    transfer_size: int(n?.transferSize),
    title: title(),
    tbt: b?.tbt,
    tti: b?.tti,
  });
}

// The hard view is held until its TTI is known, a route changes (its TBT and TTI are then final,
// without TTI) or the page is hidden or left (sent with the TBT so far), and never before `load`
// has finished unless the page is hidden or left first: its timing is complete then.
let loaded = false;
let sent = false;
let final: { tbt?: number; tti?: number } | undefined;
function send(): void {
  if (!sent) {
    sent = true;
    hardView(final || busy());
  }
}

/** Starts a new view (soft navigation or restore). */
function newView(url: string, hard: boolean): string {
  const id = viewId(st.sid);
  st.view = id;
  st.url = url;
  if (hard) {
    st.hard = id;
    st.hardUrl = url;
  }
  for (const f of listeners) f();
  return id;
}

let pending: (() => void) | undefined;

function route(trigger: string): void {
  const to = location.href;
  const from = st.url;
  if (to == from) return;
  if (pending) pending();
  if (!final) {
    final = busy() || {};
    if (loaded) send();
  }
  activity();
  if (trigger != 'push' && trigger != 'replace' && from.split('#')[0] == to.split('#')[0])
    trigger = 'hash';
  endView('route');
  const old = st.view;
  const t0 = now();
  const id = newView(to, false);
  crumb('route', to);
  // The route and the soft view are sent once the page has settled (no DOM change for 100 ms,
  // at most 5 s), so that `duration` and the new title are known.
  let last = t0;
  const stop = watchMutations(() => {
    last = now();
  });
  let timer: ReturnType<typeof setInterval>;
  const done = (): void => {
    if (pending != done) return;
    pending = undefined;
    clearInterval(timer);
    stop();
    track({
      type: 'route',
      ts: t0,
      view_id: old,
      page_url: clip(from, 4000),
      from: clip(from, 4000),
      to: clip(to, 4000),
      new_view_id: id,
      trigger,
      duration: ms(last - t0),
    });
    track({
      type: 'view',
      ts: t0,
      view_id: id,
      page_url: clip(to, 4000),
      navigation_type: 'soft',
      title: title(),
    });
  };
  pending = done;
  timer = setInterval(
    safe(() => {
      const t = now();
      if (t - last >= 100 || t - t0 > 5000) done();
    }),
    50,
  );
}

export function initViews(): void {
  initBusy();
  const wait = (): void => {
    loaded = true;
    const b = busy();
    if (final || !b || b.tti != null) send();
    else if (!sent) setTimeout(safe(wait), b.at - P.now());
  };
  if (D.readyState == 'complete') setTimeout(safe(wait), 0);
  else on(W, 'load', () => setTimeout(safe(wait), 0));
  on(W, 'pagehide', send);
  on(D, 'visibilitychange', () => D.visibilityState == 'hidden' && (send(), pending && pending()));

  on(W, 'pageshow', (e: PageTransitionEvent) => {
    if (!e.persisted) return;
    // Restored from the back/forward cache: a new view.
    const id = newView(location.href, true);
    track({ type: 'view', view_id: id, navigation_type: 'restore', title: title() });
  });

  const h = history;
  for (const [name, trigger] of [
    ['pushState', 'push'],
    ['replaceState', 'replace'],
  ] as const) {
    const orig = h[name];
    if (typeof orig != 'function') continue;
    // Two declared parameters, like the native methods.
    h[name] = function (this: History, _state: unknown, _unused: string) {
      // eslint-disable-next-line prefer-rest-params
      const r = orig.apply(this, arguments as unknown as Parameters<History['pushState']>);
      try {
        route(trigger);
      } catch {
        /* never break navigation */
      }
      return r;
    };
  }
  on(W, 'popstate', () => route('pop'));
  on(W, 'hashchange', () => route('hash'));
}
