// Business: custom events over time, and conversion by LCP rating.
import { api, Cell, col, query, QueryResult } from '../api';
import { countLines } from '../charts';
import { el } from '../dom';
import { fmtCell, fmtPct } from '../format';
import { emptyNote, joinOn, table } from '../tables';
import { filtersFor, href, navigate, param, Range } from '../url';

const RATINGS = ['good', 'needs-improvement', 'poor'];
export async function businessView(
  pid: number,
  box: HTMLElement,
  { from, to, bucket }: Range,
): Promise<void> {
  const [series, counts, sums] = await Promise.all([
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
  ]);
  const ni = col(counts, 'name');
  const names = counts.rows.map((r) => r[ni]).filter((v): v is string => typeof v === 'string');
  const event = param('event', names.includes('checkout') || !names.length ? 'checkout' : names[0]);
  // the filter bar applies to the sessions' LCP rows
  const conv = await api<QueryResult>('POST', `/api/v1/conversion?project=${pid}`, {
    event,
    from,
    to,
    filters: filtersFor('vitals'),
  });
  const evTable = joinOn('name', [
    [counts, 'count', 'count'],
    [sums, 'sum', 'value (sum)'],
  ]);
  const sel = el('select', { name: 'event', 'data-testid': 'event' });
  for (const n of names.includes(event) ? names : [event, ...names]) {
    const o = el('option', { value: n }, n);
    if (n === event) o.selected = true;
    sel.append(o);
  }
  sel.addEventListener('change', () => navigate(href(location.pathname, { event: sel.value })));
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
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Conversion by LCP rating'),
      el('div', { class: 'controls' }, el('label', {}, 'event', sel)),
      ...conversion(conv),
    ),
  );
  countLines(series.rows.length ? chartBox : null, series, 'name', [from, to]);
}

/** Bars of the conversion rate per LCP rating, then the table. */
function conversion(conv: QueryResult): HTMLElement[] {
  const ri = col(conv, 'rating'),
    rr = col(conv, 'rate');
  const bars = el('div', { 'data-testid': 'conversion-bars' });
  const maxRate = Math.max(0, ...conv.rows.map((r) => Number(r[rr]) || 0));
  const byRating = RATINGS.map((k) => conv.rows.find((r) => r[ri] === k)).filter(
    (r): r is Cell[] => !!r,
  );
  for (const r of byRating.length ? byRating : conv.rows) {
    const rate = Number(r[rr]) || 0;
    const fill = el('div', { class: r[ri] === 'good' ? 'good' : r[ri] === 'poor' ? 'poor' : 'ni' });
    fill.style.width = `${maxRate > 0 ? (rate / maxRate) * 100 : 0}%`;
    bars.append(
      el(
        'div',
        { class: 'rate-row', 'data-rating': String(r[ri]) },
        el('span', { class: 'rate-label' }, fmtCell(r[ri])),
        el('div', { class: 'bar rate-bar' }, fill),
        el('span', { class: 'rate-value' }, fmtPct(rate)),
      ),
    );
  }
  return [
    ...(conv.rows.length ? [bars] : []),
    table(conv, {
      testid: 'conversion-table',
      fmt: { rate: (v) => (typeof v === 'number' ? fmtPct(v) : '–'), revenue: fmtAmount },
    }),
  ];
}
const fmtAmount = (v: Cell): string =>
  typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '–';
