// End-to-end tests: real `vigil serve` + headless Debian Chromium via playwright-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { asUser, createProject, startServe, stopServe, withToken } from './vigil-serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const ARTIFACTS = resolve(WEB, '../test-artifacts');
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), '.cache/vigil-target/debug/vigil');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const XSS_MSG = `<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2;alert(2)">`;
const FORMULA_MSG = '=HYPERLINK("http://evil.example","x")';
const XSS_URL = `https://shop.example.com/x"><img src=x onerror=alert(1)>`;

let dir,
  server,
  base,
  browser,
  token,
  publicKey,
  email,
  password,
  projectId = 1;
// a second project ("shop", a few events of its own), a user of both projects and a user of shop only
let shop;
const MULTI = { email: 'multi@example.com', password: 'multi-password-1' };
const SHOP_ONLY = { email: 'shop-only@example.com', password: 'shop-password-1' };
const SHOP_PAGE = '/only-in-shop';
// a project whose agent keeps a share of sessions (sample_rate), and its only user
let sampled;
const SAMPLED = { email: 'sampled@example.com', password: 'sampled-password-1' };
// a project whose sessions were kept at sample_rate 0.25 (and a few sent without a rate)
let quarter;
const QUARTER = { email: 'quarter@example.com', password: 'quarter-password-1' };
// a project with only the traces the tests send (browser requests, OTLP spans and logs), and its only user
let traced;
const TRACED = { email: 'traced@example.com', password: 'traced-password-1' };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-web-test-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const out = execFileSync(
    VIGIL,
    ['demo', '--data', join(dir, 'data'), '--page-views', '20000', '--mobile-sessions', '0'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  publicKey = /public key\s+(pk_\S+)/.exec(out)[1];
  token = /api token\s+(vt_\S+)/.exec(out)[1];
  [, email, password] = /login\s+(\S+) \/ (\S+)/.exec(out);
  const pm = /\(id (\d+)\)/.exec(out);
  if (pm) projectId = Number(pm[1]);
  const demoName = /project\s+(\S+) \(id/.exec(out)[1];
  const cli = (...args) =>
    execFileSync(VIGIL, [...args, '--data', join(dir, 'data')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  shop = createProject(VIGIL, join(dir, 'data'), 'shop');
  cli(
    'user',
    'add',
    MULTI.email,
    '--project',
    demoName,
    '--project',
    'shop',
    '--password',
    MULTI.password,
  );
  cli('user', 'add', SHOP_ONLY.email, '--project', 'shop', '--password', SHOP_ONLY.password);
  sampled = createProject(VIGIL, join(dir, 'data'), 'sampled');
  cli('user', 'add', SAMPLED.email, '--project', 'sampled', '--password', SAMPLED.password);
  quarter = createProject(VIGIL, join(dir, 'data'), 'quarter');
  cli('user', 'add', QUARTER.email, '--project', 'quarter', '--password', QUARTER.password);
  traced = createProject(VIGIL, join(dir, 'data'), 'traced');
  cli('user', 'add', TRACED.email, '--project', 'traced', '--password', TRACED.password);
  ({ server, base } = await startServe(VIGIL, join(dir, 'data'), join(WEB, 'dist')));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  // shop's data: 3 page views of one page, with an LCP each
  const now = Date.now();
  const batch = {
    v: 1,
    context: {
      session_id: 'shop-session-0001',
      view_id: 'shop-view-0001',
      agent: { name: 'vigil-browser', version: '0.1.0' },
      page_url: `https://shop.example.org${SHOP_PAGE}`,
    },
    events: [0, 1, 2].flatMap((i) => [
      { ts: now - 60000 + i, type: 'view', view_id: `shop-view-${i}` },
      {
        ts: now - 59000 + i,
        type: 'vital',
        name: 'LCP',
        value: 1000 + i,
        view_id: `shop-view-${i}`,
      },
    ]),
  };
  const r = await fetch(`${base}/api/v1/ingest?key=${shop.public_key}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(batch),
  });
  assert.equal(r.status, 202, await r.text());
  for (let i = 0; ; i++) {
    const a = await apiQuery(
      { metric: 'views', aggregations: ['count'], from: now - 3600000, to: now + 3600000 },
      shop,
    );
    if (a.rows[0]?.[0] === 3) break;
    assert.ok(i < 100, "shop's events never became visible");
    await new Promise((res) => setTimeout(res, 100));
  }
});

after(async () => {
  await browser?.close();
  await stopServe(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** POST /api/v1/query with a project's token (the demo project's by default). */
async function apiQuery(q, project = { id: projectId, api_token: token }) {
  const r = await fetch(`${base}/api/v1/query?project=${project.id}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${project.api_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(q),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

async function newPage() {
  const ctx = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  const page = await ctx.newPage();
  const dialogs = [],
    problems = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  // 401s of the unauthenticated check are expected, as is the 404 by which the API says a
  // session has no replay (the session view asks, docs/replay.md); anything else (CSP
  // violations included) is not
  const noReplay = (m) =>
    /404/.test(m.text()) && /\/api\/v1\/sessions\/[^/?]+\/replay\?/.test(m.location().url);
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401/.test(m.text()) && !noReplay(m))
      problems.push(m.text() + ' ' + m.location().url);
  });
  return { ctx, page, dialogs, problems };
}

async function login(
  page,
  user = { email, password },
  landed = '[data-testid=view][data-state=ready]',
) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', user.email);
  await page.fill('input[name=password]', user.password);
  await page.click('button[type=submit]');
  await page.waitForSelector(landed);
}

const ready = (view) => `[data-testid=view][data-view=${view}][data-state=ready]`;
/** Waits until `view` is rendered for a URL whose `f` params are exactly `filters` (field:op:value). */
async function viewWith(page, view, filters) {
  await page.waitForFunction(
    ([v, f]) =>
      JSON.stringify(new URL(location.href).searchParams.getAll('f')) === JSON.stringify(f) &&
      !!document.querySelector(`[data-testid=view][data-view=${v}][data-state=ready]`),
    [view, filters],
  );
}
/** Adds `field op value` with the filter bar and waits for the filtered view. */
async function addFilter(page, view, field, op, value) {
  const before = new URL(page.url()).searchParams.getAll('f');
  await page.selectOption('[data-testid=filter-field]', field);
  await page.selectOption('[data-testid=filter-op]', op);
  await page.fill('[data-testid=filter-value]', value);
  await page.click('[data-testid=filter-form] button[type=submit]');
  await viewWith(page, view, [...before, `${field}:${op}:${value}`]);
}

test('without a session: login page, no data, API answers 401', async () => {
  const { ctx, page } = await newPage();
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector('[data-testid=login-form]');
  assert.match(new URL(page.url()).pathname, /^\/login$/);
  assert.equal(await page.locator('[data-testid=view]').count(), 0);
  const status = await page.evaluate(
    async (pid) =>
      (
        await fetch(`/api/v1/query?project=${pid}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ metric: 'lcp', aggregations: ['p75'], from: 0, to: Date.now() }),
        })
      ).status,
    projectId,
  );
  assert.equal(status, 401);
  // wrong password shows an error
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', 'wrong-password');
  await page.click('button[type=submit]');
  await page.waitForSelector('form.login .error:not(:empty)');
  assert.match(await page.textContent('form.login .error'), /Wrong email or password/);
  await page.screenshot({ path: join(ARTIFACTS, 'login.png') });
  await ctx.close();
});

test("overview shows the API's p75 LCP and non-empty data", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const t0 = Date.now();
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('overview'));
  const ms = Date.now() - t0;
  console.log(
    `# overview render time (navigation → fully rendered, 7d, 20000 page views): ${ms} ms`,
  );
  const box = page.locator('[data-testid=view]');
  const from = Number(await box.getAttribute('data-from'));
  const to = Number(await box.getAttribute('data-to'));
  const shown = Number(
    await page.getAttribute('[data-testid=vital-lcp] .metric-value', 'data-raw'),
  );
  const api = await apiQuery({ metric: 'lcp', aggregations: ['p75'], from, to });
  assert.ok(api.rows.length === 1 && typeof api.rows[0][0] === 'number');
  assert.equal(shown, api.rows[0][0]);
  const txt = await page.textContent('[data-testid=vital-lcp] .metric-value');
  assert.equal(txt, `${(api.rows[0][0] / 1000).toFixed(2)} s`);
  const pv = await apiQuery({ metric: 'page_views', aggregations: ['count'], from, to });
  assert.equal(
    await page.textContent('[data-testid=page-views] .metric-value'),
    pv.rows[0][0].toLocaleString('en-US'),
  );
  // slowest pages: by p75 LCP among the 500 most viewed pages with ≥ 20 LCP samples
  const pages = await apiQuery({
    metric: 'lcp',
    aggregations: ['p75', 'count'],
    group_by: ['page_path'],
    from,
    to,
    order_by: 'count',
    ascending: false,
    limit: 500,
  });
  const slowest = pages.rows
    .filter((r) => r[2] >= 20)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 10);
  assert.ok(slowest.length > 0 && slowest.length < pages.rows.length);
  assert.deepEqual(await cellsOf(page, 'slowest-pages'), slowest);
  await page.waitForSelector('[data-testid=overview-chart] canvas');
  // a trend is shown only when the previous period has at least 30 page views
  const pvPrev = await apiQuery({
    metric: 'page_views',
    aggregations: ['count'],
    from: from - (to - from),
    to: from,
  });
  const prevCount = Number(pvPrev.rows[0]?.[0] ?? 0);
  const pvTrend = await page.textContent('[data-testid=page-views] .trend');
  if (prevCount < 30) assert.equal(pvTrend, 'not enough earlier data');
  else assert.match(pvTrend, /vs previous period|no previous data/);
  assert.deepEqual(problems, []);
  await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
  if (process.env.VIGIL_SCREENSHOT === '1') {
    // the documentation screenshot: 1280×800 viewport, after the view is fully rendered
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.evaluate(
      () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))),
    );
    await page.screenshot({ path: resolve(WEB, '../docs/overview.png'), fullPage: false });
  }
  await ctx.close();
});

test('sampled data: overview, errors and page views show the estimate and a note with both figures as the API says; unsampled data shows no note', async () => {
  // three sessions: two kept at sample_rate 0.5 (3 and 2 page views, one error), one sent
  // without a rate (1 page view): 6 page views kept, 3×2 + 2×2 + 1 = 11 estimated; 1 error, 2
  // estimated, in 1 session of 1 user (each its own user), 2 of each estimated
  const now = Date.now();
  const PAGE = '/sampled-page';
  const sessions = [
    { id: 's-half-1', rate: 0.5, views: 3, errors: 0 },
    { id: 's-half-2', rate: 0.5, views: 2, errors: 1 },
    { id: 's-whole-3', rate: undefined, views: 1, errors: 0 },
  ];
  for (const [k, s] of sessions.entries()) {
    const batch = {
      v: 1,
      context: {
        session_id: s.id,
        agent: { name: 'vigil-browser', version: '0.1.0' },
        page_url: `https://sampled.example.org${PAGE}`,
        user_id: `u-${s.id}`,
        ...(s.rate === undefined ? {} : { sample_rate: s.rate }),
      },
      events: [
        ...Array.from({ length: s.views }, (_, i) => ({
          ts: now - 60000 + 100 * k + i,
          type: 'view',
          view_id: `${s.id}-view-${i}`,
        })),
        ...Array.from({ length: s.errors }, (_, i) => ({
          ts: now - 50000 + i,
          type: 'error',
          error_type: 'TypeError',
          message: 'sampled failure',
          view_id: `${s.id}-view-0`,
        })),
      ],
    };
    const r = await fetch(`${base}/api/v1/ingest?key=${sampled.public_key}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(batch),
    });
    assert.equal(r.status, 202, await r.text());
  }
  const range = { from: now - 7 * 86400000, to: now + 3600000 };
  for (let i = 0; ; i++) {
    const a = await apiQuery({ metric: 'views', aggregations: ['count'], ...range }, sampled);
    if (a.rows[0]?.[0] === 6) break;
    assert.ok(i < 100, 'sampled events never became visible');
    await new Promise((res) => setTimeout(res, 100));
  }
  const { ctx, page, problems } = await newPage();
  await login(page, SAMPLED);
  await page.goto(`${base}/overview?project=${sampled.id}&range=7d`);
  await page.waitForSelector(ready('overview'));
  const box = page.locator('[data-testid=view]');
  const r = {
    from: Number(await box.getAttribute('data-from')),
    to: Number(await box.getAttribute('data-to')),
  };
  const one = async (metric, aggregations, filters = []) => {
    const a = await apiQuery({ metric, aggregations, filters, ...r }, sampled);
    return Object.fromEntries(a.columns.map((c, i) => [c, a.rows[0][i]]));
  };
  const pv = await one('page_views', ['count', 'estimated_count', 'sessions']);
  assert.deepEqual(pv, { count: 6, estimated_count: 11, sessions: 3 });
  const er = await one('errors', ['count', 'estimated_count']);
  assert.deepEqual(er, { count: 1, estimated_count: 2 });
  const note = (count, est) => `sampled: ${count} kept, ≈ ${est} estimated`;
  assert.equal(
    await textOf(page, '[data-testid=page-views] .metric-value'),
    `≈ ${pv.estimated_count}`,
  );
  assert.equal(
    await textOf(page, '[data-testid=page-views] [data-testid=sampled]'),
    note(pv.count, pv.estimated_count),
  );
  assert.match(
    await page.getAttribute('[data-testid=page-views] [data-testid=sampled]', 'title'),
    /1 \/ sample_rate/,
  );
  // sessions: 2 × 2 + 1 estimated, from the API's estimated_sessions
  const ses = await one('page_views', ['sessions', 'estimated_sessions']);
  assert.deepEqual(ses, { sessions: 3, estimated_sessions: 5 });
  assert.equal(await textOf(page, '[data-testid=sessions] .metric-value'), '≈ 5');
  assert.equal(await textOf(page, '[data-testid=sessions] [data-testid=sampled]'), note(3, 5));
  assert.equal(
    await textOf(page, '[data-testid=error-rate] .metric-value'),
    `${((100 * er.estimated_count) / pv.estimated_count).toFixed(1)}%`,
  );
  await page.screenshot({ path: join(ARTIFACTS, 'overview-sampled.png'), fullPage: true });

  await page.goto(`${base}/errors?project=${sampled.id}&range=7d`);
  await page.waitForSelector(ready('errors'));
  // The one error falls in one time bucket; the chart still spans the selected 7 days (uPlot
  // alone ranged a single bucket over a thousand days, axis labels in later years).
  const [xMin, xMax] = await page.$eval('[data-testid=errors-chart]', (e) => [
    Number(e.dataset.xMin),
    Number(e.dataset.xMax),
  ]);
  const nowSec = Date.now() / 1000;
  assert.ok(Math.abs(xMax - xMin - 7 * 86400) < 3600, `x range ${xMin}..${xMax}`);
  assert.ok(xMax <= nowSec + 3600 && xMax >= nowSec - 3600, `x max ${xMax}, now ${nowSec}`);
  assert.equal(
    await textOf(page, '[data-testid=errors-count] .metric-value'),
    `≈ ${er.estimated_count}`,
  );
  assert.equal(
    await textOf(page, '[data-testid=errors-count] [data-testid=sampled]'),
    note(er.count, er.estimated_count),
  );
  assert.equal(
    await textOf(page, '[data-testid=errors-rate] .metric-value'),
    ((100 * er.estimated_count) / pv.estimated_count).toFixed(2),
  );
  // sessions and users hit: the API's estimates, asked beside the raw counts; the share of
  // sessions is of the estimated sessions (2 of 5)
  const hit = await one('errors', ['sessions', 'estimated_sessions', 'users', 'estimated_users']);
  assert.deepEqual(hit, { sessions: 1, estimated_sessions: 2, users: 1, estimated_users: 2 });
  assert.equal(await textOf(page, '[data-testid=errors-sessions] .metric-value'), '≈ 2 (40.0%)');
  assert.equal(await numOf(page, '[data-testid=errors-sessions] .metric-value'), 2);
  assert.equal(
    await textOf(page, '[data-testid=errors-sessions] [data-testid=sampled]'),
    note(1, 2),
  );
  assert.equal(await textOf(page, '[data-testid=errors-users] .metric-value'), '≈ 2');
  assert.equal(await textOf(page, '[data-testid=errors-users] [data-testid=sampled]'), note(1, 2));
  await page.screenshot({ path: join(ARTIFACTS, 'errors-sampled.png'), fullPage: true });

  await page.goto(`${base}/page?project=${sampled.id}&range=7d&page=${encodeURIComponent(PAGE)}`);
  await page.waitForSelector(ready('page'));
  const views = await one(
    'views',
    ['count', 'estimated_count'],
    [{ field: 'page_path', op: 'eq', value: PAGE }],
  );
  assert.deepEqual(views, { count: 6, estimated_count: 11 });
  assert.equal(await textOf(page, '[data-testid=page-views] .metric-value'), '≈ 11');
  assert.equal(await textOf(page, '[data-testid=page-views] [data-testid=sampled]'), note(6, 11));
  assert.deepEqual(problems, []);
  await ctx.close();

  // the demo project sent no sample rate: its estimate is its count, and no view has a note
  const demo = await newPage();
  await login(demo.page);
  for (const view of ['overview', 'errors']) {
    await demo.page.goto(`${base}/${view}?project=${projectId}&range=7d`);
    await demo.page.waitForSelector(ready(view));
    assert.equal(await demo.page.locator('[data-testid=sampled]').count(), 0, view);
    assert.ok(!(await textOf(demo.page, '[data-testid=view]')).includes('≈'), view);
  }
  const box2 = demo.page.locator('[data-testid=view]');
  const dpv = await apiQuery({
    metric: 'page_views',
    aggregations: ['count', 'estimated_count'],
    from: Number(await box2.getAttribute('data-from')),
    to: Number(await box2.getAttribute('data-to')),
  });
  assert.equal(dpv.rows[0][0], dpv.rows[0][1]);
  assert.deepEqual(demo.problems, []);
  await demo.ctx.close();
});

test('explorer: chart and table; changing group-by changes the table as the API says', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(
    `${base}/explorer?project=${projectId}&range=7d&metric=lcp&percentile=p75&group=page_path`,
  );
  await page.waitForSelector(ready('explorer'));
  await page.waitForSelector('[data-testid=chart] canvas');
  assert.ok((await page.locator('[data-testid=explorer-table] tbody tr').count()) > 0);
  assert.equal(await page.textContent('[data-testid=explorer-table] th >> nth=0'), 'page_path');
  await page.screenshot({ path: join(ARTIFACTS, 'explorer.png'), fullPage: true });

  await page.selectOption('select[data-testid=group]', 'browser');
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=view][data-view=explorer][data-state=ready]');
    const th = v?.querySelector('[data-testid=explorer-table] th');
    return th?.textContent === 'browser';
  });
  assert.equal(new URL(page.url()).searchParams.get('group'), 'browser');
  const box = page.locator('[data-testid=view]');
  const from = Number(await box.getAttribute('data-from')),
    to = Number(await box.getAttribute('data-to'));
  const api = await apiQuery({
    metric: 'lcp',
    aggregations: ['p75', 'count'],
    group_by: ['browser'],
    from,
    to,
    order_by: 'count',
    ascending: false,
    limit: 100,
  });
  const rows = await page.$$eval('[data-testid=explorer-table] tbody tr', (trs) =>
    trs.map((tr) => {
      const td = tr.querySelectorAll('td');
      return [
        td[0].textContent,
        Number(td[1].getAttribute('data-raw')),
        Number(td[2].getAttribute('data-raw')),
      ];
    }),
  );
  const expected = api.rows.map((r) => [r[0] === null ? '(none)' : String(r[0]), r[1], r[2]]);
  const key = (a) =>
    JSON.stringify([...a].sort((x, y) => String(x[0]).localeCompare(String(y[0]))));
  assert.equal(key(rows), key(expected));

  // filter bar: browser is <value> (state kept in the URL)
  const firstBrowser = expected[0][0];
  await addFilter(page, 'explorer', 'browser', 'eq', firstBrowser);
  const frows = await page.$$eval('[data-testid=explorer-table] tbody tr td:first-child', (tds) =>
    tds.map((t) => t.textContent),
  );
  assert.deepEqual(frows, [firstBrowser]);
  await page.screenshot({ path: join(ARTIFACTS, 'explorer-filtered.png'), fullPage: true });

  // a custom attribute (the demo's `plan`) as the group-by, and as a filter
  await page.selectOption('select[data-testid=group]', 'attributes.plan');
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid=view][data-state=ready] [data-testid=explorer-table] th')
        ?.textContent === 'attributes.plan',
  );
  // each render takes "7d" up to its own whole minute: compare with the range it used
  const byPlan = await apiQuery({
    metric: 'lcp',
    aggregations: ['p75', 'count'],
    group_by: ['attributes.plan'],
    filters: [{ field: 'browser', op: 'eq', value: firstBrowser }],
    ...(await rangeOf(page)),
    order_by: 'count',
    ascending: false,
    limit: 100,
  });
  assert.deepEqual(byPlan.rows.map((r) => r[0]).sort(), ['guest', 'member']);
  assert.deepEqual(await cellsOf(page, 'explorer-table'), byPlan.rows);
  await addFilter(page, 'explorer', 'attributes.plan', 'eq', 'member');
  const member = await apiQuery({
    metric: 'lcp',
    aggregations: ['p75', 'count'],
    group_by: ['attributes.plan'],
    filters: [
      { field: 'browser', op: 'eq', value: firstBrowser },
      { field: 'attributes.plan', op: 'eq', value: 'member' },
    ],
    ...(await rangeOf(page)),
    order_by: 'count',
    ascending: false,
    limit: 100,
  });
  assert.deepEqual(await cellsOf(page, 'explorer-table'), member.rows);
  assert.equal(member.rows.length, 1);

  // a shared URL restores the whole view state
  await page.goto(
    `${base}/explorer?project=${projectId}&range=24h&metric=inp&percentile=p90&group=os`,
  );
  await page.waitForSelector(ready('explorer'));
  assert.equal(await page.inputValue('select[data-testid=metric]'), 'inp');
  assert.equal(await page.inputValue('select[data-testid=percentile]'), 'p90');
  assert.equal(await page.inputValue('select[data-testid=range]'), '24h');
  assert.equal(await page.textContent('[data-testid=explorer-table] th >> nth=0'), 'os');
  assert.ok(
    (await page.locator('[data-testid=chart] .u-legend .u-series').count()) > 2,
    'per-group series drawn',
  );
  // attribution: INP's sub-parts and its longest scripts, at the chosen percentile, as the API says
  const r24 = await rangeOf(page);
  const INP = [{ field: 'name', op: 'eq', value: 'INP' }];
  const parts = await page.$$eval('[data-testid=attribution-parts] [data-part]', (rows) =>
    rows.map((r) => [
      r.getAttribute('data-part'),
      Number(r.querySelector('.rate-value').getAttribute('data-raw')),
    ]),
  );
  const want = [];
  for (const c of ['input_delay', 'processing', 'presentation_delay'])
    want.push([
      c,
      (await apiQuery({ metric: `vitals.${c}`, aggregations: ['p90'], filters: INP, ...r24 }))
        .rows[0][0],
    ]);
  assert.deepEqual(parts, want);
  assert.ok(want.every(([, v]) => v > 0));
  const scripts = await apiQuery({
    metric: 'inp',
    aggregations: ['p90', 'count'],
    group_by: ['script_url'],
    ...r24,
    order_by: 'count',
    ascending: false,
    limit: 10,
  });
  assert.ok(scripts.rows.some((r) => typeof r[0] === 'string' && r[0].endsWith('.js')));
  assert.deepEqual(
    await cellsOf(page, 'attribution-script_url'),
    scripts.rows.map((r) => [r[0] ?? '(none)', r[1], r[2]]),
  );
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('geography and errors views show data', async () => {
  const { ctx, page } = await newPage();
  await login(page);
  // geography map: one coloured country shape per country with data (that the map has a shape for)
  await page.goto(`${base}/geography?project=${projectId}&range=7d&metric=lcp`);
  await page.waitForSelector(ready('geography'));
  const gbox = page.locator('[data-testid=view]');
  const gfrom = Number(await gbox.getAttribute('data-from')),
    gto = Number(await gbox.getAttribute('data-to'));
  const byCountry = await apiQuery({
    metric: 'lcp',
    aggregations: ['p75'],
    group_by: ['country'],
    from: gfrom,
    to: gto,
    limit: 300,
  });
  const world = await (await fetch(`${base}/world.json`)).json();
  const shapes = new Set(world.countries.map((c) => c.code));
  const ci = byCountry.columns.indexOf('country'),
    pi = byCountry.columns.indexOf('p75');
  const expected = byCountry.rows.filter(
    (r) => typeof r[ci] === 'string' && typeof r[pi] === 'number' && shapes.has(r[ci]),
  );
  assert.ok(expected.length > 0);
  assert.equal(
    await page.locator('[data-testid=geo-map] [data-testid=geo-country]').count(),
    expected.length,
  );
  for (const r of expected.slice(0, 5)) {
    assert.equal(
      Number(
        await page.getAttribute(`[data-testid=geo-country][data-country=${r[ci]}]`, 'data-value'),
      ),
      r[pi],
    );
  }
  assert.equal(await page.inputValue('[data-testid=geo-metric]'), 'lcp');
  assert.equal(await page.getAttribute('[data-testid=geo-credit] a', 'href'), 'https://db-ip.com/');
  assert.equal(await page.textContent('[data-testid=geo-credit]'), 'IP geolocation by DB-IP');
  await page.selectOption('[data-testid=geo-metric]', 'ttfb');
  await page.waitForURL(/metric=ttfb/);
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid=view][data-state=ready] [data-testid=geo-metric]')
        ?.value === 'ttfb',
  );
  assert.ok((await page.locator('[data-testid=geo-country]').count()) > 0);
  await page.screenshot({ path: join(ARTIFACTS, 'geography-map.png'), fullPage: true });
  for (const [view, testid] of [
    ['geography', 'geo-table'],
    ['errors', 'error-groups'],
  ]) {
    await page.goto(`${base}/${view}?project=${projectId}&range=7d`);
    await page.waitForSelector(ready(view));
    assert.ok((await page.locator(`[data-testid=${testid}] tbody tr`).count()) > 0, view);
    await page.screenshot({ path: join(ARTIFACTS, `${view}.png`), fullPage: true });
  }
  // errors: totals, sessions and users hit, and the groups, as the API says
  const { from, to } = await rangeOf(page);
  const total = (
    await apiQuery({ metric: 'errors', aggregations: ['count', 'sessions', 'users'], from, to })
  ).rows[0];
  const pv = (
    await apiQuery({ metric: 'page_views', aggregations: ['count', 'sessions'], from, to })
  ).rows[0];
  assert.ok(total[0] > 0);
  assert.equal(
    await textOf(page, '[data-testid=errors-count] .metric-value'),
    total[0].toLocaleString('en-US'),
  );
  assert.equal(
    await textOf(page, '[data-testid=errors-rate] .metric-value'),
    ((100 * total[0]) / pv[0]).toFixed(2),
  );
  assert.equal(
    await textOf(page, '[data-testid=errors-sessions] .metric-value'),
    `${total[1].toLocaleString('en-US')} (${((100 * total[1]) / pv[1]).toFixed(1)}%)`,
  );
  assert.equal(
    await textOf(page, '[data-testid=errors-users] .metric-value'),
    total[2].toLocaleString('en-US'),
  );
  const { groups } = await groupsApi({ from, to, limit: 100 });
  assert.deepEqual(await listedGroups(page), groups.map(asListed));
  await page.waitForSelector('[data-testid=errors-chart] canvas');
  assert.ok(
    (await page.locator('[data-testid=errors-chart] .u-legend .u-series').count()) >= 2,
    'a line per top error type',
  );
  // from a group to every session it hit (the sessions search by fingerprint), and into one
  const g = groups[0];
  await page.click('[data-testid=error-groups] tbody tr >> nth=0 >> a.group-link');
  await page.waitForSelector(ready('errors') + ' [data-testid=why-grouped]');
  assert.equal(new URL(page.url()).searchParams.get('fp'), g.fingerprint);
  await page.click('a.all-sessions');
  await page.waitForSelector(ready('sessions'));
  assert.equal(new URL(page.url()).searchParams.get('error_fp'), g.fingerprint);
  const hit = await apiCall('POST', `/api/v1/sessions?project=${projectId}`, {
    from,
    to,
    error_filters: [{ field: 'fingerprint', op: 'eq', value: g.fingerprint }],
    limit: 100,
  });
  assert.ok(hit.rows.length > 0);
  const shown = await page.$$eval('[data-testid=sessions-table] tbody tr td:first-child a', (as) =>
    as.map((a) => [new URL(a.href).searchParams.get('session'), a.textContent]),
  );
  assert.deepEqual(
    shown.map(([id]) => id),
    hit.rows.map((r) => r[0]),
  );
  // A link reads its id's last 12 characters: the agent's ids begin with their start time, which
  // sessions of the same minute share.
  for (const [id, label] of shown) assert.equal(label, id.length > 12 ? id.slice(-12) : id);
  await page.click('[data-testid=sessions-table] tbody tr >> nth=0 >> td >> nth=0 >> a');
  await page.waitForSelector('[data-testid=session-events]');
  const timeline = await page.textContent('[data-testid=session-events]');
  assert.ok(timeline.includes(g.error_type), "the session's timeline shows the error");
  // …and its error opens the group it belongs to
  const groupLinks = await page.$$eval('[data-testid=session-events] a.session-error-group', (as) =>
    as.map((a) => new URL(a.href).searchParams.get('fp')),
  );
  assert.ok(groupLinks.includes(g.fingerprint), JSON.stringify(groupLinks));
  await page.click(
    `[data-testid=session-events] a.session-error-group >> nth=${groupLinks.indexOf(g.fingerprint)}`,
  );
  await page.waitForSelector('[data-testid=group-type]');
  assert.equal(new URL(page.url()).searchParams.get('fp'), g.fingerprint);
  // the sessions search's own state stays behind: with `error_fp` kept, every group link
  // of the session would have named this group and a click could open another one
  assert.equal(new URL(page.url()).searchParams.get('error_fp'), null);
  await ctx.close();
});

test('event data with markup is shown as text, never executed', async () => {
  const now = Date.now();
  const batch = {
    v: 1,
    context: {
      session_id: 'xss-session-0001',
      view_id: 'xss-view-0001',
      agent: { name: 'vigil-browser', version: '0.1.0' },
      page_url: XSS_URL,
    },
    events: [
      { ts: now, type: 'view' },
      { ts: now, type: 'error', error_type: 'XSSProbe', message: XSS_MSG },
      { ts: now, type: 'error', error_type: 'FormulaProbe', message: FORMULA_MSG },
    ],
  };
  const r = await fetch(`${base}/api/v1/ingest?key=${publicKey}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(batch),
  });
  assert.equal(r.status, 202, await r.text());
  // wait until the store answers with it (bounded)
  for (let i = 0; ; i++) {
    const a = await apiQuery({
      metric: 'errors',
      aggregations: ['count'],
      filters: [{ field: 'error_type', op: 'eq', value: 'XSSProbe' }],
      from: now - 60000,
      to: now + 3600000,
    });
    if (a.rows.length && a.rows[0][0] > 0) break;
    assert.ok(i < 100, 'ingested error never became visible');
    await new Promise((res) => setTimeout(res, 100));
  }
  const { ctx, page, dialogs, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/errors?project=${projectId}&range=24h`);
  await page.waitForSelector(ready('errors'));
  const titles = await page.$$eval('[data-testid=error-groups] a.group-link', (as) =>
    as.map((a) => a.textContent),
  );
  assert.ok(titles.includes(`XSSProbe: ${XSS_MSG}`), 'payload shown verbatim as text');
  await page.screenshot({ path: join(ARTIFACTS, 'errors-xss.png'), fullPage: true });
  // the CSV download has the raw values, quoted, with spreadsheet formulas defused
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('[data-testid=error-groups-csv]'),
  ]);
  assert.equal(download.suggestedFilename(), 'vigil-error-groups.csv');
  const csv = readFileSync(await download.path(), 'utf8');
  const lines = csv.split('\r\n');
  assert.equal(
    lines[0],
    'fingerprint,error_type,message,culprit,impact,events,users,sessions,critical_users,first_seen,last_seen,state,regressed',
  );
  const { groups } = await groupsApi({ ...(await rangeOf(page)), limit: 100 });
  const line = (type, message) => {
    const g = groups.find((x) => x.error_type === type);
    return [
      g.fingerprint,
      type,
      `"${message.replace(/"/g, '""')}"`,
      g.culprit ?? '',
      g.impact,
      g.events,
      g.users,
      g.sessions,
      g.critical_users,
      g.first_seen,
      g.last_seen,
      g.state,
      g.regressed,
    ].join(',');
  };
  assert.ok(lines.includes(line('XSSProbe', XSS_MSG)), csv);
  assert.ok(lines.includes(line('FormulaProbe', `'${FORMULA_MSG}`)), csv);
  assert.equal(
    lines.length,
    (await listedGroups(page)).length + 2,
    'header, one line per row, final CRLF',
  );
  // the group's own page shows it as text too
  const xss = groups.find((x) => x.error_type === 'XSSProbe');
  await page.click(
    `[data-testid=error-groups] tr[data-fingerprint="${xss.fingerprint}"] a.group-link`,
  );
  await page.waitForSelector(ready('errors') + ' [data-testid=why-grouped]');
  assert.equal(await textOf(page, '[data-testid=group-message]'), XSS_MSG);
  assert.equal(await page.getAttribute('[data-testid=why-grouped]', 'data-method'), 'message');

  await page.goto(`${base}/sessions?project=${projectId}&range=24h&session=xss-session-0001`);
  await page.waitForSelector('[data-testid=session-events] tbody tr');
  const text = await page.textContent('[data-testid=session-events]');
  assert.ok(text.includes(XSS_MSG));

  // a link from before the filter bar (filter=field:value) becomes the chip `page_path is …`, shown as text
  await page.goto(
    `${base}/explorer?project=${projectId}&range=24h&group=page_path&filter=${encodeURIComponent('page_path:/x"><img src=x onerror=alert(1)>')}`,
  );
  await page.waitForSelector(ready('explorer'));
  assert.deepEqual(new URL(page.url()).searchParams.getAll('f'), [
    'page_path:eq:/x"><img src=x onerror=alert(1)>',
  ]);
  assert.equal(
    await page.textContent('[data-testid=filter-chip] strong'),
    '/x"><img src=x onerror=alert(1)>',
  );

  for (const p of [page]) {
    assert.equal(await p.locator('img[src=x], #app script').count(), 0, 'no injected element');
    assert.equal(await p.evaluate(() => window.__xss), undefined, 'no injected script ran');
  }
  assert.deepEqual(dialogs, []);
  assert.deepEqual(problems, []);
  await ctx.close();
});

