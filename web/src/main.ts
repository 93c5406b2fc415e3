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
function query(project: number, q: Query): Promise<QueryResult> {
  return api<QueryResult>("POST", `/api/v1/query?project=${project}`, q);
}
function col(res: QueryResult, name: string): number { return res.columns.indexOf(name); }
function first(res: QueryResult, name: string): Cell {
  const i = col(res, name);
  return res.rows.length && i >= 0 ? res.rows[0][i] : null;
}

// ---------- URL state ----------
const RANGES: Record<string, number> = { "24h": 86400000, "7d": 7 * 86400000, "30d": 30 * 86400000 };
const BUCKETS: Record<string, string> = { "24h": "time:1h", "7d": "time:6h", "30d": "time:1d" };
const VITALS = ["lcp", "inp", "cls", "fcp", "ttfb"];
const PCTS = ["p50", "p75", "p90", "p99"];
const GROUPS = ["page_path", "browser", "os", "device_type", "country", "effective_type", "release"];

interface State { path: string; params: URLSearchParams; }
function state(): State { return { path: location.pathname, params: new URLSearchParams(location.search) }; }
function param(name: string, dflt: string, allowed?: string[]): string {
  const v = new URLSearchParams(location.search).get(name);
  if (v === null || v === "" || (allowed && !allowed.includes(v))) return dflt;
  return v;
}
function href(path: string, changes: Record<string, string | null> = {}, keep = true): string {
  const p = keep ? new URLSearchParams(location.search) : new URLSearchParams();
  for (const [k, v] of Object.entries(changes)) { if (v === null) p.delete(k); else p.set(k, v); }
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
function timeRange(): { from: number; to: number; range: string } {
  const range = param("range", "24h", Object.keys(RANGES));
  const to = Math.ceil(Date.now() / 60000) * 60000; // whole minutes: shareable, cache-friendly
  return { from: to - RANGES[range], to, range };
}
function filters(): Filter[] {
  const f = param("filter", "");
  const i = f.indexOf(":");
  if (i <= 0) return [];
  const field = f.slice(0, i);
  if (!/^[a-z_][a-z0-9_.]*$/.test(field)) return [];
  return [{ field, op: "eq", value: f.slice(i + 1) }];
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
function table(res: QueryResult, opts: { metricCols?: Record<string, string>; fmt?: Record<string, (v: Cell) => string>; linkCol?: (v: Cell) => string | null; testid?: string; sortable?: boolean } = {}): HTMLElement {
  if (!res.rows.length) return el("p", { class: "empty", "data-testid": (opts.testid ?? "table") + "-empty" }, "No data for this range.");
  const numeric = res.columns.map((_, i) => res.rows.some((r) => typeof r[i] === "number"));
  const sortCol = param("sort", ""), desc = param("dir", "desc") !== "asc";
  const head = (c: string): Child => {
    if (!opts.sortable) return c;
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

function projectPicker(m: Me): HTMLElement {
  const list = el("ul", { class: "projects" });
  for (const p of m.projects) list.append(el("li", {}, link(p.name, href("/overview", { project: String(p.id) }, false))));
  return el("main", {}, el("div", { class: "card" }, el("h2", {}, "Choose a project"),
    m.projects.length ? list : el("p", { class: "empty" }, "You have no projects yet.")));
}

const NAV: [string, string][] = [["/overview", "Overview"], ["/explorer", "Performance"], ["/pages", "Pages"], ["/network", "Network"], ["/resources", "Resources"], ["/geography", "Geography"], ["/errors", "Errors"], ["/sessions", "Sessions"], ["/business", "Business"], ["/settings", "Settings"]];

function shell(m: Me, project: Project, content: HTMLElement): HTMLElement {
  const nav = el("nav");
  for (const [p, label] of NAV) nav.append(link(label, href(p, { session: null, sort: null, dir: null, ...(p === location.pathname ? {} : { filter: null }) }), location.pathname === p ? "active" : ""));
  const range = el("select", { "data-testid": "range", "aria-label": "Time range" });
  for (const [v, label] of [["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]]) {
    const o = el("option", { value: v }, label); if (param("range", "24h") === v) o.selected = true; range.append(o);
  }
  range.addEventListener("change", () => navigate(href(location.pathname, { range: range.value })));
  const proj = el("select", { "aria-label": "Project" });
  for (const p of m.projects) { const o = el("option", { value: String(p.id) }, p.name); if (p.id === project.id) o.selected = true; proj.append(o); }
  proj.addEventListener("change", () => navigate(href(location.pathname, { project: proj.value, session: null })));
  const logout = el("button", { type: "button" }, "Sign out");
  logout.addEventListener("click", async () => { try { await api("POST", "/api/v1/logout"); } catch { /* ignore */ } me = null; navigate("/login", true); });
  const header = el("header", { class: "shell" }, el("span", { class: "brand" }, "Vigil"), nav, el("span", { class: "spacer" }), proj, range, el("span", {}, m.user.email), logout);
  return el("div", {}, header, el("main", {}, content));
}

async function overview(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  const len = to - from;
  const prev = { from: from - len, to: from };
  box.dataset.from = String(from); box.dataset.to = String(to);
  const vitalQ = (metric: string, r: { from: number; to: number }, aggs: string[]) => query(pid, { metric, aggregations: aggs, from: r.from, to: r.to });
  const [vit, vitPrev, pv, pvPrev, er, erPrev, slow] = await Promise.all([
    Promise.all(VITALS.map((m) => vitalQ(m, { from, to }, ["p75", "good", "needs_improvement", "poor", "count"]))),
    Promise.all(VITALS.map((m) => vitalQ(m, prev, ["p75", "count"]))),
    vitalQ("page_views", { from, to }, ["count", "sessions"]),
    vitalQ("page_views", prev, ["count", "sessions"]),
    vitalQ("errors", { from, to }, ["count"]),
    vitalQ("errors", prev, ["count"]),
    query(pid, { metric: "lcp", aggregations: ["p75", "count"], group_by: ["page_path"], from, to, order_by: "p75", ascending: false, limit: 10 }),
  ]);
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
  box.replaceChildren(el("h2", {}, "Overview"), grid,
    el("div", { class: "card" }, el("h3", {}, "Slowest pages (p75 LCP)"),
      table(slow, { metricCols: { p75: "lcp" }, testid: "slowest-pages", linkCol: (v) => v === null ? null : href("/explorer", { metric: "lcp", group: "page_path", filter: `page_path:${String(v)}` }) })));
}

let chart: uPlot | null = null;
async function explorer(pid: number, box: HTMLElement): Promise<void> {
  const { from, to, range } = timeRange();
  box.dataset.from = String(from); box.dataset.to = String(to);
  const metric = param("metric", "lcp", VITALS);
  const pct = param("percentile", "p75", PCTS);
  const group = param("group", "page_path", GROUPS);
  const flt = filters();
  const sel = (name: string, values: string[], cur: string) => {
    const s = el("select", { name, "data-testid": name });
    for (const v of values) { const o = el("option", { value: v }, v); if (v === cur) o.selected = true; s.append(o); }
    s.addEventListener("change", () => navigate(href(location.pathname, { [name]: s.value })));
    return el("label", {}, name, s);
  };
  const fField = el("select", { name: "filter-field", "data-testid": "filter-field" });
  for (const v of GROUPS) { const o = el("option", { value: v }, v); if (flt[0]?.field === v) o.selected = true; fField.append(o); }
  const fValue = el("input", { name: "filter-value", "data-testid": "filter-value", placeholder: "value" });
  fValue.value = flt.length ? String(flt[0].value) : "";
  const apply = el("button", { type: "submit" }, "Apply filter");
  const clear = el("button", { type: "button" }, "Clear");
  clear.addEventListener("click", () => navigate(href(location.pathname, { filter: null })));
  const fform = el("form", { class: "controls" }, el("label", {}, "filter", fField), el("label", {}, "equals", fValue), apply, clear);
  fform.addEventListener("submit", (ev) => { ev.preventDefault(); navigate(href(location.pathname, { filter: fValue.value ? `${fField.value}:${fValue.value}` : null })); });
  const controls = el("div", { class: "controls" }, sel("metric", VITALS, metric), sel("percentile", PCTS, pct), sel("group", GROUPS, group));
  const base = { metric, filters: flt, from, to };
  const bucket = BUCKETS[range];
  const [series, tab] = await Promise.all([
    query(pid, { ...base, aggregations: [pct, "count"], group_by: [bucket], limit: 10000 }),
    query(pid, { ...base, aggregations: [pct, "count"], group_by: [group], order_by: "count", ascending: false, limit: 100 }),
  ]);
  // one line per top group (by sample count), besides the overall line
  const gi = col(tab, group);
  const top = tab.rows.slice(0, 5).map((r) => r[gi]).filter((v): v is string | number | boolean => v !== null);
  const perGroup = top.length
    ? await query(pid, { ...base, filters: [...flt, { field: group, op: "in", value: top }], aggregations: [pct], group_by: [group, bucket], limit: 10000 })
    : { columns: [], rows: [] } as QueryResult;
  const chartBox = el("div", { "data-testid": "chart" });
  box.replaceChildren(el("h2", {}, "Performance explorer"), controls, fform,
    el("div", { class: "card" }, el("h3", {}, `${metric.toUpperCase()} ${pct} over time (top ${top.length} ${group} values and all)`), series.rows.length ? chartBox : el("p", { class: "empty" }, "No data for this range.")),
    el("div", { class: "card" }, el("h3", {}, `${metric.toUpperCase()} ${pct} by ${group}`), table(tab, { metricCols: { [pct]: metric }, testid: "explorer-table" })));
  chart?.destroy(); chart = null;
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
    const width = Math.max(300, Math.min(1160, box.clientWidth - 40));
    chart = new uPlot({
      width, height: 280, series: seriesOpts,
      axes: [{}, { values: (_u, vals) => vals.map((v) => fmtMetric(metric, v)), size: 70 }],
    }, data as uPlot.AlignedData, chartBox);
  }
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

async function geography(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  box.dataset.from = String(from); box.dataset.to = String(to);
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

async function errorsView(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  const res = await query(pid, { metric: "errors", aggregations: ["count", "sessions"], group_by: ["error_type", "message"], from, to, limit: 200 });
  box.replaceChildren(el("h2", {}, "Errors"), el("div", { class: "card" }, table(res, { testid: "errors-table" })));
}

async function sessionsView(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  const sid = param("session", "");
  if (sid) {
    const s = await api<{ session_id: string; events: Record<string, Cell>[] }>("GET", `/api/v1/sessions/${encodeURIComponent(sid)}?project=${pid}`);
    const tbody = el("tbody");
    for (const ev of s.events) {
      const rest = Object.entries(ev).filter(([k]) => !["type", "ts", "page_path", "session_id"].includes(k)).map(([k, v]) => { const t = String(v); return `${k}=${t.length > 300 ? t.slice(0, 300) + "…" : t}`; }).join("  ");
      tbody.append(el("tr", {}, el("td", {}, new Date(Number(ev.ts)).toISOString()), el("td", {}, String(ev.type)), el("td", { class: "wrap" }, fmtCell(ev.page_path ?? null)), el("td", { class: "wrap" }, rest)));
    }
    box.replaceChildren(el("h2", {}, "Session ", el("code", {}, s.session_id)), link("← all sessions", href("/sessions", { session: null })),
      el("div", { class: "card" }, s.events.length ? el("table", { "data-testid": "session-events" }, el("thead", {}, el("tr", {}, el("th", {}, "time"), el("th", {}, "type"), el("th", {}, "page"), el("th", {}, "details"))), tbody) : el("p", { class: "empty" }, "No events.")));
    return;
  }
  // most recent sessions first: views by (hour bucket, session), newest bucket first, deduplicated
  const recent = await query(pid, { metric: "views", aggregations: ["count"], group_by: ["time:1h", "session_id"], from, to, order_by: "time", ascending: false, limit: 2000 });
  const ti = col(recent, "time"), si = col(recent, "session_id"), ci = col(recent, "count");
  const seen = new Map<string, [Cell, number, number]>();
  for (const r of recent.rows) {
    const id = r[si]; if (typeof id !== "string") continue;
    const e = seen.get(id);
    if (e) e[2] += Number(r[ci]); else if (seen.size < 50) seen.set(id, [id, Number(r[ti]), Number(r[ci])]);
  }
  const res: QueryResult = { columns: ["session_id", "last active", "views"], rows: [...seen.values()].map(([id, t, n]) => [id, new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC", n]) };
  box.replaceChildren(el("h2", {}, "Recent sessions"), el("div", { class: "card" }, table(res, { testid: "sessions-table", linkCol: (v) => v === null ? null : href("/sessions", { session: String(v) }) })));
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
function viewFilters(allowed: string[]): Filter[] { return filters().filter((f) => allowed.includes(f.field)); }
function filterNote(flt: Filter[]): HTMLElement | null {
  if (!flt.length) return null;
  return el("p", { class: "controls", "data-testid": "active-filter" }, `Filtered: ${flt[0].field} = ${String(flt[0].value)} `, link("clear", href(location.pathname, { filter: null })));
}
const fmtBytes = (v: Cell): string => {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  if (v >= 1e9) return (v / 1e9).toFixed(2) + " GB";
  if (v >= 1e6) return (v / 1e6).toFixed(2) + " MB";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + " kB";
  return Math.round(v) + " B";
};
const fmtShare = (v: Cell): string => typeof v === "number" && isFinite(v) ? fmtPct(v) : "–";

async function pagesView(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  box.dataset.from = String(from); box.dataset.to = String(to);
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
    el("div", { class: "card" }, el("h3", {}, "Per page (click a header to sort, a page to explore it)"),
      views.rows.length >= g.limit ? el("p", { class: "empty", "data-testid": "truncated" }, `Showing the ${g.limit} pages with the most views.`) : null,
      table(res, { testid: "pages-table", sortable: true, metricCols: { "p75 LCP": "lcp", "p75 INP": "inp", "p75 CLS": "cls" },
        linkCol: (v) => v === null ? null : href("/explorer", { metric: "lcp", group: "browser", filter: `page_path:${String(v)}`, sort: null, dir: null }) })));
}

async function networkView(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  box.dataset.from = String(from); box.dataset.to = String(to);
  const flt = viewFilters(["url_template", "status", "method"]);
  const g = { group_by: ["url_template"], from, to, limit: 1000 };
  const [dur, total, s5xx, failed, both, slow] = await Promise.all([
    query(pid, { metric: "requests.duration", aggregations: ["count", "p75", "p99"], filters: flt, ...g }),
    query(pid, { metric: "requests", aggregations: ["count"], filters: flt, ...g }),
    query(pid, { metric: "requests", aggregations: ["count"], filters: [...flt, { field: "status", op: "gte", value: 500 }], ...g }),
    query(pid, { metric: "requests", aggregations: ["count"], filters: [...flt, { field: "failure", op: "exists", value: null }], ...g }),
    // a failed request that also has a 5xx status counts once
    query(pid, { metric: "requests", aggregations: ["count"], filters: [...flt, { field: "failure", op: "exists", value: null }, { field: "status", op: "gte", value: 500 }], ...g }),
    query(pid, { metric: "requests.duration", aggregations: ["max", "count"], filters: flt, group_by: ["url_template", "status"], from, to, order_by: "max", ascending: false, limit: 20 }),
  ]);
  const ep = joinOn("url_template", [[total, "count", "requests"], [dur, "p75", "p75 duration"], [dur, "p99", "p99 duration"], [s5xx, "count", "5xx"], [failed, "count", "failures"], [both, "count", "both"]], { "5xx": 0, failures: 0, both: 0 });
  ep.columns.splice(6, 1, "error rate");
  for (const r of ep.rows) { const n = Number(r[1]); r[6] = n > 0 ? (Number(r[4]) + Number(r[5]) - Number(r[6])) / n : null; }
  const endpoints = sortRows(ep);
  const fmtMs = (v: Cell) => fmtMetric("duration", v);
  box.replaceChildren(el("h2", {}, "Network"), filterNote(flt) ?? "",
    el("div", { class: "card" }, el("h3", {}, "Endpoints (error rate: status ≥ 500 or failed, of all requests)"),
      table(endpoints, { testid: "network-table", sortable: true, fmt: { "p75 duration": fmtMs, "p99 duration": fmtMs, "error rate": fmtShare },
        linkCol: (v) => v === null ? null : href("/network", { filter: `url_template:${String(v)}`, sort: null, dir: null }) })),
    el("div", { class: "card" }, el("h3", {}, "Slowest calls (by endpoint and status)"),
      table(slow, { testid: "slowest-calls", fmt: { max: fmtMs },
        linkCol: (v) => v === null ? null : href("/network", { filter: `url_template:${String(v)}`, sort: null, dir: null }) })));
}

async function resourcesView(pid: number, box: HTMLElement): Promise<void> {
  const { from, to } = timeRange();
  box.dataset.from = String(from); box.dataset.to = String(to);
  const flt = viewFilters(["domain", "initiator"]);
  const r = { filters: flt, from, to, limit: 1000 };
  const [size, dur, bySizeInit, byDurInit, fails] = await Promise.all([
    query(pid, { metric: "resources.transfer_size", aggregations: ["count", "sum", "avg"], group_by: ["domain"], ...r }),
    query(pid, { metric: "resources.duration", aggregations: ["p75"], group_by: ["domain"], ...r }),
    query(pid, { metric: "resources.transfer_size", aggregations: ["count", "sum", "avg"], group_by: ["initiator"], ...r }),
    query(pid, { metric: "resources.duration", aggregations: ["p75"], group_by: ["initiator"], ...r }),
    query(pid, { metric: "resource_errors", aggregations: ["count"], group_by: ["domain", "tag"], filters: flt.filter((f) => f.field === "domain"), from, to, limit: 1000 }),
  ]);
  const fmtMs = (v: Cell) => fmtMetric("duration", v);
  const cols = (res: QueryResult, d: QueryResult): [QueryResult, string, string][] =>
    [[res, "count", "count"], [res, "sum", "transfer size"], [res, "avg", "avg size"], [d, "p75", "p75 duration"]];
  const domains = sortRows(joinOn("domain", cols(size, dur)));
  const inits = joinOn("initiator", cols(bySizeInit, byDurInit));
  const fmt = { "transfer size": fmtBytes, "avg size": fmtBytes, "p75 duration": fmtMs };
  box.replaceChildren(el("h2", {}, "Resources and third parties"), filterNote(flt) ?? "",
    el("div", { class: "card" }, el("h3", {}, "By domain"),
      table(domains, { testid: "resources-domains", sortable: true, fmt, linkCol: (v) => v === null ? null : href("/resources", { filter: `domain:${String(v)}`, sort: null, dir: null }) })),
    el("div", { class: "card" }, el("h3", {}, "By initiator type"),
      table(inits, { testid: "resources-initiators", fmt, linkCol: (v) => v === null ? null : href("/resources", { filter: `initiator:${String(v)}`, sort: null, dir: null }) })),
    el("div", { class: "card" }, el("h3", {}, "Failed resources (by domain and tag)"),
      table(fails, { testid: "resource-failures", linkCol: (v) => v === null ? null : href("/resources", { filter: `domain:${String(v)}`, sort: null, dir: null }) })));
}

// ---------- Business ----------
interface ProjectSettings { id: number; name: string; public_key: string; allowed_origins: string[]; retention_days: number; snippet: string; }
let bizChart: uPlot | null = null;
const RATINGS = ["good", "needs-improvement", "poor"];
async function businessView(pid: number, box: HTMLElement): Promise<void> {
  const { from, to, range } = timeRange();
  box.dataset.from = String(from); box.dataset.to = String(to);
  const bucket = BUCKETS[range];
  const [series, counts, sums] = await Promise.all([
    query(pid, { metric: "custom_events", aggregations: ["count"], group_by: ["name", bucket], from, to, limit: 10000 }),
    query(pid, { metric: "custom_events", aggregations: ["count"], group_by: ["name"], from, to, order_by: "count", ascending: false, limit: 1000 }),
    query(pid, { metric: "custom_events.value", aggregations: ["sum"], group_by: ["name"], from, to, limit: 1000 }),
  ]);
  const ni = col(counts, "name");
  const names = counts.rows.map((r) => r[ni]).filter((v): v is string => typeof v === "string");
  const event = param("event", names.includes("checkout") || !names.length ? "checkout" : names[0]);
  const conv = await api<QueryResult>("POST", `/api/v1/conversion?project=${pid}`, { event, from, to });
  const evTable = joinOn("name", [[counts, "count", "count"], [sums, "sum", "value (sum)"]]);
  const sel = el("select", { name: "event", "data-testid": "event" });
  for (const n of names.includes(event) ? names : [event, ...names]) { const o = el("option", { value: n }, n); if (n === event) o.selected = true; sel.append(o); }
  sel.addEventListener("change", () => navigate(href(location.pathname, { event: sel.value })));
  const chartBox = el("div", { "data-testid": "business-chart" });
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
  box.replaceChildren(el("h2", {}, "Business"),
    el("div", { class: "card" }, el("h3", {}, "Custom events over time"), series.rows.length ? chartBox : el("p", { class: "empty" }, "No data for this range.")),
    el("div", { class: "card" }, el("h3", {}, "Custom events"), table(evTable, { testid: "business-events", fmt: { "value (sum)": (v) => typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "–" } })),
    el("div", { class: "card" }, el("h3", {}, "Conversion by LCP rating"), el("div", { class: "controls" }, el("label", {}, "event", sel)),
      conv.rows.length ? bars : "",
      table(conv, { testid: "conversion-table", fmt: { rate: (v) => typeof v === "number" ? fmtPct(v) : "–", revenue: (v) => typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "–" } })));
  bizChart?.destroy(); bizChart = null;
  if (series.rows.length) {
    const sn = col(series, "name"), st = col(series, "time"), sc = col(series, "count");
    const times = [...new Set(series.rows.map((r) => Number(r[st])))].sort((a, b) => a - b);
    const idx = new Map(times.map((t, i) => [t, i]));
    const data: (number | null)[][] = [times.map((t) => t / 1000)];
    const COLORS = ["#2a5bd7", "#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d"];
    const seriesOpts: uPlot.Series[] = [{}];
    const lineNames = [...new Set(series.rows.map((r) => fmtCell(r[sn])))];
    lineNames.forEach((n, k) => {
      const ys: (number | null)[] = times.map(() => 0);
      for (const r of series.rows) { if (fmtCell(r[sn]) !== n) continue; const i = idx.get(Number(r[st])); if (i !== undefined) ys[i] = Number(r[sc]); }
      data.push(ys);
      seriesOpts.push({ label: n, stroke: COLORS[k % COLORS.length], width: 2 });
    });
    const width = Math.max(300, Math.min(1160, box.clientWidth - 40));
    bizChart = new uPlot({ width, height: 260, series: seriesOpts }, data as uPlot.AlignedData, chartBox);
  }
}

// ---------- Settings ----------
async function settingsView(pid: number, box: HTMLElement): Promise<void> {
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
    el("div", { class: "card" }, el("h3", {}, "Project settings"), form));
}

const VIEWS: Record<string, (pid: number, box: HTMLElement) => Promise<void>> = {
  "/pages": pagesView, "/network": networkView, "/resources": resourcesView,
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
  const pid = Number(param("project", ""));
  const project = m.projects.find((p) => p.id === pid);
  if (!project) {
    if (m.projects.length === 1) { navigate(href(VIEWS[path] ? path : "/overview", { project: String(m.projects[0].id) }), true); return; }
    root.replaceChildren(projectPicker(m)); return;
  }
  const viewFn = VIEWS[path];
  if (!viewFn) { navigate(href("/overview"), true); return; }
  const box = el("section", { "data-testid": "view", "data-view": path.slice(1), "data-state": "loading" }, el("p", { class: "loading" }, "Loading…"));
  root.replaceChildren(shell(m, project, box));
  document.title = `Vigil · ${NAV.find(([p]) => p === path)?.[1] ?? ""} · ${project.name}`;
  try {
    await viewFn(project.id, box);
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
