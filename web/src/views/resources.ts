// Resources and third parties: by domain and initiator type; failed resources.
import { Cell, query, QueryResult } from '../api';
import { el } from '../dom';
import { fmtBytes, fmtMetric } from '../format';
import { joinOn, sortRows, table } from '../tables';
import { hrefWith, Range } from '../url';

export async function resourcesView(
  pid: number,
  box: HTMLElement,
  { from, to }: Range,
): Promise<void> {
  const r = { from, to, limit: 1000 };
  const [size, dur, bySizeInit, byDurInit, fails] = await Promise.all([
    query(pid, {
      metric: 'resources.transfer_size',
      aggregations: ['count', 'sum', 'avg'],
      group_by: ['domain'],
      ...r,
    }),
    query(pid, { metric: 'resources.duration', aggregations: ['p75'], group_by: ['domain'], ...r }),
    query(pid, {
      metric: 'resources.transfer_size',
      aggregations: ['count', 'sum', 'avg'],
      group_by: ['initiator'],
      ...r,
    }),
    query(pid, {
      metric: 'resources.duration',
      aggregations: ['p75'],
      group_by: ['initiator'],
      ...r,
    }),
    query(pid, {
      metric: 'resource_errors',
      aggregations: ['count'],
      group_by: ['domain', 'tag'],
      ...r,
    }),
  ]);
  const fmtMs = (v: Cell) => fmtMetric('duration', v);
  const cols = (res: QueryResult, d: QueryResult): [QueryResult, string, string][] => [
    [res, 'count', 'count'],
    [res, 'sum', 'transfer size'],
    [res, 'avg', 'avg size'],
    [d, 'p75', 'p75 duration'],
  ];
  const domains = sortRows(joinOn('domain', cols(size, dur)));
  const inits = joinOn('initiator', cols(bySizeInit, byDurInit));
  const fmt = { 'transfer size': fmtBytes, 'avg size': fmtBytes, 'p75 duration': fmtMs };
  box.replaceChildren(
    el('h2', {}, 'Resources and third parties'),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'By domain'),
      table(domains, {
        testid: 'resources-domains',
        sortable: true,
        fmt,
        linkCol: (v) => (v === null ? null : hrefWith('/resources', 'domain', v)),
      }),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'By initiator type'),
      table(inits, {
        testid: 'resources-initiators',
        fmt,
        linkCol: (v) => (v === null ? null : hrefWith('/resources', 'initiator', v)),
      }),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Failed resources (by domain and tag)'),
      table(fails, {
        testid: 'resource-failures',
        linkCol: (v) => (v === null ? null : hrefWith('/resources', 'domain', v)),
      }),
    ),
  );
}
