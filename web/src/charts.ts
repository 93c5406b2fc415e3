// Charts: uPlot time series (one on screen at a time; dragging zooms to a custom range) and
// bars drawn with the DOM.
import uPlot from 'uplot';
import { col } from './api';
import type { Cell, QueryResult } from './api';
import { el, svgEl } from './dom';
import { fmtCell, fmtMetric } from './format';
import { customRangeHref, navigate } from './url';

let chart: uPlot | null = null;
/** One chart on screen at a time: the previous view's chart is destroyed first. */
export function plot(
  target?: HTMLElement | null,
  opts?: Omit<uPlot.Options, 'width'>,
  data?: (number | null)[][],
): void {
  chart?.destroy();
  if (!target || !opts || !data) {
    chart = null;
    return;
  }
  // dragging across a time chart zooms every view to that span (a custom range in the URL)
  const zoom = (u: uPlot) => {
    if (u.select.width < 4) return;
    const from = u.posToVal(u.select.left, 'x') * 1000,
      to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
    if (to > from) navigate(customRangeHref(from, to));
  };
  // The x range drawn, in seconds, for tests and for anyone reading the page's DOM.
  const shown = (u: uPlot) => {
    target.dataset.xMin = String(u.scales.x?.min ?? '');
    target.dataset.xMax = String(u.scales.x?.max ?? '');
  };
  chart = new uPlot(
    {
      width: Math.max(300, Math.min(1160, (target.parentElement?.clientWidth ?? 1200) - 32)),
      ...opts,
      hooks: { setSelect: [zoom], setScale: [shown] },
    },
    data as uPlot.AlignedData,
    target,
  );
  shown(chart);
  target.title = 'Drag across the chart to zoom to that time span';
}

/**
 * Counts over time, one line per value of `key` (a result grouped by key and time), zeros where
 * none, over the whole selected span `[from, to]` (ms). Without it uPlot would range a single
 * time bucket over a thousand days.
 */
export function countLines(
  target: HTMLElement | null,
  series: QueryResult,
  key: string | null,
  span: [number, number],
): void {
  const sn = key ? col(series, key) : -1,
    st = col(series, 'time'),
    sc = col(series, 'count');
  const times = [...new Set(series.rows.map((r) => Number(r[st])))].sort((a, b) => a - b);
  const idx = new Map(times.map((t, i) => [t, i]));
  const data: (number | null)[][] = [times.map((t) => t / 1000)];
  const COLORS = ['#2a5bd7', '#e67e22', '#16a085', '#8e44ad', '#c0392b', '#7f8c8d'];
  const seriesOpts: uPlot.Series[] = [{}];
  const name = (r: Cell[]) => (sn < 0 ? 'count' : fmtCell(r[sn]));
  [...new Set(series.rows.map(name))].forEach((n, k) => {
    const ys: (number | null)[] = times.map(() => 0);
    for (const r of series.rows) {
      if (name(r) !== n) continue;
      const i = idx.get(Number(r[st]));
      if (i !== undefined) ys[i] = Number(r[sc]);
    }
    data.push(ys);
    seriesOpts.push({ label: n, stroke: COLORS[k % COLORS.length], width: 2 });
  });
  const [from, to] = [span[0] / 1000, span[1] / 1000];
  plot(
    target,
    {
      height: 260,
      series: seriesOpts,
      scales: { x: { time: true, range: (): uPlot.Range.MinMax => [from, to] } },
    },
    data,
  );
}

/** Horizontal bars scaled to the largest value: [key (in `keyAttr`), label, value], shown by `fmt`. */
export function bars(
  testid: string,
  keyAttr: string,
  rows: [string, string, Cell][],
  fmt: (v: Cell) => string,
): HTMLElement {
  const largest = Math.max(0, ...rows.map(([, , v]) => Number(v) || 0));
  return el(
    'div',
    { 'data-testid': testid },
    ...rows.map(([key, label, v]) => {
      const fill = el('div', { class: 'ni' });
      fill.style.width = `${largest > 0 ? ((Number(v) || 0) / largest) * 100 : 0}%`;
      return el(
        'div',
        { class: 'rate-row', [keyAttr]: key },
        el('span', { class: 'rate-label', title: label }, label),
        el('div', { class: 'bar rate-bar' }, fill),
        el(
          'span',
          { class: 'rate-value', 'data-raw': typeof v === 'number' ? String(v) : '' },
          fmt(v),
        ),
      );
    }),
  );
}
/** Horizontal bars of durations, scaled to the longest. */
export function durationBars(
  testid: string,
  keyAttr: string,
  rows: [string, string, Cell][],
): HTMLElement {
  return bars(testid, keyAttr, rows, (v) => fmtMetric('duration', v));
}

/** A small inline bar chart of counts (no axes), e.g. a group's events over the range. */
export function sparkline(counts: number[], title: string): SVGElement {
  const W = 96,
    H = 22,
    n = Math.max(1, counts.length),
    step = W / n,
    top = Math.max(1, ...counts);
  const svg = svgEl('svg', {
    class: 'sparkline',
    width: String(W),
    height: String(H),
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': title,
    'data-series': counts.join(','),
  });
  const t = svgEl('title');
  t.textContent = title;
  svg.append(t);
  counts.forEach((c, i) => {
    // at least a sliver for a bucket with any event, so a single error shows
    const h = c > 0 ? Math.max(2, (c / top) * H) : 0;
    if (h)
      svg.append(
        svgEl('rect', {
          x: (i * step + 0.5).toFixed(1),
          y: (H - h).toFixed(1),
          width: Math.max(1, step - 1).toFixed(1),
          height: h.toFixed(1),
        }),
      );
  });
  svg.append(svgEl('line', { x1: '0', y1: String(H - 0.5), x2: String(W), y2: String(H - 0.5) }));
  return svg;
}
