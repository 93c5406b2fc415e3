// Shared by every view: types, the API client, URL state (range, filters), formatting, tables, charts.
// All event data is rendered with textContent.
import uPlot from 'uplot';

export type Cell = string | number | boolean | null;
export interface QueryResult {
  columns: string[];
  rows: Cell[][];
}
export type Role = 'viewer' | 'member' | 'owner';
/** A project as /api/v1/me lists it, with the user's role there. */
export interface Project {
  id: number;
  name: string;
  public_key: string;
  role: Role;
}
export interface Me {
  user: { email: string; id: number };
  projects: Project[];
  csrf_token: string;
}
export interface Filter {
  field: string;
  op: string;
  value: unknown;
}
interface Query {
  metric: string;
  aggregations: string[];
  filters?: Filter[];
  group_by?: string[];
  from: number;
  to: number;
  order_by?: string;
  ascending?: boolean;
  limit?: number;
}

export class HttpError extends Error {
  constructor(
    public status: number,
    msg: string,
  ) {
    super(msg);
  }
}

/** The signed-in user, or null; set at sign-in and by /me, cleared at sign-out. */
let me: Me | null = null;
export function currentUser(): Me | null {
  return me;
}
export function setMe<T extends Me | null>(m: T): T {
  me = m;
  return m;
}
/** Draws the current URL's page; main.ts sets it (navigation lives here, rendering there). */
let renderer: () => Promise<void> = async () => {};
export function setRenderer(render: () => Promise<void>): void {
  renderer = render;
}

// ---------- DOM helpers (text only) ----------
type Child = Node | string | number | null | undefined;
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(
      typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c,
    );
  }
  return e;
}

// ---------- API ----------
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  // the server takes cookie-authenticated writes as JSON only (a cross-site form cannot send it)
  if (body !== undefined || method !== 'GET') headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && me) headers['X-CSRF-Token'] = me.csrf_token;
  const r = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) {
    let msg = r.statusText;
    try {
      const j = (await r.json()) as { message?: string };
      if (j.message) msg = j.message;
    } catch {
      /* ignore */
    }
    throw new HttpError(r.status, msg);
  }
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}
/** Every query carries the filter bar's filters that apply to its table (see filtersFor). */
export function query(project: number, q: Query): Promise<QueryResult> {
  return api<QueryResult>('POST', `/api/v1/query?project=${project}`, {
    ...q,
    filters: [...filtersFor(tableOf(q.metric)), ...(q.filters ?? [])],
  });
}
export function col(res: QueryResult, name: string): number {
  return res.columns.indexOf(name);
}
export function first(res: QueryResult, name: string): Cell {
  const i = col(res, name);
  return res.rows.length && i >= 0 ? res.rows[0][i] : null;
}

