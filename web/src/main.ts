// Vigil dashboard: a small client-side app. All event data is rendered with textContent.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

type Cell = string | number | boolean | null;
interface QueryResult { columns: string[]; rows: Cell[][]; }
interface Project { id: number; name: string; public_key: string; }
interface Me { user: { email: string; id: number }; projects: Project[]; csrf_token: string; }
interface Filter { field: string; op: string; value: unknown; }
interface Query {
  metric: string; aggregations: string[]; filters?: Filter[]; group_by?: string[];
  from: number; to: number; order_by?: string; ascending?: boolean; limit?: number;
}

class HttpError extends Error { constructor(public status: number, msg: string) { super(msg); } }

let me: Me | null = null;
let renderSeq = 0;
const root = document.getElementById("app") as HTMLElement;

// ---------- DOM helpers (text only) ----------
type Child = Node | string | number | null | undefined;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

// ---------- API ----------
async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && me) headers["X-CSRF-Token"] = me.csrf_token;
  const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let msg = r.statusText;
    try { const j = await r.json() as { message?: string }; if (j.message) msg = j.message; } catch { /* ignore */ }
    throw new HttpError(r.status, msg);
  }
  if (r.status === 204) return undefined as T;
  return await r.json() as T;
}
/** Every query carries the filter bar's filters that apply to its table (see filtersFor). */
function query(project: number, q: Query): Promise<QueryResult> {
  return api<QueryResult>("POST", `/api/v1/query?project=${project}`, { ...q, filters: [...filtersFor(tableOf(q.metric)), ...(q.filters ?? [])] });
}
function col(res: QueryResult, name: string): number { return res.columns.indexOf(name); }
function first(res: QueryResult, name: string): Cell {
  const i = col(res, name);
  return res.rows.length && i >= 0 ? res.rows[0][i] : null;
}

// ---------- URL state ----------
const HOUR = 3600000, DAY = 24 * HOUR;
const RANGES: Record<string, [number, string]> = { "1h": [HOUR, "Last hour"], "24h": [DAY, "Last 24 hours"], "7d": [7 * DAY, "Last 7 days"], "30d": [30 * DAY, "Last 30 days"] };
/** The longest custom range: the longest retention anyone keeps, with room. */
const MAX_RANGE = 400 * DAY;
/** Time buckets for a range of `len` ms: 12 to 60 points on a chart. */
function bucketFor(len: number): string { return len <= 3 * HOUR ? "time:5m" : len <= 2 * DAY ? "time:1h" : len <= 10 * DAY ? "time:6h" : "time:1d"; }
const VITALS = ["lcp", "inp", "cls", "fcp", "ttfb"];
const PCTS = ["p50", "p75", "p90", "p99"];
const GROUPS = ["page_path", "browser", "os", "device_type", "country", "effective_type", "connection_type", "release"];

interface State { path: string; params: URLSearchParams; }
function state(): State { return { path: location.pathname, params: new URLSearchParams(location.search) }; }
function param(name: string, dflt: string, allowed?: string[]): string {
  const v = new URLSearchParams(location.search).get(name);
  if (v === null || v === "" || (allowed && !allowed.includes(v))) return dflt;
  return v;
}
/** A URL for `path`: the current query string (when `keep`) with `changes`; `flt` replaces the filters. */
function href(path: string, changes: Record<string, string | null> = {}, keep = true, flt?: Filter[]): string {
  const p = keep ? new URLSearchParams(location.search) : new URLSearchParams();
  for (const [k, v] of Object.entries(changes)) { if (v === null) p.delete(k); else p.set(k, v); }
  if (flt) { p.delete("f"); p.delete("filter"); for (const f of flt) p.append("f", `${f.field}:${f.op}:${String(f.value)}`); }
  const qs = p.toString();
  return path + (qs ? "?" + qs : "");
}
function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  void render();
}
function link(text: string, url: string, cls = ""): HTMLAnchorElement {
  const a = el("a", { href: url, class: cls }, text);
  a.addEventListener("click", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault(); navigate(url);
  });
  return a;
}
/** The time range in view: a preset ending now, or `range=custom&from=<ms>&to=<ms>`. */
interface Range { from: number; to: number; range: string; bucket: string; }
function timeRange(): Range {
  const p = new URLSearchParams(location.search);
  if (p.get("range") === "custom") {
    const from = Number(p.get("from")), to = Number(p.get("to"));
    if (Number.isSafeInteger(from) && Number.isSafeInteger(to) && from < to && to - from <= MAX_RANGE) return { from, to, range: "custom", bucket: bucketFor(to - from) };
  }
  const range = param("range", "24h", Object.keys(RANGES));
  const to = Math.ceil(Date.now() / 60000) * 60000; // whole minutes: shareable, cache-friendly
  const len = RANGES[range][0];
  return { from: to - len, to, range, bucket: bucketFor(len) };
}
/** A custom range, e.g. from a chart selection: minutes, at least one. */
function customRangeHref(from: number, to: number): string {
  const f = Math.floor(from / 60000) * 60000, t = Math.max(f + 60000, Math.ceil(to / 60000) * 60000);
  return href(location.pathname, { range: "custom", from: String(f), to: String(t) });
}

// ---------- filter bar state: repeated f=field:op:value (the value may contain colons) ----------
const OPS: Record<string, string> = { eq: "is", neq: "is not", contains: "contains" };
/** Columns of every table, so these filters apply to every query of every view. */
const COMMON_FIELDS = ["country", "browser", "os", "device_type", "effective_type", "connection_type", "page_path", "release", "environment", "user_id"];
/** Fields of one view's tables: offered and applied on that view only. */
const VIEW_FIELDS: Record<string, { view: string; tables: string[] }> = {
  url_template: { view: "/network", tables: ["requests"] }, method: { view: "/network", tables: ["requests"] }, status: { view: "/network", tables: ["requests"] },
  domain: { view: "/resources", tables: ["resources", "resource_errors"] }, initiator: { view: "/resources", tables: ["resources"] },
  error_type: { view: "/errors", tables: ["errors"] },
};
const INTEGER_FIELDS = ["status"];
/** A custom attribute (`setAttributes`) as a field: in every table, like the common columns. */
const isAttribute = (field: string): boolean => /^attributes\.[A-Za-z0-9_.-]{1,64}$/.test(field);
const isCommon = (field: string): boolean => COMMON_FIELDS.includes(field) || isAttribute(field);
function parseFilter(s: string): Filter | null {
  const m = /^([a-z_]+|attributes\.[A-Za-z0-9_.-]{1,64}):(eq|neq|contains):([\s\S]*)$/.exec(s);
  if (!m || !(isCommon(m[1]) || m[1] in VIEW_FIELDS)) return null;
  const num = INTEGER_FIELDS.includes(m[1]) && m[2] !== "contains" && /^\d+$/.test(m[3]);
  return { field: m[1], op: m[2], value: num ? Number(m[3]) : m[3] };
}
function urlFilters(): Filter[] {
  const p = new URLSearchParams(location.search);
  const legacy = p.get("filter"); // links from before the filter bar: filter=field:value (equality)
  const raw = [...p.getAll("f"), ...(legacy ? [legacy.replace(":", ":eq:")] : [])];
  return raw.map(parseFilter).filter((f): f is Filter => f !== null);
}
function appliesHere(f: Filter): boolean { return isCommon(f.field) || VIEW_FIELDS[f.field]?.view === location.pathname; }
/** The URL's filters that this view applies and `table` has. */
function filtersFor(table: string): Filter[] {
  return urlFilters().filter((f) => appliesHere(f) && (isCommon(f.field) || VIEW_FIELDS[f.field].tables.includes(table)));
}
const attributeCache = new Map<string, Promise<string[]>>();
/** The project's custom attribute fields (`attributes.<key>`), most common first; fetched once per project and range. */
function attributeFields(pid: number): Promise<string[]> {
  const { from, to, range } = timeRange();
  const key = range === "custom" ? `${pid}:${from}:${to}` : `${pid}:${range}`;
  let keys = attributeCache.get(key);
  if (!keys) {
    keys = api<{ keys: { key: string }[] }>("GET", `/api/v1/attributes?project=${pid}&from=${from}&to=${to}`)
      .then((r) => r.keys.map((k) => `attributes.${k.key}`).filter(isAttribute))
      .catch(() => { attributeCache.delete(key); return []; });
    attributeCache.set(key, keys);
  }
  return keys;
}
function tableOf(metric: string): string { return VITALS.includes(metric) ? "vitals" : metric.split(".")[0]; }
/** The current URL with `field is value` replacing any other filter on that field. */
function hrefWith(path: string, field: string, value: Cell, changes: Record<string, string | null> = {}): string {
  return href(path, { sort: null, dir: null, ...changes }, true, [...urlFilters().filter((f) => f.field !== field), { field, op: "eq", value: value === null ? "" : String(value) }]);
}

