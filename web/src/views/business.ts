// Business: custom events over time; what slowness costs (conversion and revenue by the
// session's LCP, INP or CLS rating, overall or page by page, and poor against good in one
// sentence); and a funnel (views/funnel.ts).
import { api, col, HttpError, query } from '../api';
import type { Cell, QueryResult } from '../api';
import { countLines } from '../charts';
import { el } from '../dom';
import { fmtCell, fmtNum, fmtPct } from '../format';
import { emptyNote, joinOn, table } from '../tables';
import { filtersFor, href, navigate, param } from '../url';
import type { Range } from '../url';
import { cellTable, funnelCard } from './funnel';
import type { CellSpec, Step } from './funnel';

const RATINGS = ['good', 'needs-improvement', 'poor'];
const RATING_NAMES: Record<string, string> = {
  good: 'good',
  'needs-improvement': 'needs improvement',
  poor: 'poor',
};
/** The vitals a session is rated by, with web-vitals' thresholds (good up to, poor above). */
const COST_VITALS: Record<string, { name: string; good: string; poor: string }> = {
  lcp: { name: 'LCP', good: '2.5 s', poor: '4 s' },
  inp: { name: 'INP', good: '200 ms', poor: '500 ms' },
  cls: { name: 'CLS', good: '0.1', poor: '0.25' },
};
/** Poor against good, as POST /api/v1/conversion answers it (crates/query/src/conversion.rs). */
interface Impact {
  vital: string;
  good_sessions: number;
  poor_sessions: number;
  good_rate: number;
  poor_rate: number;
  relative_change: number | null;
  relative_change_low: number | null;
  relative_change_high: number | null;
  good_revenue_per_session: number;
  poor_revenue_per_session: number;
  lost_revenue: number;
  sentence: string;
}
interface Conversion extends QueryResult {
  impact?: Impact;
}

export async function businessView(pid: number, box: HTMLElement, range: Range): Promise<void> {
  const { from, to, bucket } = range;
  const [series, counts, sums, pages] = await Promise.all([
    query(pid, {
      metric: 'custom_events',
      aggregations: ['count'],
      group_by: ['name', bucket],
      from,
      to,
      limit: 10000,
    }),
    query(pid, {
      metric: 'custom_events',
      aggregations: ['count'],
      group_by: ['name'],
      from,
      to,
      order_by: 'count',
      ascending: false,
      limit: 1000,
    }),
    query(pid, {
      metric: 'custom_events.value',
      aggregations: ['sum'],
      group_by: ['name'],
      from,
      to,
      limit: 1000,
    }),
    // the most viewed pages, suggested for a funnel's page steps
    query(pid, {
      metric: 'views',
      aggregations: ['count'],
      group_by: ['page_path'],
      from,
      to,
      order_by: 'count',
      ascending: false,
      limit: 50,
    }),
  ]);
  const names = stringsOf(counts, 'name');
  const value = new Map(sums.rows.map((r) => [r[col(sums, 'name')], Number(r[col(sums, 'sum')])]));
  const worth = (n: string) => value.get(n) || 0;
  // the event that counts as converting: checkout when there is one, else the one worth most
  const valued = names.filter((n) => worth(n) > 0).sort((a, b) => worth(b) - worth(a));
  const event = param(
    'event',
    names.includes('checkout') || !names.length ? 'checkout' : (valued[0] ?? names[0]),
  );
  const vital = param('vital', 'lcp', Object.keys(COST_VITALS));
  const byPage = param('by_page', '') === '1';
  const [cost, funnel] = await Promise.all([
    costCard(pid, range, event, names, vital, byPage),
    funnelCard(pid, range, defaultFunnel(names, valued), names, pageSuggestions(pages)),
  ]);
  const evTable = joinOn('name', [
    [counts, 'count', 'count'],
    [sums, 'sum', 'value (sum)'],
  ]);
  const chartBox = el('div', { 'data-testid': 'business-chart' });
  box.replaceChildren(
    el('h2', {}, 'Business'),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Custom events over time'),
      series.rows.length ? chartBox : emptyNote('chart-empty'),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Custom events'),
      table(evTable, { testid: 'business-events', fmt: { 'value (sum)': fmtAmount } }),
    ),
    cost,
    funnel,
  );
  countLines(series.rows.length ? chartBox : null, series, 'name', [from, to]);
}