// ---------- URL state ----------
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
/** Fields of one view's tables: offered and applied on that view only. */
export const VIEW_FIELDS: Record<string, { view: string; tables: string[] }> = {
  url_template: { view: '/network', tables: ['requests'] },
  method: { view: '/network', tables: ['requests'] },
  status: { view: '/network', tables: ['requests'] },
  domain: { view: '/resources', tables: ['resources', 'resource_errors'] },
  initiator: { view: '/resources', tables: ['resources'] },
  error_type: { view: '/errors', tables: ['errors'] },
};
const INTEGER_FIELDS = ['status'];
/** A custom attribute (`setAttributes`) as a field: in every table, like the common columns. */
const isAttribute = (field: string): boolean => /^attributes\.[A-Za-z0-9_.-]{1,64}$/.test(field);
const isCommon = (field: string): boolean => COMMON_FIELDS.includes(field) || isAttribute(field);
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
export function appliesHere(f: Filter): boolean {
  return isCommon(f.field) || VIEW_FIELDS[f.field]?.view === location.pathname;
}
/** The URL's filters that this view applies and `table` has. */
export function filtersFor(table: string): Filter[] {
  return urlFilters().filter(
    (f) => appliesHere(f) && (isCommon(f.field) || VIEW_FIELDS[f.field].tables.includes(table)),
  );
}
const attributeCache = new Map<string, Promise<string[]>>();
/** The project's custom attribute fields (`attributes.<key>`), most common first; fetched once per project and range. */
export function attributeFields(pid: number): Promise<string[]> {
  const { from, to, range } = timeRange();
  const key = range === 'custom' ? `${pid}:${from}:${to}` : `${pid}:${range}`;
  let keys = attributeCache.get(key);
  if (!keys) {
    keys = api<{ keys: { key: string }[] }>(
      'GET',
      `/api/v1/attributes?project=${pid}&from=${from}&to=${to}`,
    )
      .then((r) => r.keys.map((k) => `attributes.${k.key}`).filter(isAttribute))
      .catch(() => {
        attributeCache.delete(key);
        return [];
      });
    attributeCache.set(key, keys);
  }
  return keys;
}
function tableOf(metric: string): string {
  return VITALS.includes(metric) ? 'vitals' : metric.split('.')[0];
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

// ---------- formatting ----------
export function fmtMetric(metric: string, v: Cell): string {
  if (v === null || typeof v !== 'number' || !isFinite(v)) return '–';
  if (metric === 'cls') return v.toFixed(3);
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  return Math.round(v) + ' ms';
}
export function fmtNum(v: Cell): string {
  return typeof v === 'number' ? v.toLocaleString('en-US') : v === null ? '–' : String(v);
}
export function fmtPct(v: number): string {
  return (v * 100).toFixed(1) + '%';
}
export function fmtCell(v: Cell): string {
  return v === null ? '(none)' : String(v);
}
/** Minimum samples (page views / vital counts) in the previous period for a trend to be shown. */
const MIN_PREV_SAMPLES = 30;

export function trend(
  cur: Cell,
  prev: Cell,
  lowerIsBetter: boolean,
  prevSamples: Cell,
): HTMLElement {
  if (typeof prevSamples !== 'number' || prevSamples < MIN_PREV_SAMPLES)
    return el('div', { class: 'trend', 'data-testid': 'trend-none' }, 'not enough earlier data');
  if (typeof cur !== 'number' || typeof prev !== 'number' || prev === 0)
    return el('div', { class: 'trend' }, 'no previous data');
  const d = (cur - prev) / prev;
  const worse = lowerIsBetter ? d > 0 : d < 0;
  const cls = Math.abs(d) < 0.005 ? 'trend' : worse ? 'trend worse' : 'trend better';
  return el(
    'div',
    { class: cls, 'data-testid': 'trend' },
    `${d >= 0 ? '▲' : '▼'} ${Math.abs(d * 100).toFixed(1)}% vs previous period`,
  );
}
export function emptyNote(testid: string): HTMLElement {
  return el(
    'p',
    { class: 'empty', 'data-testid': testid },
    urlFilters().some(appliesHere)
      ? 'No data for this range and these filters.'
      : 'No data for this range.',
  );
}
/** `sortable`: every column, or the listed ones, get header links setting `sort`/`dir` in the URL. */
/** A table of a query result. `linkCol` links the first column by its value; `links` link any column by the whole row. */
export function table(
  res: QueryResult,
  opts: {
    metricCols?: Record<string, string>;
    fmt?: Record<string, (v: Cell) => string>;
    linkCol?: (v: Cell) => string | null;
    links?: Record<string, (row: Cell[]) => string | null>;
    testid?: string;
    sortable?: boolean | string[];
  } = {},
): HTMLElement {
  if (!res.rows.length) return emptyNote((opts.testid ?? 'table') + '-empty');
  const numeric = res.columns.map((_, i) => res.rows.some((r) => typeof r[i] === 'number'));
  const sortCol = param('sort', ''),
    desc = param('dir', 'desc') !== 'asc';
  const head = (c: string): Child => {
    if (!opts.sortable || (Array.isArray(opts.sortable) && !opts.sortable.includes(c))) return c;
    const on = c === sortCol;
    return link(
      c + (on ? (desc ? ' ▼' : ' ▲') : ''),
      href(location.pathname, { sort: c, dir: on && desc ? 'asc' : 'desc' }),
      'sort',
    );
  };
  const thead = el(
    'thead',
    {},
    el(
      'tr',
      {},
      ...res.columns.map((c, i) => el('th', { class: numeric[i] ? 'num' : '' }, head(c))),
    ),
  );
  const tbody = el('tbody');
  for (const row of res.rows) {
    const tr = el('tr');
    row.forEach((v, i) => {
      const c = res.columns[i];
      const m = opts.metricCols?.[c];
      const f = opts.fmt?.[c];
      const text = f ? f(v) : m ? fmtMetric(m, v) : typeof v === 'number' ? fmtNum(v) : fmtCell(v);
      const td = el('td', { class: numeric[i] ? 'num' : 'wrap' });
      const url = i === 0 && opts.linkCol ? opts.linkCol(v) : (opts.links?.[c]?.(row) ?? null);
      td.append(url ? link(text, url) : document.createTextNode(text));
      if (typeof v === 'number') td.setAttribute('data-raw', String(v));
      tr.append(td);
    });
    tbody.append(tr);
  }
  const tableEl = el('table', { 'data-testid': opts.testid ?? 'table' }, thead, tbody);
  return el('div', { class: 'table-box' }, csvButton(res, opts.testid ?? 'table'), tableEl);
}

/** One CSV field: quoted when needed; text that a spreadsheet would run as a formula is defused. */
function csvField(v: Cell): string {
  if (v === null) return '';
  let t = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(t)) t = "'" + t;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}