// ---------- formatting ----------
function fmtMetric(metric: string, v: Cell): string {
  if (v === null || typeof v !== "number" || !isFinite(v)) return "–";
  if (metric === "cls") return v.toFixed(3);
  if (v >= 1000) return (v / 1000).toFixed(2) + " s";
  return Math.round(v) + " ms";
}
function fmtNum(v: Cell): string { return typeof v === "number" ? v.toLocaleString("en-US") : v === null ? "–" : String(v); }
function fmtPct(v: number): string { return (v * 100).toFixed(1) + "%"; }
function fmtCell(v: Cell): string { return v === null ? "(none)" : String(v); }
/** Minimum samples (page views / vital counts) in the previous period for a trend to be shown. */
const MIN_PREV_SAMPLES = 30;

function trend(cur: Cell, prev: Cell, lowerIsBetter: boolean, prevSamples: Cell): HTMLElement {
  if (typeof prevSamples !== "number" || prevSamples < MIN_PREV_SAMPLES) return el("div", { class: "trend", "data-testid": "trend-none" }, "not enough earlier data");
  if (typeof cur !== "number" || typeof prev !== "number" || prev === 0) return el("div", { class: "trend" }, "no previous data");
  const d = (cur - prev) / prev;
  const worse = lowerIsBetter ? d > 0 : d < 0;
  const cls = Math.abs(d) < 0.005 ? "trend" : worse ? "trend worse" : "trend better";
  return el("div", { class: cls, "data-testid": "trend" }, `${d >= 0 ? "▲" : "▼"} ${Math.abs(d * 100).toFixed(1)}% vs previous period`);
}
function emptyNote(testid: string): HTMLElement {
  return el("p", { class: "empty", "data-testid": testid }, urlFilters().some(appliesHere) ? "No data for this range and these filters." : "No data for this range.");
}
/** `sortable`: every column, or the listed ones, get header links setting `sort`/`dir` in the URL. */
function table(res: QueryResult, opts: { metricCols?: Record<string, string>; fmt?: Record<string, (v: Cell) => string>; linkCol?: (v: Cell) => string | null; testid?: string; sortable?: boolean | string[] } = {}): HTMLElement {
  if (!res.rows.length) return emptyNote((opts.testid ?? "table") + "-empty");
  const numeric = res.columns.map((_, i) => res.rows.some((r) => typeof r[i] === "number"));
  const sortCol = param("sort", ""), desc = param("dir", "desc") !== "asc";
  const head = (c: string): Child => {
    if (!opts.sortable || (Array.isArray(opts.sortable) && !opts.sortable.includes(c))) return c;
    const on = c === sortCol;
    return link(c + (on ? (desc ? " ▼" : " ▲") : ""), href(location.pathname, { sort: c, dir: on && desc ? "asc" : "desc" }), "sort");
  };
  const thead = el("thead", {}, el("tr", {}, ...res.columns.map((c, i) => el("th", { class: numeric[i] ? "num" : "" }, head(c)))));
  const tbody = el("tbody");
  for (const row of res.rows) {
    const tr = el("tr");
    row.forEach((v, i) => {
      const c = res.columns[i];
      const m = opts.metricCols?.[c];
      const f = opts.fmt?.[c];
      const text = f ? f(v) : m ? fmtMetric(m, v) : typeof v === "number" ? fmtNum(v) : fmtCell(v);
      const td = el("td", { class: numeric[i] ? "num" : "wrap" });
      const url = i === 0 && opts.linkCol ? opts.linkCol(v) : null;
      td.append(url ? link(text, url) : document.createTextNode(text));
      if (typeof v === "number") td.setAttribute("data-raw", String(v));
      tr.append(td);
    });
    tbody.append(tr);
  }
  return el("table", { "data-testid": opts.testid ?? "table" }, thead, tbody);
}

// ---------- views ----------
function loginView(): HTMLElement {
  const email = el("input", { type: "email", name: "email", placeholder: "Email", required: "", autocomplete: "username" });
  const password = el("input", { type: "password", name: "password", placeholder: "Password", required: "", autocomplete: "current-password" });
  const msg = el("p", { class: "error", role: "alert" });
  const btn = el("button", { type: "submit" }, "Sign in");
  const form = el("form", { class: "login", "data-testid": "login-form" }, el("h1", {}, "Vigil"), email, password, btn, msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = ""; btn.disabled = true;
    try {
      me = await api<Me>("POST", "/api/v1/login", { email: email.value, password: password.value });
      const next = new URLSearchParams(location.search).get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
    } catch (e) {
      msg.textContent = e instanceof HttpError && e.status === 401 ? "Wrong email or password." : `Sign-in failed: ${(e as Error).message}`;
    } finally { btn.disabled = false; }
  });
  return form;
}

function projectList(m: Me): HTMLElement {
  const list = el("ul", { class: "projects", "data-testid": "project-list" });
  for (const p of m.projects) list.append(el("li", {}, link(p.name, href("/overview", { project: String(p.id) }, false))));
  return m.projects.length ? list : el("p", { class: "empty" }, "You have no projects yet.");
}
function signOut(): HTMLButtonElement {
  const b = el("button", { type: "button" }, "Sign out");
  b.addEventListener("click", async () => { try { await api("POST", "/api/v1/logout"); } catch { /* ignore */ } me = null; navigate("/login", true); });
  return b;
}
function projectPicker(m: Me): HTMLElement {
  return el("main", {}, el("div", { class: "card" }, el("h2", {}, "Choose a project"), projectList(m)));
}
/** A project the user does not belong to: nothing of it is requested (the API would answer 404). */
function noAccess(m: Me): HTMLElement {
  return el("main", { "data-testid": "no-access" }, el("div", { class: "card" }, el("h2", {}, "You do not have access to this project"),
    el("p", {}, `Signed in as ${m.user.email}. Ask an owner of the project for access, or open one of yours:`), projectList(m), signOut()));
}

function filterBar(pid: number): HTMLElement {
  const active = urlFilters();
  const setFilters = (flt: Filter[]) => navigate(href(location.pathname, {}, true, flt));
  const field = el("select", { name: "field", "data-testid": "filter-field", "aria-label": "Filter field" });
  for (const f of [...COMMON_FIELDS, ...Object.keys(VIEW_FIELDS).filter((k) => VIEW_FIELDS[k].view === location.pathname)]) field.append(el("option", { value: f }, f));
  void attributeFields(pid).then((attrs) => field.append(...attrs.map((f) => el("option", { value: f }, f))));
  const op = el("select", { name: "op", "data-testid": "filter-op", "aria-label": "Filter operator" });
  for (const [k, label] of Object.entries(OPS)) op.append(el("option", { value: k }, label));
  const values = el("datalist", { id: "filter-values" });
  const value = el("input", { name: "value", "data-testid": "filter-value", placeholder: "value", list: "filter-values", required: "", autocomplete: "off", "aria-label": "Filter value" });
  // suggestions: the field's most frequent values in the range, fetched when first wanted
  let suggested = "";
  const suggest = async () => {
    const f = field.value;
    if (suggested === f) return;
    suggested = f;
    const { from, to } = timeRange();
    try {
      const res = await api<QueryResult>("POST", `/api/v1/query?project=${pid}`, { metric: VIEW_FIELDS[f]?.tables[0] ?? "views", aggregations: ["count"], group_by: [f], from, to, limit: 50 });
      if (suggested === f) values.replaceChildren(...res.rows.filter((r) => r[0] !== null).map((r) => el("option", { value: String(r[0]) })));
    } catch { suggested = ""; /* suggestions are optional */ }
  };
  field.addEventListener("change", () => { value.value = ""; void suggest(); });
  value.addEventListener("focus", () => void suggest());
  const form = el("form", { class: "filter-form", "data-testid": "filter-form" }, field, op, value, values, el("button", { type: "submit" }, "Add filter"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); setFilters([...active, { field: field.value, op: op.value, value: value.value }]); });
  const chips = active.map((f, i) => {
    const here = appliesHere(f);
    const remove = el("button", { type: "button", class: "chip-remove", "data-testid": "filter-remove", "aria-label": `Remove filter ${f.field} ${OPS[f.op]} ${String(f.value)}` }, "×");
    remove.addEventListener("click", () => setFilters(active.filter((_, j) => j !== i)));
    return el("span", { class: here ? "chip" : "chip off", "data-testid": "filter-chip", "data-field": f.field, "data-applied": String(here) },
      `${f.field} ${OPS[f.op]} `, el("strong", {}, String(f.value)), here ? null : el("em", {}, " (not applied here)"), remove);
  });
  const clear = active.length ? link("Clear all", href(location.pathname, {}, true, []), "clear-all") : null;
  return el("div", { class: "filter-bar", "data-testid": "filter-bar" }, form, ...chips, clear);
}

