// Total Blocking Time and Time to Interactive of the hard load, from long tasks ('longtask'
// entries), for its view event.
// TTI, simplified for the field: from FCP on, the first 5 s without a long task; TTI is the end of
// the last long task before that window, or FCP when there is none, and not before
// DOMContentLoaded has ended. Only long tasks count, not the network: Resource Timing shows a
// request only once it has ended, so "at most two requests in flight" is not known cheaply.
// TBT: the time past 50 ms of each long task that starts after FCP and ends by TTI (of all those
// so far while TTI is not known).
// A long task is seen once it has ended; one seen before FCP exists ended before FCP.
import { P, fcpAt, ms, navEntry, observe } from '../util';

let po: PerformanceObserver | undefined;
/** the end of the last long task before a 5 s window without one (0: none yet), and TBT */
let end = 0;
let tbt = 0;
let quiet = false;

function add(list: PerformanceEntry[]): void {
  const f = fcpAt();
  for (const e of list) {
    const s = e.startTime;
    const x = s + e.duration;
    const c = Math.max(end, f!);
    if (!f || x <= f || quiet || (quiet = s >= c + 5e3)) continue;
    if (s >= f) tbt += x - s - 50;
    end = Math.max(c, x);
  }
}

export function initBusy(): void {
  po = observe('longtask', add);
}

/**
 * TBT so far and TTI once known (ms), and when TTI can next be known (`at`, performance.now()
 * terms); undefined where long tasks are not observed.
 */
export function busy(): { tbt?: number; tti?: number; at: number } | undefined {
  if (!po) return;
  add(po.takeRecords());
  const f = fcpAt();
  if (!f) return { at: P.now() + 1e3 };
  const c = Math.max(end, f);
  const n = navEntry();
  return {
    tbt: ms(tbt),
    tti:
      quiet || P.now() >= c + 5e3 ? ms(Math.max(c, n ? n.domContentLoadedEventEnd : 0)) : undefined,
    at: c + 5e3,
  };
}