const cellsOf = (page, testid) =>
  page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) =>
    trs.map((tr) =>
      [...tr.querySelectorAll('td')].map((td) =>
        td.hasAttribute('data-raw') ? Number(td.getAttribute('data-raw')) : td.textContent,
      ),
    ),
  );
async function rangeOf(page) {
  const box = page.locator('[data-testid=view]');
  return {
    from: Number(await box.getAttribute('data-from')),
    to: Number(await box.getAttribute('data-to')),
  };
}
const byKey = (rows) => new Map(rows.map((r) => [r[0] === null ? '(none)' : String(r[0]), r]));

test('pages view: views, sessions, p75 vitals and errors per page as the API says; rows link to the page', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/pages?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('pages'));
  const { from, to } = await rangeOf(page);
  const rows = await cellsOf(page, 'pages-table');
  assert.ok(rows.length > 0);
  const g = { group_by: ['page_path'], from, to, limit: 1000 };
  const views = byKey(
    (await apiQuery({ metric: 'views', aggregations: ['count', 'sessions'], ...g })).rows,
  );
  const lcp = byKey((await apiQuery({ metric: 'lcp', aggregations: ['p75'], ...g })).rows);
  const cls = byKey((await apiQuery({ metric: 'cls', aggregations: ['p75'], ...g })).rows);
  const errs = byKey((await apiQuery({ metric: 'errors', aggregations: ['count'], ...g })).rows);
  assert.equal(rows.length, views.size);
  for (const [path, v, s, l, , c, e] of rows) {
    assert.deepEqual([v, s], views.get(path).slice(1), path);
    if (lcp.has(path)) assert.equal(l, lcp.get(path)[1], path);
    if (cls.has(path)) assert.equal(c, cls.get(path)[1], path);
    assert.equal(e, errs.get(path)?.[1] ?? 0, path);
  }
  await page.screenshot({ path: join(ARTIFACTS, 'pages.png'), fullPage: true });
  // sorting by a header keeps the state in the URL
  await page.click("[data-testid=pages-table] th a:text-is('views')");
  await page.waitForFunction(
    () =>
      new URL(location.href).searchParams.get('sort') === 'views' &&
      !!document.querySelector('[data-testid=view][data-view=pages][data-state=ready]'),
  );
  const sorted = (await cellsOf(page, 'pages-table')).map((r) => r[1]);
  assert.deepEqual(
    sorted,
    [...sorted].sort((a, b) => b - a),
  );
  // a row opens that page's drill-down
  const first = await page.textContent(
    '[data-testid=pages-table] tbody tr:first-child td:first-child a',
  );
  await page.click('[data-testid=pages-table] tbody tr:first-child td:first-child a');
  await page.waitForSelector(ready('page'));
  assert.equal(new URL(page.url()).searchParams.get('page'), first);
  assert.equal(await page.textContent('[data-testid=page-path]'), first);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('network view: endpoints, error rate and slowest calls as the API says', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/network?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('network'));
  const { from, to } = await rangeOf(page);
  const rows = await cellsOf(page, 'network-table');
  assert.ok(rows.length > 0);
  const g = { group_by: ['url_template'], from, to, limit: 1000 };
  const dur = byKey(
    (await apiQuery({ metric: 'requests.duration', aggregations: ['count', 'p75', 'p99'], ...g }))
      .rows,
  );
  const total = byKey((await apiQuery({ metric: 'requests', aggregations: ['count'], ...g })).rows);
  const s5 = byKey(
    (
      await apiQuery({
        metric: 'requests',
        aggregations: ['count'],
        filters: [{ field: 'status', op: 'gte', value: 500 }],
        ...g,
      })
    ).rows,
  );
  const fl = byKey(
    (
      await apiQuery({
        metric: 'requests',
        aggregations: ['count'],
        filters: [{ field: 'failure', op: 'exists', value: null }],
        ...g,
      })
    ).rows,
  );
  const both = byKey(
    (
      await apiQuery({
        metric: 'requests',
        aggregations: ['count'],
        filters: [
          { field: 'failure', op: 'exists', value: null },
          { field: 'status', op: 'gte', value: 500 },
        ],
        ...g,
      })
    ).rows,
  );
  assert.equal(rows.length, total.size);
  let someErrors = false;
  for (const [u, n, p75, p99, , , rate] of rows) {
    assert.equal(n, total.get(u)[1], u);
    assert.equal(p75, dur.get(u)?.[2] ?? '–', u);
    assert.equal(p99, dur.get(u)?.[3] ?? '–', u);
    const bad = (s5.get(u)?.[1] ?? 0) + (fl.get(u)?.[1] ?? 0) - (both.get(u)?.[1] ?? 0);
    assert.ok(Math.abs(rate - bad / n) < 1e-12, u);
    if (bad > 0) someErrors = true;
  }
  assert.ok(someErrors, 'demo data has failing requests');
  const slow = await cellsOf(page, 'slowest-calls');
  const api = await apiQuery({
    metric: 'requests.duration',
    aggregations: ['max', 'count'],
    group_by: ['url_template', 'status'],
    from,
    to,
    order_by: 'max',
    ascending: false,
    limit: 20,
  });
  assert.ok(slow.length > 0);
  assert.deepEqual(
    slow.map((r) => r[2]),
    api.rows.map((r) => r[2]),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'network.png'), fullPage: true });
  // an endpoint narrows the view to it (state in the URL)
  const firstU = rows[0][0];
  await page.click('[data-testid=network-table] tbody tr:first-child td:first-child a');
  await page.waitForFunction(
    (u) =>
      new URL(location.href).searchParams.getAll('f').includes(`url_template:eq:${u}`) &&
      !!document.querySelector('[data-testid=view][data-view=network][data-state=ready]'),
    firstU,
  );
  assert.deepEqual(
    (await cellsOf(page, 'network-table')).map((r) => r[0]),
    [firstU],
  );
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('resources view: domains, initiator types and failures as the API says', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/resources?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('resources'));
  const { from, to } = await rangeOf(page);
  const doms = await cellsOf(page, 'resources-domains');
  assert.ok(doms.length > 1);
  const size = byKey(
    (
      await apiQuery({
        metric: 'resources.transfer_size',
        aggregations: ['count', 'sum', 'avg'],
        group_by: ['domain'],
        from,
        to,
        limit: 1000,
      })
    ).rows,
  );
  const dur = byKey(
    (
      await apiQuery({
        metric: 'resources.duration',
        aggregations: ['p75'],
        group_by: ['domain'],
        from,
        to,
        limit: 1000,
      })
    ).rows,
  );
  assert.equal(doms.length, size.size);
  for (const [d, n, sum, avg, p75] of doms) {
    assert.deepEqual([n, sum, avg], size.get(d).slice(1), d);
    assert.equal(p75, dur.get(d)?.[1] ?? '–', d);
  }
  const inits = await cellsOf(page, 'resources-initiators');
  const ai = byKey(
    (
      await apiQuery({
        metric: 'resources.transfer_size',
        aggregations: ['count'],
        group_by: ['initiator'],
        from,
        to,
        limit: 1000,
      })
    ).rows,
  );
  assert.ok(inits.length > 0);
  for (const [i, n] of inits) assert.equal(n, ai.get(i)[1], i);
  const fails = await cellsOf(page, 'resource-failures');
  const af = await apiQuery({
    metric: 'resource_errors',
    aggregations: ['count'],
    group_by: ['domain', 'tag'],
    from,
    to,
    limit: 1000,
  });
  assert.equal(fails.length, af.rows.length);
  assert.equal(
    fails.reduce((a, r) => a + r[2], 0),
    af.rows.reduce((a, r) => a + r[2], 0),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'resources.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

/** A request with the demo project's API token. */
const apiCall = (method, path, body) => withToken(base, token, method, path, body);

test('business view: custom events and conversion by LCP rating as the API says', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/business?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('business'));
  const { from, to } = await rangeOf(page);
  const evs = await cellsOf(page, 'business-events');
  const counts = byKey(
    (
      await apiQuery({
        metric: 'custom_events',
        aggregations: ['count'],
        group_by: ['name'],
        from,
        to,
        limit: 1000,
      })
    ).rows,
  );
  assert.ok(evs.length > 0);
  assert.equal(evs.length, counts.size);
  for (const [n, c] of evs) assert.equal(c, counts.get(n)[1], n);
  assert.ok((await page.locator('[data-testid=business-chart] canvas').count()) > 0);
  assert.equal(await page.inputValue('[data-testid=event]'), 'checkout');
  const conv = await apiCall('POST', `/api/v1/conversion?project=${projectId}`, {
    event: 'checkout',
    from,
    to,
  });
  const rows = await cellsOf(page, 'conversion-table');
  assert.equal(rows.length, conv.rows.length);
  const ri = conv.columns.indexOf('rate');
  const rate = new Map(rows.map((r) => [r[0], r[ri]]));
  for (const r of conv.rows) assert.equal(rate.get(r[0]), r[ri], r[0]);
  // No check that good converts better than poor here: the demo's sessions start at times
  // drawn against the hour the demo is made, so its conversions vary by a few per hundred
  // between runs and the two rates (about 1.4% and 1.5%) swapped places in one CI run. The
  // view is checked against the API, which is this test's subject.
  assert.equal(
    await page.locator('[data-testid=conversion-bars] .rate-row').count(),
    conv.rows.length,
  );
  await page.screenshot({ path: join(ARTIFACTS, 'business.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('settings view: key, snippet, origins and retention are saved; invalid origin shows the error', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const orig = await apiCall('GET', `/api/v1/projects/${projectId}`);
  await page.goto(`${base}/settings?project=${projectId}`);
  await page.waitForSelector(ready('settings'));
  assert.equal(await page.textContent('[data-testid=public-key]'), publicKey);
  assert.equal(await page.inputValue('[data-testid=snippet]'), orig.snippet);
  const origins = ['https://shop.example.com', 'http://localhost:3000'];
  await page.fill('[data-testid=origins]', origins.join('\n') + '\n');
  await page.fill('[data-testid=retention]', '45');
  await page.click('[data-testid=save]');
  await page.waitForSelector('[data-testid=settings-message].ok');
  await page.screenshot({ path: join(ARTIFACTS, 'settings.png'), fullPage: true });
  await page.reload();
  await page.waitForSelector(ready('settings'));
  const now = await apiCall('GET', `/api/v1/projects/${projectId}`);
  assert.deepEqual(now.allowed_origins, origins);
  assert.equal(now.retention_days, 45);
  assert.equal(await page.inputValue('[data-testid=origins]'), origins.join('\n'));
  assert.equal(await page.inputValue('[data-testid=retention]'), '45');
  await page.fill('[data-testid=origins]', 'ftp://nope.example.com');
  await page.click('[data-testid=save]');
  await page.waitForSelector('[data-testid=settings-message].error');
  const bad = await asUser(page, 'PUT', `/api/v1/projects/${projectId}`, {
    allowed_origins: ['ftp://nope.example.com'],
    retention_days: 45,
  });
  assert.equal(bad.status, 400);
  const badMsg = bad.body.message;
  assert.ok(badMsg);
  assert.equal(await page.textContent('[data-testid=settings-message]'), badMsg);
  // the demo's token reads; it cannot change settings
  const byToken = await fetch(`${base}/api/v1/projects/${projectId}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ retention_days: 1 }),
  });
  assert.equal(byToken.status, 403);
  assert.equal(
    (
      await asUser(page, 'PUT', `/api/v1/projects/${projectId}`, {
        allowed_origins: orig.allowed_origins,
        retention_days: orig.retention_days,
      })
    ).status,
    200,
  );
  // the 400 is logged by the browser as a failed resource; nothing else may be
  assert.deepEqual(
    problems.filter((p) => !/400/.test(p)),
    [],
  );
  await ctx.close();
});
test('sampled sessions: overview shows estimated sessions and page views with the kept counts (sample_rate 0.25 and none)', async () => {
  // 251 sessions kept at 0.25 (1 or 2 page views each), 3 sent without a rate (3 views each);
  // each kept session stands for 4, each unrated one for itself
  const now = Date.now();
  const sessions = [
    ...Array.from({ length: 251 }, (_, i) => ({ id: `q-${i}`, rate: 0.25, views: 1 + (i % 2) })),
    ...Array.from({ length: 3 }, (_, i) => ({ id: `q-whole-${i}`, rate: undefined, views: 3 })),
  ];
  const weight = (s) => (s.rate === undefined ? 1 : 1 / s.rate);
  const want = {
    count: sessions.reduce((a, s) => a + s.views, 0),
    estimated_count: sessions.reduce((a, s) => a + s.views * weight(s), 0),
    sessions: sessions.length,
    estimated_sessions: sessions.reduce((a, s) => a + weight(s), 0),
  };
  assert.deepEqual(want, {
    count: 385,
    estimated_count: 1513,
    sessions: 254,
    estimated_sessions: 1007,
  });
  const post = async (s, k) => {
    const r = await fetch(`${base}/api/v1/ingest?key=${quarter.public_key}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        v: 1,
        context: {
          session_id: s.id,
          agent: { name: 'vigil-browser', version: '0.1.0' },
          page_url: 'https://quarter.example.org/home',
          ...(s.rate === undefined ? {} : { sample_rate: s.rate }),
        },
        events: Array.from({ length: s.views }, (_, i) => ({
          ts: now - 120000 + 10 * k + i,
          type: 'view',
          view_id: `${s.id}-view-${i}`,
        })),
      }),
    });
    assert.equal(r.status, 202, await r.text());
  };
  for (let k = 0; k < sessions.length; k += 16)
    await Promise.all(sessions.slice(k, k + 16).map((s, j) => post(s, k + j)));
  const range = { from: now - 7 * 86400000, to: now + 3600000 };
  for (let i = 0; ; i++) {
    const a = await apiQuery({ metric: 'views', aggregations: ['count'], ...range }, quarter);
    if (a.rows[0]?.[0] === want.count) break;
    assert.ok(i < 100, 'quarter-sampled events never became visible');
    await new Promise((res) => setTimeout(res, 100));
  }
  const { ctx, page, problems } = await newPage();
  await login(page, QUARTER);
  await page.goto(`${base}/overview?project=${quarter.id}&range=7d`);
  await page.waitForSelector(ready('overview'));
  const { from, to } = await rangeOf(page);
  // the raw and estimated figures the view asked for, in one request as the view does
  const a = await apiQuery(
    { metric: 'page_views', aggregations: Object.keys(want), from, to },
    quarter,
  );
  assert.deepEqual(Object.fromEntries(a.columns.map((c, i) => [c, a.rows[0][i]])), want);
  const card = async (testid) => ({
    value: await textOf(page, `[data-testid=${testid}] .metric-value`),
    raw: await numOf(page, `[data-testid=${testid}] .metric-value`),
    note: await textOf(page, `[data-testid=${testid}] [data-testid=sampled]`),
  });
  assert.deepEqual(await card('sessions'), {
    value: '≈ 1,007',
    raw: 1007,
    note: 'sampled: 254 kept, ≈ 1,007 estimated',
  });
  assert.deepEqual(await card('page-views'), {
    value: '≈ 1,513',
    raw: 1513,
    note: 'sampled: 385 kept, ≈ 1,513 estimated',
  });
  assert.deepEqual(problems, []);
  await page.screenshot({ path: join(ARTIFACTS, 'overview-sampled-quarter.png'), fullPage: true });
  await ctx.close();
});