const stringsOf = (res: QueryResult, column: string): string[] => {
  const i = col(res, column);
  return res.rows.map((r) => r[i]).filter((v): v is string => typeof v === 'string');
};

/**
 * The funnel shown when the URL names none: the events that carry a value (add to cart,
 * checkout), most frequent first, as sessions narrow down a funnel; else the two most
 * frequent events; a single event after any page.
 */
function defaultFunnel(names: string[], valued: string[]): Step[] {
  const event = (value: string): Step => ({ kind: 'event', value });
  if (valued.length >= 2)
    return names
      .filter((n) => valued.includes(n))
      .slice(0, 4)
      .map(event);
  if (names.length >= 2) return names.slice(0, 2).map(event);
  if (names.length === 1) return [{ kind: 'page', value: '*' }, event(names[0])];
  return [];
}

/** The most viewed pages, after patterns (`/products/*`) for paths that share a parent. */
function pageSuggestions(pages: QueryResult): string[] {
  const paths = stringsOf(pages, 'page_path');
  const children = new Map<string, number>();
  for (const p of paths) {
    const parent = p.slice(0, p.lastIndexOf('/'));
    if (parent) children.set(parent, (children.get(parent) ?? 0) + 1);
  }
  const patterns = [...children].filter(([, n]) => n >= 2).map(([p]) => `${p}/*`);
  return [...patterns, ...paths];
}

/** "What slowness costs": the controls, the sentence, bars, the table, and page by page. */
async function costCard(
  pid: number,
  { from, to }: Range,
  event: string,
  names: string[],
  vital: string,
  byPage: boolean,
): Promise<HTMLElement> {
  const v = COST_VITALS[vital];
  const vitalSel = el(
    'select',
    { name: 'vital', 'data-testid': 'cost-vital' },
    ...Object.entries(COST_VITALS).map(([k, { name }]) => el('option', { value: k }, name)),
  );
  vitalSel.value = vital;
  vitalSel.addEventListener('change', () =>
    navigate(href(location.pathname, { vital: vitalSel.value })),
  );
  const eventSel = el('select', { name: 'event', 'data-testid': 'event' });
  for (const n of names.includes(event) ? names : [event, ...names])
    eventSel.append(el('option', { value: n }, n));
  eventSel.value = event;
  eventSel.addEventListener('change', () =>
    navigate(href(location.pathname, { event: eventSel.value })),
  );
  const pageBox = el('input', { type: 'checkbox', 'data-testid': 'cost-by-page' });
  pageBox.checked = byPage;
  pageBox.addEventListener('change', () =>
    navigate(href(location.pathname, { by_page: pageBox.checked ? '1' : null })),
  );
  const card = el(
    'div',
    { class: 'card', 'data-testid': 'cost-card' },
    el('h3', {}, 'What slowness costs'),
    el(
      'div',
      { class: 'controls' },
      el('label', {}, 'rated by the worst', vitalSel),
      el('label', {}, 'converting event', eventSel),
      el('label', { class: 'inline' }, pageBox, 'by page'),
    ),
    el(
      'p',
      { class: 'muted' },
      `Each session is rated by its worst ${v.name} (good up to ${v.good}, poor above ${v.poor}); ` +
        `it converted when it sent ${event}, and its revenue is the sum of that event's value.`,
    ),
  );
  // the filter bar's filters choose the sessions by their vitals' rows
  const ask = (pages: boolean) =>
    api<Conversion>('POST', `/api/v1/conversion?project=${pid}`, {
      event,
      vital,
      ...(pages ? { by_page: true } : {}),
      from,
      to,
      filters: filtersFor('vitals'),
    });
  let conv: Conversion, perPage: Conversion | null;
  try {
    [conv, perPage] = await Promise.all([ask(false), byPage ? ask(true) : null]);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status === 401) throw e;
    card.append(
      el('p', { class: 'error', 'data-testid': 'cost-error' }, `Conversion failed: ${e.message}`),
    );
    return card;
  }
  if (!conv.rows.length) {
    card.append(emptyNote('conversion-empty'));
    return card;
  }
  card.append(
    ...impactLines(conv, v.name),
    conversionBars(conv),
    el('h4', {}, `Sessions by ${v.name} rating`),
    cellTable(
      'conversion-table',
      conversionHeaders(conv),
      conv.rows.map(conversionCells(conv)),
      conv,
    ),
  );
  if (perPage) card.append(...pagesTable(perPage, v.name));
  return card;
}

