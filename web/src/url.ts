// URL state: every view's state lives in the query string (project, time range, metric,
// grouping, sorting, the filter bar's filters), so any URL can be shared; navigation.
import type { Cell } from './api';
import { el } from './dom';

export interface Filter {
  field: string;
  op: string;
  value: unknown;
}

/** Draws the current URL's page; main.ts sets it (navigation lives here, rendering there). */
let renderer: () => Promise<void> = async () => {};
export function setRenderer(render: () => Promise<void>): void {
  renderer = render;
}

const HOUR = 3600000,
  DAY = 24 * HOUR;
export const RANGES: Record<string, [number, string]> = {
  '1h': [HOUR, 'Last hour'],
  '24h': [DAY, 'Last 24 hours'],
  '7d': [7 * DAY, 'Last 7 days'],
  '30d': [30 * DAY, 'Last 30 days'],
};
/** The longest custom range: the longest retention anyone keeps, with room. */
export const MAX_RANGE = 400 * DAY;
/** Time buckets for a range of `len` ms: 12 to 60 points on a chart. */
function bucketFor(len: number): string {
  return len <= 3 * HOUR
    ? 'time:5m'
    : len <= 2 * DAY
      ? 'time:1h'
      : len <= 10 * DAY
        ? 'time:6h'
        : 'time:1d';
}
export const VITALS = ['lcp', 'inp', 'cls', 'fcp', 'ttfb'];
export const PCTS = ['p50', 'p75', 'p90', 'p99'];
export const GROUPS = [
  'page_path',
  'browser',
  'os',
  'device_type',
  'country',
  'effective_type',
  'connection_type',
  'release',
];

interface State {
  path: string;
  params: URLSearchParams;
}
export function state(): State {
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}
export function param(name: string, dflt: string, allowed?: string[]): string {
  const v = new URLSearchParams(location.search).get(name);
  if (v === null || v === '' || (allowed && !allowed.includes(v))) return dflt;
  return v;
}
/** A URL for `path`: the current query string (when `keep`) with `changes`; `flt` replaces the filters. */
export function href(
  path: string,
  changes: Record<string, string | null> = {},
  keep = true,
  flt?: Filter[],
): string {
  const p = keep ? new URLSearchParams(location.search) : new URLSearchParams();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) p.delete(k);
    else p.set(k, v);
  }
  if (flt) {
    p.delete('f');
    p.delete('filter');
    for (const f of flt) p.append('f', `${f.field}:${f.op}:${String(f.value)}`);
  }
  const qs = p.toString();
  return path + (qs ? '?' + qs : '');
}
export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  void renderer();
}
/** Parameters that are one view's own state: dropped when going to another view. */
const VIEW_STATE = [
  'session',
  't',
  'sort',
  'dir',
  'page',
  'fp',
  'error_fp',
  'error_type',
  'error_message',
  'tab',
  'trace',
  'span',
  'service',
  'op',
  'rule',
  'edit',
  'vital',
  'event',
  'by_page',
  'funnel',
  'within',
  'split',
  'crash',
  'start',
];
/**
 * A URL for another view: the project, range and filters stay (so a team can look at one
 * segment everywhere), the previous view's own state goes. `from`/`to` are kept only when
 * they are the custom range (a trace's window is not).
 */
export function hrefTo(path: string, changes: Record<string, string | null> = {}): string {
  const drop: Record<string, string | null> = Object.fromEntries(VIEW_STATE.map((k) => [k, null]));
  if (param('range', '') !== 'custom') drop.from = drop.to = null;
  return href(path, { ...drop, ...changes });
}
/** The trace view of a trace; `ts` (when a request was made, ms) narrows the read to an hour either side. */
export function traceHref(traceId: string, ts?: number): string {
  const around: Record<string, string> =
    ts !== undefined && Number.isFinite(ts)
      ? { from: String(Math.floor(ts - HOUR)), to: String(Math.ceil(ts + HOUR)) }
      : {};
  return hrefTo('/traces', { trace: traceId, ...around });
}
export function link(text: string, url: string, cls = ''): HTMLAnchorElement {
  const a = el('a', { href: url, class: cls }, text);
  a.addEventListener('click', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    navigate(url);
  });
  return a;
}
/** The time range in view: a preset ending now, or `range=custom&from=<ms>&to=<ms>`. */
export interface Range {
  from: number;
  to: number;
  range: string;
  bucket: string;
}
export function timeRange(): Range {
  const p = new URLSearchParams(location.search);
  if (p.get('range') === 'custom') {
    const from = Number(p.get('from')),
      to = Number(p.get('to'));
    if (
      Number.isSafeInteger(from) &&
      Number.isSafeInteger(to) &&
      from < to &&
      to - from <= MAX_RANGE
    )
      return { from, to, range: 'custom', bucket: bucketFor(to - from) };
  }
  const range = param('range', '24h', Object.keys(RANGES));
  const to = Math.ceil(Date.now() / 60000) * 60000; // whole minutes: shareable, cache-friendly
  const len = RANGES[range][0];
  return { from: to - len, to, range, bucket: bucketFor(len) };
}
/** A custom range, e.g. from a chart selection: minutes, at least one. */
export function customRangeHref(from: number, to: number): string {
  const f = Math.floor(from / 60000) * 60000,
    t = Math.max(f + 60000, Math.ceil(to / 60000) * 60000);
  return href(location.pathname, { range: 'custom', from: String(f), to: String(t) });
}