test('unsampled project: overview sessions and page views cards show the counts, no ≈', async () => {
  // shop's 3 page views of one session carry no sample rate: each estimate is its count
  const { ctx, page, problems } = await newPage();
  await login(page, SHOP_ONLY);
  await page.goto(`${base}/overview?project=${shop.id}&range=7d`);
  await page.waitForSelector(ready('overview'));
  const { from, to } = await rangeOf(page);
  const a = await apiQuery(
    {
      metric: 'page_views',
      aggregations: ['count', 'estimated_count', 'sessions', 'estimated_sessions'],
      from,
      to,
    },
    shop,
  );
  assert.deepEqual(a.rows, [[3, 3, 1, 1]]);
  assert.equal(await textOf(page, '[data-testid=page-views] .metric-value'), '3');
  assert.equal(await textOf(page, '[data-testid=sessions] .metric-value'), '1');
  assert.equal(await page.locator('[data-testid=sampled]').count(), 0);
  assert.ok(!(await textOf(page, '[data-testid=view]')).includes('≈'));
  assert.deepEqual(problems, []);
  await ctx.close();
});

// ---------- filter bar ----------
const numOf = async (page, sel) => Number(await page.getAttribute(sel, 'data-raw'));
const textOf = (page, sel) => page.textContent(sel);
/** The overview's p75 LCP (raw) and page views (as shown), and the API's answers for `filters`. */
async function overviewFigures(page, filters) {
  const { from, to } = await rangeOf(page);
  const lcp = await apiQuery({ metric: 'lcp', aggregations: ['p75'], filters, from, to });
  const pv = await apiQuery({ metric: 'page_views', aggregations: ['count'], filters, from, to });
  return {
    shown: [
      await numOf(page, '[data-testid=vital-lcp] .metric-value'),
      await textOf(page, '[data-testid=page-views] .metric-value'),
    ],
    api: [lcp.rows[0][0], pv.rows[0][0].toLocaleString('en-US')],
  };
}
// The figures shown against the API asked now: the range rolls with the clock, so an answer
// taken earlier in a test can differ by the events that crossed its edges meanwhile.
async function showsApiNow(page, filters) {
  const figures = await overviewFigures(page, filters);
  assert.deepEqual(figures.shown, figures.api);
}
const navTo = (page, label) => page.click(`header nav a:text-is('${label}')`);
const chips = (page) =>
  page.$$eval('[data-testid=filter-chip]', (cs) =>
    cs.map((c) => [c.getAttribute('data-field'), c.getAttribute('data-applied')]),
  );

