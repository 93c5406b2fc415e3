// The Mobile area end to end: real `vigil serve` on the demo's data (its second project,
// `demo-mobile`, has Android and iOS traffic) + headless Debian Chromium. Every headline
// figure, the tables checked and a crash group's detail are compared with what the query and
// crash-group APIs answer for the same range; the web-only project shows the empty state.
// The demo sends no jank, so the slow and frozen frames test sends its own through the intake.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServe, stopServe, vigilCli, withToken } from './vigil-serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const ARTIFACTS = resolve(WEB, '../test-artifacts');
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), '.cache/vigil-target/debug/vigil');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];

let dir, server, base, browser, email, password, webId, mobileId, mobileToken, mobileKey;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-mobile-test-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  // demoData() reads the web project's lines only; the mobile project's are parsed here
  const out = vigilCli(VIGIL, join(dir, 'data'), 'demo', '--page-views', '600');
  const mobile = /mobile project\s+\S+ \(id (\d+)\)/.exec(out);
  assert.ok(mobile, `this vigil's demo makes no mobile project:\n${out}`);
  mobileId = Number(mobile[1]);
  mobileToken = /mobile token\s+(vt_\S+)/.exec(out)[1];
  mobileKey = /mobile key\s+(pk_\S+)/.exec(out)[1];
  webId = Number(/^project\s+\S+ \(id (\d+)\)/m.exec(out)[1]);
  [, email, password] = /login\s+(\S+) \/ (\S+)/.exec(out);
  ({ server, base } = await startServe(VIGIL, join(dir, 'data'), join(WEB, 'dist')));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  await stopServe(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A page signed in and showing `path`; `problems` collects page and console errors. */
async function signedIn(path) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  // a session without a replay is the API's 404, which the browser logs
  const noReplay = (m) => /404/.test(m.text()) && /\/replay\?/.test(m.location().url);
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401/.test(m.text()) && !noReplay(m))
      problems.push(m.text() + ' ' + m.location().url);
  });
  // the demo user has two projects: without `next` the project picker would open
  await page.goto(`${base}/login?next=${encodeURIComponent(path)}`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=view][data-state=ready]');
  return { ctx, page, problems };
}
const mobileUrl = (params = '', project = mobileId) =>
  `/mobile?project=${project}&range=7d${params}`;
/** Waits until the URL has these parameters (null: absent) and the Mobile view is drawn for it. */
async function viewAt(page, params) {
  await page.waitForFunction((want) => {
    const p = new URL(location.href).searchParams;
    return (
      Object.entries(want).every(([k, v]) => p.get(k) === v) &&
      !!document.querySelector('[data-testid=view][data-view=mobile][data-state=ready]')
    );
  }, params);
}
async function rangeOf(page) {
  const box = page.locator('[data-testid=view]');
  return {
    from: Number(await box.getAttribute('data-from')),
    to: Number(await box.getAttribute('data-to')),
  };
}
/** POST /api/v1/query on the mobile project over `range`. */
const query = (range, body) =>
  withToken(base, mobileToken, 'POST', `/api/v1/query?project=${mobileId}`, { ...range, ...body });
const firstOf = (res, name) => (res.rows.length ? res.rows[0][res.columns.indexOf(name)] : null);
/** A headline figure's raw value (null when it shows none). */
async function figure(page, testid) {
  const raw = await page.getAttribute(`[data-testid=${testid}] .metric-value`, 'data-raw');
  return raw === '' ? null : Number(raw);
}
/** The cells of a table: numbers from `data-raw`, text otherwise. */
const cellsOf = (page, testid) =>
  page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) =>
    trs.map((tr) =>
      [...tr.querySelectorAll('td')].map((td) =>
        td.hasAttribute('data-raw') ? Number(td.getAttribute('data-raw')) : td.textContent,
      ),
    ),
  );
/** A query result's rows as the table shows them: null as `(none)`. */
const shown = (rows) => rows.map((r) => r.map((v) => (v === null ? '(none)' : v)));
const DURATIONS = ['count', 'p50', 'p75', 'p90'];

/**
 * Checks every headline figure against the query API's answers with `filters`, and returns
 * those answers.
 */
