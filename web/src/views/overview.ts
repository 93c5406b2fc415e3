// Overview: the alerts firing now, p75 of each web vital with its ratings, traffic, error
// rate, trends, slowest pages.
import { col, first, query, QueryResult } from '../api';
import { plot } from '../charts';
import { el } from '../dom';
import { countFigure, estimated, fmtMetric, fmtPct, trend } from '../format';
import { table } from '../tables';
import { href, Range, VITALS } from '../url';
import { firingAlerts, firingCard } from './alerts';

/** Pages with fewer LCP samples than this are left out of "slowest pages": their p75 is noise. */
const MIN_PAGE_SAMPLES = 20;
/** Page views and sessions, kept and estimated, in one request: a card's two figures agree. */
const PV_AGGS = ['count', 'estimated_count', 'sessions', 'estimated_sessions'];
/** Slowest pages by p75 LCP among the 500 most viewed with enough samples (sorted here: the query API has no HAVING). */
function slowestPages(res: QueryResult, n: number): QueryResult {
  const p = col(res, 'p75'),
    c = col(res, 'count'),
    k = col(res, 'page_path');
  const rows = res.rows
    .filter((r) => Number(r[c]) >= MIN_PAGE_SAMPLES)
    .sort((a, b) => Number(b[p]) - Number(a[p]) || String(a[k]).localeCompare(String(b[k])))
    .slice(0, n);
  return { columns: res.columns, rows };
}

