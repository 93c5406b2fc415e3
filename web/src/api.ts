// The API client: the answers' types, the signed-in user (and its CSRF token), requests and
// their errors, queries (which carry the filter bar's filters) and reading their results.
import { VITALS, filtersFor, isAttribute, timeRange } from './url';
import type { Filter } from './url';

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

function tableOf(metric: string): string {
  return VITALS.includes(metric) ? 'vitals' : metric.split('.')[0];
}

/**
 * A fact about a project in the current range, fetched once per project and range
 * (`fallback` when the request fails, which is then asked again next time).
 */
function perRange<T>(
  cache: Map<string, Promise<T>>,
  pid: number,
  fetch: (from: number, to: number) => Promise<T>,
  fallback: T,
): Promise<T> {
  const { from, to, range } = timeRange();
  const key = range === 'custom' ? `${pid}:${from}:${to}` : `${pid}:${range}`;
  let value = cache.get(key);
  if (!value) {
    value = fetch(from, to).catch(() => {
      cache.delete(key);
      return fallback;
    });
    cache.set(key, value);
  }
  return value;
}

const attributeCache = new Map<string, Promise<string[]>>();
/** The project's custom attribute fields (`attributes.<key>`), most common first; fetched once per project and range. */
export function attributeFields(pid: number): Promise<string[]> {
  return perRange(
    attributeCache,
    pid,
    (from, to) =>
      api<{ keys: { key: string }[] }>(
        'GET',
        `/api/v1/attributes?project=${pid}&from=${from}&to=${to}`,
      ).then((r) => r.keys.map((k) => `attributes.${k.key}`).filter(isAttribute)),
    [],
  );
}

const mobileCache = new Map<string, Promise<boolean>>();
/**
 * Whether the project's data in the range is an app's: screen loads and no page views. The
 * filter bar's filters are left out, so that filtering never changes the answer.
 */
export function mobileOnly(pid: number): Promise<boolean> {
  return perRange(
    mobileCache,
    pid,
    async (from, to) => {
      const count = (metric: string) =>
        api<QueryResult>('POST', `/api/v1/query?project=${pid}`, {
          metric,
          aggregations: ['count'],
          from,
          to,
        }).then((r) => Number(first(r, 'count')));
      const [views, loads] = await Promise.all([count('views'), count('screen_loads')]);
      return views === 0 && loads > 0;
    },
    false,
  );
}

export interface ProjectSettings {
  id: number;
  name: string;
  public_key: string;
  allowed_origins: string[];
  retention_days: number;
  snippet: string;
  /** The snippet with the agent's versioned URL: cached for a year, pasted again to upgrade. */
  pinned_snippet: string;
}

/** The signed-in user's role in a project (viewer when unknown: the server decides anyway). */
export function roleIn(pid: number): Role {
  return me?.projects.find((p) => p.id === pid)?.role ?? 'viewer';
}

