// Core Web Vitals, final values only (when the page is hidden, or when a view ends).
// LCP, FCP and TTFB come from Google's web-vitals (attribution build) and belong to the hard load
// or the bfcache restore: a soft navigation has none (a soft view's LCP needs Chrome's
// experimental Soft Navigation API).
// INP and CLS belong to each view. Until the first route change since the hard load or restore
// they are web-vitals' values. web-vitals measures the whole page and cannot restart at a route
// change, so from the first one on the agent computes each view's INP and CLS itself from the
// entries that started inside the view (from its start to the next route change), with the same
// definitions:
// - INP: 'event' entries of 40+ ms with an interactionId, the longest entry of each interaction
//   (which belongs to the view where it started: a click that navigates, to the view it leaves);
//   the longest interaction, but one highest is skipped per 50 interactions of the view
//   (performance.interactionCount, else the interactions seen: the p98 approximation).
// - CLS: shifts without recent input, in session windows (ended by a 1 s gap or at 5 s); the
//   largest window's sum, its largest shift's first element source (else its first source: a
//   text node's parent) as the element.
// An ended view's values are sent 1 s after the route change (the entries of the interaction that
// navigated only come after the next frame), the current view's when the page is hidden; a view
// sends a kind again only with a new value. A view without shifts sends CLS 0 (as web-vitals does),
// one without interactions no INP. From the first route change web-vitals' INP and CLS are dropped,
// and a value it sent for the hard view (hidden before that) counts as sent for that view.
import { onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals/attribution';
import type {
  CLSMetricWithAttribution,
  FCPMetricWithAttribution,
  INPMetricWithAttribution,
  LCPMetricWithAttribution,
  MetricWithAttribution,
  TTFBMetricWithAttribution,
} from 'web-vitals/attribution';
import type { Attribution } from '../types';
import { onEnd, st, track } from '../core';
import { onView } from './views';
import { P, clip, epoch, loadState, ms, now, observe, safe, sel } from '../util';

type Name = MetricWithAttribution['name'];
type Shift = PerformanceEntry & {
  value: number;
  hadRecentInput: boolean;
  sources?: Array<{ node: Node | null }>;
};
/** An entry with the selector of its element, taken at once (the node may be gone at the end). */
type Hit<E> = [E, string?];

/** A view's span (performance.now() terms) and what its INP and CLS need. */
interface Span {
  id: string;
  url: string;
  start: number;
  end: number;
  /** performance.interactionCount at the start and at the end */
  n0: number;
  n1?: number;
  /** the entries of each of the 10 longest interactions, longest first */
  ev: Map<number, Array<Hit<PerformanceEventTiming>>>;
  /** the open session window: sum, first and last shift time, largest shift */
  w: number;
  w0: number;
  w1: number;
  wb?: Hit<Shift>;
  /** the largest window's sum and largest shift */
  cls: number;
  big?: Hit<Shift>;
  /** the last value sent, by name */
  sent: Record<string, number>;
}

/** The current view last, ended views before it until they are sent. */
let spans: Span[];
/** A route changed since the hard load or the last restore: INP and CLS are the agent's own. */
let perView = false;
/** Observers of event timing and layout shifts (undefined where unsupported: no such vital). */
let evs: PerformanceObserver | undefined;
let shifts: PerformanceObserver | undefined;
/** INP or CLS is measured here: web-vitals reports it when the page turns hidden. */
export const vitalsAtHidden = (): boolean => !!(evs || shifts);
const count = (): number => (P as Performance & { interactionCount: number }).interactionCount;
const span = (start: number, n0: number): Span => ({
  id: st.view,
  url: st.url,
  start,
  end: 1 / 0,
  n0,
  ev: new Map(),
  w: 0,
  w0: 0,
  w1: 0,
  cls: 0,
  sent: {},
});
const spanAt = (t: number): Span | undefined => spans.find((s) => s.start <= t && t < s.end);
const rate = (v: number, good: number, poor: number): string =>
  v > poor ? 'poor' : v > good ? 'needs-improvement' : 'good';

/** Queues a vital; INP and CLS (with their view `s`) once per view and value. */
function vital(
  name: Name,
  value: number,
  rating: string,
  attribution: Attribution,
  ts: number,
  s?: Span,
): void {
  value = name == 'CLS' ? Math.round(value * 1e4) / 1e4 : ms(value) || 0;
  if (s) {
    if (s.sent[name] === value) return;
    s.sent[name] = value;
  }
  track({
    type: 'vital',
    ts,
    view_id: s ? s.id : st.hard,
    page_url: s ? s.url : st.hardUrl,
    name,
    value,
    rating,
    attribution,
  });
}

/** web-vitals' values. `at`: when it happened (ms from navigation start), for `ts`. */
function report(m: MetricWithAttribution, a: Attribution, at?: number): void {
  const restored = m.navigationType == 'back-forward-cache' || m.navigationType == 'restore';
  const own = m.name == 'INP' || m.name == 'CLS';
  if (!(own && perView))
    vital(
      m.name,
      m.value,
      m.rating,
      a,
      at != null && !restored ? epoch(at) : now(),
      own ? spans[0] : undefined,
    );
}

function onEvents(list: PerformanceEntry[]): void {
  for (const e of list as PerformanceEventTiming[]) {
    const id = e.interactionId;
    // An interaction (keydown … keyup) belongs to the view where its first entry started.
    const s = id && (spans.find((x) => x.ev.has(id)) || spanAt(e.startTime));
    if (!s) continue;
    const hits = s.ev.get(id) || [];
    s.ev.set(id, hits);
    hits.push([e, sel(e.target as Node)]);
    hits.sort((a, b) => b[0].duration - a[0].duration);
    // Only the 10 longest interactions can be the INP (as in web-vitals): the view's memory stays bounded.
    if (s.ev.size > 10) {
      let k = 0;
      let min = 1 / 0;
      for (const [i, h] of s.ev) if (h[0][0].duration < min) ((min = h[0][0].duration), (k = i));
      s.ev.delete(k);
    }
  }
}

function onShifts(list: PerformanceEntry[]): void {
  for (const e of list as Shift[]) {
    const s = !e.hadRecentInput && spanAt(e.startTime);
    if (!s) continue;
    const t = e.startTime;
    if (!(s.w && t - s.w1 < 1000 && t - s.w0 < 5000)) {
      s.w = 0;
      s.w0 = t;
      s.wb = undefined;
    }
    s.w += e.value;
    s.w1 = t;
    if (!s.wb || e.value > s.wb[0].value) {
      // As web-vitals: the first element source, else the first source (a text node: its parent).
      const src = e.sources || [];
      const x = src.find((x) => x.node?.nodeType === 1) || src[0];
      s.wb = [e, sel(x?.node)];
    }
    if (s.w > s.cls) {
      s.cls = s.w;
      s.big = s.wb;
    }
  }
}

/** Sends a view's own INP and CLS. */
function flush(s: Span): void {
  const all = [...s.ev.values()].sort((a, b) => b[0][0].duration - a[0][0].duration);
  const n = (s.n1 ?? count()) - s.n0;
  const hits = all[Math.min(all.length - 1, Math.floor((n >= all.length ? n : all.length) / 50))];
  if (hits) {
    // Like web-vitals: the phases span the entries presented in the longest one's frame, and the
    // event whose handlers ran longest names the interaction (pointerdown, click, keydown…).
    const [l] = hits[0];
    const t = l.startTime;
    const end = t + l.duration;
    const proc = (e: PerformanceEventTiming): number => e.processingEnd - e.processingStart;
    let ps = 1 / 0;
    let pe = 0;
    let named = hits[0];
    for (const h of hits) {
      const e = h[0];
      if (Math.abs(e.startTime + e.duration - end) > 8) continue;
      ps = Math.min(ps, e.processingStart);
      // Durations are rounded to 8 ms: processing ends by start + duration, so the phases add up.
      pe = Math.min(end, Math.max(pe, e.processingEnd));
      if (proc(e) > proc(named[0])) named = h;
    }
    vital(
      'INP',
      l.duration,
      rate(l.duration, 200, 500),
      {
        element: named[1],
        event_type: named[0].name,
        input_delay: ms(ps - t),
        processing: ms(pe - ps),
        presentation_delay: ms(end - pe),
        load_state: loadState(t),
      },
      epoch(t),
      s,
    );
  }
  const b = s.big;
  const t = b ? b[0].startTime : s.start;
  if (shifts)
    vital(
      'CLS',
      s.cls,
      rate(s.cls, 0.1, 0.25),
      b ? { element: b[1], shift_time: ms(t), load_state: loadState(t) } : {},
      epoch(t),
      s,
    );
}

const url = (u: string | undefined): string | undefined => (u ? clip(u, 4000) : undefined);

export function initVitals(): void {
  spans = [span(0, 0)];
  evs = observe('event', onEvents, { durationThreshold: 40 });
  shifts = observe('layout-shift', onShifts);
  onView(() => {
    const t = P.now();
    // A restore: web-vitals starts over too.
    perView = st.view != st.hard;
    if (!perView) {
      spans = [span(t, count())];
      return;
    }
    const s = spans[spans.length - 1];
    s.end = t;
    s.n1 = count();
    spans.push(span(t, s.n1));
    setTimeout(
      safe(() => {
        const i = spans.indexOf(s);
        if (i >= 0) (spans.splice(i, 1), flush(s));
      }),
      1000,
    );
  });
  onEnd((reason) => {
    if (reason != 'hide' || !perView) return;
    if (evs) onEvents(evs.takeRecords());
    if (shifts) onShifts(shifts.takeRecords());
    spans.forEach(flush);
    spans = spans.slice(-1);
  });
  const opts = { generateTarget: (n: Node | null) => sel(n) };
  onLCP(
    safe((m: LCPMetricWithAttribution) => {
      const a = m.attribution;
      report(
        m,
        {
          element: a.target,
          url: url(a.url),
          ttfb: ms(a.timeToFirstByte),
          load_delay: ms(a.resourceLoadDelay),
          load_duration: ms(a.resourceLoadDuration),
          render_delay: ms(a.elementRenderDelay),
          load_state: loadState(m.value),
        },
        m.value,
      );
    }),
    opts,
  );
  onINP(
    safe((m: INPMetricWithAttribution) => {
      const a = m.attribution;
      // The event whose handlers ran longest names the interaction (pointerdown, click, keydown…).
      let ev: PerformanceEventTiming | undefined;
      for (const e of a.processedEventEntries?.length ? a.processedEventEntries : m.entries)
        if (!ev || e.processingEnd - e.processingStart > ev.processingEnd - ev.processingStart)
          ev = e;
      const s = a.longestScript?.entry;
      const t = a.interactionTime >= 0 ? a.interactionTime : m.entries[0]?.startTime;
      report(
        m,
        {
          element: a.interactionTarget || undefined,
          event_type: ev ? ev.name : a.interactionType,
          input_delay: ms(a.inputDelay),
          processing: ms(a.processingDuration),
          presentation_delay: ms(a.presentationDelay),
          script_url: url(s?.sourceURL || s?.invoker),
          script_duration: ms(s?.duration),
          load_state: a.loadState,
        },
        t,
      );
    }),
    opts,
  );
  onCLS(
    safe((m: CLSMetricWithAttribution) => {
      const a = m.attribution;
      report(m, {
        element: a.largestShiftTarget,
        shift_time: ms(a.largestShiftTime),
        load_state: a.loadState,
      });
    }),
    opts,
  );
  onFCP(
    safe((m: FCPMetricWithAttribution) => {
      const a = m.attribution;
      report(m, { ttfb: ms(a.timeToFirstByte), load_state: a.loadState }, m.value);
    }),
  );
  onTTFB(safe((m: TTFBMetricWithAttribution) => report(m, {}, m.value)));
}