async function headlineIs(page, range, filters = []) {
  const ask = (body) => query(range, { ...body, filters: [...filters, ...(body.filters ?? [])] });
  const [loads, crashes, anrs, cold, warm, screens] = await Promise.all([
    ask({ metric: 'screen_loads', aggregations: ['sessions', 'users'] }),
    ask({ metric: 'crashes', aggregations: ['sessions', 'users'] }),
    ask({ metric: 'anrs', aggregations: ['sessions'] }),
    ...['cold', 'warm'].map((t) =>
      ask({
        metric: 'app_starts.duration',
        aggregations: ['p75'],
        filters: [{ field: 'start_type', op: 'eq', value: t }],
      }),
    ),
    ask({
      metric: 'screen_loads.duration',
      aggregations: DURATIONS,
      group_by: ['screen'],
      order_by: 'p75',
      ascending: false,
      limit: 1000,
    }),
  ]);
  const sessions = firstOf(loads, 'sessions'),
    users = firstOf(loads, 'users');
  assert.ok(sessions > 0, 'there are mobile sessions');
  assert.equal(await figure(page, 'mobile-sessions'), sessions);
  assert.equal(
    await figure(page, 'crash-free-sessions'),
    1 - firstOf(crashes, 'sessions') / sessions,
  );
  assert.equal(
    await figure(page, 'crash-free-users'),
    users > 0 ? 1 - firstOf(crashes, 'users') / users : null,
  );
  assert.equal(await figure(page, 'anr-sessions'), firstOf(anrs, 'sessions') / sessions);
  assert.equal(await figure(page, 'cold-start-p75'), firstOf(cold, 'p75'));
  assert.equal(await figure(page, 'warm-start-p75'), firstOf(warm, 'p75'));
  assert.equal(await figure(page, 'slowest-screen'), firstOf(screens, 'p75'));
  assert.equal(
    await page.getAttribute('[data-testid=slowest-screen]', 'data-screen'),
    screens.rows[0]?.[0] ?? '(none)',
  );
  return { loads, crashes, anrs, cold, warm };
}

