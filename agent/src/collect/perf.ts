// Resource Timing (sampled per view, bounded) and long animation frames / long tasks.
import { st, track } from '../core';
import { match } from './network';
import { onView } from './views';
import { clip, epoch, int, ms, observe, phase, phases, unit } from '../util';

const MAX_RESOURCES = 150;
const MAX_LONG = 50;

export function initPerf(endpoint: string): void {
  let res = 0;
  let long = 0;
  let sampled = unit(st.view) < st.cfg.resourceSampleRate;
  onView(() => {
    res = long = 0;
    sampled = unit(st.view) < st.cfg.resourceSampleRate;
  });

  observe('resource', (list) => {
    const entries = list as PerformanceResourceTiming[];
    match(entries);
    for (const e of entries) {
      const i = e.initiatorType;
      if (
        !sampled ||
        res >= MAX_RESOURCES ||
        i == 'fetch' ||
        i == 'xmlhttprequest' ||
        i == 'beacon'
      )
        continue;
      if (e.name.indexOf(endpoint) == 0 || !/^https?:/.test(e.name)) continue;
      res++;
      const timed = e.requestStart > 0;
      const x = e as PerformanceResourceTiming & {
        renderBlockingStatus?: string;
        responseStatus?: number;
      };
      track({
        type: 'resource',
        ts: epoch(e.startTime),
        url: clip(e.name, 4000),
        initiator: i || 'other',
        start: ms(e.startTime),
        duration: ms(e.duration) || 0,
        ...(timed && phases(e)),
        ttfb: timed ? phase(e.requestStart, e.responseStart) : undefined,
        transfer_size: int(e.transferSize),
        encoded_size: int(e.encodedBodySize),
        decoded_size: int(e.decodedBodySize),
        render_blocking: x.renderBlockingStatus ? x.renderBlockingStatus == 'blocking' : undefined,
        status: x.responseStatus || undefined,
      });
    }
  });

  const loaf = observe('long-animation-frame', (list) => {
    for (const e of list as Array<
      PerformanceEntry & {
        blockingDuration?: number;
        scripts?: Array<{ sourceURL?: string; invoker?: string; duration: number }>;
      }
    >) {
      if (long++ >= MAX_LONG) return;
      let s: { sourceURL?: string; invoker?: string; duration: number } | undefined;
      for (const c of e.scripts || []) if (!s || c.duration > s.duration) s = c;
      track({
        type: 'long_task',
        ts: epoch(e.startTime),
        kind: 'long-animation-frame',
        start: ms(e.startTime),
        duration: ms(e.duration) || 0,
        blocking_duration: ms(e.blockingDuration),
        script_url: s?.sourceURL ? clip(s.sourceURL, 4000) : undefined,
        invoker: s?.invoker ? clip(s.invoker, 500) : undefined,
        script_duration: ms(s?.duration),
      });
    }
  });
  if (!loaf)
    observe('longtask', (list) => {
      for (const e of list) {
        if (long++ >= MAX_LONG) return;
        track({
          type: 'long_task',
          ts: epoch(e.startTime),
          kind: 'longtask',
          start: ms(e.startTime),
          duration: ms(e.duration) || 0,
        });
      }
    });
}