// ---------- filter bar state: repeated f=field:op:value (the value may contain colons) ----------
export const OPS: Record<string, string> = { eq: 'is', neq: 'is not', contains: 'contains' };
/** Columns of every table, so these filters apply to every query of every view. */
export const COMMON_FIELDS = [
  'country',
  'browser',
  'os',
  'device_type',
  'effective_type',
  'connection_type',
  'page_path',
  'release',
  'environment',
  'user_id',
];
/**
 * Mobile apps' columns, also in every event table (browsers leave them empty): offered on the
 * Mobile view and on a project with mobile data only, applied like the common fields.
 */
export const MOBILE_FIELDS = ['app_version', 'os_version', 'device_model', 'carrier'];
/** Fields of one view's tables: offered and applied on that view only. */
export const VIEW_FIELDS: Record<string, { view: string; tables: string[] }> = {
  url_template: { view: '/network', tables: ['requests'] },
  method: { view: '/network', tables: ['requests'] },
  status: { view: '/network', tables: ['requests'] },
  domain: { view: '/resources', tables: ['resources', 'resource_errors'] },
  initiator: { view: '/resources', tables: ['resources'] },
  error_type: { view: '/errors', tables: ['errors'] },
  service: { view: '/services', tables: ['spans'] },
};
/** The common fields that backends' spans have too (they know no browser, page or place). */
const SPAN_FIELDS = ['environment', 'release', 'user_id'];
const INTEGER_FIELDS = ['status'];
/** A custom attribute (`setAttributes`) as a field: in every table, like the common columns. */
export const isAttribute = (field: string): boolean =>
  /^attributes\.[A-Za-z0-9_.-]{1,64}$/.test(field);
const isCommon = (field: string): boolean =>
  COMMON_FIELDS.includes(field) || MOBILE_FIELDS.includes(field) || isAttribute(field);
function parseFilter(s: string): Filter | null {
  const m = /^([a-z_]+|attributes\.[A-Za-z0-9_.-]{1,64}):(eq|neq|contains):([\s\S]*)$/.exec(s);
  if (!m || !(isCommon(m[1]) || m[1] in VIEW_FIELDS)) return null;
  const num = INTEGER_FIELDS.includes(m[1]) && m[2] !== 'contains' && /^\d+$/.test(m[3]);
  return { field: m[1], op: m[2], value: num ? Number(m[3]) : m[3] };
}
export function urlFilters(): Filter[] {
  const p = new URLSearchParams(location.search);
  const legacy = p.get('filter'); // links from before the filter bar: filter=field:value (equality)
  const raw = [...p.getAll('f'), ...(legacy ? [legacy.replace(':', ':eq:')] : [])];
  return raw.map(parseFilter).filter((f): f is Filter => f !== null);
}
/** Whether `table` has the filter's field. */
function inTable(field: string, table: string): boolean {
  if (VIEW_FIELDS[field]?.tables.includes(table)) return true;
  if (!isCommon(field)) return false;
  return table !== 'spans' || SPAN_FIELDS.includes(field) || isAttribute(field);
}
/** Whether the current view applies a filter on `field` (the Services view reads spans only). */
export function fieldAppliesHere(field: string): boolean {
  if (location.pathname === '/services') return inTable(field, 'spans');
  return isCommon(field) || VIEW_FIELDS[field]?.view === location.pathname;
}
export function appliesHere(f: Filter): boolean {
  return fieldAppliesHere(f.field);
}
/** The URL's filters that this view applies and `table` has. */
export function filtersFor(table: string): Filter[] {
  return urlFilters().filter((f) => appliesHere(f) && inTable(f.field, table));
}
/** The current URL with `field is value` replacing any other filter on that field. */
export function hrefWith(
  path: string,
  field: string,
  value: Cell,
  changes: Record<string, string | null> = {},
): string {
  return href(path, { sort: null, dir: null, ...changes }, true, [
    ...urlFilters().filter((f) => f.field !== field),
    { field, op: 'eq', value: value === null ? '' : String(value) },
  ]);
}