test("filter bar: every view's figures follow the filters as the API says; URL, reload, removal, kept across views", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const MOBILE = [{ field: 'device_type', op: 'eq', value: 'mobile' }];
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('overview'));
  const all = await overviewFigures(page, []);
  assert.deepEqual(all.shown, all.api);

  // overview: p75 LCP and page views of mobile only
  await addFilter(page, 'overview', 'device_type', 'eq', 'mobile');
  const mobile = await overviewFigures(page, MOBILE);
  assert.deepEqual(mobile.shown, mobile.api);
  assert.notDeepEqual(mobile.shown, all.shown);
  assert.deepEqual(new URL(page.url()).searchParams.getAll('f'), ['device_type:eq:mobile']);
  await page.screenshot({ path: join(ARTIFACTS, 'overview-filtered.png'), fullPage: true });
  // the URL alone restores it
  await page.reload();
  await page.waitForSelector(ready('overview'));
  await showsApiNow(page, MOBILE);
  assert.deepEqual(await chips(page), [['device_type', 'true']]);

  // kept when switching views: pages, geography, errors show mobile only
  await navTo(page, 'Pages');
  await viewWith(page, 'pages', ['device_type:eq:mobile']);
  let { from, to } = await rangeOf(page);
  const pageRows = await cellsOf(page, 'pages-table');
  const views = byKey(
    (
      await apiQuery({
        metric: 'views',
        aggregations: ['count', 'sessions'],
        filters: MOBILE,
        group_by: ['page_path'],
        from,
        to,
        limit: 1000,
      })
    ).rows,
  );
  const viewsAll = byKey(
    (
      await apiQuery({
        metric: 'views',
        aggregations: ['count', 'sessions'],
        group_by: ['page_path'],
        from,
        to,
        limit: 1000,
      })
    ).rows,
  );
  assert.equal(pageRows.length, views.size);
  for (const [path, v, s] of pageRows) assert.deepEqual([v, s], views.get(path).slice(1), path);
  assert.ok(
    pageRows.some(([path, v]) => v !== viewsAll.get(path)[1]),
    'mobile differs from all',
  );

  await navTo(page, 'Geography');
  await viewWith(page, 'geography', ['device_type:eq:mobile']);
  ({ from, to } = await rangeOf(page));
  const geo = await cellsOf(page, 'geo-table');
  const geoApi = byKey(
    (
      await apiQuery({
        metric: 'page_views',
        aggregations: ['count', 'sessions'],
        filters: MOBILE,
        group_by: ['country'],
        from,
        to,
        limit: 300,
      })
    ).rows,
  );
  const geoAll = byKey(
    (
      await apiQuery({
        metric: 'page_views',
        aggregations: ['count', 'sessions'],
        group_by: ['country'],
        from,
        to,
        limit: 300,
      })
    ).rows,
  );
  assert.equal(geo.length, geoApi.size);
  for (const [c, n, s] of geo) assert.deepEqual([n, s], geoApi.get(c).slice(1), c);
  assert.ok(geo.some(([c, n]) => n !== geoAll.get(c)[1]));
  await page.screenshot({ path: join(ARTIFACTS, 'geography-filtered.png'), fullPage: true });

  await navTo(page, 'Errors');
  await viewWith(page, 'errors', ['device_type:eq:mobile']);
  ({ from, to } = await rangeOf(page));
  const grp = async (filters) =>
    (await groupsApi({ from, to, filters, limit: 100 })).groups.map(asListed);
  assert.deepEqual(await listedGroups(page), await grp(MOBILE));
  assert.notDeepEqual(await grp(MOBILE), await grp([]));
  // a view's own field: error_type applies here…
  await addFilter(page, 'errors', 'error_type', 'eq', 'TypeError');
  const typeErrors = await listedGroups(page);
  assert.ok(typeErrors.length > 0 && typeErrors.every((r) => r.title.startsWith('TypeError: ')));
  assert.deepEqual(
    typeErrors,
    await grp([...MOBILE, { field: 'error_type', op: 'eq', value: 'TypeError' }]),
  );
  // …and is shown but not sent on the overview
  await navTo(page, 'Overview');
  await viewWith(page, 'overview', ['device_type:eq:mobile', 'error_type:eq:TypeError']);
  assert.deepEqual(await chips(page), [
    ['device_type', 'true'],
    ['error_type', 'false'],
  ]);
  assert.match(
    await textOf(page, '[data-testid=filter-chip][data-field=error_type]'),
    /not applied here/,
  );
  await showsApiNow(page, MOBILE);
  // removing the chip restores the unfiltered figures
  await page.click('[data-testid=filter-chip][data-field=device_type] [data-testid=filter-remove]');
  await viewWith(page, 'overview', ['error_type:eq:TypeError']);
  await showsApiNow(page, []);
  await page.click("[data-testid=filter-bar] a:text-is('Clear all')");
  await viewWith(page, 'overview', []);

  // business: custom events and conversion of one country
  await navTo(page, 'Business');
  await viewWith(page, 'business', []);
  ({ from, to } = await rangeOf(page));
  const top = await apiQuery({
    metric: 'custom_events',
    aggregations: ['count'],
    group_by: ['country'],
    from,
    to,
    limit: 1,
  });
  const country = top.rows[0][0];
  await addFilter(page, 'business', 'country', 'eq', country);
  const COUNTRY = [{ field: 'country', op: 'eq', value: country }];
  const evQ = async (filters) =>
    (
      await apiQuery({
        metric: 'custom_events',
        aggregations: ['count'],
        filters,
        group_by: ['name'],
        from,
        to,
        limit: 1000,
      })
    ).rows
      .map((r) => [r[0], r[1]])
      .sort();
  const evs = (await cellsOf(page, 'business-events')).map((r) => [r[0], r[1]]).sort();
  assert.deepEqual(evs, await evQ(COUNTRY));
  assert.notDeepEqual(evs, await evQ([]));
  const convQ = (filters) =>
    apiCall('POST', `/api/v1/conversion?project=${projectId}`, {
      event: 'checkout',
      from,
      to,
      filters,
    });
  const conv = await convQ(COUNTRY);
  const shown = await cellsOf(page, 'conversion-table');
  assert.deepEqual(shown, conv.rows);
  assert.notDeepEqual(shown, (await convQ([])).rows);
  await page.screenshot({ path: join(ARTIFACTS, 'business-filtered.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

// ---------- sessions ----------
async function sessionsApi(body) {
  return fetch(`${base}/api/v1/sessions?project=${projectId}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}
const listedSessions = (page) =>
  page.$$eval('[data-testid=sessions-table] tbody tr', (trs) =>
    trs.map((tr) => {
      const td = [...tr.querySelectorAll('td')];
      return {
        id: new URL(td[0].querySelector('a').href).searchParams.get('session'),
        errors: Number(td[4].getAttribute('data-raw')),
        duration: Number(td[2].getAttribute('data-raw')),
        country: td[6].textContent,
        device: td[7].textContent,
      };
    }),
  );
/** The session's timeline shows every event of GET /api/v1/sessions/{id}, in time order, from +0:00. */
async function checkTimeline(page, sid) {
  await page.waitForSelector('[data-testid=session-events] tbody tr');
  assert.equal(new URL(page.url()).searchParams.get('session'), sid);
  const api = await apiCall(
    'GET',
    `/api/v1/sessions/${encodeURIComponent(sid)}?project=${projectId}`,
  );
  const rows = await page.$$eval('[data-testid=session-events] tbody tr', (trs) =>
    trs.map((tr) => [tr.getAttribute('data-type'), tr.querySelector('td').textContent]),
  );
  assert.equal(rows.length, api.events.length);
  assert.deepEqual(
    rows.map((r) => r[0]),
    api.events.map((e) => e.type),
  );
  assert.equal(rows[0][1], '+0:00');
  const secs = rows.map((r) => {
    const [m, s] = r[1].slice(1).split(':');
    return Number(m) * 60 + Number(s);
  });
  assert.deepEqual(
    secs,
    [...secs].sort((a, b) => a - b),
  );
  const t0 = api.events[0].ts,
    t1 = api.events.at(-1).ts;
  assert.equal(secs.at(-1), Math.floor((t1 - t0) / 1000));
  assert.equal(await textOf(page, '[data-testid=session-id]'), sid);
  assert.equal(
    await textOf(page, '[data-fact=country]'),
    api.events.find((e) => e.country)?.country ?? '(none)',
  );
  const err = api.events.find((e) => e.type === 'errors');
  if (err)
    assert.ok(
      (await textOf(page, '[data-testid=session-events] tr[data-type=errors] .summary')).includes(
        `${err.error_type}: ${err.message}`,
      ),
    );
}

test('sessions: search (country, has error, duration) and order as the API says; a row opens its timeline', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/sessions?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('sessions'));
  const { from, to } = await rangeOf(page);
  const probe = await sessionsApi({ from, to });
  assert.equal(probe.status, 200, await probe.clone().text());
  const ids = (res) => res.rows.map((r) => r[res.columns.indexOf('session_id')]);
  assert.deepEqual(
    (await listedSessions(page)).map((s) => s.id),
    ids(await probe.json()),
  );

  // country X and has error
  const byCountry = await apiQuery({
    metric: 'errors',
    aggregations: ['count'],
    group_by: ['country'],
    from,
    to,
    limit: 1,
  });
  const country = byCountry.rows[0][0];
  await page.fill('[data-testid=session-country]', country);
  await page.check('[data-testid=session-has_error]');
  await page.click('[data-testid=session-search] button[type=submit]');
  await page.waitForFunction((c) => {
    const p = new URL(location.href).searchParams;
    return (
      p.get('country') === c &&
      p.get('has_error') === '1' &&
      !!document.querySelector('[data-testid=view][data-view=sessions][data-state=ready]')
    );
  }, country);
  const found = await listedSessions(page);
  const api = await (
    await sessionsApi({
      from,
      to,
      filters: [{ field: 'country', op: 'eq', value: country }],
      has_error: true,
      order_by: 'start',
      ascending: false,
      limit: 100,
    })
  ).json();
  assert.ok(found.length > 0);
  assert.deepEqual(
    found.map((s) => s.id),
    ids(api),
  );
  for (const s of found) {
    assert.ok(s.errors > 0, s.id);
    assert.equal(s.country, country, s.id);
  }
  // ordered by duration by the server
  await page.click("[data-testid=sessions-table] th a:text-is('duration')");
  await page.waitForFunction(
    () =>
      new URL(location.href).searchParams.get('sort') === 'duration' &&
      !!document.querySelector('[data-testid=view][data-view=sessions][data-state=ready]'),
  );
  const byDuration = await (
    await sessionsApi({
      from,
      to,
      filters: [{ field: 'country', op: 'eq', value: country }],
      has_error: true,
      order_by: 'duration',
      ascending: false,
      limit: 100,
    })
  ).json();
  const longest = await listedSessions(page);
  assert.deepEqual(
    longest.map((s) => s.id),
    ids(byDuration),
  );
  assert.deepEqual(
    longest.map((s) => s.duration),
    [...longest.map((s) => s.duration)].sort((a, b) => b - a),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'sessions.png'), fullPage: true });
  // a minimum duration (seconds in the form, ms in the API)
  await page.goto(`${base}/sessions?project=${projectId}&range=7d&min_s=120`);
  await page.waitForSelector(ready('sessions'));
  const long = await listedSessions(page);
  const longApi = await (await sessionsApi({ from, to, min_duration: 120000, limit: 100 })).json();
  assert.deepEqual(
    long.map((s) => s.id),
    ids(longApi),
  );
  assert.ok(long.every((s) => s.duration >= 120000));
  // the filter bar narrows the search too
  await page.goto(
    `${base}/sessions?project=${projectId}&range=7d&has_error=1&f=device_type:eq:mobile`,
  );
  await page.waitForSelector(ready('sessions'));
  const mobile = await listedSessions(page);
  const mobileApi = await (
    await sessionsApi({
      from,
      to,
      filters: [{ field: 'device_type', op: 'eq', value: 'mobile' }],
      has_error: true,
      limit: 100,
    })
  ).json();
  assert.ok(mobile.length > 0);
  assert.deepEqual(
    mobile.map((s) => s.id),
    ids(mobileApi),
  );
  assert.ok(mobile.every((s) => s.device === 'mobile' && s.errors > 0));
  // the first row opens its timeline
  const sid = mobile[0].id;
  await page.click('[data-testid=sessions-table] tbody tr:first-child td:first-child a');
  await checkTimeline(page, sid);
  await page.screenshot({ path: join(ARTIFACTS, 'session.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

// ---------- projects and access ----------
test('projects: a user of two projects picks one, switches from the header, and the data follows; settings list both', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page, MULTI, '[data-testid=project-list]');
  await page.screenshot({ path: join(ARTIFACTS, 'project-picker.png') });
  const names = await page.$$eval('[data-testid=project-list] a', (as) =>
    as.map((a) => a.textContent),
  );
  assert.equal(names.length, 2);
  assert.ok(names.includes('shop'));
  await page.click(`[data-testid=project-list] a:text-is('${names.find((n) => n !== 'shop')}')`);
  await page.waitForSelector(ready('overview'));
  assert.equal(new URL(page.url()).searchParams.get('project'), String(projectId));
  const pvText = () => textOf(page, '[data-testid=page-views] .metric-value');
  let { from, to } = await rangeOf(page);
  const demoPv = (await apiQuery({ metric: 'page_views', aggregations: ['count'], from, to }))
    .rows[0][0];
  assert.equal(await pvText(), demoPv.toLocaleString('en-US'));

  await page.selectOption('[data-testid=project]', String(shop.id));
  await page.waitForFunction(
    (id) =>
      new URL(location.href).searchParams.get('project') === id &&
      !!document.querySelector('[data-testid=view][data-view=overview][data-state=ready]'),
    String(shop.id),
  );
  ({ from, to } = await rangeOf(page));
  const shopPv = (await apiQuery({ metric: 'page_views', aggregations: ['count'], from, to }, shop))
    .rows[0][0];
  assert.equal(shopPv, 3);
  assert.equal(await pvText(), '3');
  // shop's one page has 3 LCP samples: too few for "slowest pages", and none of demo's pages show
  assert.equal(await page.locator('[data-testid=slowest-pages-empty]').count(), 1);
  assert.equal(
    await numOf(page, '[data-testid=vital-lcp] .metric-value'),
    (await apiQuery({ metric: 'lcp', aggregations: ['p75'], from, to }, shop)).rows[0][0],
  );

  // settings: the user's projects with their ids and public keys, each a link
  await navTo(page, 'Settings');
  await page.waitForSelector(ready('settings'));
  assert.equal(await textOf(page, '[data-testid=public-key]'), shop.public_key);
  const listed = await cellsOf(page, 'projects-table');
  assert.deepEqual(
    listed.map((r) => [r[1], r[2]]).sort(),
    [
      [projectId, publicKey],
      [shop.id, shop.public_key],
    ].sort(),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'settings-projects.png'), fullPage: true });
  await page.click(`[data-testid=projects-table] a:text-is('${names.find((n) => n !== 'shop')}')`);
  await page.waitForSelector(ready('overview'));
  assert.equal(new URL(page.url()).searchParams.get('project'), String(projectId));
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("a user of another project who opens this project's URL sees 'no access'; nothing of it is requested or shown", async () => {
  const { ctx, page, problems } = await newPage();
  await login(page, SHOP_ONLY, ready('overview'));
  assert.equal(new URL(page.url()).searchParams.get('project'), String(shop.id));
  const requested = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) requested.push(r.url());
  });
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector('[data-testid=no-access]');
  assert.equal(
    await textOf(page, '[data-testid=no-access] h2'),
    'You do not have access to this project',
  );
  assert.equal(await page.locator('[data-testid=view]').count(), 0);
  assert.deepEqual(
    requested.filter((u) => new URL(u).searchParams.get('project') === String(projectId)),
    [],
  );
  const text = await textOf(page, 'body');
  assert.ok(
    !text.includes(publicKey) &&
      !text.includes(
        String(await apiCall('GET', `/api/v1/projects/${projectId}`).then((p) => p.name)),
      ),
  );
  assert.deepEqual(
    await page.$$eval('[data-testid=project-list] a', (as) => as.map((a) => a.textContent)),
    ['shop'],
  );
  await page.screenshot({ path: join(ARTIFACTS, 'no-access.png') });
  assert.deepEqual(problems, []);
  // the API refuses it too (404, as for a project that does not exist)
  const statuses = await page.evaluate(async (pid) => {
    const me = await (await fetch('/api/v1/me')).json();
    const q = await fetch(`/api/v1/query?project=${pid}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
      body: JSON.stringify({ metric: 'views', aggregations: ['count'], from: 0, to: Date.now() }),
    });
    return [
      q.status,
      (await fetch(`/api/v1/projects/${pid}`)).status,
      (await fetch(`/api/v1/sessions/x?project=${pid}`)).status,
    ];
  }, projectId);
  assert.deepEqual(statuses, [404, 404, 404]);
  // one of the user's own projects opens from there
  await page.click("[data-testid=project-list] a:text-is('shop')");
  await page.waitForSelector(ready('overview'));
  assert.equal(await textOf(page, '[data-testid=page-views] .metric-value'), '3');
  await ctx.close();
});

