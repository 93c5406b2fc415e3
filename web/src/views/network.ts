// Network: endpoints (URL templates) with p75/p99 duration and error rate; the slowest calls.
import { Cell, query } from '../api';
import { el } from '../dom';
import { fmtMetric, fmtShare } from '../format';
import { joinOn, sortRows, table } from '../tables';
import { hrefWith, Range } from '../url';

export async function networkView(
  pid: number,
  box: HTMLElement,
  { from, to }: Range,
): Promise<void> {
  const g = { group_by: ['url_template'], from, to, limit: 1000 };
  const [dur, total, s5xx, failed, both, slow] = await Promise.all([
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
  );
}