/** The cost of poor against good in the server's sentence, and the samples it rests on. */
function impactLines(conv: Conversion, vitalName: string): HTMLElement[] {
  const i = conv.impact;
  const ri = col(conv, 'rating'),
    si = col(conv, 'sessions'),
    ci = col(conv, 'converted');
  const row = (r: string) => conv.rows.find((x) => x[ri] === r);
  const samples = RATINGS.map((r) => {
    const x = row(r);
    const n = Number(x?.[si] ?? 0),
      k = Number(x?.[ci] ?? 0);
    return `${RATING_NAMES[r]}: ${fmtNum(n)} sessions, ${fmtNum(k)} converted`;
  }).join(' · ');
  const few = ['good', 'poor'].some((r) => Number(row(r)?.[ci] ?? 0) < 10);
  const sampleLine = el(
    'p',
    { class: 'muted', 'data-testid': 'cost-samples' },
    samples +
      (i && few
        ? '. Fewer than 10 conversions in a bucket: read the interval, not the figure.'
        : ''),
  );
  if (!i) {
    const missing = ['good', 'poor'].filter((r) => !Number(row(r)?.[si] ?? 0));
    return [
      el(
        'p',
        { class: 'empty', 'data-testid': 'cost-no-impact' },
        `No comparison of poor against good: no session was rated ${missing.join(' or ')} by ${vitalName} in this range.`,
      ),
      sampleLine,
    ];
  }
  const sentence = el('p', { 'data-testid': 'cost-sentence' }, i.sentence);
  const worse = (i.relative_change ?? 0) < 0;
  Object.assign(sentence.style, {
    fontSize: '18px',
    fontWeight: '600',
    margin: '4px 0 6px',
    padding: '8px 12px',
    borderLeft: `4px solid ${worse ? '#ff4e42' : '#0cce6b'}`,
    background: '#f5f6f8',
  });
  return [sentence, sampleLine];
}

/** Bars of the conversion rate per rating, each with its 95% interval as a whisker. */
function conversionBars(conv: Conversion): HTMLElement {
  const ri = col(conv, 'rating'),
    rr = col(conv, 'rate'),
    lo = col(conv, 'rate_low'),
    hi = col(conv, 'rate_high');
  const top = Math.max(0, ...conv.rows.map((r) => Number(r[hi]) || Number(r[rr]) || 0));
  const pct = (x: Cell) => `${top > 0 ? ((Number(x) || 0) / top) * 100 : 0}%`;
  const bars = el('div', { 'data-testid': 'conversion-bars' });
  const byRating = RATINGS.map((k) => conv.rows.find((r) => r[ri] === k)).filter(
    (r): r is Cell[] => !!r,
  );
  for (const r of byRating.length ? byRating : conv.rows) {
    const fill = el('div', { class: r[ri] === 'good' ? 'good' : r[ri] === 'poor' ? 'poor' : 'ni' });
    fill.style.width = pct(r[rr]);
    const whisker = el('div', { class: 'whisker' });
    Object.assign(whisker.style, {
      position: 'absolute',
      top: '6px',
      height: '2px',
      background: '#1d2330',
      left: pct(r[lo]),
      width: `calc(${pct(r[hi])} - ${pct(r[lo])})`,
    });
    const bar = el('div', { class: 'bar rate-bar' }, fill, whisker);
    bar.style.position = 'relative';
    bars.append(
      el(
        'div',
        {
          class: 'rate-row',
          'data-rating': String(r[ri]),
          title: `95% interval ${rangeText(r[lo], r[hi])}`,
        },
        el('span', { class: 'rate-label' }, RATING_NAMES[String(r[ri])] ?? fmtCell(r[ri])),
        bar,
        el('span', { class: 'rate-value' }, fmtPct(Number(r[rr]) || 0)),
      ),
    );
  }
  return bars;
}