const NAV: [string, string][] = [["/overview", "Overview"], ["/explorer", "Performance"], ["/pages", "Pages"], ["/network", "Network"], ["/resources", "Resources"], ["/geography", "Geography"], ["/errors", "Errors"], ["/sessions", "Sessions"], ["/business", "Business"], ["/settings", "Settings"]];

/** Two date-time inputs (the browser's time zone) for a custom range. */
function customRangeForm(cur: Range): HTMLFormElement {
  const local = (ms: number) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000); return d.toISOString().slice(0, 16); };
  const from = el("input", { type: "datetime-local", "data-testid": "range-from", "aria-label": "From", required: "" });
  const to = el("input", { type: "datetime-local", "data-testid": "range-to", "aria-label": "To", required: "" });
  from.value = local(cur.from); to.value = local(cur.to);
  const msg = el("span", { class: "error", role: "alert" });
  const form = el("form", { class: "custom-range", "data-testid": "range-form" }, from, "–", to, el("button", { type: "submit" }, "Apply"), msg);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new Date(from.value).getTime(), t = new Date(to.value).getTime();
    if (!(f < t)) { msg.textContent = "The start must be before the end."; return; }
    if (t - f > MAX_RANGE) { msg.textContent = "At most 400 days."; return; }
    navigate(customRangeHref(f, t));
  });
  return form;
}

function shell(m: Me, project: Project, content: HTMLElement): HTMLElement {
  const nav = el("nav");
  // filters and range stay when switching views, so a team can look at one segment everywhere
  for (const [p, label] of NAV) nav.append(link(label, href(p, { session: null, sort: null, dir: null, page: null }), (location.pathname === "/page" ? "/pages" : location.pathname) === p ? "active" : ""));
  const cur = timeRange();
  const range = el("select", { "data-testid": "range", "aria-label": "Time range" });
  for (const [v, [, label]] of [...Object.entries(RANGES), ["custom", [0, "Custom range…"]] as [string, [number, string]]]) {
    const o = el("option", { value: v }, label); if (cur.range === v) o.selected = true; range.append(o);
  }
  const custom = customRangeForm(cur);
  custom.hidden = cur.range !== "custom";
  range.addEventListener("change", () => {
    if (range.value === "custom") { custom.hidden = false; return; }
    navigate(href(location.pathname, { range: range.value, from: null, to: null }));
  });
  const proj = el("select", { "aria-label": "Project", "data-testid": "project" });
  for (const p of m.projects) { const o = el("option", { value: String(p.id) }, p.name); if (p.id === project.id) o.selected = true; proj.append(o); }
  proj.addEventListener("change", () => navigate(href(location.pathname, { project: proj.value, session: null })));
  const header = el("header", { class: "shell" }, el("span", { class: "brand" }, "Vigil"), nav, el("span", { class: "spacer" }), proj, range, custom, el("span", { class: "user", title: m.user.email }, m.user.email), signOut());
  return el("div", {}, header, location.pathname === "/settings" ? null : filterBar(project.id), el("main", {}, content));
}

/** Pages with fewer LCP samples than this are left out of "slowest pages": their p75 is noise. */
const MIN_PAGE_SAMPLES = 20;
/** Slowest pages by p75 LCP among the 500 most viewed with enough samples (sorted here: the query API has no HAVING). */
function slowestPages(res: QueryResult, n: number): QueryResult {
  const p = col(res, "p75"), c = col(res, "count"), k = col(res, "page_path");
  const rows = res.rows.filter((r) => Number(r[c]) >= MIN_PAGE_SAMPLES)
    .sort((a, b) => Number(b[p]) - Number(a[p]) || String(a[k]).localeCompare(String(b[k]))).slice(0, n);
  return { columns: res.columns, rows };
}

async function overview(pid: number, box: HTMLElement, { from, to, bucket }: Range): Promise<void> {
  const len = to - from;
  const prev = { from: from - len, to: from };
  const vitalQ = (metric: string, r: { from: number; to: number }, aggs: string[]) => query(pid, { metric, aggregations: aggs, from: r.from, to: r.to });
  const [vit, vitPrev, pv, pvPrev, er, erPrev, pages, lcpSeries, pvSeries] = await Promise.all([
    Promise.all(VITALS.map((m) => vitalQ(m, { from, to }, ["p75", "good", "needs_improvement", "poor", "count"]))),
    Promise.all(VITALS.map((m) => vitalQ(m, prev, ["p75", "count"]))),
    vitalQ("page_views", { from, to }, ["count", "sessions"]),
    vitalQ("page_views", prev, ["count", "sessions"]),
    vitalQ("errors", { from, to }, ["count"]),
    vitalQ("errors", prev, ["count"]),
    query(pid, { metric: "lcp", aggregations: ["p75", "count"], group_by: ["page_path"], from, to, order_by: "count", ascending: false, limit: 500 }),
    query(pid, { metric: "lcp", aggregations: ["p75"], group_by: [bucket], from, to, limit: 10000 }),
    query(pid, { metric: "page_views", aggregations: ["count"], group_by: [bucket], from, to, limit: 10000 }),
  ]);
  const slow = slowestPages(pages, 10);
  const grid = el("div", { class: "grid" });
  VITALS.forEach((m, i) => {
    const r = vit[i];
    const p75 = first(r, "p75");
    const card = el("div", { class: "card", "data-testid": `vital-${m}` },
      el("div", { class: "metric-name" }, `${m.toUpperCase()} · p75`),
      el("div", { class: "metric-value", "data-raw": typeof p75 === "number" ? String(p75) : "" }, fmtMetric(m, p75)),
      trend(p75, first(vitPrev[i], "p75"), true, first(vitPrev[i], "count")));
    const g = Number(first(r, "good") ?? 0), n = Number(first(r, "needs_improvement") ?? 0), p = Number(first(r, "poor") ?? 0);
    if (g + n + p > 0) {
      const bar = el("div", { class: "bar", title: `good ${fmtPct(g)}, needs improvement ${fmtPct(n)}, poor ${fmtPct(p)}` });
      for (const [cls, v] of [["good", g], ["ni", n], ["poor", p]] as [string, number][]) { const s = el("div", { class: cls }); s.style.width = `${v * 100}%`; bar.append(s); }
      card.append(bar, el("div", { class: "bar-legend" }, `${fmtPct(g)} good · ${fmtPct(n)} NI · ${fmtPct(p)} poor`));
    } else card.append(el("div", { class: "bar-legend" }, "no samples"));
    grid.append(card);
  });
  const views = first(pv, "count"), sess = first(pv, "sessions");
  const errs = first(er, "count");
  const rate = (e: Cell, v: Cell) => typeof e === "number" && typeof v === "number" && v > 0 ? e / v : null;
  const erRate = rate(errs, views), erRatePrev = rate(first(erPrev, "count"), first(pvPrev, "count"));
  grid.append(
    el("div", { class: "card", "data-testid": "page-views" }, el("div", { class: "metric-name" }, "Page views"), el("div", { class: "metric-value" }, fmtNum(views ?? 0)), trend(views, first(pvPrev, "count"), false, first(pvPrev, "count"))),
    el("div", { class: "card", "data-testid": "sessions" }, el("div", { class: "metric-name" }, "Sessions"), el("div", { class: "metric-value" }, fmtNum(sess ?? 0)), trend(sess, first(pvPrev, "sessions"), false, first(pvPrev, "count"))),
    el("div", { class: "card", "data-testid": "error-rate" }, el("div", { class: "metric-name" }, "Error rate (errors / page views)"), el("div", { class: "metric-value" }, erRate === null ? "–" : fmtPct(erRate)), trend(erRate, erRatePrev, true, first(pvPrev, "count"))),
  );
  const chartBox = el("div", { "data-testid": "overview-chart" });
  box.replaceChildren(el("h2", {}, "Overview"), grid,
    el("div", { class: "card" }, el("h3", {}, "p75 LCP and page views over time"), pvSeries.rows.length ? chartBox : el("p", { class: "empty" }, "No data for this range.")),
    el("div", { class: "card" }, el("h3", {}, `Slowest pages (p75 LCP, pages with at least ${MIN_PAGE_SAMPLES} samples)`),
      table(slow, { metricCols: { p75: "lcp" }, testid: "slowest-pages", linkCol: (v) => v === null ? null : href("/page", { page: String(v), sort: null, dir: null }) })));
  // page views and p75 LCP share the time axis; each has its own scale
  const times = pvSeries.rows.map((r) => Number(r[col(pvSeries, "time")]));
  const lcpAt = new Map(lcpSeries.rows.map((r) => [Number(r[col(lcpSeries, "time")]), r[col(lcpSeries, "p75")] as number | null]));
  plot(pvSeries.rows.length ? chartBox : null, {
    height: 220,
    series: [{}, { label: "page views", stroke: "#9aa5b8", fill: "rgba(154,165,184,0.15)", scale: "views" },
      { label: "p75 LCP", stroke: "#2a5bd7", width: 2, scale: "ms", value: (_u, v) => fmtMetric("lcp", v) }],
    axes: [{}, { scale: "views", size: 60 }, { scale: "ms", side: 1, size: 70, grid: { show: false }, values: (_u, vals) => vals.map((v) => fmtMetric("lcp", v)) }],
  }, [times.map((t) => t / 1000), pvSeries.rows.map((r) => Number(r[col(pvSeries, "count")])), times.map((t) => lcpAt.get(t) ?? null)]);
}