// ---------- error tracking: groups, their detail, settings, filtered noise, source maps ----------
export type GroupState = 'unresolved' | 'resolved' | 'ignored';
/** A group as POST /api/v1/errors/groups lists it (and the detail's `group`). */
export interface ErrorGroup {
  fingerprint: string;
  events: number;
  sessions: number;
  users: number;
  critical_users: number;
  impact: number;
  first_seen: number;
  last_seen: number;
  error_type: string | null;
  message: string | null;
  culprit: string | null;
  handled: number;
  last_release: string | null;
  state: GroupState;
  regressed: boolean;
  in_next_release: boolean;
  resolved_at: number | null;
  /** Events in 24 equal buckets over the range. */
  series: number[];
}
export interface GroupSearch {
  from: number;
  to: number;
  order_by?: string;
  limit?: number;
  state?: GroupState | 'all';
  regressions_first?: boolean;
}
/** Error and crash groups: the same endpoints under `/api/v1/errors` and `/api/v1/crashes`. */
type GroupKind = 'errors' | 'crashes';
/** The groups of a range; the filter bar's filters that apply to the kind's table are sent. */
function groupList<G>(
  kind: GroupKind,
  pid: number,
  s: GroupSearch,
): Promise<{ groups: G[]; critical_pages: string[] }> {
  return api('POST', `/api/v1/${kind}/groups?project=${pid}`, { ...s, filters: filtersFor(kind) });
}
function groupDetail<D>(
  kind: GroupKind,
  pid: number,
  fingerprint: string,
  from: number,
  to: number,
): Promise<D> {
  return api(
    'GET',
    `/api/v1/${kind}/groups/${encodeURIComponent(fingerprint)}?project=${pid}&from=${from}&to=${to}`,
  );
}
function putGroupState(
  kind: GroupKind,
  pid: number,
  fingerprint: string,
  state: GroupState,
  inNextRelease: boolean,
): Promise<unknown> {
  return api(
    'PUT',
    `/api/v1/${kind}/groups/${encodeURIComponent(fingerprint)}/state?project=${pid}`,
    state === 'resolved' ? { state, in_next_release: inNextRelease } : { state },
  );
}
export function errorGroups(
  pid: number,
  s: GroupSearch,
): Promise<{ groups: ErrorGroup[]; critical_pages: string[] }> {
  return groupList('errors', pid, s);
}
export interface Breakdown {
  value: Cell;
  events: number;
  users: number;
}
export interface GroupSession {
  session_id: string;
  user_id: string | null;
  last_seen: number;
  events: number;
  browser: string | null;
  os: string | null;
  country: string | null;
  page_path: string | null;
}
export interface ErrorGroupDetail {
  group: ErrorGroup;
  breakdowns: Record<string, Breakdown[]>;
  /** The latest events, newest first, with every column of `errors`. */
  events: Record<string, Cell>[];
  sessions: GroupSession[];
}
export function errorGroup(
  pid: number,
  fingerprint: string,
  from: number,
  to: number,
): Promise<ErrorGroupDetail> {
  return groupDetail('errors', pid, fingerprint, from, to);
}
export function setGroupState(
  pid: number,
  fingerprint: string,
  state: GroupState,
  inNextRelease = false,
): Promise<unknown> {
  return putGroupState('errors', pid, fingerprint, state, inNextRelease);
}

// ---------- mobile crash groups (the mobile SDKs' `crashes`, grouped like errors) ----------
/** A crash group has an error group's fields; crashes are never handled nor on critical pages. */
export type CrashGroup = ErrorGroup;
export interface CrashGroupDetail {
  group: CrashGroup;
  /** app_version, os, os_version, device_model, carrier, connection_type, country, page_path. */
  breakdowns: Record<string, Breakdown[]>;
  /** The latest crashes, newest first, with every column of `crashes`. */
  events: Record<string, Cell>[];
  /** As an error group's (`browser` is null: apps have none). */
  sessions: GroupSession[];
}
export function crashGroups(
  pid: number,
  s: GroupSearch,
): Promise<{ groups: CrashGroup[]; critical_pages: string[] }> {
  return groupList('crashes', pid, s);
}
export function crashGroup(
  pid: number,
  fingerprint: string,
  from: number,
  to: number,
): Promise<CrashGroupDetail> {
  return groupDetail('crashes', pid, fingerprint, from, to);
}
export function setCrashGroupState(
  pid: number,
  fingerprint: string,
  state: GroupState,
  inNextRelease = false,
): Promise<unknown> {
  return putGroupState('crashes', pid, fingerprint, state, inNextRelease);
}
export interface IgnoreRule {
  field: 'message' | 'url';
  pattern: string;
}
export interface ErrorSettings {
  critical_pages: string[];
  filter_extensions: boolean;
  filter_script_error: boolean;
  ignore_rules: IgnoreRule[];
  /** Fetch the maps pages name from the allowed origins when no upload matches. */
  fetch_sourcemaps: boolean;
}
/** Errors the noise filters dropped, per UTC day (days since the epoch) and reason. */
export interface FilteredNoise {
  total: number;
  counts: { day: number; reason: string; count: number }[];
}
export interface SourceMapEntry {
  id: number;
  release: string;
  url: string;
  debug_id: string | null;
  map_file: string | null;
  map_bytes: number;
  source_file: string | null;
  source_bytes: number;
  /** Seconds since the epoch. */
  uploaded_at: number;
}
export interface SourceMaps {
  sourcemaps: SourceMapEntry[];
  totals: { bundles: number; releases: number; bytes: number };
}

