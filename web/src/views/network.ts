// Network: endpoints (URL templates) with p75/p99 duration and error rate; the slowest calls and
// the slowest traced requests, each opening its trace.
import { Cell, col, query, traceStarts } from '../api';
import { el } from '../dom';
import { fmtMetric, fmtShare, fmtTime } from '../format';
import { joinOn, sortRows, table } from '../tables';
import { hrefWith, Range, traceHref, urlFilters } from '../url';

export async function networkView(
  pid: number,
  box: HTMLElement,
  { from, to }: Range,
): Promise<void> {
  const g = { group_by: ['url_template'], from, to, limit: 1000 };
  const [dur, total, s5xx, failed, both, slow, traced] = await Promise.all([
    query(pid, { metric: 'requests.duration', aggregations: ['count', 'p75', 'p99'], ...g }),
    query(pid, { metric: 'requests', aggregations: ['count'], ...g }),
    query(pid, {
      metric: 'requests',
      aggregations: ['count'],
      filters: [{ field: 'status', op: 'gte', value: 500 }],
      ...g,
    }),
    query(pid, {
      metric: 'requests',
      aggregations: ['count'],
      filters: [{ field: 'failure', op: 'exists', value: null }],
      ...g,
    }),
    // a failed request that also has a 5xx status counts once
    query(pid, {
      metric: 'requests',
      aggregations: ['count'],
      filters: [
        { field: 'failure', op: 'exists', value: null },
        { field: 'status', op: 'gte', value: 500 },
      ],
      ...g,
    }),
    query(pid, {
      metric: 'requests.duration',
      aggregations: ['max', 'count'],
      group_by: ['url_template', 'status'],
      from,
      to,
      order_by: 'max',
      ascending: false,
      limit: 20,
    }),
    tracedRequests(pid, from, to),
  ]);
  const ep = joinOn(
    'url_template',
    [
      [total, 'count', 'requests'],
      [dur, 'p75', 'p75 duration'],
      [dur, 'p99', 'p99 duration'],
      [s5xx, 'count', '5xx'],
      [failed, 'count', 'failures'],
      [both, 'count', 'both'],
    ],
    { '5xx': 0, failures: 0, both: 0 },
  );
  ep.columns.splice(6, 1, 'error rate');
  for (const r of ep.rows) {
    const n = Number(r[1]);
    r[6] = n > 0 ? (Number(r[4]) + Number(r[5]) - Number(r[6])) / n : null;
  }
  const endpoints = sortRows(ep);
  const fmtMs = (v: Cell) => fmtMetric('duration', v);
  box.replaceChildren(
    el('h2', {}, 'Network'),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Endpoints (error rate: status ≥ 500 or failed, of all requests)'),
      table(endpoints, {
        testid: 'network-table',
        sortable: true,
        fmt: { 'p75 duration': fmtMs, 'p99 duration': fmtMs, 'error rate': fmtShare },
        linkCol: (v) => (v === null ? null : hrefWith('/network', 'url_template', v)),
      }),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Slowest calls (by endpoint and status)'),
      table(slow, {
        testid: 'slowest-calls',
        fmt: { max: fmtMs },
        linkCol: (v) => (v === null ? null : hrefWith('/network', 'url_template', v)),
      }),
    ),
    traced,
  );
}

/**
 * The slowest traced requests (of the endpoint when the filter bar names one), each opening
 * its trace: the backend's spans under the page's call. One row per trace (a request's id).
 */
async function tracedRequests(pid: number, from: number, to: number): Promise<HTMLElement> {
  const res = await query(pid, {
    metric: 'requests.duration',
    aggregations: ['max'],
    filters: [{ field: 'trace_id', op: 'exists', value: null }],
    group_by: ['trace_id', 'method', 'url_template', 'status'],
    from,
    to,
    order_by: 'max',
    ascending: false,
    limit: 20,
  });
  const [ti, mi, ui, si, di] = ['trace_id', 'method', 'url_template', 'status', 'max'].map((c) =>
    col(res, c),
  );
  const ids = res.rows.map((r) => r[ti]).filter((x): x is string => typeof x === 'string');
  const starts = await traceStarts(pid, ids, from, to);
  const rows: Cell[][] = res.rows.map((r) => [
    r[ti],
    [r[mi], r[ui]].filter((x) => x !== null).join(' '),
    r[si],
    r[di],
    typeof r[ti] === 'string' ? (starts.get(r[ti] as string) ?? null) : null,
  ]);
  const endpoint = urlFilters().find((f) => f.field === 'url_template' && f.op === 'eq');
  return el(
    'div',
    { class: 'card' },
    el(
      'h3',
      {},
      endpoint
        ? `Slowest traced requests of ${String(endpoint.value)} (click one for its trace)`
        : 'Slowest traced requests (click an endpoint above for its own; a request for its trace)',
    ),
    table(
      { columns: ['trace', 'request', 'status', 'duration', 'when'], rows },
      {
        testid: 'traced-requests',
        fmt: { duration: (v) => fmtMetric('duration', v), when: (v) => fmtTime(v) },
        linkCol: (v) => (typeof v === 'string' ? traceHref(v, starts.get(v)) : null),
      },
    ),
  );
}