let chart: uPlot | null = null;
/** One chart on screen at a time: the previous view's chart is destroyed first. */
function plot(target?: HTMLElement | null, opts?: Omit<uPlot.Options, "width">, data?: (number | null)[][]): void {
  chart?.destroy();
  if (!target || !opts || !data) { chart = null; return; }
  // dragging across a time chart zooms every view to that span (a custom range in the URL)
  const zoom = (u: uPlot) => {
    if (u.select.width < 4) return;
    const from = u.posToVal(u.select.left, "x") * 1000, to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
    if (to > from) navigate(customRangeHref(from, to));
  };
  chart = new uPlot({ width: Math.max(300, Math.min(1160, (target.parentElement?.clientWidth ?? 1200) - 32)), ...opts, hooks: { setSelect: [zoom] } }, data as uPlot.AlignedData, target);
  target.title = "Drag across the chart to zoom to that time span";
}
async function explorer(pid: number, box: HTMLElement, { from, to, bucket }: Range): Promise<void> {
  const metric = param("metric", "lcp", VITALS);
  const pct = param("percentile", "p75", PCTS);
  const groups = [...GROUPS, ...await attributeFields(pid)];
  const group = param("group", "page_path", groups);
  const sel = (name: string, values: string[], cur: string) => {
    const s = el("select", { name, "data-testid": name });
    for (const v of values) { const o = el("option", { value: v }, v); if (v === cur) o.selected = true; s.append(o); }
    s.addEventListener("change", () => navigate(href(location.pathname, { [name]: s.value })));
    return el("label", {}, name, s);
  };
  const controls = el("div", { class: "controls" }, sel("metric", VITALS, metric), sel("percentile", PCTS, pct), sel("group", groups, group));
  const base = { metric, from, to };
  const [series, tab] = await Promise.all([
    query(pid, { ...base, aggregations: [pct, "count"], group_by: [bucket], limit: 10000 }),
    query(pid, { ...base, aggregations: [pct, "count"], group_by: [group], order_by: "count", ascending: false, limit: 100 }),
  ]);
  // one line per top group (by sample count), besides the overall line
  const gi = col(tab, group);
  const top = tab.rows.slice(0, 5).map((r) => r[gi]).filter((v): v is string | number | boolean => v !== null);
  const perGroup = top.length
    ? await query(pid, { ...base, filters: [{ field: group, op: "in", value: top }], aggregations: [pct], group_by: [group, bucket], limit: 10000 })
    : { columns: [], rows: [] } as QueryResult;
  const chartBox = el("div", { "data-testid": "chart" });
  box.replaceChildren(el("h2", {}, "Performance explorer"), controls,
    el("div", { class: "card" }, el("h3", {}, `${metric.toUpperCase()} ${pct} over time (top ${top.length} ${group} values and all)`), series.rows.length ? chartBox : emptyNote("chart-empty")),
    el("div", { class: "card" }, el("h3", {}, `${metric.toUpperCase()} ${pct} by ${group}`), table(tab, { metricCols: { [pct]: metric }, testid: "explorer-table" })));
  if (series.rows.length) {
    const ti = col(series, "time"), vi = col(series, pct);
    const times = series.rows.map((r) => Number(r[ti]));
    const idx = new Map(times.map((t, i) => [t, i]));
    const data: (number | null)[][] = [times.map((t) => t / 1000), series.rows.map((r) => (typeof r[vi] === "number" ? (r[vi] as number) : null))];
    const COLORS = ["#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d"];
    const seriesOpts: uPlot.Series[] = [{}, { label: `all`, stroke: "#2a5bd7", width: 2, value: (_u, v) => fmtMetric(metric, v) }];
    const pg = col(perGroup, group), pt = col(perGroup, "time"), pv = col(perGroup, pct);
    top.forEach((g, k) => {
      const ys: (number | null)[] = times.map(() => null);
      for (const r of perGroup.rows) {
        if (r[pg] !== g) continue;
        const i = idx.get(Number(r[pt]));
        if (i !== undefined && typeof r[pv] === "number") ys[i] = r[pv] as number;
      }
      data.push(ys);
      seriesOpts.push({ label: String(g), stroke: COLORS[k % COLORS.length], width: 1, value: (_u, v) => fmtMetric(metric, v) });
    });
    plot(chartBox, { height: 280, series: seriesOpts, axes: [{}, { values: (_u, vals) => vals.map((v) => fmtMetric(metric, v)), size: 70 }] }, data);
  } else plot();
}