const HEADERS: Record<string, string> = {
  page_path: 'page',
  rating: 'rating',
  sessions: 'sessions',
  converted: 'converted',
  rate: 'conversion (95% interval)',
  revenue: 'revenue',
  revenue_per_session: 'revenue / session',
  rate_low: 'interval low',
  rate_high: 'interval high',
};
const conversionHeaders = (conv: QueryResult): string[] => conv.columns.map((c) => HEADERS[c] ?? c);
/** A row's cells in the answer's column order, each number in `data-raw`. */
function conversionCells(conv: QueryResult): (r: Cell[]) => CellSpec[] {
  const lo = col(conv, 'rate_low'),
    hi = col(conv, 'rate_high');
  return (r) =>
    conv.columns.map((c, i) => {
      const v = r[i];
      if (typeof v !== 'number') return { text: fmtCell(v) };
      const text =
        c === 'rate'
          ? rateText(v, r[lo], r[hi])
          : c === 'rate_low' || c === 'rate_high'
            ? fmtPct(v)
            : c === 'revenue' || c === 'revenue_per_session'
              ? fmtAmount(v)
              : fmtNum(v);
      return c === 'rate' ? { text, raw: v, attrs: NOWRAP } : { text, raw: v };
    });
}

/** Pages shown by page (the server answers up to 50; the rest have few sessions each). */
const TOP_PAGES = 15;
const NOWRAP = { style: 'white-space: nowrap' };
/** Page by page: sessions and conversion of each rating side by side. */
function pagesTable(perPage: Conversion, vitalName: string): HTMLElement[] {
  const pi = col(perPage, 'page_path'),
    ri = col(perPage, 'rating'),
    si = col(perPage, 'sessions'),
    rr = col(perPage, 'rate'),
    lo = col(perPage, 'rate_low'),
    hi = col(perPage, 'rate_high');
  const all = [...new Set(perPage.rows.map((r) => fmtCell(r[pi])))];
  const pages = all.slice(0, TOP_PAGES);
  const rows = pages.map((p) => {
    const of = (rating: string) =>
      perPage.rows.find((r) => fmtCell(r[pi]) === p && r[ri] === rating);
    return [
      { text: p },
      ...RATINGS.flatMap((rating): CellSpec[] => {
        const r = of(rating);
        if (!r) return [{ text: '–' }, { text: '–' }];
        return [
          { text: fmtNum(r[si]), raw: Number(r[si]) },
          { text: rateText(r[rr], r[lo], r[hi]), raw: Number(r[rr]), attrs: NOWRAP },
        ];
      }),
    ];
  });
  const headers = [
    'page',
    ...RATINGS.flatMap((r) => [`${RATING_NAMES[r]}: sessions`, `${RATING_NAMES[r]}: conversion`]),
  ];
  return [
    el('h4', {}, 'By page'),
    cellTable('conversion-by-page', headers, rows, perPage, (i) => ({ 'data-page': pages[i] })),
    el(
      'p',
      { class: 'muted' },
      `The ${pages.length} pages with most rated sessions` +
        (all.length > pages.length ? ` (the CSV has ${all.length})` : '') +
        `; on each, a session is rated by its worst ${vitalName} there.`,
    ),
  ];
}

/** `4.1% (3.2–5.0%)`: a rate and its 95% interval. */
function rateText(rate: Cell, low: Cell, high: Cell): string {
  if (typeof rate !== 'number') return '–';
  return `${fmtPct(rate)} (${rangeText(low, high)})`;
}
const rangeText = (low: Cell, high: Cell): string =>
  `${(Number(low) * 100).toFixed(1)}–${fmtPct(Number(high))}`;
const fmtAmount = (v: Cell): string =>
  typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '–';
