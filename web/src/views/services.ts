// Services: the backends' spans (OTLP) and the pages' traced requests, per service and per
// operation: p50/p75/p99 and error rate over the range and over time; one operation's
// slowest traces, each opening its waterfall.
import uPlot from 'uplot';
import { col, query, traceStarts } from '../api';
import type { Cell, QueryResult } from '../api';
import { plot } from '../charts';
import { el } from '../dom';
import { fmtMs, fmtShare, fmtTime } from '../format';
import { emptyNote, sortRows, table } from '../tables';
import { href, link, param, Range, traceHref } from '../url';
import type { Filter } from '../url';

const AGGS = ['count', 'p50', 'p75', 'p99', 'error_rate'];
const COLORS = ['#2a5bd7', '#e67e22', '#16a085', '#8e44ad', '#7f8c8d', '#d4a017'];
/** Lines on the chart when no service is chosen: the services with the most spans. */
const TOP_SERVICES = 6;
const fmtFigures: Record<string, (v: Cell) => string> = {
  p50: fmtMs,
  p75: fmtMs,
  p99: fmtMs,
  'error rate': fmtShare,
};
/** A result's columns renamed for people (`name` is the operation, `count` its spans). */
function labelled(res: QueryResult): QueryResult {
  const names: Record<string, string> = {
    name: 'operation',
    count: 'spans',
    error_rate: 'error rate',
  };
  return { columns: res.columns.map((c) => names[c] ?? c), rows: res.rows };
}

export async function servicesView(
  pid: number,
  box: HTMLElement,
  { from, to, bucket }: Range,
): Promise<void> {
  const service = param('service', ''),
    op = service ? param('op', '') : '';
  const chosen: Filter[] = [];
  if (service) chosen.push({ field: 'service', op: 'eq', value: service });
  if (op) chosen.push({ field: 'name', op: 'eq', value: op });
  const base = { metric: 'spans.duration', from, to };
  const [services, ops, series, slow] = await Promise.all([
    query(pid, {
      ...base,
      aggregations: AGGS,
      group_by: ['service'],
      order_by: 'count',
      ascending: false,
      limit: 1000,
    }),
    query(pid, {
      ...base,
      aggregations: AGGS,
      group_by: ['service', 'name'],
      order_by: 'count',
      ascending: false,
      limit: 1000,
    }),
    chosen.length
      ? query(pid, {
          ...base,
          aggregations: ['p50', 'p75', 'p99', 'error_rate'],
          filters: chosen,
          group_by: [bucket],
          limit: 10000,
        })
      : query(pid, {
          ...base,
          aggregations: ['p75'],
          group_by: ['service', bucket],
          limit: 10000,
        }),
    chosen.length
      ? query(pid, {
          ...base,
          aggregations: ['max'],
          filters: chosen,
          group_by: ['trace_id'],
          order_by: 'max',
          ascending: false,
          limit: 20,
        })
      : null,
  ]);
  const chooseService = (row: Cell[]) =>
    row[0] === null ? null : href('/services', { service: String(row[0]), op: null });
  const chooseOp = (row: Cell[]) =>
    row[0] === null || row[1] === null
      ? null
      : href('/services', { service: String(row[0]), op: String(row[1]) });
  const isChosen = (row: Cell[], withOp: boolean) =>
    row[0] === service && (!withOp || !op || row[1] === op);

  const chartBox = el('div', { 'data-testid': 'services-chart' });
  const what = op ? `${service} ${op}` : service;
  box.replaceChildren(
    el('h2', {}, 'Services'),
    services.rows.length
      ? ''
      : el(
          'p',
          { class: 'muted' },
          'Backends send their spans over OTLP (POST /v1/traces with the public key); pages add the client span of each traced request.',
        ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Per service (click one to follow it over time)'),
      table(sortRows(labelled(services)), {
        testid: 'services-table',
        sortable: true,
        fmt: fmtFigures,
        links: { service: chooseService },
        rowAttrs: (r) => ({
          'data-service': String(r[0]),
          ...(service && !op && isChosen(r, false) ? { class: 'chosen' } : {}),
        }),
      }),
    ),
    el(
      'div',
      { class: 'card' },
      el(
        'h3',
        {},
        chosen.length
          ? `${what}: p50, p75, p99 and error rate over time `
          : `p75 per service over time (the ${TOP_SERVICES} with the most spans) `,
        chosen.length
          ? link('show all services', href('/services', { service: null, op: null }))
          : null,
      ),
      series.rows.length ? chartBox : emptyNote('services-chart-empty'),
    ),
    slow ? await slowestTraces(pid, slow, what, from, to) : '',
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Per operation (click one for its figures over time and its slowest traces)'),
      ops.rows.length >= 1000
        ? el(
            'p',
            { class: 'empty', 'data-testid': 'truncated' },
            'Showing the 1,000 operations with the most spans.',
          )
        : null,
      table(sortRows(labelled(ops)), {
        testid: 'operations-table',
        sortable: true,
        fmt: fmtFigures,
        links: { service: chooseService, operation: chooseOp },
        rowAttrs: (r) => ({
          'data-service': String(r[0]),
          'data-operation': String(r[1]),
          ...(op && isChosen(r, true) ? { class: 'chosen' } : {}),
        }),
      }),
    ),
  );
  if (!series.rows.length) plot();
  else if (chosen.length) figuresChart(chartBox, series);
  else serviceLines(chartBox, series, services, [from, to]);
}