test('page drill-down: vitals, navigation timing, errors, requests and views of one page as the API says', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  for (const f of [[], [{ field: 'device_type', op: 'eq', value: 'mobile' }]]) {
    const path = '/checkout';
    await page.goto(
      `${base}/page?project=${projectId}&range=7d&page=${encodeURIComponent(path)}${f.map((x) => `&f=${x.field}:${x.op}:${x.value}`).join('')}`,
    );
    await page.waitForSelector(ready('page'));
    const { from, to } = await rangeOf(page);
    const filters = [{ field: 'page_path', op: 'eq', value: path }, ...f];
    const q = (metric, aggregations, extra = {}) =>
      apiQuery({ metric, aggregations, filters, from, to, ...extra });
    for (const m of ['lcp', 'inp', 'cls', 'fcp', 'ttfb'])
      assert.equal(
        await numOf(page, `[data-testid=page-vital-${m}] .metric-value`),
        (await q(m, ['p75'])).rows[0][0],
        m,
      );
    const views = (await q('views', ['count'])).rows[0][0];
    assert.ok(views > 0);
    assert.equal(await numOf(page, '[data-testid=page-views] .metric-value'), views);
    for (const t of ['dns', 'tcp', 'tls', 'ttfb', 'download', 'dom_content_loaded', 'load']) {
      assert.equal(
        await numOf(page, `[data-testid=page-timing] [data-phase=${t}] .rate-value`),
        (await q(`views.${t}`, ['p75'])).rows[0][0],
        t,
      );
    }
    const errs = await q('errors', ['count', 'sessions'], {
      group_by: ['error_type', 'message'],
      limit: 10,
    });
    assert.deepEqual(await cellsOf(page, 'page-errors'), errs.rows);
    const reqs = await q('requests.duration', ['p75', 'count'], {
      group_by: ['method', 'url_template'],
      order_by: 'p75',
      ascending: false,
      limit: 10,
    });
    assert.ok(reqs.rows.length > 0);
    assert.deepEqual(await cellsOf(page, 'page-requests'), reqs.rows);
    assert.ok((await page.locator('[data-testid=page-chart] canvas').count()) > 0);
    await page.screenshot({
      path: join(ARTIFACTS, f.length ? 'page-filtered.png' : 'page.png'),
      fullPage: true,
    });
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('settings: a user issues and revokes API tokens and creates a project, each secret shown once', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page, SHOP_ONLY);
  await page.goto(`${base}/settings?project=${shop.id}`);
  await page.waitForSelector(ready('settings'));
  const rows = '[data-testid=tokens-table] tbody tr';
  const hints = () =>
    page.$$eval(rows, (trs) => trs.map((tr) => tr.querySelector('code').textContent));
  assert.deepEqual(await hints(), [`vt_…${shop.api_token.slice(-4)}`]);
  const reads = async (t) =>
    (
      await fetch(`${base}/api/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ metric: 'views', from: 0, to: Date.now() }),
      })
    ).status;

  await page.click('[data-testid=new-token]');
  const fresh = await page.inputValue('[data-testid=fresh-token]');
  assert.match(fresh, /^vt_[0-9a-f]{48}$/);
  assert.equal(await reads(fresh), 200);
  assert.deepEqual(await hints(), [`vt_…${shop.api_token.slice(-4)}`, `vt_…${fresh.slice(-4)}`]);
  await page.screenshot({ path: join(ARTIFACTS, 'settings-tokens.png'), fullPage: true });
  const revoke = page
    .locator(rows)
    .filter({ hasText: fresh.slice(-4) })
    .locator('[data-testid=revoke-token]');
  await revoke.click();
  assert.equal(await reads(fresh), 200, 'one click only arms the button');
  await revoke.click();
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid=tokens-table] tbody tr').length === n,
    1,
  );
  assert.equal(await reads(fresh), 401);
  assert.equal(await reads(shop.api_token), 200);
  assert.equal(
    await page.locator('[data-testid=fresh-token]').count(),
    0,
    'the secret is gone once the list changes',
  );

  await page.fill('[data-testid=new-project-name]', 'made-in-ui');
  await page.click('[data-testid=create-project]');
  const made = await page.inputValue('[data-testid=new-project-token]');
  const q = await fetch(`${base}/api/v1/query`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${made}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ metric: 'views', from: 0, to: Date.now() }),
  });
  assert.equal(q.status, 200);
  assert.deepEqual((await q.json()).rows, [[0]]);
  await page.click('text=Open made-in-ui');
  await page.waitForSelector(ready('settings'));
  const own = await (
    await fetch(`${base}/api/v1/projects/${new URL(page.url()).searchParams.get('project')}`, {
      headers: { Authorization: `Bearer ${made}` },
    })
  ).json();
  assert.equal(own.name, 'made-in-ui');
  assert.equal(await page.textContent('[data-testid=public-key]'), own.public_key);
  assert.deepEqual(
    await page
      .$$eval('[data-testid=project] option', (os) => os.map((o) => o.textContent))
      .then((n) => n.sort()),
    ['made-in-ui', 'shop'],
  );

  await page.fill('[data-testid=new-project-name]', 'shop');
  await page.click('[data-testid=create-project]');
  await page.waitForSelector('[data-testid=new-project-error]');
  assert.match(await page.textContent('[data-testid=new-project-error]'), /already exists/);
  // the 409 is logged by the browser as a failed resource; nothing else may be
  assert.deepEqual(
    problems.filter((p) => !/409/.test(p)),
    [],
  );
  await ctx.close();
});

test('time range: a custom range from the picker and from dragging across a chart; figures follow, the URL keeps it', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('overview'));
  await page.selectOption('[data-testid=range]', 'custom');
  // two days, ending three days ago, typed in the browser's time zone
  const [fromText, toText, want] = await page.evaluate(() => {
    const local = (ms) =>
      new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    const to = Math.floor((Date.now() - 3 * 86400000) / 60000) * 60000,
      from = to - 2 * 86400000;
    return [
      local(from),
      local(to),
      [new Date(local(from)).getTime(), new Date(local(to)).getTime()],
    ];
  });
  await page.fill('[data-testid=range-from]', fromText);
  await page.fill('[data-testid=range-to]', toText);
  await page.click('[data-testid=range-form] button[type=submit]');
  await page.waitForFunction(
    () =>
      new URL(location.href).searchParams.get('range') === 'custom' &&
      !!document.querySelector('[data-testid=view][data-state=ready]'),
  );
  const url = new URL(page.url());
  assert.deepEqual(
    [Number(url.searchParams.get('from')), Number(url.searchParams.get('to'))],
    want,
  );
  assert.deepEqual(Object.values(await rangeOf(page)), want);
  const pv = await apiQuery({
    metric: 'page_views',
    aggregations: ['count'],
    from: want[0],
    to: want[1],
  });
  const week = await apiQuery({
    metric: 'page_views',
    aggregations: ['count'],
    from: want[1] - 7 * 86400000,
    to: want[1],
  });
  assert.ok(pv.rows[0][0] > 0 && pv.rows[0][0] < week.rows[0][0]);
  assert.equal(
    await textOf(page, '[data-testid=page-views] .metric-value'),
    pv.rows[0][0].toLocaleString('en-US'),
  );
  assert.equal(await page.inputValue('[data-testid=range]'), 'custom');

  // a reversed range is refused in place
  await page.fill('[data-testid=range-from]', toText);
  await page.fill('[data-testid=range-to]', fromText);
  await page.click('[data-testid=range-form] button[type=submit]');
  assert.match(await textOf(page, '[data-testid=range-form] [role=alert]'), /before the end/);
  assert.equal(page.url(), url.href);

  // drag across the explorer's chart: the middle half of the span becomes the range
  await page.goto(`${base}/explorer?project=${projectId}&range=7d&metric=lcp`);
  await page.waitForSelector(ready('explorer'));
  const before = await rangeOf(page);
  const over = await page.locator('[data-testid=chart] .u-over').boundingBox();
  await page.mouse.move(over.x + over.width * 0.25, over.y + over.height / 2);
  await page.mouse.down();
  await page.mouse.move(over.x + over.width * 0.75, over.y + over.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(
    () =>
      new URL(location.href).searchParams.get('range') === 'custom' &&
      !!document.querySelector('[data-testid=view][data-view=explorer][data-state=ready]'),
  );
  const zoomed = await rangeOf(page);
  assert.ok(
    zoomed.from > before.from &&
      zoomed.to < before.to &&
      zoomed.to - zoomed.from < (before.to - before.from) * 0.7,
    JSON.stringify({ before, zoomed }),
  );
  const lcp = await apiQuery({
    metric: 'lcp',
    aggregations: ['p75', 'count'],
    group_by: ['page_path'],
    from: zoomed.from,
    to: zoomed.to,
    order_by: 'count',
    ascending: false,
    limit: 100,
  });
  assert.deepEqual(await cellsOf(page, 'explorer-table'), lcp.rows);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('settings: an owner invites by a link shown once; the invitee joins with their own password; roles and removal follow at once', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page, SHOP_ONLY, '[data-testid=view][data-state=ready], [data-testid=project-list]');
  await page.goto(`${base}/settings?project=${shop.id}`);
  await page.waitForSelector(ready('settings'));
  const members = () =>
    page.$$eval('[data-testid=members-table] tbody tr', (trs) =>
      trs.map((tr) => tr.getAttribute('data-member')),
    );
  assert.deepEqual(await members(), [MULTI.email, SHOP_ONLY.email]);
  assert.equal(
    await page.locator(`[data-member="${SHOP_ONLY.email}"] [data-testid=remove-member]`).count(),
    0,
    'no removing yourself',
  );

  await page.fill('[data-testid=member-email]', 'newbie@example.com');
  await page.selectOption('[data-testid=invite-role]', 'viewer');
  await page.click('[data-testid=add-member]');
  const link = await page.inputValue('[data-testid=invite-link]');
  assert.match(link, /\/invite#vi_[0-9a-f]{32}$/);
  assert.deepEqual(
    await members(),
    [MULTI.email, SHOP_ONLY.email],
    'no access before the invitee accepts',
  );
  assert.deepEqual(
    await page.$$eval('[data-testid=invitations-table] tr', (trs) =>
      trs.map((tr) => tr.getAttribute('data-invitation')),
    ),
    ['newbie@example.com'],
  );
  await page.screenshot({ path: join(ARTIFACTS, 'settings-members.png'), fullPage: true });

  // the invitee opens the link, chooses a password and lands in shop, as a viewer
  const newbie = await newPage();
  await newbie.page.goto(link);
  await newbie.page.fill('[data-testid=invite-password]', 'newbie-own-password');
  await newbie.page.screenshot({ path: join(ARTIFACTS, 'invite.png'), fullPage: true });
  await newbie.page.click('[data-testid=accept-invitation]');
  await newbie.page.waitForSelector(ready('overview'));
  assert.equal(new URL(newbie.page.url()).searchParams.get('project'), String(shop.id));
  assert.equal(new URL(newbie.page.url()).hash, '', 'the secret leaves the address bar');
  await newbie.page.goto(`${base}/settings?project=${shop.id}`);
  await newbie.page.waitForSelector(ready('settings'));
  assert.equal(
    await newbie.page.locator('[data-testid=tokens]').count(),
    0,
    'viewers do not handle tokens',
  );
  assert.equal(
    await newbie.page.locator('[data-testid=member-email]').count(),
    0,
    'viewers do not invite',
  );
  assert.ok(
    await newbie.page.locator('[data-testid=save]').isDisabled(),
    'viewers do not change settings',
  );
  // …and can change their own password
  await newbie.page.fill('[data-testid=current-password]', 'wrong password');
  await newbie.page.fill('[data-testid=new-password]', 'newbie-second-password');
  await newbie.page.click('[data-testid=change-password]');
  await newbie.page.waitForSelector('[data-testid=password-message].error');
  await newbie.page.fill('[data-testid=current-password]', 'newbie-own-password');
  await newbie.page.fill('[data-testid=new-password]', 'newbie-second-password');
  await newbie.page.click('[data-testid=change-password]');
  await newbie.page.waitForSelector('[data-testid=password-message].ok');
  const relogin = async (p) =>
    (
      await fetch(`${base}/api/v1/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'newbie@example.com', password: p }),
      })
    ).status;
  assert.deepEqual(
    [await relogin('newbie-own-password'), await relogin('newbie-second-password')],
    [401, 200],
  );

  // the link worked once
  const late = await newPage();
  await late.page.goto(link);
  await late.page.waitForSelector('[data-testid=invite-error]');
  assert.match(await late.page.textContent('[data-testid=invite-error]'), /does not work/);
  await late.ctx.close();

  // the owner sees the new member, promotes them; their dashboard follows on reload
  await page.reload();
  await page.waitForSelector(ready('settings'));
  assert.deepEqual(await members(), [MULTI.email, 'newbie@example.com', SHOP_ONLY.email]);
  assert.equal(await page.locator('[data-testid=invitations-table]').count(), 0, 'nothing pending');
  await page.selectOption(`[data-member="newbie@example.com"] [data-testid=member-role]`, 'member');
  await page.waitForFunction(() => {
    const s = document.querySelector(
      '[data-member="newbie@example.com"] [data-testid=member-role]',
    );
    return s && !s.disabled && s.value === 'member';
  });
  await newbie.page.reload();
  await newbie.page.waitForSelector(ready('settings'));
  assert.equal(
    await newbie.page.locator('[data-testid=tokens]').count(),
    1,
    'members handle read tokens',
  );
  assert.deepEqual(
    await newbie.page.$$eval('[data-testid=token-scope] option', (os) => os.map((o) => o.value)),
    ['read'],
  );

  const remove = page.locator(`[data-member="newbie@example.com"] [data-testid=remove-member]`);
  await remove.click();
  await remove.click();
  await page.waitForFunction(() => !document.querySelector('[data-member="newbie@example.com"]'));
  // the removed user's open dashboard no longer reads shop
  await newbie.page.reload();
  await newbie.page.waitForSelector('[data-testid=project-list], [data-testid=no-access]');
  assert.equal(await newbie.page.locator('[data-testid=view]').count(), 0);
  await newbie.ctx.close();

  // the browser refuses a malformed address before anything is sent; the list is as before
  await page.fill('[data-testid=member-email]', 'not an email');
  await page.click('[data-testid=add-member]');
  assert.deepEqual(await members(), [MULTI.email, SHOP_ONLY.email]);
  assert.deepEqual(problems, []);
  await ctx.close();
});

