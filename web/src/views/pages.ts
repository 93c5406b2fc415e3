// Pages and routes, and the drill-down of one page.
import { Cell, first, query } from '../api';
import { countLines, durationBars } from '../charts';
import { el } from '../dom';
import { countFigure, fmtMetric } from '../format';
import { emptyNote, joinOn, sortRows, table } from '../tables';
import { href, hrefWith, link, param, Range, VITALS } from '../url';

export async function pagesView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const g = { group_by: ['page_path'], from, to, limit: 1000 };
  const [views, lcp, inp, cls, errs] = await Promise.all([
    query(pid, { metric: 'views', aggregations: ['count', 'sessions'], ...g }),
    query(pid, { metric: 'lcp', aggregations: ['p75'], ...g }),
    query(pid, { metric: 'inp', aggregations: ['p75'], ...g }),
    query(pid, { metric: 'cls', aggregations: ['p75'], ...g }),
    query(pid, { metric: 'errors', aggregations: ['count'], ...g }),
  ]);
  const res = sortRows(
    joinOn(
      'page_path',
      [
        [views, 'count', 'views'],
        [views, 'sessions', 'sessions'],
        [lcp, 'p75', 'p75 LCP'],
        [inp, 'p75', 'p75 INP'],
        [cls, 'p75', 'p75 CLS'],
        [errs, 'count', 'errors'],
      ],
      { errors: 0 },
    ),
  );
  box.replaceChildren(
    el('h2', {}, 'Pages and routes'),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Per page (click a header to sort, a page to open it)'),
      views.rows.length >= g.limit
        ? el(
            'p',
            { class: 'empty', 'data-testid': 'truncated' },
            `Showing the ${g.limit} pages with the most views.`,
          )
        : null,
      table(res, {
        testid: 'pages-table',
        sortable: true,
        metricCols: { 'p75 LCP': 'lcp', 'p75 INP': 'inp', 'p75 CLS': 'cls' },
        linkCol: (v) =>
          v === null ? null : href('/page', { page: String(v), sort: null, dir: null }),
      }),
    ),
  );
}

/** Navigation timing of views, p75 per phase (ms from navigation start for the last two). */
const TIMING_PHASES = ['dns', 'tcp', 'tls', 'ttfb', 'download', 'dom_content_loaded', 'load'];
export async function pageView(
  pid: number,
  box: HTMLElement,
  { from, to, bucket }: Range,
): Promise<void> {
  const path = param('page', '/');
  const r = { filters: [{ field: 'page_path', op: 'eq', value: path }], from, to };
  const [vit, views, timing, errs, reqs, series] = await Promise.all([
    Promise.all(VITALS.map((m) => query(pid, { metric: m, aggregations: ['p75', 'count'], ...r }))),
    query(pid, { metric: 'views', aggregations: ['count', 'sessions', 'estimated_count'], ...r }),
    Promise.all(
      TIMING_PHASES.map((t) => query(pid, { metric: `views.${t}`, aggregations: ['p75'], ...r })),
    ),
    query(pid, {
      metric: 'errors',
      aggregations: ['count', 'sessions'],
      group_by: ['error_type', 'message'],
      ...r,
      limit: 10,
    }),
    query(pid, {
      metric: 'requests.duration',
      aggregations: ['p75', 'count'],
      group_by: ['method', 'url_template'],
      ...r,
      order_by: 'p75',
      ascending: false,
      limit: 10,
    }),
    query(pid, {
      metric: 'views',
      aggregations: ['count'],
      group_by: [bucket],
      ...r,
      limit: 10000,
    }),
  ]);
  const card = (testid: string, name: string, value: Cell, text: string) =>
    el(
      'div',
      { class: 'card', 'data-testid': testid },
      el('div', { class: 'metric-name' }, name),
      el(
        'div',
        { class: 'metric-value', 'data-raw': typeof value === 'number' ? String(value) : '' },
        text,
      ),
    );
  const grid = el(
    'div',
    { class: 'grid' },
    ...VITALS.map((m, i) =>
      card(
        `page-vital-${m}`,
        `${m.toUpperCase()} · p75`,
        first(vit[i], 'p75'),
        fmtMetric(m, first(vit[i], 'p75')),
      ),
    ),
    el(
      'div',
      { class: 'card', 'data-testid': 'page-views' },
      el('div', { class: 'metric-name' }, 'Page views'),
      ...countFigure(first(views, 'count'), first(views, 'estimated_count')),
    ),
  );
  const p75s = timing.map((t) => first(t, 'p75'));
  const longest = Math.max(0, ...p75s.map((v) => Number(v) || 0));
  const bars = durationBars(
    'page-timing',
    'data-phase',
    TIMING_PHASES.map((t, i) => [t, t, p75s[i]]),
  );
  const chartBox = el('div', { 'data-testid': 'page-chart' });
  box.replaceChildren(
    el('h2', {}, 'Page ', el('code', { 'data-testid': 'page-path' }, path)),
    el(
      'p',
      {},
      link('← all pages', href('/pages', { page: null })),
      ' · ',
      link(
        'explore its vitals',
        hrefWith('/explorer', 'page_path', path, { page: null, metric: 'lcp', group: 'browser' }),
      ),
    ),
    grid,
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Page views over time'),
      series.rows.length ? chartBox : emptyNote('chart-empty'),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Navigation timing (p75; DOM content loaded and load from navigation start)'),
      longest > 0 ? bars : emptyNote('page-timing-empty'),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Top errors on this page'),
      table(errs, { testid: 'page-errors' }),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Slowest requests from this page (p75 duration)'),
      table(reqs, { testid: 'page-requests', fmt: { p75: (v) => fmtMetric('duration', v) } }),
    ),
  );
  countLines(series.rows.length ? chartBox : null, series, null, [from, to]);
}