/** The chosen service's or operation's percentiles (ms) and, on its own scale, its error rate. */
function figuresChart(target: HTMLElement, series: QueryResult): void {
  const t = col(series, 'time');
  const num = (c: string) => {
    const i = col(series, c);
    return series.rows.map((r) => (typeof r[i] === 'number' ? (r[i] as number) : null));
  };
  const ms = (label: string, stroke: string): uPlot.Series => ({
    label,
    stroke,
    width: 2,
    scale: 'ms',
    value: (_u, v) => fmtMs(v),
  });
  plot(
    target,
    {
      height: 260,
      series: [
        {},
        ms('p50', '#16a085'),
        ms('p75', '#2a5bd7'),
        ms('p99', '#8e44ad'),
        {
          label: 'error rate',
          stroke: '#c0392b',
          width: 1,
          dash: [4, 4],
          scale: 'share',
          value: (_u, v) => fmtShare(v),
        },
      ],
      scales: { share: { range: (_u, _min, max): uPlot.Range.MinMax => [0, Math.max(0.05, max)] } },
      axes: [
        {},
        { scale: 'ms', size: 70, values: (_u, vals) => vals.map((v) => fmtMs(v)) },
        {
          scale: 'share',
          side: 1,
          size: 60,
          grid: { show: false },
          values: (_u, vals) => vals.map((v) => fmtShare(v)),
        },
      ],
    },
    [
      series.rows.map((r) => Number(r[t]) / 1000),
      num('p50'),
      num('p75'),
      num('p99'),
      num('error_rate'),
    ],
  );
}

/** p75 per service over the whole range, for the services with the most spans. */
function serviceLines(
  target: HTMLElement,
  series: QueryResult,
  services: QueryResult,
  [from, to]: [number, number],
): void {
  const top = services.rows.slice(0, TOP_SERVICES).map((r) => r[0]);
  const s = col(series, 'service'),
    t = col(series, 'time'),
    v = col(series, 'p75');
  const times = [...new Set(series.rows.map((r) => Number(r[t])))].sort((a, b) => a - b);
  const at = new Map(times.map((x, i) => [x, i]));
  const data: (number | null)[][] = [times.map((x) => x / 1000)];
  const opts: uPlot.Series[] = [{}];
  top.forEach((name, k) => {
    const ys: (number | null)[] = times.map(() => null);
    for (const r of series.rows) {
      const i = at.get(Number(r[t]));
      if (r[s] === name && i !== undefined && typeof r[v] === 'number') ys[i] = r[v] as number;
    }
    data.push(ys);
    opts.push({
      label: String(name),
      stroke: COLORS[k % COLORS.length],
      width: 2,
      value: (_u, x) => fmtMs(x),
    });
  });
  plot(
    target,
    {
      height: 260,
      series: opts,
      scales: { x: { time: true, range: (): uPlot.Range.MinMax => [from / 1000, to / 1000] } },
      axes: [{}, { size: 70, values: (_u, vals) => vals.map((x) => fmtMs(x)) }],
    },
    data,
  );
}

/** The chosen operation's slowest traces (its longest span in each), each opening the waterfall. */
async function slowestTraces(
  pid: number,
  slow: QueryResult,
  what: string,
  from: number,
  to: number,
): Promise<HTMLElement> {
  const ti = col(slow, 'trace_id'),
    mi = col(slow, 'max');
  const ids = slow.rows.map((r) => r[ti]).filter((x): x is string => typeof x === 'string');
  const starts = await traceStarts(pid, ids, from, to);
  const rows: Cell[][] = slow.rows.map((r) => [
    r[ti],
    r[mi],
    typeof r[ti] === 'string' ? (starts.get(r[ti] as string) ?? null) : null,
  ]);
  return el(
    'div',
    { class: 'card' },
    el('h3', {}, `Slowest traces of ${what} (its longest span in each)`),
    table(
      { columns: ['trace', 'duration', 'started'], rows },
      {
        testid: 'slowest-traces',
        fmt: { duration: fmtMs, started: (v) => fmtTime(v) },
        linkCol: (v) => (typeof v === 'string' ? traceHref(v, starts.get(v)) : null),
      },
    ),
  );
}