/** Downloads a result as CSV, with the raw values (not the formatted ones). */
function csvButton(res: QueryResult, name: string): HTMLButtonElement {
  const b = el(
    'button',
    { type: 'button', class: 'csv', 'data-testid': `${name}-csv`, title: 'Download as CSV' },
    'CSV',
  );
  b.addEventListener('click', () => {
    const text =
      [res.columns, ...res.rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
    const a = el('a', {
      href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })),
      download: `vigil-${name}.csv`,
    });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
  return b;
}

let chart: uPlot | null = null;
/** One chart on screen at a time: the previous view's chart is destroyed first. */
export function plot(
  target?: HTMLElement | null,
  opts?: Omit<uPlot.Options, 'width'>,
  data?: (number | null)[][],
): void {
  chart?.destroy();
  if (!target || !opts || !data) {
    chart = null;
    return;
  }
  // dragging across a time chart zooms every view to that span (a custom range in the URL)
  const zoom = (u: uPlot) => {
    if (u.select.width < 4) return;
    const from = u.posToVal(u.select.left, 'x') * 1000,
      to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
    if (to > from) navigate(customRangeHref(from, to));
  };
  chart = new uPlot(
    {
      width: Math.max(300, Math.min(1160, (target.parentElement?.clientWidth ?? 1200) - 32)),
      ...opts,
      hooks: { setSelect: [zoom] },
    },
    data as uPlot.AlignedData,
    target,
  );
  target.title = 'Drag across the chart to zoom to that time span';
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svgEl(tag: string, attrs: Record<string, string> = {}): SVGElement {
  const e = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// ---------- pages, network, resources ----------
/** Joins grouped query results on their first column: key -> one value per (result, column). */
export function joinOn(
  key: string,
  parts: [QueryResult, string, string][],
  fill: Record<string, Cell> = {},
): QueryResult {
  const rows = new Map<string, Cell[]>();
  const keys: Cell[] = [];
  parts.forEach(([res, c], k) => {
    const ki = col(res, key),
      vi = col(res, c);
    for (const r of res.rows) {
      const id = JSON.stringify(r[ki]);
      let row = rows.get(id);
      if (!row) {
        if (k > 0) continue; // the first result defines the rows
        row = [r[ki], ...parts.map(([, , name]) => fill[name] ?? null)];
        rows.set(id, row);
        keys.push(r[ki]);
      }
      row[k + 1] = r[vi];
    }
  });
  return { columns: [key, ...parts.map(([, , name]) => name)], rows: [...rows.values()] };
}
export function sortRows(res: QueryResult): QueryResult {
  const i = col(res, param('sort', ''));
  if (i < 0) return res;
  const dir = param('dir', 'desc') === 'asc' ? 1 : -1;
  const rows = [...res.rows].sort((a, b) => {
    const x = a[i],
      y = b[i];
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1; // nulls last
    return (
      (typeof x === 'number' && typeof y === 'number'
        ? x - y
        : String(x).localeCompare(String(y))) * dir
    );
  });
  return { columns: res.columns, rows };
}
export const fmtBytes = (v: Cell): string => {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (v >= 1e9) return (v / 1e9).toFixed(2) + ' GB';
  if (v >= 1e6) return (v / 1e6).toFixed(2) + ' MB';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + ' kB';
  return Math.round(v) + ' B';
};
export const fmtShare = (v: Cell): string =>
  typeof v === 'number' && isFinite(v) ? fmtPct(v) : '–';

export interface ProjectSettings {
  id: number;
  name: string;
  public_key: string;
  allowed_origins: string[];
  retention_days: number;
  snippet: string;
}

/** Counts over time, one line per value of `key` (a result grouped by key and time), zeros where none. */
export function countLines(
  target: HTMLElement | null,
  series: QueryResult,
  key: string | null,
): void {
  const sn = key ? col(series, key) : -1,
    st = col(series, 'time'),
    sc = col(series, 'count');
  const times = [...new Set(series.rows.map((r) => Number(r[st])))].sort((a, b) => a - b);
  const idx = new Map(times.map((t, i) => [t, i]));
  const data: (number | null)[][] = [times.map((t) => t / 1000)];
  const COLORS = ['#2a5bd7', '#e67e22', '#16a085', '#8e44ad', '#c0392b', '#7f8c8d'];
  const seriesOpts: uPlot.Series[] = [{}];
  const name = (r: Cell[]) => (sn < 0 ? 'count' : fmtCell(r[sn]));
  [...new Set(series.rows.map(name))].forEach((n, k) => {
    const ys: (number | null)[] = times.map(() => 0);
    for (const r of series.rows) {
      if (name(r) !== n) continue;
      const i = idx.get(Number(r[st]));
      if (i !== undefined) ys[i] = Number(r[sc]);
    }
    data.push(ys);
    seriesOpts.push({ label: n, stroke: COLORS[k % COLORS.length], width: 2 });
  });
  plot(target, { height: 260, series: seriesOpts }, data);
}

/** Horizontal bars of durations, scaled to the longest: [key (in `keyAttr`), label, ms]. */
export function durationBars(
  testid: string,
  keyAttr: string,
  rows: [string, string, Cell][],
): HTMLElement {
  const longest = Math.max(0, ...rows.map(([, , v]) => Number(v) || 0));
  return el(
    'div',
    { 'data-testid': testid },
    ...rows.map(([key, label, v]) => {
      const fill = el('div', { class: 'ni' });
      fill.style.width = `${longest > 0 ? ((Number(v) || 0) / longest) * 100 : 0}%`;
      return el(
        'div',
        { class: 'rate-row', [keyAttr]: key },
        el('span', { class: 'rate-label' }, label),
        el('div', { class: 'bar rate-bar' }, fill),
        el(
          'span',
          { class: 'rate-value', 'data-raw': typeof v === 'number' ? String(v) : '' },
          fmtMetric('duration', v),
        ),
      );
    }),
  );
}