// ---------- traces: one trace's waterfall, and the start of traces found by a query ----------
/** An OpenTelemetry attribute value as the API gives it (JSON). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [k: string]: AttrValue };
export type Attrs = Record<string, AttrValue> | null;
/** A span event (an exception among them): `time_ms` since the epoch. */
export interface SpanEvent {
  time_ms?: number;
  name?: string;
  attributes?: Attrs;
}
export interface TraceSpan {
  span_id: string;
  parent_span_id: string | null;
  service: string;
  name: string;
  kind: string;
  status: string;
  status_message: string | null;
  http_status: number | null;
  url: string | null;
  start: number;
  /** ms after the trace's first span started. */
  offset: number;
  duration: number;
  depth: number;
  /** On the critical path: the chain of spans the trace's end waited on. */
  critical: boolean;
  /** Time on the critical path spent in the span itself, ms. */
  critical_self_time: number;
  /** The page's client span of the traced request. */
  browser: boolean;
  session_id: string | null;
  view_id: string | null;
  scope: string | null;
  attributes: Attrs;
  resource: Attrs;
  events: SpanEvent[] | null;
}
export interface TraceLog {
  time: number;
  offset: number;
  severity: string | null;
  body: string | null;
  span_id: string | null;
  service: string | null;
  scope: string | null;
  attributes: Attrs;
}
export interface Trace {
  trace_id: string;
  start: number;
  duration: number;
  services: string[];
  session_id: string | null;
  view_id: string | null;
  slowest_span_id: string | null;
  truncated: boolean;
  /** Depth first, children in order of start. */
  spans: TraceSpan[];
  logs: TraceLog[];
}
export const isTraceId = (id: string): boolean => /^[0-9a-f]{32}$/.test(id) && /[1-9a-f]/.test(id);
/** GET /api/v1/traces/{id}; `from`/`to` narrow the days read. 404: nothing of it is stored. */
export function trace(
  pid: number,
  id: string,
  from: number | null,
  to: number | null,
): Promise<Trace> {
  const range = from !== null && to !== null ? `&from=${from}&to=${to}` : '';
  return api('GET', `/api/v1/traces/${encodeURIComponent(id)}?project=${pid}${range}`);
}
/**
 * When each of these traces started (its earliest span, the browser's own among them), so
 * a link reads only the hour around it. Not narrowed by the filter bar: a trace is found by
 * its id. Traces it cannot place are missing from the map.
 */
export async function traceStarts(
  pid: number,
  ids: string[],
  from: number,
  to: number,
): Promise<Map<string, number>> {
  if (!ids.length) return new Map();
  const res = await api<QueryResult>('POST', `/api/v1/query?project=${pid}`, {
    metric: 'spans.start',
    aggregations: ['min'],
    filters: [{ field: 'trace_id', op: 'in', value: ids }],
    group_by: ['trace_id'],
    from,
    to,
    limit: ids.length,
  });
  const t = col(res, 'trace_id'),
    m = col(res, 'min');
  return new Map(
    res.rows
      .filter((r) => typeof r[t] === 'string' && typeof r[m] === 'number')
      .map((r) => [r[t] as string, r[m] as number]),
  );
}

// ---------- session replay ----------
/** One stored replay segment (docs/replay.md): a few seconds of rrweb events of one page view. */
export interface ReplaySegment {
  v: number;
  session_id: string;
  view_id?: string;
  seq: number;
  start: number;
  end: number;
  mode: string;
  events: unknown[];
}
/**
 * A session's replay segments in seq order (GET /api/v1/sessions/{id}/replay, one JSON
 * segment a line), or null when the session has none (404).
 */
export async function sessionReplay(pid: number, sid: string): Promise<ReplaySegment[] | null> {
  const r = await fetch(`/api/v1/sessions/${encodeURIComponent(sid)}/replay?project=${pid}`, {
    credentials: 'same-origin',
  });
  if (r.status === 404) return null;
  if (!r.ok) throw new HttpError(r.status, r.statusText);
  const segments: ReplaySegment[] = [];
  for (const line of (await r.text()).split('\n')) {
    if (!line.trim()) continue;
    const s = JSON.parse(line) as ReplaySegment;
    if (isObjectLike(s) && Array.isArray(s.events)) segments.push(s);
  }
  return segments;
}
const isObjectLike = (x: unknown): x is object => typeof x === 'object' && x !== null;
