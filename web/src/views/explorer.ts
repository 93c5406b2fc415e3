// Performance explorer: a vital at a percentile, over time and grouped by any dimension.
import uPlot from 'uplot';
import { attributeFields, col, first, query, QueryResult } from '../api';
import { durationBars, plot } from '../charts';
import { el } from '../dom';
import { fmtMetric } from '../format';
import { emptyNote, table } from '../tables';
import { GROUPS, href, navigate, param, PCTS, Range, VITALS } from '../url';

export async function explorer(
  pid: number,
  box: HTMLElement,
  { from, to, bucket }: Range,
): Promise<void> {
  const metric = param('metric', 'lcp', VITALS);
  const pct = param('percentile', 'p75', PCTS);
  const groups = [...GROUPS, ...(await attributeFields(pid))];
  const group = param('group', 'page_path', groups);
  const sel = (name: string, values: string[], cur: string) => {
    const s = el('select', { name, 'data-testid': name });
    for (const v of values) {
      const o = el('option', { value: v }, v);
      if (v === cur) o.selected = true;
      s.append(o);
    }
    s.addEventListener('change', () => navigate(href(location.pathname, { [name]: s.value })));
    return el('label', {}, name, s);
  };
  const controls = el(
    'div',
    { class: 'controls' },
    sel('metric', VITALS, metric),
    sel('percentile', PCTS, pct),
    sel('group', groups, group),
  );
  const base = { metric, from, to };
  const [series, tab] = await Promise.all([
    query(pid, { ...base, aggregations: [pct, 'count'], group_by: [bucket], limit: 10000 }),
    query(pid, {
      ...base,
      aggregations: [pct, 'count'],
      group_by: [group],
      order_by: 'count',
      ascending: false,
      limit: 100,
    }),
  ]);
  // one line per top group (by sample count), besides the overall line
  const gi = col(tab, group);
  const top = tab.rows
    .slice(0, 5)
    .map((r) => r[gi])
    .filter((v): v is string | number | boolean => v !== null);
  const perGroup = top.length
    ? await query(pid, {
        ...base,
        filters: [{ field: group, op: 'in', value: top }],
        aggregations: [pct],
        group_by: [group, bucket],
        limit: 10000,
      })
    : ({ columns: [], rows: [] } as QueryResult);
  const chartBox = el('div', { 'data-testid': 'chart' });
  box.replaceChildren(
    el('h2', {}, 'Performance explorer'),
    controls,
    el(
      'div',
      { class: 'card' },
      el(
        'h3',
        {},
        `${metric.toUpperCase()} ${pct} over time (top ${top.length} ${group} values and all)`,
      ),
      series.rows.length ? chartBox : emptyNote('chart-empty'),
    ),
    el('div', { class: 'attribution' }, ...(await attribution(pid, metric, pct, from, to))),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, `${metric.toUpperCase()} ${pct} by ${group}`),
      table(tab, { metricCols: { [pct]: metric }, testid: 'explorer-table' }),
    ),
  );
  if (series.rows.length) {
    const ti = col(series, 'time'),
      vi = col(series, pct);
    const times = series.rows.map((r) => Number(r[ti]));
    const idx = new Map(times.map((t, i) => [t, i]));
    const data: (number | null)[][] = [
      times.map((t) => t / 1000),
      series.rows.map((r) => (typeof r[vi] === 'number' ? (r[vi] as number) : null)),
    ];
    const COLORS = ['#e67e22', '#16a085', '#8e44ad', '#c0392b', '#7f8c8d'];
    const seriesOpts: uPlot.Series[] = [
      {},
      { label: `all`, stroke: '#2a5bd7', width: 2, value: (_u, v) => fmtMetric(metric, v) },
    ];
    const pg = col(perGroup, group),
      pt = col(perGroup, 'time'),
      pv = col(perGroup, pct);
    top.forEach((g, k) => {
      const ys: (number | null)[] = times.map(() => null);
      for (const r of perGroup.rows) {
        if (r[pg] !== g) continue;
        const i = idx.get(Number(r[pt]));
        if (i !== undefined && typeof r[pv] === 'number') ys[i] = r[pv] as number;
      }
      data.push(ys);
      seriesOpts.push({
        label: String(g),
        stroke: COLORS[k % COLORS.length],
        width: 1,
        value: (_u, v) => fmtMetric(metric, v),
      });
    });
    plot(
      chartBox,
      {
        height: 280,
        series: seriesOpts,
        axes: [{}, { values: (_u, vals) => vals.map((v) => fmtMetric(metric, v)), size: 70 }],
      },
      data,
    );
  } else plot();
}

/**
 * What the agent's attribution says drives each vital: its sub-parts (each at the chosen
 * percentile, so they need not add up) and the dimensions that name a culprit.
 */
const ATTRIBUTION: Record<string, { parts: [string, string][]; by: [string, string][] }> = {
  lcp: {
    parts: [
      ['lcp_ttfb', 'time to first byte'],
      ['load_delay', 'resource load delay'],
      ['load_duration', 'resource load time'],
      ['render_delay', 'element render delay'],
    ],
    by: [
      ['element', 'LCP element'],
      ['url', 'LCP resource'],
    ],
  },
  inp: {
    parts: [
      ['input_delay', 'input delay'],
      ['processing', 'processing'],
      ['presentation_delay', 'presentation delay'],
    ],
    by: [
      ['element', 'interaction target'],
      ['event_type', 'event'],
      ['script_url', 'longest script'],
      ['load_state', 'page state'],
    ],
  },
  cls: {
    parts: [],
    by: [
      ['element', "largest shift's element"],
      ['load_state', 'page state'],
    ],
  },
  fcp: { parts: [], by: [['load_state', 'page state']] },
  ttfb: { parts: [], by: [] },
};

async function attribution(
  pid: number,
  metric: string,
  pct: string,
  from: number,
  to: number,
): Promise<HTMLElement[]> {
  const a = ATTRIBUTION[metric];
  if (!a.parts.length && !a.by.length) return [];
  const [parts, by] = await Promise.all([
    Promise.all(
      a.parts.map(([c]) =>
        query(pid, {
          metric: `vitals.${c}`,
          aggregations: [pct],
          filters: [{ field: 'name', op: 'eq', value: metric.toUpperCase() }],
          from,
          to,
        }),
      ),
    ),
    Promise.all(
      a.by.map(([c]) =>
        query(pid, {
          metric,
          aggregations: [pct, 'count'],
          group_by: [c],
          from,
          to,
          order_by: 'count',
          ascending: false,
          limit: 10,
        }),
      ),
    ),
  ]);
  const cards: HTMLElement[] = [];
  if (a.parts.length) {
    cards.push(
      el(
        'div',
        { class: 'card' },
        el('h3', {}, `${metric.toUpperCase()} sub-parts (${pct} of each)`),
        durationBars(
          'attribution-parts',
          'data-part',
          a.parts.map(([c, label], i) => [c, label, first(parts[i], pct)]),
        ),
      ),
    );
  }
  a.by.forEach(([c, label], i) =>
    cards.push(
      el(
        'div',
        { class: 'card' },
        el('h3', {}, `${metric.toUpperCase()} ${pct} by ${label}`),
        table(by[i], { metricCols: { [pct]: metric }, testid: `attribution-${c}` }),
      ),
    ),
  );
  return cards;
}
