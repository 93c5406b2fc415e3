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