test('headline: crash-free sessions and users, ANRs, start times and the slowest screen are what the query API says', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl());
  await viewAt(page, { project: String(mobileId) });
  const range = await rangeOf(page);
  const { loads, crashes, anrs, cold, warm } = await headlineIs(page, range);
  assert.ok(firstOf(crashes, 'sessions') > 0, 'the demo has crashes');
  assert.ok(firstOf(anrs, 'sessions') > 0, 'and ANRs');
  assert.ok(firstOf(cold, 'p75') > firstOf(warm, 'p75'), 'cold starts are the slower');
  const freeSessions = 1 - firstOf(crashes, 'sessions') / firstOf(loads, 'sessions');
  // as a reader sees them
  assert.equal(
    (await page.textContent('[data-testid=crash-free-sessions] .metric-value')).trim(),
    `${(freeSessions * 100).toFixed(1)}%`,
  );
  await page.screenshot({ path: join(ARTIFACTS, 'mobile-starts.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

/** The filter bar's field choices. */
const fieldsOffered = (page) =>
  page.$$eval('[data-testid=filter-field] option', (os) => os.map((o) => o.value));
/** The filter bar's value suggestions for `field` (asked for when the value box gets focus). */
async function suggestionsFor(page, field) {
  await page.selectOption('[data-testid=filter-field]', field);
  await page.focus('[data-testid=filter-value]');
  await page.waitForSelector('#filter-values option', { state: 'attached' });
  return page.$$eval('#filter-values option', (os) => os.map((o) => o.value));
}
const MOBILE_FIELDS = ['app_version', 'os_version', 'device_model', 'carrier'];

test('filter bar: the apps’ fields and their values from screen loads; an app version filter makes the headline what the query API answers with it', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl());
  await viewAt(page, { project: String(mobileId) });
  const range = await rangeOf(page);
  const offered = await fieldsOffered(page);
  for (const f of MOBILE_FIELDS) assert.ok(offered.includes(f), `${f} in ${offered}`);
  // the suggestions are the screen loads' most frequent values (the project has no page views)
  const valuesOf = async (field) =>
    (
      await query(range, {
        metric: 'screen_loads',
        aggregations: ['count'],
        group_by: [field],
        limit: 50,
      })
    ).rows
      .filter((r) => r[0] !== null)
      .map((r) => String(r[0]));
  const versions = await valuesOf('app_version');
  assert.ok(versions.length > 1, 'the demo has several app versions');
  assert.deepEqual(await suggestionsFor(page, 'app_version'), versions);
  // a version that crashed, so crash-free sessions mean something under the filter
  const crashed = await query(range, {
    metric: 'crashes',
    aggregations: ['count'],
    group_by: ['app_version'],
  });
  const version = crashed.rows.map((r) => r[0]).find((v) => versions.includes(v)) ?? versions[0];
  const all = await figure(page, 'mobile-sessions');

  await page.selectOption('[data-testid=filter-op]', 'eq');
  await page.fill('[data-testid=filter-value]', version);
  await page.click('[data-testid=filter-form] button[type=submit]');
  await page.waitForFunction(
    (f) =>
      new URL(location.href).searchParams.getAll('f').join() === f &&
      !!document.querySelector('[data-testid=view][data-view=mobile][data-state=ready]'),
    `app_version:eq:${version}`,
  );
  assert.equal(
    await page.getAttribute('[data-testid=filter-chip][data-field=app_version]', 'data-applied'),
    'true',
  );
  const filter = { field: 'app_version', op: 'eq', value: version };
  const { loads } = await headlineIs(page, range, [filter]);
  assert.ok(firstOf(loads, 'sessions') < all, 'one version has fewer sessions than all');
  await page.screenshot({ path: join(ARTIFACTS, 'mobile-filtered.png'), fullPage: true });

  // the project's other views offer them too, with the screen loads' values
  await page.click('nav a:text-is("Network")');
  await page.waitForSelector('[data-testid=view][data-view=network][data-state=ready]');
  await page.waitForSelector('[data-testid=filter-field] option[value=carrier]', {
    state: 'attached',
  });
  assert.deepEqual(await suggestionsFor(page, 'carrier'), await valuesOf('carrier'));
  // a web project's views do not
  await page.goto(`${base}/overview?project=${webId}&range=7d`);
  await page.waitForSelector('[data-testid=view][data-view=overview][data-state=ready]');
  await page.waitForLoadState('networkidle');
  const web = await fieldsOffered(page);
  assert.ok(web.includes('country'), String(web));
  for (const f of MOBILE_FIELDS) assert.ok(!web.includes(f), `${f} offered on the web: ${web}`);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('app starts: percentiles by start type, and by OS version, device and app version for the chosen type', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl());
  await viewAt(page, { tab: null });
  const range = await rangeOf(page);
  const byType = await query(range, {
    metric: 'app_starts.duration',
    aggregations: DURATIONS,
    group_by: ['start_type'],
    order_by: 'count',
    ascending: false,
    limit: 1000,
  });
  assert.deepEqual(await cellsOf(page, 'starts-by-type'), shown(byType.rows));
  assert.ok(
    byType.rows.some((r) => r[0] === 'cold') && byType.rows.some((r) => r[0] === 'warm'),
    String(byType.rows),
  );
  await page.waitForSelector('[data-testid=starts-chart] .uplot');
  const by = (type, dim) =>
    query(range, {
      metric: 'app_starts.duration',
      aggregations: DURATIONS,
      filters: [{ field: 'start_type', op: 'eq', value: type }],
      group_by: dim === 'os_version' ? ['os', dim] : [dim],
      order_by: 'count',
      ascending: false,
      limit: 20,
    });
  for (const dim of ['os_version', 'device_model', 'app_version'])
    assert.deepEqual(
      await cellsOf(page, `starts-by-${dim}`),
      shown((await by('cold', dim)).rows),
      dim,
    );
  // the start type is kept in the URL
  await page.selectOption('[data-testid=start-type]', 'warm');
  await viewAt(page, { start: 'warm' });
  const warm = await by('warm', 'app_version');
  assert.deepEqual(await cellsOf(page, 'starts-by-app_version'), shown(warm.rows));
  await page.reload();
  await viewAt(page, { start: 'warm' });
  assert.equal(await page.inputValue('[data-testid=start-type]'), 'warm');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('screens: the slowest screens table is the p75-by-screen query, and sorts', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl('&tab=screens'));
  await viewAt(page, { tab: 'screens' });
  const range = await rangeOf(page);
  const res = await query(range, {
    metric: 'screen_loads.duration',
    aggregations: DURATIONS,
    group_by: ['screen'],
    order_by: 'p75',
    ascending: false,
    limit: 1000,
  });
  assert.ok(res.rows.length > 1, 'the demo has several screens');
  const rows = await cellsOf(page, 'slowest-screens');
  assert.deepEqual(rows[0], shown(res.rows)[0]);
  assert.equal(rows.length, res.rows.length);
  // by loads, most first
  await page.click('[data-testid=slowest-screens] th a:text-is("loads")');
  await viewAt(page, { sort: 'loads', dir: 'desc' });
  const loads = (await cellsOf(page, 'slowest-screens')).map((r) => r[1]);
  assert.deepEqual(
    loads,
    [...loads].sort((a, b) => b - a),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'mobile-screens.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('stability and network: crash-free sessions by app version, ANRs by OS, the apps’ calls by carrier and connection', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl('&tab=stability'));
  await viewAt(page, { tab: 'stability' });
  const range = await rangeOf(page);
  await page.waitForSelector('[data-testid=stability-chart] .uplot');
  const [sessions, crashed] = await Promise.all([
    query(range, {
      metric: 'screen_loads',
      aggregations: ['sessions'],
      group_by: ['app_version'],
      limit: 20,
    }),
    query(range, {
      metric: 'crashes',
      aggregations: ['sessions'],
      group_by: ['app_version'],
      limit: 1000,
    }),
  ]);
  const crashedOf = new Map(crashed.rows.map((r) => [r[0], r[1]]));
  assert.deepEqual(
    await cellsOf(page, 'crash-free-by-version'),
    shown(
      sessions.rows.map(([v, n]) => [v, n, crashedOf.get(v) ?? 0, 1 - (crashedOf.get(v) ?? 0) / n]),
    ),
  );
  const os = (await cellsOf(page, 'anrs-by-os')).map((r) => r[0]);
  assert.ok(os.includes('Android') && os.includes('iOS'), String(os));
  await page.screenshot({ path: join(ARTIFACTS, 'mobile-stability.png'), fullPage: true });

  await page.click('[data-testid=mobile-tabs] a:text-is("Network")');
  await viewAt(page, { tab: 'network' });
  const calls = await query(range, {
    metric: 'requests',
    aggregations: ['count'],
    filters: [{ field: 'app_name', op: 'exists', value: null }],
  });
  assert.ok(firstOf(calls, 'count') > 0, 'the demo apps make HTTP calls');
  for (const testid of ['calls-by-carrier', 'calls-by-connection']) {
    const rows = await cellsOf(page, testid);
    const n = testid === 'calls-by-carrier' ? 1 : 2;
    // every mobile call in one row; error shares are shares
    assert.equal(
      rows.reduce((s, r) => s + r[n], 0),
      firstOf(calls, 'count'),
      testid,
    );
    for (const r of rows) assert.ok(r[n + 2] >= 0 && r[n + 2] <= 1, String(r));
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});

/** Sends one batch of `events` (protocol v1) to the mobile project, as an Android app would. */
async function ingest(sessionId, events) {
  const r = await fetch(`${base}/api/v1/ingest?key=${mobileKey}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      v: 1,
      context: {
        session_id: sessionId,
        agent: { name: 'vigil-android', version: '0.1.0' },
        connection: { type: 'cellular', effective_type: '4g' },
        app: { name: 'com.vigil.shop', version: '3.5.1', build: '351' },
        os: { name: 'Android', version: '14' },
        device: { model: 'Pixel 8', manufacturer: 'Google', type: 'mobile' },
      },
      events,
    }),
  });
  const answer = await r.text();
  assert.equal(r.status, 202, answer);
  assert.equal(JSON.parse(answer).accepted, events.length);
}

test('stability: slow and frozen frames by screen and the sessions with frozen frames are what the query API says', async () => {
  const janks = (kind) => [
    { field: 'threshold', op: kind, value: 700 },
    { field: 'frame_count', op: 'gt', value: 0 },
  ];
  // the range before anything this test sends: no jank there unless the demo makes some
  const { ctx, page, problems } = await signedIn(mobileUrl('&tab=stability'));
  await viewAt(page, { tab: 'stability' });
  const before = await rangeOf(page);
  const had = await query(before, { metric: 'janks', aggregations: ['count'] });
  if (firstOf(had, 'count') === 0) await page.waitForSelector('[data-testid=janks-empty]');
  else await page.waitForSelector('[data-testid=slow-frames-by-screen]');

  // two sessions of our own, each with a screen load (so each is a mobile session)
  const now = Date.now();
  const tag = String(now).slice(-6);
  const [a, b] = [`jank-a-${tag}`, `jank-b-${tag}`];
  const [feed, checkout] = [`JankFeed${tag}`, `JankCheckout${tag}`];
  const jank = (ago, screen, frame_count, threshold) => ({
    ts: now - ago,
    type: 'jank',
    page_url: screen,
    frame_count,
    period: 5000,
    threshold,
  });
  const load = (ago, screen) => ({
    ts: now - ago,
    type: 'screen_load',
    page_url: screen,
    screen,
    duration: 120,
  });
  await ingest(a, [
    load(600000, feed),
    jank(590000, feed, 700, 16),
    jank(580000, feed, 500, 16),
    load(570000, checkout),
    jank(560000, checkout, 3, 700),
  ]);
  await ingest(b, [load(300000, feed), jank(290000, feed, 40, 16), jank(280000, feed, 0, 700)]);

  await page.reload();
  await viewAt(page, { tab: 'stability' });
  const range = await rangeOf(page);
  const byScreen = (kind) =>
    query(range, {
      metric: 'janks.frame_count',
      aggregations: ['sum', 'sessions'],
      filters: janks(kind),
      group_by: ['page_path'],
      order_by: 'sum',
      ascending: false,
      limit: 20,
    });
  const [slow, frozen, frozenSessions, loads] = await Promise.all([
    byScreen('lt'),
    byScreen('gte'),
    query(range, { metric: 'janks', aggregations: ['sessions'], filters: janks('gte') }),
    query(range, { metric: 'screen_loads', aggregations: ['sessions'] }),
  ]);
  // what was sent, exactly: 1240 slow frames on the feed in two sessions, 3 frozen on checkout
  // in one (a period with none affects no session)
  const row = (res, screen) => res.rows.find((r) => r[0] === screen);
  assert.deepEqual(row(slow, feed), [feed, 1240, 2]);
  assert.deepEqual(row(frozen, checkout), [checkout, 3, 1]);
  assert.equal(row(frozen, feed), undefined);
  // and the view shows what the API answers
  assert.deepEqual(await cellsOf(page, 'slow-frames-by-screen'), shown(slow.rows));
  assert.deepEqual(await cellsOf(page, 'frozen-frames-by-screen'), shown(frozen.rows));
  assert.deepEqual(
    await page.$$eval('[data-testid=slow-frames-by-screen] th', (ths) =>
      ths.map((th) => th.textContent),
    ),
    ['screen', 'slow frames', 'sessions'],
  );
  assert.equal(
    await figure(page, 'frozen-sessions'),
    firstOf(frozenSessions, 'sessions') / firstOf(loads, 'sessions'),
  );
  assert.equal(await page.locator('[data-testid=janks-empty]').count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, 'mobile-rendering.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('crashes: the groups list, a group’s frames, breakdowns and sessions as the API gives them, and triage', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl('&tab=crashes'));
  await viewAt(page, { tab: 'crashes' });
  const range = await rangeOf(page);
  const list = await withToken(
    base,
    mobileToken,
    'POST',
    `/api/v1/crashes/groups?project=${mobileId}`,
    { ...range, order_by: 'users', state: 'unresolved', limit: 100 },
  );
  assert.ok(list.groups.length > 0, 'the demo has crash groups');
  assert.deepEqual(
    await page.$$eval('[data-testid=crash-groups] tbody tr', (trs) =>
      trs.map((tr) => tr.dataset.fingerprint),
    ),
    list.groups.map((g) => g.fingerprint),
  );
  const g = list.groups[0];
  const row = (await cellsOf(page, 'crash-groups'))[0];
  assert.deepEqual(row.slice(1, 4), [g.events, g.users, g.sessions]);

  await page.click('[data-testid=crash-groups] tbody tr >> nth=0 >> a.group-link');
  await viewAt(page, { crash: g.fingerprint });
  const d = await withToken(
    base,
    mobileToken,
    'GET',
    `/api/v1/crashes/groups/${encodeURIComponent(g.fingerprint)}?project=${mobileId}&from=${range.from}&to=${range.to}`,
  );
  assert.equal(await page.textContent('[data-testid=group-type]'), d.group.error_type);
  assert.equal(await page.textContent('[data-testid=group-message]'), d.group.message ?? '');
  // the latest crash's frames, innermost first, the app's marked (system frames folded)
  const frames = JSON.parse(d.events[0].frames);
  assert.ok(frames.length > 0, 'the demo crash has frames');
  assert.deepEqual(
    await page.$$eval('[data-testid=stack] [data-testid=frame]', (fs) =>
      fs.map((f) => [
        f.querySelector('[data-testid=frame-function]').textContent,
        f.dataset.inApp === 'true',
      ]),
    ),
    frames.map((f) => [f.function ?? '(unsymbolicated)', f.in_app !== false]),
  );
  if (frames.some((f) => f.in_app === false) && frames.some((f) => f.in_app !== false))
    assert.ok((await page.locator('[data-testid=folded-frames]').count()) > 0);
  if (d.events[0].stack)
    assert.equal(await page.textContent('[data-testid=raw-stack] pre'), d.events[0].stack);
  // breakdowns: each dimension's values and crash counts
  const DIMS = [
    'app_version',
    'os',
    'os_version',
    'device_model',
    'carrier',
    'connection_type',
    'country',
    'page_path',
  ];
  assert.ok(
    DIMS.some((k) => d.breakdowns[k]?.length),
    'the group has breakdowns',
  );
  for (const dim of DIMS) {
    const bars = await page.$$eval(`[data-testid=breakdown-${dim}] .rate-row`, (rs) =>
      rs.map((r) => [r.dataset.value, Number(r.querySelector('.rate-value').dataset.raw)]),
    );
    assert.deepEqual(
      bars,
      (d.breakdowns[dim] ?? []).map((b) => [
        b.value === null ? '(none)' : String(b.value),
        b.events,
      ]),
      dim,
    );
  }
  assert.deepEqual(
    await page.$$eval('[data-testid=group-sessions] tbody tr', (trs) =>
      trs.map((tr) => tr.dataset.session),
    ),
    d.sessions.map((s) => s.session_id),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'mobile-crash.png'), fullPage: true });

  // the demo user owns the project: resolve, and the default list leaves it out; reopen
  await page.click('[data-testid=resolve]');
  await page.waitForSelector('[data-testid=group-state][data-state=resolved]');
  const after = await withToken(
    base,
    mobileToken,
    'POST',
    `/api/v1/crashes/groups?project=${mobileId}`,
    { ...range, state: 'unresolved', limit: 100 },
  );
  assert.ok(!after.groups.some((x) => x.fingerprint === g.fingerprint));
  await page.click('[data-testid=reopen]');
  await page.waitForSelector('[data-testid=group-state][data-state=unresolved]');

  // a session opens in the sessions view
  const sid = d.sessions[0].session_id;
  await page.click(`[data-testid=group-sessions] tr[data-session="${sid}"] a`);
  await page.waitForSelector('[data-testid=view][data-view=sessions][data-state=ready]');
  assert.equal(new URL(page.url()).searchParams.get('session'), sid);
  assert.equal(new URL(page.url()).searchParams.get('crash'), null);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a project without mobile data says so and points to the guide; switching project leaves a crash behind', async () => {
  const { ctx, page, problems } = await signedIn(mobileUrl('', webId));
  await viewAt(page, { project: String(webId) });
  assert.match(await page.textContent('[data-testid=mobile-empty]'), /docs\/mobile\.md/);
  assert.equal(await page.locator('[data-testid=mobile-tabs]').count(), 0);
  assert.equal(await page.locator('[data-testid=crash-free-sessions]').count(), 0);

  await page.goto(`${base}${mobileUrl('&tab=crashes&crash=nothing-like-this')}`);
  await viewAt(page, { crash: 'nothing-like-this' });
  await page.waitForSelector('[data-testid=group-not-found]');
  await page.selectOption('[data-testid=project]', String(webId));
  await viewAt(page, { project: String(webId), crash: null });
  await page.waitForSelector('[data-testid=mobile-empty]');
  // the group that does not exist is the server's 404, which the browser logs
  assert.deepEqual(
    problems.filter((p) => !/404/.test(p)),
    [],
  );
  await ctx.close();
});
