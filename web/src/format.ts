// Formatting of values for display: metrics (durations, CLS), counts, shares, bytes, trends,
// times and dates (UTC).
import type { Cell } from './api';
import { el } from './dom';

export function fmtMetric(metric: string, v: Cell): string {
  if (v === null || typeof v !== 'number' || !isFinite(v)) return '–';
  if (metric === 'cls') return v.toFixed(3);
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  return Math.round(v) + ' ms';
}
export function fmtNum(v: Cell): string {
  return typeof v === 'number' ? v.toLocaleString('en-US') : v === null ? '–' : String(v);
}
export function fmtPct(v: number): string {
  return (v * 100).toFixed(1) + '%';
}
export function fmtCell(v: Cell): string {
  return v === null ? '(none)' : String(v);
}
/** Minimum samples (page views / vital counts) in the previous period for a trend to be shown. */
const MIN_PREV_SAMPLES = 30;

export function trend(
  cur: Cell,
  prev: Cell,
  lowerIsBetter: boolean,
  prevSamples: Cell,
): HTMLElement {
  if (typeof prevSamples !== 'number' || prevSamples < MIN_PREV_SAMPLES)
    return el('div', { class: 'trend', 'data-testid': 'trend-none' }, 'not enough earlier data');
  if (typeof cur !== 'number' || typeof prev !== 'number' || prev === 0)
    return el('div', { class: 'trend' }, 'no previous data');
  const d = (cur - prev) / prev;
  const worse = lowerIsBetter ? d > 0 : d < 0;
  const cls = Math.abs(d) < 0.005 ? 'trend' : worse ? 'trend worse' : 'trend better';
  return el(
    'div',
    { class: cls, 'data-testid': 'trend' },
    `${d >= 0 ? '▲' : '▼'} ${Math.abs(d * 100).toFixed(1)}% vs previous period`,
  );
}
export const fmtBytes = (v: Cell): string => {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (v >= 1e9) return (v / 1e9).toFixed(2) + ' GB';
  if (v >= 1e6) return (v / 1e6).toFixed(2) + ' MB';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + ' kB';
  return Math.round(v) + ' B';
};
export const fmtShare = (v: Cell): string =>
  typeof v === 'number' && isFinite(v) ? fmtPct(v) : '–';

/** A time (ms since the epoch) in UTC, to the second (`2025-11-03 14:05:09 UTC`) or minute. */
export const fmtTime = (v: Cell, minutes = false): string =>
  typeof v === 'number'
    ? new Date(v)
        .toISOString()
        .slice(0, minutes ? 16 : 19)
        .replace('T', ' ') + ' UTC'
    : '–';
/** The UTC day of a time in seconds since the epoch: `2025-11-03`. */
export const fmtDay = (secs: number): string => new Date(secs * 1000).toISOString().slice(0, 10);
/** A session id short enough for a table: its last 12 characters. The browser agent's ids begin
 *  with their start time, which sessions started in the same minute share; the end is random. */
export const fmtSessionId = (id: string): string => (id.length > 12 ? id.slice(-12) : id);
/** A duration in ms as `1h 5m`, `4m 12s` or `9s`. */
export function fmtDuration(v: Cell): string {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  const s = Math.round(v / 1000),
    h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
/** Offset from the session start as +m:ss. */
export function fmtOffset(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `+${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const SAMPLED_TIP =
  'The SDK kept only a share of sessions (its sample rate, data-sample-rate in the snippet). ' +
  'Each kept session, and each of its events, stands for 1 / sample_rate of them, so the ' +
  'estimate is the sum of 1 / sample_rate over what was kept, rounded.';
/** The figure to show for a count: its estimate when the events were sampled, else the count. */
export function estimated(count: Cell, est: Cell): number {
  return typeof est === 'number' ? est : Number(count ?? 0);
}
/**
 * A count's headline figure and, when the events were sampled (the API's estimate, e.g.
 * `estimated_count` or `estimated_sessions`, differs from the raw count), the estimate marked
 * `≈` and a note giving both figures.
 */
export function countFigure(count: Cell, est: Cell): HTMLElement[] {
  const n = Number(count ?? 0),
    e = estimated(n, est);
  if (e === n) return [el('div', { class: 'metric-value', 'data-raw': String(n) }, fmtNum(n))];
  return [
    el(
      'div',
      { class: 'metric-value', 'data-raw': String(e), title: SAMPLED_TIP },
      `≈ ${fmtNum(e)}`,
    ),
    el(
      'div',
      { class: 'sampled', 'data-testid': 'sampled', title: SAMPLED_TIP },
      `sampled: ${fmtNum(n)} kept, ≈ ${fmtNum(e)} estimated`,
    ),
  ];
}
/** How long before `now` a time (ms) was: `just now`, `5 min ago`, `3 h ago`, `12 d ago`. */
export function fmtAgo(ms: Cell, now = Date.now()): string {
  if (typeof ms !== 'number' || !isFinite(ms)) return '–';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
/** How long before an error something happened (ms ≥ 0): `0.4 s`, `12.0 s`, `3m 05s`. */
export function fmtBefore(ms: number): string {
  const v = Math.max(0, ms);
  if (v < 60000) return `${(v / 1000).toFixed(1)} s`;
  const s = Math.round(v / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}
/** A span's time in ms, precise enough to tell a 0.4 ms query from a 4 ms one: `0.42 ms`, `12.3 ms`, `1,234 ms`. */
export function fmtMs(v: Cell): string {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (v === 0) return '0 ms';
  const a = Math.abs(v);
  const t =
    a >= 100 ? Math.round(v).toLocaleString('en-US') : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${t} ms`;
}