interface WorldShapes { width: number; height: number; countries: { code: string; name: string; d: string }[]; }
let worldShapes: Promise<WorldShapes | null> | null = null;
/** Country shapes (built from world-atlas into dist/world.json), fetched once, on first use. */
function loadWorld(): Promise<WorldShapes | null> {
  worldShapes ??= fetch("/world.json", { credentials: "same-origin" })
    .then((r) => r.ok ? r.json() as Promise<WorldShapes> : null)
    .catch(() => null);
  return worldShapes;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svgEl(tag: string, attrs: Record<string, string> = {}): SVGElement {
  const e = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function worldMap(world: WorldShapes, metric: string, values: Map<string, number>): HTMLElement {
  const vs = [...values.values()];
  const lo = Math.min(...vs), hi = Math.max(...vs);
  // green (lowest = best) to red (highest = worst) across the countries shown
  const colour = (v: number) => `hsl(${Math.round(120 * (1 - (hi > lo ? (v - lo) / (hi - lo) : 0)))}, 65%, 45%)`;
  const svg = svgEl("svg", { viewBox: `0 0 ${world.width} ${world.height}`, class: "world-map", "data-testid": "geo-map", role: "img", "aria-label": `p75 ${metric.toUpperCase()} by country` });
  for (const c of world.countries) {
    const v = values.get(c.code);
    const path = svgEl("path", { d: c.d, class: v === undefined ? "country no-data" : "country" });
    const title = svgEl("title");
    title.textContent = v === undefined ? `${c.name}: no data` : `${c.name} (${c.code}): p75 ${metric.toUpperCase()} ${fmtMetric(metric, v)}`;
    path.append(title);
    if (v !== undefined) {
      path.setAttribute("fill", colour(v));
      path.setAttribute("data-testid", "geo-country");
      path.setAttribute("data-country", c.code);
      path.setAttribute("data-value", String(v));
    }
    svg.append(path);
  }
  const legend = el("div", { class: "map-legend" },
    el("span", {}, `p75 ${metric.toUpperCase()}: `),
    el("span", { class: "swatch best" }), ` ${vs.length ? fmtMetric(metric, lo) : "–"} `,
    el("span", { class: "swatch worst" }), ` ${vs.length ? fmtMetric(metric, hi) : "–"}`,
    el("span", { class: "swatch no-data" }), " no data");
  return el("div", {}, svg, legend);
}

async function geography(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const metric = param("metric", "ttfb", VITALS);
  const [res, byMetric, world] = await Promise.all([
    query(pid, { metric: "page_views", aggregations: ["count", "sessions"], group_by: ["country"], from, to, limit: 300 }),
    query(pid, { metric, aggregations: ["p75", "count"], group_by: ["country"], from, to, limit: 300 }),
    loadWorld(),
  ]);
  const ci = byMetric.columns.indexOf("country"), pi = byMetric.columns.indexOf("p75");
  const values = new Map<string, number>();
  for (const r of byMetric.rows) if (typeof r[ci] === "string" && typeof r[pi] === "number") values.set(r[ci] as string, r[pi] as number);
  const msel = el("select", { name: "metric", "data-testid": "geo-metric" });
  for (const v of VITALS) { const o = el("option", { value: v }, `p75 ${v.toUpperCase()}`); if (v === metric) o.selected = true; msel.append(o); }
  msel.addEventListener("change", () => navigate(href(location.pathname, { metric: msel.value })));
  const mapCard = el("div", { class: "card geo-map-card" }, el("div", { class: "controls" }, el("label", {}, "colour by ", msel)),
    world ? worldMap(world, metric, values) : el("p", { class: "muted" }, "map unavailable"));
  const credit = el("p", { class: "credit", "data-testid": "geo-credit" });
  const a = el("a", { href: "https://db-ip.com/", rel: "noopener noreferrer", target: "_blank" }, "DB-IP");
  credit.append("IP geolocation by ", a);
  box.replaceChildren(el("h2", {}, "Geography"),
    el("div", { class: "geo-layout" }, mapCard, el("div", { class: "card geo-table-card" }, table(res, { testid: "geo-table" }))),
    credit);
}

async function errorsView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const res = await query(pid, { metric: "errors", aggregations: ["count", "sessions"], group_by: ["error_type", "message"], from, to, limit: 200 });
  box.replaceChildren(el("h2", {}, "Errors"), el("div", { class: "card" }, table(res, { testid: "errors-table", linkCol: (v) => v === null ? null : hrefWith("/errors", "error_type", v) })));
}

// ---------- Sessions ----------
type SessionEvent = Record<string, Cell>;
const SESSION_ORDERS = ["start", "duration", "views", "errors"];
/** Answer columns of POST /api/v1/sessions → the list's headers (the four orders are sortable by the server). */
const SESSION_COLUMNS: [string, string][] = [["session_id", "session"], ["start", "start"], ["duration", "duration"], ["views", "views"], ["errors", "errors"],
  ["user_id", "user"], ["country", "country"], ["device_type", "device"], ["browser", "browser"], ["os", "os"]];
const fmtTime = (v: Cell): string => typeof v === "number" ? new Date(v).toISOString().slice(0, 19).replace("T", " ") + " UTC" : "–";
function fmtDuration(v: Cell): string {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  const s = Math.round(v / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
/** Offset from the session start as +m:ss. */
function fmtOffset(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `+${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function sessionsView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const sid = param("session", "");
  if (sid) return sessionTimeline(pid, sid, box);
  const input = (name: string, label: string, attrs: Record<string, string> = {}) => {
    const i = el("input", { name, "data-testid": `session-${name}`, ...attrs });
    if (attrs.type === "checkbox") i.checked = param(name, "") === "1"; else i.value = param(name, "");
    return [i, el("label", {}, label, i)] as const;
  };
  const [user, userL] = input("user", "user contains", { placeholder: "user id" });
  const [country, countryL] = input("country", "country", { placeholder: "e.g. DE", size: "6" });
  const [hasError, hasErrorL] = input("has_error", "has error", { type: "checkbox", value: "1" });
  const [minS, minL] = input("min_s", "min duration (s)", { type: "number", min: "0", step: "any", size: "6" });
  const [maxS, maxL] = input("max_s", "max duration (s)", { type: "number", min: "0", step: "any", size: "6" });
  const device = el("select", { name: "device", "data-testid": "session-device" });
  for (const d of ["", "desktop", "mobile", "tablet"]) { const o = el("option", { value: d }, d || "any"); if (param("device", "") === d) o.selected = true; device.append(o); }
  const form = el("form", { class: "controls", "data-testid": "session-search" }, userL, countryL, el("label", {}, "device", device), hasErrorL, minL, maxL,
    el("button", { type: "submit" }, "Search"), link("Reset", href("/sessions", { user: null, country: null, device: null, has_error: null, min_s: null, max_s: null })));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    navigate(href("/sessions", { user: user.value || null, country: country.value.trim().toUpperCase() || null, device: device.value || null,
      has_error: hasError.checked ? "1" : null, min_s: minS.value || null, max_s: maxS.value || null }));
  });
  const search: Filter[] = [];
  if (user.value) search.push({ field: "user_id", op: "contains", value: user.value });
  if (country.value) search.push({ field: "country", op: "eq", value: country.value });
  if (device.value) search.push({ field: "device_type", op: "eq", value: device.value });
  const seconds = (v: string) => v !== "" && isFinite(Number(v)) ? Math.round(Number(v) * 1000) : undefined;
  const body = { from, to, filters: [...filtersFor("views"), ...search], has_error: hasError.checked || undefined,
    min_duration: seconds(minS.value), max_duration: seconds(maxS.value),
    order_by: param("sort", "start", SESSION_ORDERS), ascending: param("dir", "desc") === "asc", limit: 100 };
  const res = await api<QueryResult>("POST", `/api/v1/sessions?project=${pid}`, body);
  const list: QueryResult = { columns: SESSION_COLUMNS.map(([, label]) => label), rows: res.rows.map((r) => SESSION_COLUMNS.map(([c]) => r[col(res, c)] ?? null)) };
  box.replaceChildren(el("h2", {}, "Sessions"), form, el("div", { class: "card" },
    res.rows.length >= body.limit ? el("p", { class: "empty", "data-testid": "truncated" }, `Showing the first ${body.limit} sessions in this order.`) : null,
    table(list, { testid: "sessions-table", sortable: SESSION_ORDERS, fmt: { session: (v) => String(v).slice(0, 12), start: fmtTime, duration: fmtDuration },
      linkCol: (v) => v === null ? null : href("/sessions", { session: String(v) }) })));
}

/** One line per event type: what a person reads first; every field stays in the expandable details. */
const SUMMARIES: Record<string, (e: SessionEvent) => Cell[]> = {
  views: (e) => [e.page_path, e.ttfb != null ? `· TTFB ${fmtMetric("ttfb", e.ttfb)}` : null, e.load != null ? `· load ${fmtMetric("load", e.load)}` : null],
  vitals: (e) => [e.name, fmtMetric(String(e.name).toLowerCase(), e.value), e.rating],
  errors: (e) => [`${String(e.error_type)}:`, e.message],
  requests: (e) => [e.method, e.url_template ?? e.url, e.status ?? e.failure, fmtMetric("duration", e.duration)],
  actions: (e) => [e.action, e.selector ?? e.form],
  routes: (e) => [e.from_url, "→", e.to_url],
  custom_events: (e) => [e.name, e.value],
  resources: (e) => [e.url, fmtMetric("duration", e.duration)],
  resource_errors: (e) => [e.tag, e.url],
  long_tasks: (e) => [e.kind, fmtMetric("duration", e.duration)],
};
const summary = (e: SessionEvent): string => (SUMMARIES[String(e.type)]?.(e) ?? []).filter((p) => p !== null && p !== undefined && p !== "").join(" ");

async function sessionTimeline(pid: number, sid: string, box: HTMLElement): Promise<void> {
  const s = await api<{ session_id: string; events: SessionEvent[] }>("GET", `/api/v1/sessions/${encodeURIComponent(sid)}?project=${pid}`);
  const back = link("← all sessions", href("/sessions", { session: null }));
  const evs = s.events;
  if (!evs.length) { box.replaceChildren(el("h2", {}, "Session ", el("code", {}, s.session_id)), back, el("p", { class: "empty", "data-testid": "session-empty" }, "No events of this session in this project.")); return; }
  const t0 = Number(evs[0].ts), t1 = Number(evs[evs.length - 1].ts);
  const firstOf = (k: string): Cell => evs.find((e) => e[k] !== undefined && e[k] !== null)?.[k] ?? null;
  const counts = new Map<string, number>();
  for (const e of evs) counts.set(String(e.type), (counts.get(String(e.type)) ?? 0) + 1);
  const facts: [string, string][] = [["user", fmtCell(firstOf("user_id"))], ["country", fmtCell(firstOf("country"))], ["device", fmtCell(firstOf("device_type"))],
    ["browser / os", `${fmtCell(firstOf("browser"))} / ${fmtCell(firstOf("os"))}`], ["start", fmtTime(t0)], ["duration", fmtDuration(t1 - t0)],
    ["events", [...counts].map(([t, n]) => `${n} ${t}`).join(", ")]];
  const header = el("dl", { class: "facts", "data-testid": "session-facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, v)]));
  const tbody = el("tbody");
  for (const e of evs) {
    const raw = el("dl", { class: "fields" }, ...Object.entries(e).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, fmtCell(v))]));
    tbody.append(el("tr", { "data-type": String(e.type) },
      el("td", { class: "num", title: fmtTime(Number(e.ts)) }, fmtOffset(Number(e.ts) - t0)),
      el("td", {}, el("span", { class: `badge badge-${String(e.type)}` }, String(e.type))),
      el("td", { class: "wrap" }, fmtCell(e.page_path ?? null)),
      el("td", { class: "wrap" }, el("div", { class: "summary" }, summary(e)), el("details", {}, el("summary", {}, "all fields"), raw))));
  }
  box.replaceChildren(el("h2", {}, "Session ", el("code", { "data-testid": "session-id" }, s.session_id)), back, el("div", { class: "card" }, header),
    el("div", { class: "card" }, el("table", { "data-testid": "session-events" },
      el("thead", {}, el("tr", {}, el("th", { class: "num" }, "time"), el("th", {}, "type"), el("th", {}, "page"), el("th", {}, "what happened"))), tbody)));
}

// ---------- pages, network, resources ----------
/** Joins grouped query results on their first column: key -> one value per (result, column). */
function joinOn(key: string, parts: [QueryResult, string, string][], fill: Record<string, Cell> = {}): QueryResult {
  const rows = new Map<string, Cell[]>();
  const keys: Cell[] = [];
  parts.forEach(([res, c], k) => {
    const ki = col(res, key), vi = col(res, c);
    for (const r of res.rows) {
      const id = JSON.stringify(r[ki]);
      let row = rows.get(id);
      if (!row) {
        if (k > 0) continue; // the first result defines the rows
        row = [r[ki], ...parts.map(([, , name]) => fill[name] ?? null)]; rows.set(id, row); keys.push(r[ki]);
      }
      row[k + 1] = r[vi];
    }
  });
  return { columns: [key, ...parts.map(([, , name]) => name)], rows: [...rows.values()] };
}
function sortRows(res: QueryResult): QueryResult {
  const i = col(res, param("sort", ""));
  if (i < 0) return res;
  const dir = param("dir", "desc") === "asc" ? 1 : -1;
  const rows = [...res.rows].sort((a, b) => {
    const x = a[i], y = b[i];
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1; // nulls last
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
  });
  return { columns: res.columns, rows };
}
const fmtBytes = (v: Cell): string => {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  if (v >= 1e9) return (v / 1e9).toFixed(2) + " GB";
  if (v >= 1e6) return (v / 1e6).toFixed(2) + " MB";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + " kB";
  return Math.round(v) + " B";
};
const fmtShare = (v: Cell): string => typeof v === "number" && isFinite(v) ? fmtPct(v) : "–";

async function pagesView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const g = { group_by: ["page_path"], from, to, limit: 1000 };
  const [views, lcp, inp, cls, errs] = await Promise.all([
    query(pid, { metric: "views", aggregations: ["count", "sessions"], ...g }),
    query(pid, { metric: "lcp", aggregations: ["p75"], ...g }),
    query(pid, { metric: "inp", aggregations: ["p75"], ...g }),
    query(pid, { metric: "cls", aggregations: ["p75"], ...g }),
    query(pid, { metric: "errors", aggregations: ["count"], ...g }),
  ]);
  const res = sortRows(joinOn("page_path", [[views, "count", "views"], [views, "sessions", "sessions"], [lcp, "p75", "p75 LCP"], [inp, "p75", "p75 INP"], [cls, "p75", "p75 CLS"], [errs, "count", "errors"]], { errors: 0 }));
  box.replaceChildren(el("h2", {}, "Pages and routes"),
    el("div", { class: "card" }, el("h3", {}, "Per page (click a header to sort, a page to open it)"),
      views.rows.length >= g.limit ? el("p", { class: "empty", "data-testid": "truncated" }, `Showing the ${g.limit} pages with the most views.`) : null,
      table(res, { testid: "pages-table", sortable: true, metricCols: { "p75 LCP": "lcp", "p75 INP": "inp", "p75 CLS": "cls" },
        linkCol: (v) => v === null ? null : href("/page", { page: String(v), sort: null, dir: null }) })));
}

/** Navigation timing of views, p75 per phase (ms from navigation start for the last two). */
const TIMING_PHASES = ["dns", "tcp", "tls", "ttfb", "download", "dom_content_loaded", "load"];
async function pageView(pid: number, box: HTMLElement, { from, to, bucket }: Range): Promise<void> {
  const path = param("page", "/");
  const r = { filters: [{ field: "page_path", op: "eq", value: path }], from, to };
  const [vit, views, timing, errs, reqs, series] = await Promise.all([
    Promise.all(VITALS.map((m) => query(pid, { metric: m, aggregations: ["p75", "count"], ...r }))),
    query(pid, { metric: "views", aggregations: ["count", "sessions"], ...r }),
    Promise.all(TIMING_PHASES.map((t) => query(pid, { metric: `views.${t}`, aggregations: ["p75"], ...r }))),
    query(pid, { metric: "errors", aggregations: ["count", "sessions"], group_by: ["error_type", "message"], ...r, limit: 10 }),
    query(pid, { metric: "requests.duration", aggregations: ["p75", "count"], group_by: ["method", "url_template"], ...r, order_by: "p75", ascending: false, limit: 10 }),
    query(pid, { metric: "views", aggregations: ["count"], group_by: [bucket], ...r, limit: 10000 }),
  ]);
  const card = (testid: string, name: string, value: Cell, text: string) =>
    el("div", { class: "card", "data-testid": testid }, el("div", { class: "metric-name" }, name), el("div", { class: "metric-value", "data-raw": typeof value === "number" ? String(value) : "" }, text));
  const grid = el("div", { class: "grid" },
    ...VITALS.map((m, i) => card(`page-vital-${m}`, `${m.toUpperCase()} · p75`, first(vit[i], "p75"), fmtMetric(m, first(vit[i], "p75")))),
    card("page-views", "Page views", first(views, "count"), fmtNum(first(views, "count") ?? 0)));
  const p75s = timing.map((t) => first(t, "p75"));
  const longest = Math.max(0, ...p75s.map((v) => Number(v) || 0));
  const bars = el("div", { "data-testid": "page-timing" }, ...TIMING_PHASES.map((t, i) => {
    const fill = el("div", { class: "ni" });
    fill.style.width = `${(Number(p75s[i]) || 0) / longest * 100}%`;
    return el("div", { class: "rate-row", "data-phase": t }, el("span", { class: "rate-label" }, t), el("div", { class: "bar rate-bar" }, fill),
      el("span", { class: "rate-value", "data-raw": typeof p75s[i] === "number" ? String(p75s[i]) : "" }, fmtMetric("duration", p75s[i])));
  }));
  const chartBox = el("div", { "data-testid": "page-chart" });
  box.replaceChildren(el("h2", {}, "Page ", el("code", { "data-testid": "page-path" }, path)),
    el("p", {}, link("← all pages", href("/pages", { page: null })), " · ", link("explore its vitals", hrefWith("/explorer", "page_path", path, { page: null, metric: "lcp", group: "browser" }))),
    grid,
    el("div", { class: "card" }, el("h3", {}, "Page views over time"), series.rows.length ? chartBox : emptyNote("chart-empty")),
    el("div", { class: "card" }, el("h3", {}, "Navigation timing (p75; DOM content loaded and load from navigation start)"), longest > 0 ? bars : emptyNote("page-timing-empty")),
    el("div", { class: "card" }, el("h3", {}, "Top errors on this page"), table(errs, { testid: "page-errors" })),
    el("div", { class: "card" }, el("h3", {}, "Slowest requests from this page (p75 duration)"), table(reqs, { testid: "page-requests", fmt: { p75: (v) => fmtMetric("duration", v) } })));
  countLines(series.rows.length ? chartBox : null, series, null);
}

async function networkView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const g = { group_by: ["url_template"], from, to, limit: 1000 };
  const [dur, total, s5xx, failed, both, slow] = await Promise.all([
    query(pid, { metric: "requests.duration", aggregations: ["count", "p75", "p99"], ...g }),
    query(pid, { metric: "requests", aggregations: ["count"], ...g }),
    query(pid, { metric: "requests", aggregations: ["count"], filters: [{ field: "status", op: "gte", value: 500 }], ...g }),
    query(pid, { metric: "requests", aggregations: ["count"], filters: [{ field: "failure", op: "exists", value: null }], ...g }),
    // a failed request that also has a 5xx status counts once
    query(pid, { metric: "requests", aggregations: ["count"], filters: [{ field: "failure", op: "exists", value: null }, { field: "status", op: "gte", value: 500 }], ...g }),
    query(pid, { metric: "requests.duration", aggregations: ["max", "count"], group_by: ["url_template", "status"], from, to, order_by: "max", ascending: false, limit: 20 }),
  ]);
  const ep = joinOn("url_template", [[total, "count", "requests"], [dur, "p75", "p75 duration"], [dur, "p99", "p99 duration"], [s5xx, "count", "5xx"], [failed, "count", "failures"], [both, "count", "both"]], { "5xx": 0, failures: 0, both: 0 });
  ep.columns.splice(6, 1, "error rate");
  for (const r of ep.rows) { const n = Number(r[1]); r[6] = n > 0 ? (Number(r[4]) + Number(r[5]) - Number(r[6])) / n : null; }
  const endpoints = sortRows(ep);
  const fmtMs = (v: Cell) => fmtMetric("duration", v);
  box.replaceChildren(el("h2", {}, "Network"),
    el("div", { class: "card" }, el("h3", {}, "Endpoints (error rate: status ≥ 500 or failed, of all requests)"),
      table(endpoints, { testid: "network-table", sortable: true, fmt: { "p75 duration": fmtMs, "p99 duration": fmtMs, "error rate": fmtShare },
        linkCol: (v) => v === null ? null : hrefWith("/network", "url_template", v) })),
    el("div", { class: "card" }, el("h3", {}, "Slowest calls (by endpoint and status)"),
      table(slow, { testid: "slowest-calls", fmt: { max: fmtMs },
        linkCol: (v) => v === null ? null : hrefWith("/network", "url_template", v) })));
}

async function resourcesView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const r = { from, to, limit: 1000 };
  const [size, dur, bySizeInit, byDurInit, fails] = await Promise.all([
    query(pid, { metric: "resources.transfer_size", aggregations: ["count", "sum", "avg"], group_by: ["domain"], ...r }),
    query(pid, { metric: "resources.duration", aggregations: ["p75"], group_by: ["domain"], ...r }),
    query(pid, { metric: "resources.transfer_size", aggregations: ["count", "sum", "avg"], group_by: ["initiator"], ...r }),
    query(pid, { metric: "resources.duration", aggregations: ["p75"], group_by: ["initiator"], ...r }),
    query(pid, { metric: "resource_errors", aggregations: ["count"], group_by: ["domain", "tag"], ...r }),
  ]);
  const fmtMs = (v: Cell) => fmtMetric("duration", v);
  const cols = (res: QueryResult, d: QueryResult): [QueryResult, string, string][] =>
    [[res, "count", "count"], [res, "sum", "transfer size"], [res, "avg", "avg size"], [d, "p75", "p75 duration"]];
  const domains = sortRows(joinOn("domain", cols(size, dur)));
  const inits = joinOn("initiator", cols(bySizeInit, byDurInit));
  const fmt = { "transfer size": fmtBytes, "avg size": fmtBytes, "p75 duration": fmtMs };
  box.replaceChildren(el("h2", {}, "Resources and third parties"),
    el("div", { class: "card" }, el("h3", {}, "By domain"),
      table(domains, { testid: "resources-domains", sortable: true, fmt, linkCol: (v) => v === null ? null : hrefWith("/resources", "domain", v) })),
    el("div", { class: "card" }, el("h3", {}, "By initiator type"),
      table(inits, { testid: "resources-initiators", fmt, linkCol: (v) => v === null ? null : hrefWith("/resources", "initiator", v) })),
    el("div", { class: "card" }, el("h3", {}, "Failed resources (by domain and tag)"),
      table(fails, { testid: "resource-failures", linkCol: (v) => v === null ? null : hrefWith("/resources", "domain", v) })));
}

// ---------- Business ----------
interface ProjectSettings { id: number; name: string; public_key: string; allowed_origins: string[]; retention_days: number; snippet: string; }
const RATINGS = ["good", "needs-improvement", "poor"];
async function businessView(pid: number, box: HTMLElement, { from, to, bucket }: Range): Promise<void> {
  const [series, counts, sums] = await Promise.all([
    query(pid, { metric: "custom_events", aggregations: ["count"], group_by: ["name", bucket], from, to, limit: 10000 }),
    query(pid, { metric: "custom_events", aggregations: ["count"], group_by: ["name"], from, to, order_by: "count", ascending: false, limit: 1000 }),
    query(pid, { metric: "custom_events.value", aggregations: ["sum"], group_by: ["name"], from, to, limit: 1000 }),
  ]);
  const ni = col(counts, "name");
  const names = counts.rows.map((r) => r[ni]).filter((v): v is string => typeof v === "string");
  const event = param("event", names.includes("checkout") || !names.length ? "checkout" : names[0]);
  // the filter bar applies to the sessions' LCP rows
  const conv = await api<QueryResult>("POST", `/api/v1/conversion?project=${pid}`, { event, from, to, filters: filtersFor("vitals") });
  const evTable = joinOn("name", [[counts, "count", "count"], [sums, "sum", "value (sum)"]]);
  const sel = el("select", { name: "event", "data-testid": "event" });
  for (const n of names.includes(event) ? names : [event, ...names]) { const o = el("option", { value: n }, n); if (n === event) o.selected = true; sel.append(o); }
  sel.addEventListener("change", () => navigate(href(location.pathname, { event: sel.value })));
  const chartBox = el("div", { "data-testid": "business-chart" });
  box.replaceChildren(el("h2", {}, "Business"),
    el("div", { class: "card" }, el("h3", {}, "Custom events over time"), series.rows.length ? chartBox : emptyNote("chart-empty")),
    el("div", { class: "card" }, el("h3", {}, "Custom events"), table(evTable, { testid: "business-events", fmt: { "value (sum)": fmtAmount } })),
    el("div", { class: "card" }, el("h3", {}, "Conversion by LCP rating"), el("div", { class: "controls" }, el("label", {}, "event", sel)),
      ...conversion(conv)));
  countLines(series.rows.length ? chartBox : null, series, "name");
}

/** Counts over time, one line per value of `key` (a result grouped by key and time), zeros where none. */
function countLines(target: HTMLElement | null, series: QueryResult, key: string | null): void {
  const sn = key ? col(series, key) : -1, st = col(series, "time"), sc = col(series, "count");
  const times = [...new Set(series.rows.map((r) => Number(r[st])))].sort((a, b) => a - b);
  const idx = new Map(times.map((t, i) => [t, i]));
  const data: (number | null)[][] = [times.map((t) => t / 1000)];
  const COLORS = ["#2a5bd7", "#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d"];
  const seriesOpts: uPlot.Series[] = [{}];
  const name = (r: Cell[]) => sn < 0 ? "count" : fmtCell(r[sn]);
  [...new Set(series.rows.map(name))].forEach((n, k) => {
    const ys: (number | null)[] = times.map(() => 0);
    for (const r of series.rows) { if (name(r) !== n) continue; const i = idx.get(Number(r[st])); if (i !== undefined) ys[i] = Number(r[sc]); }
    data.push(ys);
    seriesOpts.push({ label: n, stroke: COLORS[k % COLORS.length], width: 2 });
  });
  plot(target, { height: 260, series: seriesOpts }, data);
}

/** Bars of the conversion rate per LCP rating, then the table. */
function conversion(conv: QueryResult): HTMLElement[] {
  const ri = col(conv, "rating"), rr = col(conv, "rate");
  const bars = el("div", { "data-testid": "conversion-bars" });
  const maxRate = Math.max(0, ...conv.rows.map((r) => Number(r[rr]) || 0));
  const byRating = RATINGS.map((k) => conv.rows.find((r) => r[ri] === k)).filter((r): r is Cell[] => !!r);
  for (const r of byRating.length ? byRating : conv.rows) {
    const rate = Number(r[rr]) || 0;
    const fill = el("div", { class: r[ri] === "good" ? "good" : r[ri] === "poor" ? "poor" : "ni" });
    fill.style.width = `${maxRate > 0 ? (rate / maxRate) * 100 : 0}%`;
    bars.append(el("div", { class: "rate-row", "data-rating": String(r[ri]) }, el("span", { class: "rate-label" }, fmtCell(r[ri])), el("div", { class: "bar rate-bar" }, fill), el("span", { class: "rate-value" }, fmtPct(rate))));
  }
  return [...(conv.rows.length ? [bars] : []),
    table(conv, { testid: "conversion-table", fmt: { rate: (v) => typeof v === "number" ? fmtPct(v) : "–", revenue: fmtAmount } })];
}
const fmtAmount = (v: Cell): string => typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "–";

// ---------- Settings ----------
async function settingsView(pid: number, box: HTMLElement): Promise<void> {
  const m = me as Me;
  const projects: QueryResult = { columns: ["project", "id", "public key"], rows: m.projects.map((p) => [p.name, p.id, p.public_key]) };
  const pidOf = new Map(m.projects.map((p) => [p.name, p.id]));
  const s = await api<ProjectSettings>("GET", `/api/v1/projects/${pid}`);
  const snippet = el("textarea", { readonly: "", rows: "4", "data-testid": "snippet", class: "snippet" });
  snippet.value = s.snippet;
  const copyMsg = el("span", { class: "bar-legend", "data-testid": "copy-status" });
  const copy = el("button", { type: "button", "data-testid": "copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      if (navigator.clipboard) await navigator.clipboard.writeText(s.snippet);
      else { snippet.select(); document.execCommand("copy"); }
      copyMsg.textContent = "Copied.";
    } catch { snippet.select(); copyMsg.textContent = "Select the text and copy it."; }
  });
  const origins = el("textarea", { name: "allowed_origins", rows: "5", "data-testid": "origins" });
  origins.value = s.allowed_origins.join("\n");
  const retention = el("input", { name: "retention_days", type: "number", min: "1", "data-testid": "retention" });
  retention.value = String(s.retention_days);
  const msg = el("p", { "data-testid": "settings-message" });
  const save = el("button", { type: "submit", "data-testid": "save" }, "Save");
  const form = el("form", { class: "settings" },
    el("label", {}, "Allowed origins (one per line)", origins),
    el("label", {}, "Retention (days)", retention), save, msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.className = ""; msg.textContent = "Saving…"; save.disabled = true;
    const body = { allowed_origins: origins.value.split("\n").map((l) => l.trim()).filter((l) => l), retention_days: Number(retention.value) };
    try {
      const u = await api<ProjectSettings>("PUT", `/api/v1/projects/${pid}`, body);
      origins.value = u.allowed_origins.join("\n"); retention.value = String(u.retention_days);
      msg.className = "ok"; msg.textContent = "Saved.";
    } catch (e) {
      msg.className = "error"; msg.textContent = (e as Error).message;
    } finally { save.disabled = false; }
  });
  box.replaceChildren(el("h2", {}, "Settings"),
    el("div", { class: "card" }, el("h3", {}, "Public key"), el("code", { "data-testid": "public-key" }, s.public_key)),
    el("div", { class: "card" }, el("h3", {}, "Install snippet"), snippet, el("div", {}, copy, " ", copyMsg)),
    el("div", { class: "card" }, el("h3", {}, "Project settings"), form),
    await tokensCard(pid),
    el("div", { class: "card" }, el("h3", {}, "Your projects"),
      table(projects, { testid: "projects-table", linkCol: (v) => href("/overview", { project: String(pidOf.get(String(v))) }, false) }),
      newProjectForm()));
}

/** A secret shown once, selected for copying, with the reason it will not be shown again. */
function secretOnce(label: string, secret: string, testid: string): HTMLElement {
  const input = el("input", { readonly: "", class: "secret", "data-testid": testid, "aria-label": label });
  input.value = secret;
  setTimeout(() => input.select(), 0);
  return el("div", { class: "secret-once" }, el("strong", {}, label), input,
    el("p", { class: "muted" }, "Copy it now: Vigil keeps only a hash and cannot show it again."));
}

interface TokenInfo { id: number; hint: string; created_at: number; }
/** API tokens of a project: listed by their last characters, issued (shown once) and revoked. */
async function tokensCard(pid: number): Promise<HTMLElement> {
  const card = el("div", { class: "card", "data-testid": "tokens" });
  const fill = async (fresh?: string) => {
    const { tokens } = await api<{ tokens: TokenInfo[] }>("GET", `/api/v1/projects/${pid}/tokens`);
    const msg = el("p", { class: "error", role: "alert" });
    const tbody = el("tbody");
    for (const t of tokens) {
      const revoke = el("button", { type: "button", "data-testid": "revoke-token" }, "Revoke");
      // two clicks, no dialog: a revoked token stops every script using it at once
      revoke.addEventListener("click", async () => {
        if (revoke.dataset.armed !== "1") { revoke.dataset.armed = "1"; revoke.textContent = "Click again to revoke"; return; }
        revoke.disabled = true;
        try { await api("DELETE", `/api/v1/projects/${pid}/tokens/${t.id}`); await fill(); }
        catch (e) { msg.textContent = (e as Error).message; revoke.disabled = false; }
      });
      tbody.append(el("tr", { "data-token-id": String(t.id) },
        el("td", {}, el("code", {}, t.hint ? `vt_…${t.hint}` : "vt_… (issued before hints)")),
        el("td", {}, new Date(t.created_at * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"),
        el("td", {}, revoke)));
    }
    const issue = el("button", { type: "button", "data-testid": "new-token" }, "New API token");
    issue.addEventListener("click", async () => {
      issue.disabled = true;
      try { const { token } = await api<{ token: string }>("POST", `/api/v1/projects/${pid}/tokens`); await fill(token); }
      catch (e) { msg.textContent = (e as Error).message; issue.disabled = false; }
    });
    card.replaceChildren(el("h3", {}, "API tokens"),
      el("p", { class: "muted" }, "Scripts read this project's data with a token: Authorization: Bearer vt_…"),
      fresh ? secretOnce("New token", fresh, "fresh-token") : "",
      tokens.length ? el("table", { "data-testid": "tokens-table" }, el("thead", {}, el("tr", {}, el("th", {}, "token"), el("th", {}, "issued"), el("th", {}, ""))), tbody)
        : el("p", { class: "empty" }, "No API tokens."),
      el("div", {}, issue), msg);
  };
  await fill();
  return card;
}

/** Creates a project the user becomes a member of, and shows its first API token once. */
function newProjectForm(): HTMLElement {
  const name = el("input", { name: "project-name", placeholder: "Project name", required: "", "data-testid": "new-project-name" });
  const create = el("button", { type: "submit", "data-testid": "create-project" }, "Create project");
  const out = el("div", { role: "status" });
  const form = el("form", { class: "controls" }, el("label", {}, "New project ", name), create);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    create.disabled = true; out.replaceChildren();
    try {
      const p = await api<ProjectSettings & { api_token: string }>("POST", "/api/v1/projects", { name: name.value });
      me = await api<Me>("GET", "/api/v1/me");
      out.replaceChildren(secretOnce(`API token of ${p.name}`, p.api_token, "new-project-token"),
        link(`Open ${p.name} and install it →`, href("/settings", { project: String(p.id) }, false)));
      name.value = "";
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", "data-testid": "new-project-error" }, (e as Error).message));
    } finally { create.disabled = false; }
  });
  return el("div", {}, form, out);
}

/** A view fills `box` with the data of project `pid` over `range` (also in box's data-from/data-to). */
const VIEWS: Record<string, (pid: number, box: HTMLElement, range: Range) => Promise<void>> = {
  "/pages": pagesView, "/page": pageView, "/network": networkView, "/resources": resourcesView,
  "/business": businessView, "/settings": settingsView,
  "/overview": overview, "/explorer": explorer, "/geography": geography, "/errors": errorsView, "/sessions": sessionsView,
};

async function render(): Promise<void> {
  const seq = ++renderSeq;
  const { path } = state();
  if (path === "/login") { root.replaceChildren(loginView()); return; }
  if (!me) {
    try { me = await api<Me>("GET", "/api/v1/me"); }
    catch (e) {
      if (seq !== renderSeq) return;
      if (e instanceof HttpError && e.status === 401) { navigate(href("/login", { next: location.pathname + location.search }, false), true); return; }
      root.replaceChildren(el("p", { class: "error" }, `Could not reach the server: ${(e as Error).message}`)); return;
    }
  }
  if (seq !== renderSeq) return;
  const m = me;
  const pid = param("project", "");
  const project = m.projects.find((p) => String(p.id) === pid);
  if (!project) {
    if (pid) { root.replaceChildren(noAccess(m)); document.title = "Vigil · no access"; return; }
    if (m.projects.length === 1) { navigate(href(VIEWS[path] ? path : "/overview", { project: String(m.projects[0].id) }), true); return; }
    root.replaceChildren(projectPicker(m)); return;
  }
  const viewFn = VIEWS[path];
  if (!viewFn) { navigate(href("/overview"), true); return; }
  if (new URLSearchParams(location.search).has("filter")) { navigate(href(path, {}, true, urlFilters()), true); return; }
  const range = timeRange();
  const box = el("section", { "data-testid": "view", "data-view": path.slice(1), "data-state": "loading", "data-from": String(range.from), "data-to": String(range.to) }, el("p", { class: "loading" }, "Loading…"));
  root.replaceChildren(shell(m, project, box));
  document.title = `Vigil · ${NAV.find(([p]) => p === path)?.[1] ?? param("page", "")} · ${project.name}`;
  try {
    await viewFn(project.id, box, range);
    if (seq === renderSeq) box.dataset.state = "ready";
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e instanceof HttpError && e.status === 401) { me = null; navigate(href("/login", { next: location.pathname + location.search }, false), true); return; }
    box.replaceChildren(el("p", { class: "error" }, `Failed to load: ${(e as Error).message}`));
    box.dataset.state = "error";
  }
}

window.addEventListener("popstate", () => void render());
void render();
