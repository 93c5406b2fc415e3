// End-to-end tests: real `vigil serve` + headless Debian Chromium via playwright-core.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, "..");
const ARTIFACTS = resolve(WEB, "../test-artifacts");
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), ".cache/vigil-target/debug/vigil");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const XSS_MSG = `<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2;alert(2)">`;
const XSS_URL = `https://shop.example.com/x"><img src=x onerror=alert(1)>`;

let dir, server, base, browser, token, publicKey, email, password, projectId = 1;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "vigil-web-test-"));
  mkdirSync(ARTIFACTS, { recursive: true });
  const out = execFileSync(VIGIL, ["demo", "--data", join(dir, "data"), "--page-views", "20000"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  publicKey = /public key\s+(pk_\S+)/.exec(out)[1];
  token = /api token\s+(vt_\S+)/.exec(out)[1];
  [, email, password] = /login\s+(\S+) \/ (\S+)/.exec(out);
  const pm = /\(id (\d+)\)/.exec(out); if (pm) projectId = Number(pm[1]);
  server = spawn(VIGIL, ["serve", "--data", join(dir, "data"), "--listen", "127.0.0.1:0", "--web-dir", join(WEB, "dist")], { stdio: ["ignore", "pipe", "pipe"] });
  base = await new Promise((res, rej) => {
    let buf = "";
    const t = setTimeout(() => rej(new Error("vigil serve did not start: " + buf)), 30000);
    server.stdout.on("data", (d) => { buf += d; const m = /vigil listening on (http:\/\/\S+)/.exec(buf); if (m) { clearTimeout(t); res(m[1]); } });
    server.stderr.on("data", () => {});
    server.on("exit", (c) => rej(new Error("vigil serve exited " + c + ": " + buf)));
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => { const t = setTimeout(() => { server.kill("SIGKILL"); r(); }, 5000); server.on("exit", () => { clearTimeout(t); r(); }); });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function apiQuery(q) {
  const r = await fetch(`${base}/api/v1/query?project=${projectId}`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(q) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const dialogs = [], problems = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
  page.on("pageerror", (e) => problems.push(String(e)));
  // 401s of the unauthenticated check are expected; anything else (CSP violations included) is not
  page.on("console", (m) => { if (m.type() === "error" && !/401/.test(m.text())) problems.push(m.text()); });
  return { ctx, page, dialogs, problems };
}

async function login(page) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector('[data-testid=view][data-state=ready]');
}

const ready = (view) => `[data-testid=view][data-view=${view}][data-state=ready]`;

test("without a session: login page, no data, API answers 401", async () => {
  const { ctx, page } = await newPage();
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector("[data-testid=login-form]");
  assert.match(new URL(page.url()).pathname, /^\/login$/);
  assert.equal(await page.locator("[data-testid=view]").count(), 0);
  const status = await page.evaluate(async (pid) => (await fetch(`/api/v1/query?project=${pid}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ metric: "lcp", aggregations: ["p75"], from: 0, to: Date.now() }) })).status, projectId);
  assert.equal(status, 401);
  // wrong password shows an error
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", "wrong-password");
  await page.click("button[type=submit]");
  await page.waitForSelector("form.login .error:not(:empty)");
  assert.match(await page.textContent("form.login .error"), /Wrong email or password/);
  await page.screenshot({ path: join(ARTIFACTS, "login.png") });
  await ctx.close();
});

test("overview shows the API's p75 LCP and non-empty data", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const t0 = Date.now();
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector(ready("overview"));
  const ms = Date.now() - t0;
  console.log(`# overview render time (navigation → fully rendered, 7d, 20000 page views): ${ms} ms`);
  const box = page.locator("[data-testid=view]");
  const from = Number(await box.getAttribute("data-from"));
  const to = Number(await box.getAttribute("data-to"));
  const shown = Number(await page.getAttribute("[data-testid=vital-lcp] .metric-value", "data-raw"));
  const api = await apiQuery({ metric: "lcp", aggregations: ["p75"], from, to });
  assert.ok(api.rows.length === 1 && typeof api.rows[0][0] === "number");
  assert.equal(shown, api.rows[0][0]);
  const txt = await page.textContent("[data-testid=vital-lcp] .metric-value");
  assert.equal(txt, `${(api.rows[0][0] / 1000).toFixed(2)} s`);
  const pv = await apiQuery({ metric: "page_views", aggregations: ["count"], from, to });
  assert.equal(await page.textContent("[data-testid=page-views] .metric-value"), pv.rows[0][0].toLocaleString("en-US"));
  assert.ok((await page.locator("[data-testid=slowest-pages] tbody tr").count()) > 0);
  // a trend is shown only when the previous period has at least 30 page views
  const pvPrev = await apiQuery({ metric: "page_views", aggregations: ["count"], from: from - (to - from), to: from });
  const prevCount = Number(pvPrev.rows[0]?.[0] ?? 0);
  const pvTrend = await page.textContent("[data-testid=page-views] .trend");
  if (prevCount < 30) assert.equal(pvTrend, "not enough earlier data");
  else assert.match(pvTrend, /vs previous period|no previous data/);
  assert.deepEqual(problems, []);
  await page.screenshot({ path: join(ARTIFACTS, "overview.png"), fullPage: true });
  if (process.env.VIGIL_SCREENSHOT === "1") {
    // the documentation screenshot: 1280×800 viewport, after the view is fully rendered
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: resolve(WEB, "../docs/overview.png"), fullPage: false });
  }
  await ctx.close();
});

test("explorer: chart and table; changing group-by changes the table as the API says", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/explorer?project=${projectId}&range=7d&metric=lcp&percentile=p75&group=page_path`);
  await page.waitForSelector(ready("explorer"));
  await page.waitForSelector("[data-testid=chart] canvas");
  assert.ok((await page.locator("[data-testid=explorer-table] tbody tr").count()) > 0);
  assert.equal(await page.textContent("[data-testid=explorer-table] th >> nth=0"), "page_path");
  await page.screenshot({ path: join(ARTIFACTS, "explorer.png"), fullPage: true });

  await page.selectOption("select[data-testid=group]", "browser");
  await page.waitForFunction(() => {
    const v = document.querySelector("[data-testid=view][data-view=explorer][data-state=ready]");
    const th = v?.querySelector("[data-testid=explorer-table] th");
    return th?.textContent === "browser";
  });
  assert.equal(new URL(page.url()).searchParams.get("group"), "browser");
  const box = page.locator("[data-testid=view]");
  const from = Number(await box.getAttribute("data-from")), to = Number(await box.getAttribute("data-to"));
  const api = await apiQuery({ metric: "lcp", aggregations: ["p75", "count"], group_by: ["browser"], from, to, order_by: "count", ascending: false, limit: 100 });
  const rows = await page.$$eval("[data-testid=explorer-table] tbody tr", (trs) => trs.map((tr) => {
    const td = tr.querySelectorAll("td");
    return [td[0].textContent, Number(td[1].getAttribute("data-raw")), Number(td[2].getAttribute("data-raw"))];
  }));
  const expected = api.rows.map((r) => [r[0] === null ? "(none)" : String(r[0]), r[1], r[2]]);
  const key = (a) => JSON.stringify([...a].sort((x, y) => String(x[0]).localeCompare(String(y[0]))));
  assert.equal(key(rows), key(expected));

  // filter: dimension = value (state kept in the URL)
  const firstBrowser = expected[0][0];
  await page.selectOption("select[data-testid=filter-field]", "browser");
  await page.fill("input[data-testid=filter-value]", firstBrowser);
  await page.click("form.controls button[type=submit]");
  await page.waitForFunction((b) => new URL(location.href).searchParams.get("filter") === `browser:${b}` && !!document.querySelector("[data-testid=view][data-view=explorer][data-state=ready]"), firstBrowser);
  const frows = await page.$$eval("[data-testid=explorer-table] tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(frows, [firstBrowser]);
  await page.screenshot({ path: join(ARTIFACTS, "explorer-filtered.png"), fullPage: true });

  // a shared URL restores the whole view state
  await page.goto(`${base}/explorer?project=${projectId}&range=24h&metric=inp&percentile=p90&group=os`);
  await page.waitForSelector(ready("explorer"));
  assert.equal(await page.inputValue("select[data-testid=metric]"), "inp");
  assert.equal(await page.inputValue("select[data-testid=percentile]"), "p90");
  assert.equal(await page.inputValue("select[data-testid=range]"), "24h");
  assert.equal(await page.textContent("[data-testid=explorer-table] th >> nth=0"), "os");
  assert.ok((await page.locator("[data-testid=chart] .u-legend .u-series").count()) > 2, "per-group series drawn");
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("geography, errors and sessions views show data", async () => {
  const { ctx, page } = await newPage();
  await login(page);
  // geography map: one coloured country shape per country with data (that the map has a shape for)
  await page.goto(`${base}/geography?project=${projectId}&range=7d&metric=lcp`);
  await page.waitForSelector(ready("geography"));
  const gbox = page.locator("[data-testid=view]");
  const gfrom = Number(await gbox.getAttribute("data-from")), gto = Number(await gbox.getAttribute("data-to"));
  const byCountry = await apiQuery({ metric: "lcp", aggregations: ["p75"], group_by: ["country"], from: gfrom, to: gto, limit: 300 });
  const world = await (await fetch(`${base}/world.json`)).json();
  const shapes = new Set(world.countries.map((c) => c.code));
  const ci = byCountry.columns.indexOf("country"), pi = byCountry.columns.indexOf("p75");
  const expected = byCountry.rows.filter((r) => typeof r[ci] === "string" && typeof r[pi] === "number" && shapes.has(r[ci]));
  assert.ok(expected.length > 0);
  assert.equal(await page.locator("[data-testid=geo-map] [data-testid=geo-country]").count(), expected.length);
  for (const r of expected.slice(0, 5)) {
    assert.equal(Number(await page.getAttribute(`[data-testid=geo-country][data-country=${r[ci]}]`, "data-value")), r[pi]);
  }
  assert.equal(await page.inputValue("[data-testid=geo-metric]"), "lcp");
  assert.equal(await page.getAttribute("[data-testid=geo-credit] a", "href"), "https://db-ip.com/");
  assert.equal(await page.textContent("[data-testid=geo-credit]"), "IP geolocation by DB-IP");
  await page.selectOption("[data-testid=geo-metric]", "ttfb");
  await page.waitForURL(/metric=ttfb/);
  await page.waitForFunction(() => document.querySelector("[data-testid=view][data-state=ready] [data-testid=geo-metric]")?.value === "ttfb");
  assert.ok((await page.locator("[data-testid=geo-country]").count()) > 0);
  await page.screenshot({ path: join(ARTIFACTS, "geography-map.png"), fullPage: true });
  for (const [view, testid] of [["geography", "geo-table"], ["errors", "errors-table"], ["sessions", "sessions-table"]]) {
    await page.goto(`${base}/${view}?project=${projectId}&range=7d`);
    await page.waitForSelector(ready(view));
    assert.ok((await page.locator(`[data-testid=${testid}] tbody tr`).count()) > 0, view);
    await page.screenshot({ path: join(ARTIFACTS, `${view}.png`), fullPage: true });
  }
  await page.click("[data-testid=sessions-table] tbody tr:first-child a");
  await page.waitForSelector("[data-testid=session-events] tbody tr");
  assert.ok(new URL(page.url()).searchParams.get("session"));
  await page.screenshot({ path: join(ARTIFACTS, "session.png") });
  await ctx.close();
});

test("event data with markup is shown as text, never executed", async () => {
  const now = Date.now();
  const batch = { v: 1, context: { session_id: "xss-session-0001", view_id: "xss-view-0001", agent: { name: "vigil-browser", version: "0.1.0" }, page_url: XSS_URL },
    events: [{ ts: now, type: "view" }, { ts: now, type: "error", error_type: "XSSProbe", message: XSS_MSG }] };
  const r = await fetch(`${base}/api/v1/ingest?key=${publicKey}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(batch) });
  assert.equal(r.status, 202, await r.text());
  // wait until the store answers with it (bounded)
  for (let i = 0; ; i++) {
    const a = await apiQuery({ metric: "errors", aggregations: ["count"], filters: [{ field: "error_type", op: "eq", value: "XSSProbe" }], from: now - 60000, to: now + 3600000 });
    if (a.rows.length && a.rows[0][0] > 0) break;
    assert.ok(i < 100, "ingested error never became visible");
    await new Promise((res) => setTimeout(res, 100));
  }
  const { ctx, page, dialogs, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/errors?project=${projectId}&range=24h`);
  await page.waitForSelector(ready("errors"));
  const cells = await page.$$eval("[data-testid=errors-table] td", (tds) => tds.map((t) => t.textContent));
  assert.ok(cells.includes(XSS_MSG), "payload shown verbatim as text");
  await page.screenshot({ path: join(ARTIFACTS, "errors-xss.png"), fullPage: true });

  await page.goto(`${base}/sessions?project=${projectId}&range=24h&session=xss-session-0001`);
  await page.waitForSelector("[data-testid=session-events] tbody tr");
  const text = await page.textContent("[data-testid=session-events]");
  assert.ok(text.includes(XSS_MSG));

  await page.goto(`${base}/explorer?project=${projectId}&range=24h&group=page_path&filter=${encodeURIComponent('page_path:/x"><img src=x onerror=alert(1)>')}`);
  await page.waitForSelector(ready("explorer"));
  assert.equal(await page.inputValue("input[data-testid=filter-value]"), '/x"><img src=x onerror=alert(1)>');

  for (const p of [page]) {
    assert.equal(await p.locator("img[src=x], #app script").count(), 0, "no injected element");
    assert.equal(await p.evaluate(() => window.__xss), undefined, "no injected script ran");
  }
  assert.deepEqual(dialogs, []);
  assert.deepEqual(problems, []);
  await ctx.close();
});

const cellsOf = (page, testid) => page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.hasAttribute("data-raw") ? Number(td.getAttribute("data-raw")) : td.textContent)));
async function rangeOf(page) {
  const box = page.locator("[data-testid=view]");
  return { from: Number(await box.getAttribute("data-from")), to: Number(await box.getAttribute("data-to")) };
}
const byKey = (rows) => new Map(rows.map((r) => [r[0] === null ? "(none)" : String(r[0]), r]));

test("pages view: views, sessions, p75 vitals and errors per page as the API says; rows link to the explorer", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/pages?project=${projectId}&range=7d`);
  await page.waitForSelector(ready("pages"));
  const { from, to } = await rangeOf(page);
  const rows = await cellsOf(page, "pages-table");
  assert.ok(rows.length > 0);
  const g = { group_by: ["page_path"], from, to, limit: 1000 };
  const views = byKey((await apiQuery({ metric: "views", aggregations: ["count", "sessions"], ...g })).rows);
  const lcp = byKey((await apiQuery({ metric: "lcp", aggregations: ["p75"], ...g })).rows);
  const cls = byKey((await apiQuery({ metric: "cls", aggregations: ["p75"], ...g })).rows);
  const errs = byKey((await apiQuery({ metric: "errors", aggregations: ["count"], ...g })).rows);
  assert.equal(rows.length, views.size);
  for (const [path, v, s, l, , c, e] of rows) {
    assert.deepEqual([v, s], views.get(path).slice(1), path);
    if (lcp.has(path)) assert.equal(l, lcp.get(path)[1], path);
    if (cls.has(path)) assert.equal(c, cls.get(path)[1], path);
    assert.equal(e, errs.get(path)?.[1] ?? 0, path);
  }
  await page.screenshot({ path: join(ARTIFACTS, "pages.png"), fullPage: true });
  // sorting by a header keeps the state in the URL
  await page.click("[data-testid=pages-table] th a:text-is('views')");
  await page.waitForFunction(() => new URL(location.href).searchParams.get("sort") === "views" && !!document.querySelector("[data-testid=view][data-view=pages][data-state=ready]"));
  const sorted = (await cellsOf(page, "pages-table")).map((r) => r[1]);
  assert.deepEqual(sorted, [...sorted].sort((a, b) => b - a));
  // a row opens the explorer filtered to that page
  const first = await page.textContent("[data-testid=pages-table] tbody tr:first-child td:first-child a");
  await page.click("[data-testid=pages-table] tbody tr:first-child td:first-child a");
  await page.waitForSelector(ready("explorer"));
  assert.equal(new URL(page.url()).searchParams.get("filter"), `page_path:${first}`);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("network view: endpoints, error rate and slowest calls as the API says", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/network?project=${projectId}&range=7d`);
  await page.waitForSelector(ready("network"));
  const { from, to } = await rangeOf(page);
  const rows = await cellsOf(page, "network-table");
  assert.ok(rows.length > 0);
  const g = { group_by: ["url_template"], from, to, limit: 1000 };
  const dur = byKey((await apiQuery({ metric: "requests.duration", aggregations: ["count", "p75", "p99"], ...g })).rows);
  const total = byKey((await apiQuery({ metric: "requests", aggregations: ["count"], ...g })).rows);
  const s5 = byKey((await apiQuery({ metric: "requests", aggregations: ["count"], filters: [{ field: "status", op: "gte", value: 500 }], ...g })).rows);
  const fl = byKey((await apiQuery({ metric: "requests", aggregations: ["count"], filters: [{ field: "failure", op: "exists", value: null }], ...g })).rows);
  const both = byKey((await apiQuery({ metric: "requests", aggregations: ["count"], filters: [{ field: "failure", op: "exists", value: null }, { field: "status", op: "gte", value: 500 }], ...g })).rows);
  assert.equal(rows.length, total.size);
  let someErrors = false;
  for (const [u, n, p75, p99, , , rate] of rows) {
    assert.equal(n, total.get(u)[1], u);
    assert.equal(p75, dur.get(u)?.[2] ?? "–", u);
    assert.equal(p99, dur.get(u)?.[3] ?? "–", u);
    const bad = (s5.get(u)?.[1] ?? 0) + (fl.get(u)?.[1] ?? 0) - (both.get(u)?.[1] ?? 0);
    assert.ok(Math.abs(rate - bad / n) < 1e-12, u);
    if (bad > 0) someErrors = true;
  }
  assert.ok(someErrors, "demo data has failing requests");
  const slow = await cellsOf(page, "slowest-calls");
  const api = await apiQuery({ metric: "requests.duration", aggregations: ["max", "count"], group_by: ["url_template", "status"], from, to, order_by: "max", ascending: false, limit: 20 });
  assert.ok(slow.length > 0);
  assert.deepEqual(slow.map((r) => r[2]), api.rows.map((r) => r[2]));
  await page.screenshot({ path: join(ARTIFACTS, "network.png"), fullPage: true });
  // an endpoint narrows the view to it (state in the URL)
  const firstU = rows[0][0];
  await page.click("[data-testid=network-table] tbody tr:first-child td:first-child a");
  await page.waitForFunction((u) => new URL(location.href).searchParams.get("filter") === `url_template:${u}` && !!document.querySelector("[data-testid=view][data-view=network][data-state=ready]"), firstU);
  assert.deepEqual((await cellsOf(page, "network-table")).map((r) => r[0]), [firstU]);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("resources view: domains, initiator types and failures as the API says", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/resources?project=${projectId}&range=7d`);
  await page.waitForSelector(ready("resources"));
  const { from, to } = await rangeOf(page);
  const doms = await cellsOf(page, "resources-domains");
  assert.ok(doms.length > 1);
  const size = byKey((await apiQuery({ metric: "resources.transfer_size", aggregations: ["count", "sum", "avg"], group_by: ["domain"], from, to, limit: 1000 })).rows);
  const dur = byKey((await apiQuery({ metric: "resources.duration", aggregations: ["p75"], group_by: ["domain"], from, to, limit: 1000 })).rows);
  assert.equal(doms.length, size.size);
  for (const [d, n, sum, avg, p75] of doms) {
    assert.deepEqual([n, sum, avg], size.get(d).slice(1), d);
    assert.equal(p75, dur.get(d)?.[1] ?? "–", d);
  }
  const inits = await cellsOf(page, "resources-initiators");
  const ai = byKey((await apiQuery({ metric: "resources.transfer_size", aggregations: ["count"], group_by: ["initiator"], from, to, limit: 1000 })).rows);
  assert.ok(inits.length > 0);
  for (const [i, n] of inits) assert.equal(n, ai.get(i)[1], i);
  const fails = await cellsOf(page, "resource-failures");
  const af = await apiQuery({ metric: "resource_errors", aggregations: ["count"], group_by: ["domain", "tag"], from, to, limit: 1000 });
  assert.equal(fails.length, af.rows.length);
  assert.equal(fails.reduce((a, r) => a + r[2], 0), af.rows.reduce((a, r) => a + r[2], 0));
  await page.screenshot({ path: join(ARTIFACTS, "resources.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

async function apiCall(method, path, body) {
  const r = await fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

test("business view: custom events and conversion by LCP rating as the API says", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/business?project=${projectId}&range=7d`);
  await page.waitForSelector(ready("business"));
  const { from, to } = await rangeOf(page);
  const evs = await cellsOf(page, "business-events");
  const counts = byKey((await apiQuery({ metric: "custom_events", aggregations: ["count"], group_by: ["name"], from, to, limit: 1000 })).rows);
  assert.ok(evs.length > 0);
  assert.equal(evs.length, counts.size);
  for (const [n, c] of evs) assert.equal(c, counts.get(n)[1], n);
  assert.ok(await page.locator("[data-testid=business-chart] canvas").count() > 0);
  assert.equal(await page.inputValue("[data-testid=event]"), "checkout");
  const conv = await apiCall("POST", `/api/v1/conversion?project=${projectId}`, { event: "checkout", from, to });
  const rows = await cellsOf(page, "conversion-table");
  assert.equal(rows.length, conv.rows.length);
  const ri = conv.columns.indexOf("rate");
  const rate = new Map(rows.map((r) => [r[0], r[ri]]));
  for (const r of conv.rows) assert.equal(rate.get(r[0]), r[ri], r[0]);
  assert.ok(rate.get("good") > rate.get("poor"), `good ${rate.get("good")} > poor ${rate.get("poor")}`);
  assert.equal(await page.locator("[data-testid=conversion-bars] .rate-row").count(), conv.rows.length);
  await page.screenshot({ path: join(ARTIFACTS, "business.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("settings view: key, snippet, origins and retention are saved; invalid origin shows the error", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const orig = await apiCall("GET", `/api/v1/projects/${projectId}`);
  await page.goto(`${base}/settings?project=${projectId}`);
  await page.waitForSelector(ready("settings"));
  assert.equal(await page.textContent("[data-testid=public-key]"), publicKey);
  assert.equal(await page.inputValue("[data-testid=snippet]"), orig.snippet);
  const origins = ["https://shop.example.com", "http://localhost:3000"];
  await page.fill("[data-testid=origins]", origins.join("\n") + "\n");
  await page.fill("[data-testid=retention]", "45");
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-testid=settings-message].ok");
  await page.reload();
  await page.waitForSelector(ready("settings"));
  const now = await apiCall("GET", `/api/v1/projects/${projectId}`);
  assert.deepEqual(now.allowed_origins, origins);
  assert.equal(now.retention_days, 45);
  assert.equal(await page.inputValue("[data-testid=origins]"), origins.join("\n"));
  assert.equal(await page.inputValue("[data-testid=retention]"), "45");
  await page.fill("[data-testid=origins]", "ftp://nope.example.com");
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-testid=settings-message].error");
  const bad = await fetch(`${base}/api/v1/projects/${projectId}`, { method: "PUT", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ allowed_origins: ["ftp://nope.example.com"], retention_days: 45 }) });
  assert.equal(bad.status, 400);
  const badMsg = (await bad.json()).message;
  assert.ok(badMsg);
  assert.equal(await page.textContent("[data-testid=settings-message]"), badMsg);
  await apiCall("PUT", `/api/v1/projects/${projectId}`, { allowed_origins: orig.allowed_origins, retention_days: orig.retention_days });
  // the 400 is logged by the browser as a failed resource; nothing else may be
  assert.deepEqual(problems.filter((p) => !/400/.test(p)), []);
  await ctx.close();
});
