// Core Web Vitals from Google's web-vitals (attribution build), final values only: they are
// reported when the page is hidden, and again after a bfcache restore. web-vitals measures the
// whole page load and cannot restart per SPA route, so INP and CLS are attributed by time: to
// the view (hard load, restore or soft navigation) that was current at the interaction or at
// the largest shift. LCP, FCP and TTFB belong to the hard load (or the restore).
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
import { track } from '../core';
import { viewAt } from './views';
import { clip, epoch, loadState, ms, now, safe, sel } from '../util';

/**
 * `at`: when it happened (ms from navigation start), for `ts`. `when`: the time of the
 * interaction (INP) or largest shift (CLS), which picks the view (soft navigation) that it
 * belongs to; without it (LCP, FCP, TTFB) the vital belongs to the hard load or restore.
 */
function report(m: MetricWithAttribution, a: Attribution, at?: number, when?: number): void {
  const restored = m.navigationType == 'back-forward-cache' || m.navigationType == 'restore';
  const [view_id, page_url] = viewAt(when);
  track({
    type: 'vital',
    ts: at != null && !restored ? epoch(at) : now(),
    view_id,
    page_url,
    name: m.name,
    value: m.name == 'CLS' ? Math.round(m.value * 1e4) / 1e4 : ms(m.value) || 0,
    rating: m.rating,
    attribution: a,
  });
}

const url = (u: string | undefined): string | undefined => (u ? clip(u, 4000) : undefined);

export function initVitals(): void {
  const opts = { generateTarget: (n: Node | null) => sel(n) };
  onLCP(safe((m: LCPMetricWithAttribution) => {
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
  }), opts);
  onINP(safe((m: INPMetricWithAttribution) => {
    const a = m.attribution;
    // The event whose handlers ran longest names the interaction (pointerdown, click, keydown…).
    let ev: PerformanceEventTiming | undefined;
    for (const e of a.processedEventEntries && a.processedEventEntries.length ? a.processedEventEntries : m.entries)
      if (!ev || e.processingEnd - e.processingStart > ev.processingEnd - ev.processingStart) ev = e;
    const s = a.longestScript && a.longestScript.entry;
    const t = a.interactionTime >= 0 ? a.interactionTime : m.entries[0] && m.entries[0].startTime;
    report(
      m,
      {
        element: a.interactionTarget || undefined,
        event_type: ev ? ev.name : a.interactionType,
        input_delay: ms(a.inputDelay),
        processing: ms(a.processingDuration),
        presentation_delay: ms(a.presentationDelay),
        script_url: s ? url(s.sourceURL || s.invoker) : undefined,
        script_duration: s ? ms(s.duration) : undefined,
        load_state: a.loadState,
      },
      t,
      t,
    );
  }), opts);
  onCLS(safe((m: CLSMetricWithAttribution) => {
    const a = m.attribution;
    report(m, { element: a.largestShiftTarget, shift_time: ms(a.largestShiftTime), load_state: a.loadState }, undefined, a.largestShiftTime);
  }), opts);
  onFCP(safe((m: FCPMetricWithAttribution) => {
    const a = m.attribution;
    report(m, { ttfb: ms(a.timeToFirstByte), load_state: a.loadState }, m.value);
  }));
  onTTFB(safe((m: TTFBMetricWithAttribution) => report(m, {}, m.value)));
}