export async function overview(
  pid: number,
  box: HTMLElement,
  { from, to, bucket }: Range,
): Promise<void> {
  const len = to - from;
  const prev = { from: from - len, to: from };
  const vitalQ = (metric: string, r: { from: number; to: number }, aggs: string[]) =>
    query(pid, { metric, aggregations: aggs, from: r.from, to: r.to });
  const firingP = firingAlerts(pid); // alongside the queries below
  const [vit, vitPrev, pv, pvPrev, er, erPrev, pages, lcpSeries, pvSeries] = await Promise.all([
    Promise.all(
      VITALS.map((m) =>
        vitalQ(m, { from, to }, ['p75', 'good', 'needs_improvement', 'poor', 'count']),
      ),
    ),
    Promise.all(VITALS.map((m) => vitalQ(m, prev, ['p75', 'count']))),
    vitalQ('page_views', { from, to }, PV_AGGS),
    vitalQ('page_views', prev, PV_AGGS),
    vitalQ('errors', { from, to }, ['count', 'estimated_count']),
    vitalQ('errors', prev, ['count', 'estimated_count']),
    query(pid, {
      metric: 'lcp',
      aggregations: ['p75', 'count'],
      group_by: ['page_path'],
      from,
      to,
      order_by: 'count',
      ascending: false,
      limit: 500,
    }),
    query(pid, {
      metric: 'lcp',
      aggregations: ['p75'],
      group_by: [bucket],
      from,
      to,
      limit: 10000,
    }),
    query(pid, {
      metric: 'page_views',
      aggregations: ['count', 'estimated_count'],
      group_by: [bucket],
      from,
      to,
      limit: 10000,
    }),
  ]);
  const firing = await firingP;
  const slow = slowestPages(pages, 10);
  const grid = el('div', { class: 'grid' });
  VITALS.forEach((m, i) => {
    const r = vit[i];
    const p75 = first(r, 'p75');
    const card = el(
      'div',
      { class: 'card', 'data-testid': `vital-${m}` },
      el('div', { class: 'metric-name' }, `${m.toUpperCase()} · p75`),
      el(
        'div',
        { class: 'metric-value', 'data-raw': typeof p75 === 'number' ? String(p75) : '' },
        fmtMetric(m, p75),
      ),
      trend(p75, first(vitPrev[i], 'p75'), true, first(vitPrev[i], 'count')),
    );
    const g = Number(first(r, 'good') ?? 0),
      n = Number(first(r, 'needs_improvement') ?? 0),
      p = Number(first(r, 'poor') ?? 0);
    if (g + n + p > 0) {
      const bar = el('div', {
        class: 'bar',
        title: `good ${fmtPct(g)}, needs improvement ${fmtPct(n)}, poor ${fmtPct(p)}`,
      });
      for (const [cls, v] of [
        ['good', g],
        ['ni', n],
        ['poor', p],
      ] as [string, number][]) {
        const s = el('div', { class: cls });
        s.style.width = `${v * 100}%`;
        bar.append(s);
      }
      card.append(
        bar,
        el(
          'div',
          { class: 'bar-legend' },
          `${fmtPct(g)} good · ${fmtPct(n)} NI · ${fmtPct(p)} poor`,
        ),
      );
    } else card.append(el('div', { class: 'bar-legend' }, 'no samples'));
    grid.append(card);
  });
  // counts are shown as estimated for sampled sessions (the estimate is the count when none is);
  // the API weighs each session by its own rate, so estimates are never derived here
  const est = (r: QueryResult) => estimated(first(r, 'count'), first(r, 'estimated_count'));
  const estSessions = (r: QueryResult) =>
    estimated(first(r, 'sessions'), first(r, 'estimated_sessions'));
  const views = est(pv);
  const rate = (e: number, v: number) => (v > 0 ? e / v : null);
  const erRate = rate(est(er), views),
    erRatePrev = rate(est(erPrev), est(pvPrev));
  grid.append(
    el(
      'div',
      { class: 'card', 'data-testid': 'page-views' },
      el('div', { class: 'metric-name' }, 'Page views'),
      ...countFigure(first(pv, 'count'), first(pv, 'estimated_count')),
      trend(views, est(pvPrev), false, first(pvPrev, 'count')),
    ),
    el(
      'div',
      { class: 'card', 'data-testid': 'sessions' },
      el('div', { class: 'metric-name' }, 'Sessions'),
      ...countFigure(first(pv, 'sessions'), first(pv, 'estimated_sessions')),
      trend(estSessions(pv), estSessions(pvPrev), false, first(pvPrev, 'count')),
    ),
    el(
      'div',
      { class: 'card', 'data-testid': 'error-rate' },
      el('div', { class: 'metric-name' }, 'Error rate (errors / page views)'),
      el('div', { class: 'metric-value' }, erRate === null ? '–' : fmtPct(erRate)),
      trend(erRate, erRatePrev, true, first(pvPrev, 'count')),
    ),
  );
  const chartBox = el('div', { 'data-testid': 'overview-chart' });
  box.replaceChildren(
    el('h2', {}, 'Overview'),
    firingCard(firing) ?? '',
    grid,
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'p75 LCP and page views over time'),
      pvSeries.rows.length ? chartBox : el('p', { class: 'empty' }, 'No data for this range.'),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, `Slowest pages (p75 LCP, pages with at least ${MIN_PAGE_SAMPLES} samples)`),
      table(slow, {
        metricCols: { p75: 'lcp' },
        testid: 'slowest-pages',
        linkCol: (v) =>
          v === null ? null : href('/page', { page: String(v), sort: null, dir: null }),
      }),
    ),
  );
  // page views and p75 LCP share the time axis; each has its own scale
  const times = pvSeries.rows.map((r) => Number(r[col(pvSeries, 'time')]));
  const lcpAt = new Map(
    lcpSeries.rows.map((r) => [
      Number(r[col(lcpSeries, 'time')]),
      r[col(lcpSeries, 'p75')] as number | null,
    ]),
  );
  plot(
    pvSeries.rows.length ? chartBox : null,
    {
      height: 220,
      series: [
        {},
        { label: 'page views', stroke: '#9aa5b8', fill: 'rgba(154,165,184,0.15)', scale: 'views' },
        {
          label: 'p75 LCP',
          stroke: '#2a5bd7',
          width: 2,
          scale: 'ms',
          value: (_u, v) => fmtMetric('lcp', v),
        },
      ],
      axes: [
        {},
        { scale: 'views', size: 60 },
        {
          scale: 'ms',
          side: 1,
          size: 70,
          grid: { show: false },
          values: (_u, vals) => vals.map((v) => fmtMetric('lcp', v)),
        },
      ],
    },
    [
      times.map((t) => t / 1000),
      pvSeries.rows.map((r) =>
        estimated(r[col(pvSeries, 'count')], r[col(pvSeries, 'estimated_count')]),
      ),
      times.map((t) => lcpAt.get(t) ?? null),
    ],
  );
}