// ---------- error groups, their detail, error settings, source maps ----------
async function groupsApi(body, project = { id: projectId, api_token: token }) {
  const r = await fetch(`${base}/api/v1/errors/groups?project=${project.id}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${project.api_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}
/** A group as the list shows it, from the API's answer. */
const asListed = (g) => ({
  fingerprint: g.fingerprint,
  title: [g.error_type, g.message].filter((x) => x).join(': ') || '(no message)',
  state: g.state,
  regressed: g.regressed,
  critical: g.critical_users > 0,
  impact: g.impact,
  events: g.events,
  users: g.users,
  sessions: g.sessions,
  series: g.series.join(','),
});
const listedGroups = (page) =>
  page.$$eval('[data-testid=error-groups] tbody tr', (trs) =>
    trs.map((tr) => {
      const td = tr.querySelectorAll(':scope > td');
      const raw = (i) => Number(td[i].getAttribute('data-raw'));
      return {
        fingerprint: tr.dataset.fingerprint,
        title: tr.querySelector('a.group-link').textContent,
        state: tr.dataset.state,
        regressed: tr.dataset.regressed === 'true',
        critical: tr.dataset.critical === 'true',
        impact: raw(1),
        events: raw(2),
        users: raw(3),
        sessions: raw(4),
        series: tr.querySelector('svg.sparkline').getAttribute('data-series'),
      };
    }),
  );
const badgesOf = (page, fp) =>
  page.$$eval(`[data-testid=error-groups] tr[data-fingerprint="${fp}"] [data-badge]`, (bs) =>
    bs.map((b) => b.getAttribute('data-badge')),
  );
/** Sends events to the demo project's intake with this context. */
async function ingest(context, events) {
  const r = await fetch(`${base}/api/v1/ingest?key=${publicKey}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      v: 1,
      context: { agent: { name: 'vigil-browser', version: '0.1.0' }, ...context },
      events,
    }),
  });
  assert.equal(r.status, 202, await r.text());
}
/** Polls `check` (every 100 ms, at most `tries` times) until it returns something truthy. */
async function until(check, what, tries = 100) {
  for (let i = 0; ; i++) {
    const v = await check();
    if (v) return v;
    assert.ok(i < tries, `${what} never happened`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
const WEEK = () => ({ from: Date.now() - 7 * 86400000, to: Date.now() + 3600000 });
/** The fingerprint of the group of errors of this type, once they are stored. */
const groupOfType = (type, n = 1) =>
  until(async () => {
    const { groups } = await groupsApi({
      ...WEEK(),
      state: 'all',
      filters: [{ field: 'error_type', op: 'eq', value: type }],
    });
    return groups.length === 1 && groups[0].events >= n ? groups[0] : null;
  }, `${n} ${type} stored`);
/** Waits for the list (or a group's page) to be drawn for the current URL. */
const errorsReady = (page, fp) =>
  page.waitForFunction(
    (fp) =>
      (new URL(location.href).searchParams.get('fp') ?? '') === fp &&
      !!document.querySelector(
        `[data-testid=view][data-view=errors][data-state=ready] [data-testid=${fp ? 'why-grouped' : 'error-groups'}], [data-testid=view][data-view=errors][data-state=ready] [data-testid=error-groups-empty]`,
      ),
    fp,
  );

test('errors: groups by impact as the API says; sort, state filter, resolve and reopen, regressions first; viewers only look', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/errors?project=${projectId}&range=7d`);
  await errorsReady(page, '');
  const r = await rangeOf(page);
  const byImpact = (await groupsApi({ ...r, limit: 100 })).groups;
  assert.ok(byImpact.length > 3);
  assert.deepEqual(await listedGroups(page), byImpact.map(asListed));
  for (let i = 1; i < byImpact.length; i++)
    assert.ok(byImpact[i - 1].impact >= byImpact[i].impact, 'most impact first');
  assert.ok(byImpact.every((g) => g.series.length === 24));
  assert.equal(await page.inputValue('[data-testid=group-sort]'), 'impact');
  await page.screenshot({ path: join(ARTIFACTS, 'errors-groups.png'), fullPage: true });

  // another order, kept in the URL
  await page.selectOption('[data-testid=group-sort]', 'events');
  await page.waitForURL(/sort=events/);
  await errorsReady(page, '');
  // each render takes "7d" up to its own whole minute: compare with the range it used
  const byEvents = (await groupsApi({ ...(await rangeOf(page)), order_by: 'events', limit: 100 }))
    .groups;
  assert.deepEqual(await listedGroups(page), byEvents.map(asListed));
  for (let i = 1; i < byEvents.length; i++)
    assert.ok(byEvents[i - 1].events >= byEvents[i].events, 'most events first');
  await page.selectOption('[data-testid=group-sort]', 'impact');
  await page.waitForURL((u) => !u.searchParams.has('sort'));
  await errorsReady(page, '');

  // resolve the group with the most impact: it leaves the unresolved list, shows under resolved
  const top = byImpact[0];
  await page.click(`tr[data-fingerprint="${top.fingerprint}"] a.group-link`);
  await errorsReady(page, top.fingerprint);
  assert.equal(await page.getAttribute('[data-testid=group-state]', 'data-state'), 'unresolved');
  await page.click('[data-testid=resolve]');
  await page.waitForSelector('[data-testid=group-state][data-state=resolved]');
  assert.match(
    await textOf(page, '[data-testid=group-state]'),
    /^Resolved .*any new error reopens it/,
  );
  assert.equal(await page.locator('[data-testid=reopen]').count(), 1);
  await page.click('a.back');
  await errorsReady(page, '');
  const open = await listedGroups(page);
  assert.ok(!open.some((g) => g.fingerprint === top.fingerprint), 'resolved leaves the list');
  assert.deepEqual(
    open,
    (await groupsApi({ ...(await rangeOf(page)), limit: 100 })).groups.map(asListed),
  );
  await page.selectOption('[data-testid=group-state]', 'resolved');
  await page.waitForURL(/state=resolved/);
  await errorsReady(page, '');
  const resolved = await listedGroups(page);
  assert.deepEqual(
    resolved,
    (await groupsApi({ ...(await rangeOf(page)), state: 'resolved', limit: 100 })).groups.map(
      asListed,
    ),
  );
  assert.deepEqual(
    resolved.map((g) => [g.fingerprint, g.state]),
    [[top.fingerprint, 'resolved']],
  );
  assert.deepEqual(await badgesOf(page, top.fingerprint), ['resolved']);
  // reopened, it is back among the unresolved
  await page.click(`tr[data-fingerprint="${top.fingerprint}"] a.group-link`);
  await errorsReady(page, top.fingerprint);
  await page.click('[data-testid=reopen]');
  await page.waitForSelector('[data-testid=group-state][data-state=unresolved]');
  await page.goto(`${base}/errors?project=${projectId}&range=7d`);
  await errorsReady(page, '');
  assert.ok((await listedGroups(page)).some((g) => g.fingerprint === top.fingerprint));

  // ignored: left out of the default list, listed under ignored
  const second = byImpact[1];
  await page.goto(
    `${base}/errors?project=${projectId}&range=7d&fp=${encodeURIComponent(second.fingerprint)}`,
  );
  await errorsReady(page, second.fingerprint);
  await page.click('[data-testid=ignore]');
  await page.waitForSelector('[data-testid=group-state][data-state=ignored]');
  await page.goto(`${base}/errors?project=${projectId}&range=7d&state=ignored`);
  await errorsReady(page, '');
  assert.deepEqual(
    (await listedGroups(page)).map((g) => g.fingerprint),
    [second.fingerprint],
  );
  await page.click(`tr[data-fingerprint="${second.fingerprint}"] a.group-link`);
  await errorsReady(page, second.fingerprint);
  await page.click('[data-testid=reopen]');
  await page.waitForSelector('[data-testid=group-state][data-state=unresolved]');

  // a resolved group that happens again is a regression: open again, badged, first on request
  const t0 = Date.now();
  const probe = (ts) => ({
    ts,
    type: 'error',
    error_type: 'RegressionProbe',
    message: 'probe failed',
    frames: [
      { function: 'probe', file: 'https://shop.example.com/static/probe.js', line: 1, column: 5 },
    ],
  });
  const ctxProbe = {
    session_id: 'regression-session-1',
    page_url: 'https://shop.example.com/probe',
    release: 'probe-1',
  };
  await ingest(ctxProbe, [probe(t0 - 1000)]);
  const reg = await groupOfType('RegressionProbe');
  await page.goto(`${base}/errors?project=${projectId}&range=7d&fp=${reg.fingerprint}`);
  await errorsReady(page, reg.fingerprint);
  await page.click('[data-testid=resolve]');
  await page.waitForSelector('[data-testid=group-state][data-state=resolved]');
  await new Promise((res) => setTimeout(res, 20));
  await ingest(ctxProbe, [probe(Date.now())]);
  await groupOfType('RegressionProbe', 2);
  await page.goto(`${base}/errors?project=${projectId}&range=7d&sort=last_seen`);
  await errorsReady(page, '');
  const r2 = await rangeOf(page);
  const listed = await listedGroups(page);
  assert.deepEqual(
    listed,
    (await groupsApi({ ...r2, order_by: 'last_seen', limit: 100 })).groups.map(asListed),
  );
  const row = listed.find((g) => g.fingerprint === reg.fingerprint);
  assert.deepEqual([row.state, row.regressed], ['unresolved', true]);
  assert.deepEqual(await badgesOf(page, reg.fingerprint), ['regressed']);
  // regressions first, whatever the order
  await page.goto(`${base}/errors?project=${projectId}&range=7d&sort=events`);
  await errorsReady(page, '');
  assert.notEqual((await listedGroups(page))[0].fingerprint, reg.fingerprint);
  await page.check('[data-testid=group-regressions]');
  await page.waitForURL(/regressions=1/);
  await errorsReady(page, '');
  const first = await listedGroups(page);
  assert.equal(first[0].fingerprint, reg.fingerprint);
  assert.deepEqual(
    first,
    (
      await groupsApi({
        ...(await rangeOf(page)),
        order_by: 'events',
        regressions_first: true,
        limit: 100,
      })
    ).groups.map(asListed),
  );
  await page.click(`tr[data-fingerprint="${reg.fingerprint}"] a.group-link`);
  await errorsReady(page, reg.fingerprint);
  assert.match(await textOf(page, '[data-testid=group-state]'), /^Regressed: resolved /);
  assert.equal(await page.locator('[data-testid=resolve]').count(), 1, 'open again');
  await page.screenshot({ path: join(ARTIFACTS, 'errors-regression.png'), fullPage: true });
  assert.deepEqual(problems, []);

  // a viewer sees the group and its state, without the buttons
  const { link } = (
    await asUser(page, 'POST', `/api/v1/projects/${projectId}/members`, {
      email: 'errors-viewer@example.com',
      role: 'viewer',
    })
  ).body;
  const viewer = await newPage();
  await viewer.page.goto(link);
  await viewer.page.fill('[data-testid=invite-password]', 'errors-viewer-password');
  await viewer.page.click('[data-testid=accept-invitation]');
  await viewer.page.waitForSelector(ready('overview'));
  await viewer.page.goto(`${base}/errors?project=${projectId}&range=7d&fp=${reg.fingerprint}`);
  await errorsReady(viewer.page, reg.fingerprint);
  assert.equal(await viewer.page.locator('[data-testid=group-actions] button').count(), 0);
  assert.match(
    await textOf(viewer.page, '[data-testid=group-actions-readonly]'),
    /Members and owners/,
  );
  await viewer.page.goto(`${base}/settings?project=${projectId}`);
  await viewer.page.waitForSelector(ready('settings'));
  assert.ok(await viewer.page.locator('[data-testid=save-error-settings]').isDisabled());
  assert.equal(
    await viewer.page.getAttribute('[data-testid=critical-pages]', 'readonly'),
    '',
    'critical pages read-only',
  );
  assert.equal(await viewer.page.locator('[data-testid=delete-sourcemap]').count(), 0);
  assert.deepEqual(viewer.problems, []);
  await viewer.ctx.close();
  await ctx.close();
});

/** A map of one bundle: every position is line 2 of src/checkout.ts, named placeOrder, with the source. */
const CHECKOUT_MAP = {
  version: 3,
  file: 'checkout.min.js',
  sources: ['src/checkout.ts'],
  sourcesContent: [
    'export function placeOrder(cart) {\n  return cart.total.toFixed(2);\n}\nexport const x = 1;\n',
  ],
  names: ['placeOrder'],
  mappings: 'AACAA',
};

test('error group detail: why grouped, the symbolicated stack (in-app open, others folded, source context), raw stack, causes, breadcrumbs, breakdowns and sessions as the API says', async () => {
  const { ctx, page, problems, dialogs } = await newPage();
  await login(page);
  const REL = 'web-detail-1';
  const up = await asUser(
    page,
    'POST',
    `/api/v1/sourcemaps?project=${projectId}&release=${REL}&url=${encodeURIComponent('~/static/js/checkout.min.js')}&kind=map`,
    CHECKOUT_MAP,
  );
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const now = Date.now();
  const SID = 'detail-probe-session';
  const bundle = 'https://shop.example.com/static/js/checkout.min.js';
  const stackText = [
    'CheckoutProbe: cart.total is undefined',
    `    at a (${bundle}:1:1)`,
    '    at dispatch (https://shop.example.com/static/js/vendor.min.js:1:200)',
    '    at onClick (https://cdn.other.example/lib.js:3:7)',
  ].join('\n');
  await ingest(
    {
      session_id: SID,
      page_url: 'https://shop.example.com/checkout',
      release: REL,
      user_id: 'detail-user',
    },
    [
      { ts: now - 5000, type: 'view', view_id: 'detail-view-1' },
      {
        ts: now,
        type: 'error',
        view_id: 'detail-view-1',
        error_type: 'CheckoutProbe',
        message: 'cart.total is undefined',
        stack: stackText,
        frames: [
          { function: 'a', file: bundle, line: 1, column: 1 },
          {
            function: 'dispatch',
            file: 'https://shop.example.com/static/js/vendor.min.js',
            line: 1,
            column: 200,
          },
          { function: 'onClick', file: 'https://cdn.other.example/lib.js', line: 3, column: 7 },
        ],
        // a cause carries its stack (frames would nest deeper than a batch may); the
        // collector parses it
        causes: [
          {
            error_type: 'TypeError',
            message: 'fetch failed',
            stack: `TypeError: fetch failed\n    at b (${bundle}:1:1)`,
          },
        ],
        breadcrumbs: [
          { ts: now - 4000, category: 'route', message: '/cart → /checkout' },
          { ts: now - 2500, category: 'click', message: 'button#place-order' },
          {
            ts: now - 1200,
            category: 'request',
            message: 'POST /api/orders 500',
            data: { status: 500, trace_id: 'c0ffee00c0ffee00c0ffee00c0ffee00' },
          },
        ],
      },
    ],
  );
  const g = await groupOfType('CheckoutProbe');
  await page.goto(
    `${base}/errors?project=${projectId}&range=24h&fp=${encodeURIComponent(g.fingerprint)}`,
  );
  await errorsReady(page, g.fingerprint);
  const { from, to } = await rangeOf(page);
  const d = await apiCall(
    'GET',
    `/api/v1/errors/groups/${encodeURIComponent(g.fingerprint)}?project=${projectId}&from=${from}&to=${to}`,
  );
  const ev = d.events[0];
  const frames = JSON.parse(ev.frames);
  const grouping = JSON.parse(ev.grouping);
  assert.equal(ev.symbolication, 'partial');
  assert.deepEqual(
    frames.map((f) => f.in_app),
    [true, false, false],
  );
  assert.equal(frames[0].mapped.file, 'src/checkout.ts');
  assert.equal(frames[0].mapped.line, 2);

  // header and figures
  assert.equal(await textOf(page, '[data-testid=group-type]'), 'CheckoutProbe');
  assert.equal(await textOf(page, '[data-testid=group-message]'), 'cart.total is undefined');
  assert.equal(await numOf(page, '[data-testid=group-events] .metric-value'), d.group.events);
  assert.equal(await numOf(page, '[data-testid=group-users] .metric-value'), d.group.users);
  assert.equal(await textOf(page, '[data-testid=group-release] .metric-value'), REL);
  await page.waitForSelector('[data-testid=group-chart] canvas');

  // why grouped: the type and the in-app frames hashed, in words
  assert.equal(grouping.method, 'in_app_frames');
  assert.equal(
    await page.getAttribute('[data-testid=why-grouped]', 'data-method'),
    'in_app_frames',
  );
  assert.match(
    await textOf(page, '[data-testid=why-grouped]'),
    /Same error type \(CheckoutProbe\)/,
  );
  assert.deepEqual(
    await page.$$eval('[data-testid=grouping-frame]', (li) => li.map((l) => l.textContent)),
    grouping.frames.map((f) => `${f.function || '(anonymous)'} in ${f.file || '(no file)'}`),
  );
  assert.equal(await textOf(page, '[data-testid=fingerprint]'), g.fingerprint);

  // the stack: every frame with its in-app mark, the application's open, the others folded
  const shown = await page.$$eval('[data-testid=stack] [data-testid=frame]', (fs) =>
    fs.map((f) => [f.getAttribute('data-in-app'), f.getAttribute('data-mapped')]),
  );
  assert.deepEqual(
    shown,
    frames.map((f) => [String(f.in_app), String(!!f.mapped)]),
  );
  assert.equal(await page.locator('[data-testid=stack] > li.frame').count(), 1, 'in-app open');
  const folded = page.locator('[data-testid=stack] [data-testid=folded-frames]');
  assert.equal(await folded.count(), 1);
  assert.equal(await folded.getAttribute('open'), null, 'the others folded');
  assert.match(
    await textOf(page, '[data-testid=stack] [data-testid=folded-frames] summary'),
    /^2 frames/,
  );
  const top = page.locator('[data-testid=stack] > li.frame').first();
  const m = frames[0].mapped;
  assert.equal(
    await top.locator('[data-testid=frame-location]').textContent(),
    `${m.file}:${m.line}:${m.column}`,
  );
  assert.equal(
    await top.locator('[data-testid=frame-function]').textContent(),
    m.function ?? frames[0].function,
  );
  assert.equal(
    await top.locator('[data-testid=frame-minified]').textContent(),
    `minified: ${bundle}:1:1`,
  );
  assert.equal(await top.locator('[data-testid=context-highlight]').getAttribute('data-line'), '2');
  assert.match(
    await top.locator('[data-testid=context-highlight]').textContent(),
    /cart\.total\.toFixed/,
  );
  assert.equal(
    await top.locator('[data-testid=frame-context] .ctx-line').count(),
    m.context.lines.length,
  );
  await folded.locator('summary').click();
  const reasons = await page.$$eval(
    '[data-testid=folded-frames] [data-testid=frame-unmapped]',
    (us) => us.map((u) => u.textContent),
  );
  assert.deepEqual(
    reasons,
    frames
      .slice(1)
      .filter((f) => f.unmapped)
      .map((f) => f.unmapped.reason),
  );
  assert.ok(reasons.length > 0);
  // the raw stack, on request
  const raw = page.locator('[data-testid=raw-stack]');
  assert.equal(await raw.getAttribute('open'), null);
  await raw.locator('summary').click();
  assert.equal(await raw.locator('pre').textContent(), stackText);
  // the cause chain, with its own frames
  assert.match(await textOf(page, '[data-testid=cause] h4'), /^Caused by TypeError: fetch failed$/);
  assert.equal(
    await page.getAttribute('[data-testid=cause] [data-testid=frame]', 'data-mapped'),
    'true',
  );
  // breadcrumbs: what happened before, with the time before the error
  assert.deepEqual(
    await page.$$eval('[data-testid=breadcrumbs] tbody tr', (trs) =>
      trs.map((tr) => [
        tr.getAttribute('data-category'),
        tr.children[0].textContent,
        tr.children[2].textContent,
      ]),
    ),
    [
      ['route', '4.0 s before', '/cart → /checkout'],
      ['click', '2.5 s before', 'button#place-order'],
      [
        'request',
        '1.2 s before',
        'POST /api/orders 500status=500 trace_id=c0ffee00c0ffee00c0ffee00c0ffee00trace',
      ],
    ],
  );
  // a traced request's breadcrumb opens its trace, an hour either side of the request
  const crumbTrace = new URL(
    await page.getAttribute('[data-testid=breadcrumbs] a.crumb-trace', 'href'),
    base,
  );
  assert.equal(crumbTrace.pathname, '/traces');
  assert.equal(crumbTrace.searchParams.get('trace'), 'c0ffee00c0ffee00c0ffee00c0ffee00');
  assert.equal(Number(crumbTrace.searchParams.get('from')), now - 1200 - 3_600_000);
  assert.equal(
    (await page.$$('[data-testid=breadcrumbs] a.crumb-trace')).length,
    1,
    'only the traced request links',
  );
  // where: the release and the other dimensions, as the API says
  for (const dim of ['release', 'browser', 'page_path']) {
    const rows = await page.$$eval(`[data-testid=breakdown-${dim}] [data-value]`, (rs) =>
      rs.map((r) => [
        r.getAttribute('data-value'),
        Number(r.querySelector('.rate-value').getAttribute('data-raw')),
      ]),
    );
    assert.deepEqual(
      rows,
      d.breakdowns[dim].map((b) => [b.value === null ? '(none)' : String(b.value), b.events]),
      dim,
    );
  }
  assert.deepEqual(
    await page.$$eval('[data-testid=breakdown-release] [data-value]', (rs) =>
      rs.map((r) => r.getAttribute('data-value')),
    ),
    [REL],
  );
  await page.screenshot({ path: join(ARTIFACTS, 'error-group.png'), fullPage: true });
  // the sessions it hit, each opening its timeline
  assert.deepEqual(
    await page.$$eval('[data-testid=group-sessions] tbody tr', (trs) =>
      trs.map((tr) => tr.getAttribute('data-session')),
    ),
    d.sessions.map((s) => s.session_id),
  );
  assert.deepEqual(
    d.sessions.map((s) => s.session_id),
    [SID],
  );
  await page.click(`[data-testid=group-sessions] tr[data-session=${SID}] a`);
  await page.waitForSelector(ready('sessions'));
  await checkTimeline(page, SID);
  assert.deepEqual(problems, []);
  assert.deepEqual(dialogs, []);
  await ctx.close();
});

test('settings: critical pages are saved and the list marks their groups; noise filters drop errors and the list says how many', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const r = WEEK();
  const byPage = await apiQuery({
    metric: 'errors',
    aggregations: ['count'],
    group_by: ['page_path'],
    ...r,
    order_by: 'count',
    ascending: false,
    limit: 1,
  });
  const CRITICAL = byPage.rows[0][0];
  await page.goto(`${base}/settings?project=${projectId}`);
  await page.waitForSelector(ready('settings'));
  await page.fill('[data-testid=critical-pages]', `${CRITICAL}\n`);
  await page.click('[data-testid=add-rule]');
  await page.fill('[data-testid=rule] >> nth=-1 >> [data-testid=rule-pattern]', 'NoiseProbe*');
  await page.click('[data-testid=save-error-settings]');
  await page.waitForSelector('[data-testid=error-settings-message].ok');
  const saved = await apiCall('GET', `/api/v1/errors/settings?project=${projectId}`);
  assert.deepEqual(saved.critical_pages, [CRITICAL]);
  assert.deepEqual(saved.ignore_rules, [{ field: 'message', pattern: 'NoiseProbe*' }]);
  assert.equal(saved.filter_extensions, true);
  await page.screenshot({ path: join(ARTIFACTS, 'settings-errors.png'), fullPage: true });

  // the list: groups that hit a user on a critical page are marked, and rank by impact
  await page.goto(`${base}/errors?project=${projectId}&range=7d`);
  await errorsReady(page, '');
  const { groups, critical_pages } = await groupsApi({ ...(await rangeOf(page)), limit: 100 });
  assert.deepEqual(critical_pages, [CRITICAL]);
  const listed = await listedGroups(page);
  assert.deepEqual(listed, groups.map(asListed));
  const critical = listed.filter((g) => g.critical);
  assert.ok(critical.length > 0, 'some groups hit the critical page');
  for (const g of groups) assert.equal(g.impact, g.users + 9 * g.critical_users);
  for (const g of critical) assert.ok((await badgesOf(page, g.fingerprint)).includes('critical'));
  assert.match(await textOf(page, '[data-testid=critical-pages]'), new RegExp(CRITICAL));

  // noise: an extension's error is dropped (on by default), and the new rule's once intake has it
  const ctxNoise = { session_id: 'noise-session-1', page_url: 'https://shop.example.com/noise' };
  await ingest(ctxNoise, [
    {
      ts: Date.now(),
      type: 'error',
      error_type: 'Error',
      message: 'from an extension',
      frames: [
        { function: 'inject', file: 'chrome-extension://abcdef/content.js', line: 1, column: 2 },
      ],
    },
  ]);
  const filtered = () =>
    apiCall('GET', `/api/v1/errors/filtered?project=${projectId}&from=${r.from}&to=${r.to}`);
  await until(
    async () => (await filtered()).counts.some((c) => c.reason === 'extension'),
    'the extension error counted',
  );
  await until(
    async () => {
      await ingest(ctxNoise, [
        { ts: Date.now(), type: 'error', error_type: 'Error', message: 'NoiseProbe: dropped?' },
      ]);
      return (await filtered()).counts.some((c) => c.reason === 'rule:0');
    },
    'the ignore rule applied',
    150,
  );
  const noise = await filtered();
  await page.reload();
  await errorsReady(page, '');
  assert.equal(
    await page.getAttribute('[data-testid=noise-note]', 'data-total'),
    String(noise.total),
  );
  const note = await textOf(page, '[data-testid=noise-note]');
  const count = (reason) =>
    noise.counts.filter((c) => c.reason === reason).reduce((a, c) => a + c.count, 0);
  assert.ok(
    note.startsWith(`${noise.total} error${noise.total === 1 ? '' : 's'} filtered as noise: `),
    note,
  );
  assert.ok(note.includes(`${count('extension')} from browser extensions`), note);
  assert.ok(note.includes(`${count('rule:0')} by ignore rule 1 (message "NoiseProbe*")`), note);

  // back to no critical pages and no rules
  await page.goto(`${base}/settings?project=${projectId}`);
  await page.waitForSelector(ready('settings'));
  assert.equal(await page.inputValue('[data-testid=critical-pages]'), CRITICAL);
  await page.fill('[data-testid=critical-pages]', '');
  await page.click('[data-testid=rule-remove]');
  await page.click('[data-testid=save-error-settings]');
  await page.waitForSelector('[data-testid=error-settings-message].ok');
  const after = await apiCall('GET', `/api/v1/errors/settings?project=${projectId}`);
  assert.deepEqual([after.critical_pages, after.ignore_rules], [[], []]);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('settings: source maps are listed with their totals and the upload command; a member deletes one', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  const REL = 'web-maps-2';
  const url = '~/static/js/app.js';
  const up = await asUser(
    page,
    'POST',
    `/api/v1/sourcemaps?project=${projectId}&release=${REL}&url=${encodeURIComponent(url)}&kind=map`,
    { version: 3, file: 'app.js', sources: ['src/app.ts'], names: [], mappings: 'AAAA' },
  );
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const entry = up.body;
  await page.goto(`${base}/settings?project=${projectId}`);
  await page.waitForSelector(ready('settings'));
  const list = await apiCall('GET', `/api/v1/sourcemaps?project=${projectId}`);
  const rows = () =>
    page.$$eval('[data-testid=sourcemaps-table] tbody tr', (trs) =>
      trs.map((tr) => [
        Number(tr.getAttribute('data-sourcemap-id')),
        ...[...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent),
        Number(tr.children[3].getAttribute('data-raw')),
      ]),
    );
  assert.deepEqual(
    await rows(),
    list.sourcemaps.map((m) => [m.id, m.release, m.url, m.debug_id ?? '–', m.map_bytes]),
  );
  assert.ok((await rows()).some((row) => row[0] === entry.id && row[1] === REL && row[2] === url));
  const totals = (t) =>
    `${t.bundles} bundle${t.bundles === 1 ? '' : 's'} in ${t.releases} release${t.releases === 1 ? '' : 's'}, `;
  assert.ok((await textOf(page, '[data-testid=sourcemap-totals]')).startsWith(totals(list.totals)));
  assert.match(
    await textOf(page, '[data-testid=sourcemaps-cli]'),
    /^vigil sourcemaps upload --project \S+ --release R --url-prefix ~\/static\/js DIR$/,
  );
  await page.screenshot({ path: join(ARTIFACTS, 'settings-sourcemaps.png'), fullPage: true });
  // two clicks delete it
  const del = page.locator(`[data-sourcemap-id="${entry.id}"] [data-testid=delete-sourcemap]`);
  await del.click();
  assert.equal(await del.textContent(), 'Click again to delete');
  await del.click();
  await page.waitForFunction(
    (id) => !document.querySelector(`[data-sourcemap-id="${id}"]`),
    entry.id,
  );
  const after = await apiCall('GET', `/api/v1/sourcemaps?project=${projectId}`);
  assert.ok(!after.sourcemaps.some((m) => m.id === entry.id));
  assert.equal(after.totals.bundles, list.totals.bundles - 1);
  assert.ok(
    (await textOf(page, '[data-testid=sourcemap-totals]')).startsWith(totals(after.totals)),
  );
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('errors: failed resources by URL and by page as the API says', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/errors?project=${projectId}&range=7d`);
  await errorsReady(page, '');
  await page.click("[data-testid=errors-tabs] a:text-is('Resource failures')");
  await page.waitForSelector(ready('errors') + ' [data-testid=resource-failures-url]');
  assert.equal(new URL(page.url()).searchParams.get('tab'), 'resources');
  const { from, to } = await rangeOf(page);
  const q = (group_by) =>
    apiQuery({
      metric: 'resource_errors',
      aggregations: ['count', 'sessions'],
      group_by,
      from,
      to,
      limit: 500,
      order_by: 'count',
      ascending: false,
    });
  const byUrl = await q(['url', 'tag']);
  assert.ok(byUrl.rows.length > 0);
  const shown = (rows) => rows.map((r) => r.map((v) => (v === null ? '(none)' : v)));
  assert.deepEqual(await cellsOf(page, 'resource-failures-url'), shown(byUrl.rows));
  const byPage = await q(['page_path', 'url']);
  assert.deepEqual(await cellsOf(page, 'resource-failures-page'), shown(byPage.rows));
  await page.screenshot({ path: join(ARTIFACTS, 'errors-resources.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

// ---------- traces: from a slow click to the slow database query ----------
const hexId = (bytes) => randomBytes(bytes).toString('hex');
/** OTLP's nanoseconds, as a string, of a time in ms. */
const ns = (ms) => String(BigInt(Math.round(ms * 1000)) * 1000n);
const otlpAttrs = (o) =>
  Object.entries(o).map(([key, v]) => ({
    key,
    value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
  }));
const TRACE_SESSION = 'traced-session-0001';
/**
 * Three calls of the cart page to GET /api/cart, each traced: the browser's client span (the
 * request event), the API's server span under it, a database query and a pricing call under
 * that, and in the first a cache lookup under the pricing call. Offsets in ms from the
 * request's start: [start, end]. The third answers 500.
 */
const TRACE_SPECS = [
  { total: 120, status: 200, api: [5, 115], db: [10, 80], price: [82, 100], cache: [83, 85] },
  { total: 60, status: 200, api: [4, 52], db: [8, 30], price: [31, 45] },
  { total: 250, status: 500, api: [10, 240], db: [20, 200], price: [201, 230] },
];
let tracedSent = null;
/** Sends the traces once (to the `traced` project) and waits until the API shows them whole. */
function tracedData() {
  tracedSent ??= sendTraces();
  return tracedSent;
}
async function sendTraces() {
  const base0 = Date.now() - 10 * 60000;
  // each trace: its spec's figures, its ids (`api`, `db`, … are span ids) and its offsets
  const traces = TRACE_SPECS.map((spec, i) => ({
    total: spec.total,
    status: spec.status,
    ts: base0 + i * 60000,
    traceId: hexId(16),
    browser: hexId(8),
    api: hexId(8),
    db: hexId(8),
    price: hexId(8),
    cache: hexId(8),
    offsets: spec,
  }));
  const r = await fetch(`${base}/api/v1/ingest?key=${traced.public_key}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      v: 1,
      context: {
        session_id: TRACE_SESSION,
        view_id: 'traced-view-0001',
        agent: { name: 'vigil-browser', version: '0.1.0' },
        page_url: 'https://shop.example.org/cart',
      },
      events: [
        { ts: base0 - 1000, type: 'view', view_id: 'traced-view-0001' },
        ...traces.map((t) => ({
          ts: t.ts,
          type: 'request',
          api: 'fetch',
          method: 'GET',
          url: 'https://shop.example.org/api/cart',
          url_template: '/api/cart',
          status: t.status,
          duration: t.total,
          trace_id: t.traceId,
          span_id: t.browser,
          trace_sampled: true,
        })),
      ],
    }),
  });
  assert.equal(r.status, 202, await r.text());
  const span = (t, id, parent, name, kind, [a, b], extra = {}) => ({
    traceId: t.traceId,
    spanId: id,
    parentSpanId: parent,
    name,
    kind,
    startTimeUnixNano: ns(t.ts + a),
    endTimeUnixNano: ns(t.ts + b),
    ...extra,
  });
  const failed = (t) => t.status >= 500;
  const services = {
    'shop-api': traces.map((t) =>
      span(t, t.api, t.browser, 'GET /api/cart', 2, t.offsets.api, {
        attributes: otlpAttrs({
          'http.route': '/api/cart',
          'http.response.status_code': t.status,
          'session.id': TRACE_SESSION,
        }),
        ...(failed(t) ? { status: { code: 2, message: 'pricing failed' } } : {}),
      }),
    ),
    postgres: traces.map((t) =>
      span(t, t.db, t.api, 'SELECT cart', 3, t.offsets.db, {
        attributes: otlpAttrs({
          'db.system': 'postgresql',
          'db.statement': 'SELECT * FROM cart WHERE id = $1',
        }),
      }),
    ),
    pricing: traces.flatMap((t, i) => [
      span(t, t.price, t.api, 'POST /price', 2, t.offsets.price, {
        // the first call times out (an exception event), the third fails
        ...(i === 0
          ? {
              status: { code: 2, message: 'timeout' },
              events: [
                {
                  timeUnixNano: ns(t.ts + t.offsets.price[1]),
                  name: 'exception',
                  attributes: otlpAttrs({
                    'exception.type': 'TimeoutError',
                    'exception.message': 'pricing took too long',
                  }),
                },
              ],
            }
          : failed(t)
            ? { status: { code: 2, message: 'upstream 503' } }
            : {}),
      }),
      ...(t.offsets.cache ? [span(t, t.cache, t.price, 'cache get', 1, t.offsets.cache)] : []),
    ]),
  };
  const otlp = async (path, body) => {
    const r = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-vigil-key': traced.public_key },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.ok(!/rejected/.test(text) || /"rejected\w*":\s*"?0/.test(text), text);
  };
  await otlp('/v1/traces', {
    resourceSpans: Object.entries(services).map(([service, spans]) => ({
      resource: {
        attributes: otlpAttrs({ 'service.name': service, 'service.version': '3.8.0' }),
      },
      scopeSpans: [{ scope: { name: `${service}.instrumentation` }, spans }],
    })),
  });
  // the first trace's logs: a warning in the database query, the answer in the API's span
  const [t1] = traces;
  await otlp('/v1/logs', {
    resourceLogs: [
      {
        resource: { attributes: otlpAttrs({ 'service.name': 'shop-api' }) },
        scopeLogs: [
          {
            scope: { name: 'shop.cart' },
            logRecords: [
              {
                timeUnixNano: ns(t1.ts + 50),
                severityText: 'WARN',
                body: { stringValue: 'slow cart' },
                traceId: t1.traceId,
                spanId: t1.db,
              },
              {
                timeUnixNano: ns(t1.ts + 114),
                severityText: 'INFO',
                body: { stringValue: 'cart served' },
                traceId: t1.traceId,
                spanId: t1.api,
              },
            ],
          },
        ],
      },
    ],
  });
  await until(async () => {
    const answers = await Promise.all(traces.map((t) => traceApi(t.traceId)));
    return (
      answers.every((a, i) => a.status === 200 && a.body.spans.length === (i === 0 ? 5 : 4)) &&
      answers[0].body.logs.length === 2
    );
  }, 'the traces stored whole');
  return traces;
}
/** GET /api/v1/traces/{id} of the `traced` project with its token. */
async function traceApi(id, range = '') {
  const r = await fetch(`${base}/api/v1/traces/${id}?project=${traced.id}${range}`, {
    headers: { Authorization: `Bearer ${traced.api_token}` },
  });
  return { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
}
/** Percentile with linear interpolation between the closest ranks (docs/api.md, Percentiles). */
function percentile(values, q) {
  const x = [...values].sort((a, b) => a - b),
    h = (x.length - 1) * q,
    lo = Math.floor(h),
    hi = Math.ceil(h);
  return x[lo] + (h - lo) * (x[hi] - x[lo]);
}
const near = (a, b, what, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${what}: ${a} ≠ ${b}`);
/** The waterfall's rows as drawn. */
const waterfallRows = (page) =>
  page.$$eval('[data-testid=waterfall] [data-testid=span-row]', (rows) =>
    rows.map((r) => ({
      id: r.getAttribute('data-span-id'),
      depth: Number(r.getAttribute('data-depth')),
      service: r.getAttribute('data-service'),
      critical: r.getAttribute('data-critical') === 'true',
      slowest: r.classList.contains('slowest'),
      indent: parseFloat(getComputedStyle(r.querySelector('.wf-label')).paddingLeft),
      barLeft: parseFloat(r.querySelector('.wf-bar').style.left),
      barWidth: parseFloat(r.querySelector('.wf-bar').style.width),
    })),
  );
const traceReady = (page, id) =>
  page.waitForFunction(
    (id) =>
      new URL(location.href).searchParams.get('trace') === id &&
      !!document.querySelector(
        '[data-testid=view][data-view=traces][data-state=ready] [data-testid=waterfall]',
      ),
    id,
  );

test('trace view: waterfall rows in depth-first order, indented, the slowest critical span highlighted and named; a click shows its details and logs; the session link opens the session', async () => {
  const traces = await tracedData();
  const t = traces[0];
  const { ctx, page, problems } = await newPage();
  await login(page, TRACED);
  await page.goto(`${base}/traces?project=${traced.id}&trace=${t.traceId}`);
  await traceReady(page, t.traceId);
  const { body: api } = await traceApi(t.traceId);
  // the tree as sent: the browser's call, the API under it, the query and the pricing call
  // (by start) under the API, the cache lookup under the pricing call
  assert.deepEqual(
    api.spans.map((s) => [s.span_id, s.depth]),
    [
      [t.browser, 0],
      [t.api, 1],
      [t.db, 2],
      [t.price, 2],
      [t.cache, 3],
    ],
  );
  // the critical path: the call, the API, then (walking back from its end) the pricing call
  // and its cache lookup, then the query; the query has the most time of its own (70 ms)
  assert.equal(api.slowest_span_id, t.db);
  assert.deepEqual(
    api.spans.map((s) => s.critical),
    [true, true, true, true, true],
  );
  const rows = await waterfallRows(page);
  assert.deepEqual(
    rows.map((r) => [r.id, r.depth, r.service, r.critical]),
    api.spans.map((s) => [s.span_id, s.depth, s.service, s.critical]),
  );
  // indented by depth, bars placed by offset and duration against the trace's 120 ms
  for (const r of rows) assert.equal(r.indent, r.depth * 16, r.id);
  assert.equal(api.duration, 120);
  api.spans.forEach((s, i) => {
    // (the browser keeps about 6 digits of a style's percentage)
    near(rows[i].barLeft, (s.offset / api.duration) * 100, `bar left of ${s.name}`, 1e-3);
    near(rows[i].barWidth, (s.duration / api.duration) * 100, `bar width of ${s.name}`, 1e-3);
  });
  near(rows[2].barLeft, (10 / 120) * 100, 'the query starts 10 ms in', 1e-3);
  assert.deepEqual(
    rows.filter((r) => r.slowest).map((r) => r.id),
    [t.db],
  );
  assert.equal(
    await textOf(page, '[data-testid=trace-slowest]'),
    'Slowest on the critical path: postgres SELECT cart, 70.0 ms of its own',
  );
  assert.equal(await textOf(page, '[data-fact=services]'), 'browsershop-apipostgrespricing');
  // the slowest span is open first; its log is the warning
  assert.match(await textOf(page, '[data-testid=span-title]'), /SELECT cart/);
  assert.deepEqual(
    await page.$$eval('[data-testid=span-logs] tbody tr td:nth-child(4)', (tds) =>
      tds.map((td) => td.textContent),
    ),
    ['slow cart'],
  );
  // a click on the API's span: its details and only its own log
  await page.click(`[data-testid=span-row][data-span-id="${t.api}"]`);
  await page.waitForFunction((id) => new URL(location.href).searchParams.get('span') === id, t.api);
  const apiSpan = api.spans[1];
  assert.equal(await textOf(page, '[data-testid=span-title]'), 'shop-api GET /api/cart');
  assert.equal(await textOf(page, '[data-fact=kind]'), 'server');
  assert.equal(await textOf(page, '[data-fact=status]'), 'unset');
  assert.equal(
    await textOf(page, '[data-fact="http status"]'),
    apiSpan.http_status === null ? '–' : String(apiSpan.http_status),
  );
  assert.equal(await textOf(page, '[data-fact="parent span id"]'), t.browser);
  assert.match(await textOf(page, '[data-testid=span-attributes]'), /http\.route\/api\/cart/);
  assert.match(await textOf(page, '[data-testid=span-resource]'), /service\.version3\.8\.0/);
  const spanLogs = await page.$$eval('[data-testid=span-logs] tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
  );
  assert.deepEqual(spanLogs, [['+114 ms', 'INFO', 'shop-api', 'cart served']]);
  // the pricing call failed with an exception event: status, message and the exception
  await page.click(`[data-testid=span-row][data-span-id="${t.price}"]`);
  await page.waitForFunction(
    (id) => new URL(location.href).searchParams.get('span') === id,
    t.price,
  );
  assert.equal(await textOf(page, '[data-fact=status]'), 'error — timeout');
  assert.match(
    await textOf(page, '[data-testid=span-events] li[data-name=exception]'),
    /TimeoutError: pricing took too long/,
  );
  assert.equal(await page.locator('[data-testid=span-logs-empty]').count(), 1);
  // every log of the trace under the waterfall, with its offset and severity
  assert.deepEqual(
    await page.$$eval('[data-testid=trace-logs] tbody tr', (trs) =>
      trs.map((tr) => [
        tr.getAttribute('data-span-id'),
        ...[...tr.querySelectorAll('td')].slice(0, 4).map((td) => td.textContent),
      ]),
    ),
    [
      [t.db, '+50.0 ms', 'WARN', 'shop-api', 'slow cart'],
      [t.api, '+114 ms', 'INFO', 'shop-api', 'cart served'],
    ],
  );
  // the selected span is in the URL: a reload opens it again
  await page.reload();
  await traceReady(page, t.traceId);
  assert.match(await textOf(page, '[data-testid=span-title]'), /POST \/price/);
  await page.screenshot({ path: join(ARTIFACTS, 'trace.png'), fullPage: true });
  // back to the monitored session that made the request
  assert.equal(await textOf(page, '[data-fact=session]'), TRACE_SESSION);
  await page.click('[data-testid=trace-facts] a.trace-session');
  await page.waitForSelector(ready('sessions') + ' [data-testid=session-events]');
  assert.equal(await textOf(page, '[data-testid=session-id]'), TRACE_SESSION);
  assert.equal(new URL(page.url()).searchParams.get('trace'), null);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("trace view: an unknown trace says 'trace not found'; a malformed id is refused without asking the server", async () => {
  await tracedData();
  const { ctx, page, problems } = await newPage();
  await login(page, TRACED);
  const asked = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/traces/')) asked.push(r.url());
  });
  const unknown = hexId(16);
  await page.goto(`${base}/traces?project=${traced.id}&trace=${unknown}`);
  await page.waitForSelector(ready('traces') + ' [data-testid=trace-not-found]');
  assert.match(await textOf(page, '[data-testid=trace-not-found]'), /^Trace not found/);
  assert.equal(asked.length, 1);
  await page.goto(`${base}/traces?project=${traced.id}&trace=not-a-trace`);
  await page.waitForSelector(ready('traces') + ' [data-testid=trace-invalid]');
  assert.equal(asked.length, 1);
  // the browser logs the 404 itself; nothing else went wrong
  assert.deepEqual(
    problems.filter((p) => !/404/.test(p)),
    [],
  );
  await ctx.close();
});

test("a request in a session's timeline and in the network view opens its trace, read an hour either side of it", async () => {
  const traces = await tracedData();
  const { ctx, page, problems } = await newPage();
  await login(page, TRACED);
  await page.goto(`${base}/sessions?project=${traced.id}&range=1h&session=${TRACE_SESSION}`);
  await page.waitForSelector(ready('sessions') + ' [data-testid=session-events]');
  const links = await page.$$eval('tr[data-type=requests] a.session-trace', (as) =>
    as.map((a) => new URL(a.href).searchParams.get('trace')),
  );
  assert.deepEqual(
    links,
    traces.map((t) => t.traceId),
  );
  await page.click('tr[data-type=requests] a.session-trace >> nth=1');
  await traceReady(page, traces[1].traceId);
  const p = new URL(page.url()).searchParams;
  assert.equal(Number(p.get('from')), traces[1].ts - 3600000);
  assert.equal(Number(p.get('to')), traces[1].ts + 3600000);
  assert.equal((await waterfallRows(page))[0].id, traces[1].browser);
  // the network view: the slowest traced requests, of all endpoints, then of one
  await page.goto(`${base}/network?project=${traced.id}&range=1h`);
  await page.waitForSelector(ready('network') + ' [data-testid=traced-requests]');
  const bySlowest = [...traces].sort((a, b) => b.total - a.total);
  const listed = await cellsOf(page, 'traced-requests');
  assert.deepEqual(
    listed,
    bySlowest.map((t) => [t.traceId, 'GET /api/cart', t.status, t.total, t.ts]),
  );
  await page.click('[data-testid=network-table] tbody tr:first-child td:first-child a');
  await viewWith(page, 'network', ['url_template:eq:/api/cart']);
  await page.waitForSelector('[data-testid=traced-requests]');
  assert.match(
    await textOf(page, 'h3:has(+ .table-box [data-testid=traced-requests])'),
    /Slowest traced requests of \/api\/cart/,
  );
  assert.deepEqual(await cellsOf(page, 'traced-requests'), listed);
  await page.click(`[data-testid=traced-requests] a:text-is('${bySlowest[0].traceId}')`);
  await traceReady(page, bySlowest[0].traceId);
  assert.equal(Number(new URL(page.url()).searchParams.get('from')), bySlowest[0].ts - 3600000);
  // the failed call: the browser's span and the API's are errors
  assert.deepEqual(
    await page.$$eval('[data-testid=span-row]', (rs) =>
      rs.filter((r) => r.querySelector('.wf-error')).map((r) => r.getAttribute('data-service')),
    ),
    ['browser', 'shop-api', 'pricing'],
  );
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('services view: p50/p75/p99 and error rate per service and operation as sent; an operation has its chart and slowest traces, each opening the trace', async () => {
  const traces = await tracedData();
  const { ctx, page, problems } = await newPage();
  await login(page, TRACED);
  await page.click("header nav a:text-is('Services')");
  await page.waitForSelector(ready('services') + ' [data-testid=services-table]');
  await page.goto(`${base}/services?project=${traced.id}&range=1h`);
  await page.waitForSelector(ready('services') + ' [data-testid=services-table]');
  await page.waitForSelector('[data-testid=services-chart] canvas');
  // what was sent, per operation: durations (ms) and whether each failed
  const len = ([a, b]) => b - a;
  const sent = {
    'browser GET /api/cart': traces.map((t) => [t.total, t.status >= 400]),
    'shop-api GET /api/cart': traces.map((t) => [len(t.offsets.api), t.status >= 500]),
    'postgres SELECT cart': traces.map((t) => [len(t.offsets.db), false]),
    'pricing POST /price': traces.map((t, i) => [len(t.offsets.price), i === 0 || t.status >= 500]),
    'pricing cache get': [[len(traces[0].offsets.cache), false]],
  };
  const figures = (spans) => {
    const d = spans.map(([v]) => v);
    return {
      count: d.length,
      p50: percentile(d, 0.5),
      p75: percentile(d, 0.75),
      p99: percentile(d, 0.99),
      error_rate: spans.filter(([, e]) => e).length / d.length,
    };
  };
  const check = (row, want, what) => {
    assert.equal(row[0], want.count, `${what} count`);
    near(row[1], want.p50, `${what} p50`);
    near(row[2], want.p75, `${what} p75`);
    near(row[3], want.p99, `${what} p99`);
    near(row[4], want.error_rate, `${what} error rate`);
  };
  const perService = byKey(await cellsOf(page, 'services-table'));
  assert.deepEqual([...perService.keys()].sort(), ['browser', 'postgres', 'pricing', 'shop-api']);
  for (const service of perService.keys()) {
    const spans = Object.entries(sent)
      .filter(([k]) => k.startsWith(service + ' '))
      .flatMap(([, v]) => v);
    check(perService.get(service).slice(1), figures(spans), service);
  }
  const ops = await cellsOf(page, 'operations-table');
  assert.deepEqual(ops.map((r) => `${r[0]} ${r[1]}`).sort(), Object.keys(sent).sort());
  for (const r of ops) check(r.slice(2), figures(sent[`${r[0]} ${r[1]}`]), `${r[0]} ${r[1]}`);
  // and as the API says
  const { from, to } = await rangeOf(page);
  const api = await apiQuery(
    {
      metric: 'spans.duration',
      aggregations: ['count', 'p50', 'p75', 'p99', 'error_rate'],
      group_by: ['service', 'name'],
      from,
      to,
      order_by: 'count',
      ascending: false,
      limit: 1000,
    },
    traced,
  );
  assert.deepEqual(
    [...ops].sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`)),
    [...api.rows].sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`)),
  );
  // p75 of 22, 70 and 180 ms, as people read it
  assert.equal(
    await textOf(
      page,
      '[data-testid=operations-table] tr[data-operation="SELECT cart"] td:nth-child(5)',
    ),
    '125 ms',
  );
  // one operation: its figures over time and its slowest traces
  await page.click("[data-testid=operations-table] a:text-is('SELECT cart')");
  await page.waitForFunction(
    () =>
      new URL(location.href).searchParams.get('op') === 'SELECT cart' &&
      !!document.querySelector('[data-testid=view][data-view=services][data-state=ready]'),
  );
  assert.equal(new URL(page.url()).searchParams.get('service'), 'postgres');
  await page.waitForSelector('[data-testid=services-chart] canvas');
  assert.equal(
    await page.locator('[data-testid=operations-table] tr.chosen').getAttribute('data-operation'),
    'SELECT cart',
  );
  const byQuery = [...traces].sort((a, b) => len(b.offsets.db) - len(a.offsets.db));
  assert.deepEqual(
    await cellsOf(page, 'slowest-traces'),
    byQuery.map((t) => [t.traceId, len(t.offsets.db), t.ts]),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'services.png'), fullPage: true });
  await page.click('[data-testid=slowest-traces] tbody tr:first-child a');
  await traceReady(page, byQuery[0].traceId);
  assert.equal(Number(new URL(page.url()).searchParams.get('from')), byQuery[0].ts - 3600000);
  assert.equal(
    await page.getAttribute(
      `[data-testid=span-row][data-span-id="${byQuery[0].db}"]`,
      'data-service',
    ),
    'postgres',
  );
  assert.deepEqual(problems, []);
  await ctx.close();
});
