// The Business view's "What slowness costs" and funnel cards, end to end: real `vigil serve` on
// the demo's data + headless Debian Chromium. Every figure shown is checked against what
// POST /api/v1/conversion and POST /api/v1/funnel answer for the same range and filters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { demoData, startServe, stopServe } from './vigil-serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const ARTIFACTS = resolve(WEB, '../test-artifacts');
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), '.cache/vigil-target/debug/vigil');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const XSS_NAME = '<img src=x onerror=window.__xss=1>';

let dir, server, base, browser, token, email, password, projectId;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-business-test-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  // the demo spreads its page views over the last 7 days, up to now, with add_to_cart and
  // checkout events (fewer the slower the session)
  ({ token, email, password, projectId } = demoData(VIGIL, join(dir, 'data'), 3000));
  ({ server, base } = await startServe(VIGIL, join(dir, 'data'), join(WEB, 'dist')));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  await stopServe(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A signed-in page; `problems` collects page errors and console errors but `allowed` ones. */
async function signedIn(allowed = () => false) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401/.test(m.text()) && !allowed(m))
      problems.push(m.text() + ' ' + m.location().url);
  });
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=view][data-state=ready]');
  return { ctx, page, problems };
}

/** Opens /business with these query parameters and waits for it. */
async function openBusiness(page, params = '') {
  await page.goto(`${base}/business?project=${projectId}&range=7d${params}`);
  await page.waitForSelector('[data-testid=view][data-view=business][data-state=ready]');
}
/** Waits until the URL has these parameters (null: absent) and the view is drawn for it. */
async function viewAt(page, params) {
  await page.waitForFunction((want) => {
    const p = new URL(location.href).searchParams;
    return (
      Object.entries(want).every(([k, v]) => p.get(k) === v) &&
      !!document.querySelector('[data-testid=view][data-view=business][data-state=ready]')
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
/** The cells of a table: numbers from `data-raw`, text otherwise. */
const cellsOf = (page, testid) =>
  page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) =>
    trs.map((tr) =>
      [...tr.querySelectorAll('td')].map((td) =>
        td.hasAttribute('data-raw') ? Number(td.getAttribute('data-raw')) : td.textContent,
      ),
    ),
  );
async function apiPost(path, body) {
  const r = await fetch(`${base}${path}?project=${projectId}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

/** The cost card shows what the API answers for this vital, event and range. */
async function costShowsApi(page, vital, filters = []) {
  const { from, to } = await rangeOf(page);
  // the event the page chose: checkout when the filtered sessions sent one, else the event
  // worth most (the demo's mobile sessions may hold no checkout in the last 7 days)
  const event = await page.inputValue('[data-testid=event]');
  const conv = await apiPost('/api/v1/conversion', { event, vital, from, to, filters });
  assert.ok(conv.rows.length > 0, 'the demo has rated sessions');
  // every column in the answer's order: rating, sessions, converted, rate, revenue, …
  assert.deepEqual(await cellsOf(page, 'conversion-table'), conv.rows);
  const rates = await page.$$eval('[data-testid=conversion-table] tbody tr', (trs) =>
    trs.map((tr) => tr.querySelectorAll('td')[3].textContent),
  );
  const [ri, lo, hi] = ['rate', 'rate_low', 'rate_high'].map((c) => conv.columns.indexOf(c));
  conv.rows.forEach((r, i) => {
    const pct = (v) => (v * 100).toFixed(1);
    assert.equal(rates[i], `${pct(r[ri])}% (${pct(r[lo])}–${pct(r[hi])}%)`, String(r[0]));
  });
  assert.equal(
    await page.locator('[data-testid=conversion-bars] .rate-row').count(),
    conv.rows.length,
  );
  if (conv.impact) {
    assert.equal(
      (await page.textContent('[data-testid=cost-sentence]')).trim(),
      conv.impact.sentence,
    );
    assert.match(conv.impact.sentence, new RegExp(`good ${vital.toUpperCase()}`));
  } else {
    await page.waitForSelector('[data-testid=cost-no-impact]');
  }
  // the samples: sessions and conversions of each rating
  const samples = await page.textContent('[data-testid=cost-samples]');
  for (const r of conv.rows)
    assert.ok(
      samples.includes(
        `${r[1].toLocaleString('en-US')} sessions, ${r[2].toLocaleString('en-US')} converted`,
      ),
      `${samples} / ${r}`,
    );
  return conv;
}

test('what slowness costs: the table, the sentence and page by page are what the API says, per vital', async () => {
  const { ctx, page, problems } = await signedIn();
  await openBusiness(page);
  assert.equal(await page.inputValue('[data-testid=event]'), 'checkout');
  assert.equal(await page.inputValue('[data-testid=cost-vital]'), 'lcp');
  const lcp = await costShowsApi(page, 'lcp');
  assert.ok(lcp.impact, 'the demo has sessions of good and of poor LCP');
  await page.screenshot({ path: join(ARTIFACTS, 'business-cost.png'), fullPage: true });

  await page.selectOption('[data-testid=cost-vital]', 'inp');
  await viewAt(page, { vital: 'inp' });
  const inp = await costShowsApi(page, 'inp');
  assert.notDeepEqual(inp.rows, lcp.rows);

  // page by page: each page's sessions and conversion per rating, side by side
  await page.check('[data-testid=cost-by-page]');
  await viewAt(page, { vital: 'inp', by_page: '1' });
  const { from, to } = await rangeOf(page);
  const byPage = await apiPost('/api/v1/conversion', {
    event: 'checkout',
    vital: 'inp',
    by_page: true,
    from,
    to,
  });
  assert.equal(byPage.impact, undefined);
  const shown = await cellsOf(page, 'conversion-by-page');
  // the 15 pages with most rated sessions, in the server's order
  const pages = [...new Set(byPage.rows.map((r) => r[0]))].slice(0, 15);
  assert.deepEqual(
    shown.map((r) => r[0]),
    pages,
  );
  const RATINGS = ['good', 'needs-improvement', 'poor'];
  for (const [p, ...cells] of shown)
    RATINGS.forEach((rating, k) => {
      const r = byPage.rows.find((x) => x[0] === p && x[1] === rating);
      assert.deepEqual(cells.slice(2 * k, 2 * k + 2), r ? [r[2], r[4]] : ['–', '–'], p + rating);
    });
  await page.screenshot({ path: join(ARTIFACTS, 'business-by-page.png'), fullPage: true });
  // still the overall sentence above it
  await costShowsApi(page, 'inp');
  await page.uncheck('[data-testid=cost-by-page]');
  await viewAt(page, { vital: 'inp', by_page: null });
  assert.equal(await page.locator('[data-testid=conversion-by-page]').count(), 0);

  // the filter bar's filters choose the sessions
  await openBusiness(page, '&vital=cls&f=device_type:eq:mobile');
  const mobile = await costShowsApi(page, 'cls', [
    { field: 'device_type', op: 'eq', value: 'mobile' },
  ]);
  const all = await apiPost('/api/v1/conversion', {
    event: 'checkout',
    vital: 'cls',
    ...(await rangeOf(page)),
  });
  assert.notDeepEqual(mobile.rows, all.rows);
  assert.deepEqual(problems, []);
  await ctx.close();
});

/** The steps the builder shows: [kind, value]. */
const builderSteps = (page) =>
  page.$$eval('[data-testid=funnel-step]', (rows) =>
    rows.map((r) => [r.querySelector('select').value, r.querySelector('input').value]),
  );
/** Fills the builder with `steps` ([kind, value]), adding or removing rows, and submits. */
async function buildFunnel(page, steps, { within = '60', split = '' } = {}) {
  while ((await page.locator('[data-testid=funnel-step]').count()) < steps.length)
    await page.click('[data-testid=step-add]');
  while ((await page.locator('[data-testid=funnel-step]').count()) > steps.length)
    await page.locator('[data-testid=step-remove]').last().click();
  for (const [i, [kind, value]] of steps.entries()) {
    const row = page.locator('[data-testid=funnel-step]').nth(i);
    await row.locator('[data-testid=step-kind]').selectOption(kind);
    await row.locator('[data-testid=step-value]').fill(value);
  }
  await page.fill('[data-testid=funnel-within]', within);
  await page.selectOption('[data-testid=funnel-split]', split);
  await page.click('[data-testid=funnel-submit]');
}
const asBody = (steps) => steps.map(([kind, value]) => ({ [kind]: value }));

/** The funnel card shows the API's answer for these steps over the view's range. */
async function funnelShowsApi(page, steps, { within = 60, split = null, filters = [] } = {}) {
  const { from, to } = await rangeOf(page);
  const answer = await apiPost('/api/v1/funnel', {
    steps: asBody(steps),
    within_minutes: within,
    filters,
    ...(split ? { group_by: split } : {}),
    from,
    to,
  });
  const bars = await page.$$eval('[data-testid=funnel-bar]', (bs) =>
    bs.map((b) => [Number(b.dataset.sessions), Number(b.dataset.dropOff), b.textContent]),
  );
  assert.deepEqual(
    bars.map(([s, d]) => [s, d]),
    answer.steps.map((s) => [s.sessions, s.drop_off]),
  );
  answer.steps.forEach((s, i) => {
    assert.ok(bars[i][2].includes(s.label), `${bars[i][2]} names ${s.label}`);
    if (i > 0)
      assert.ok(
        bars[i][2].includes(`${(s.conversion_from_previous * 100).toFixed(1)}% of the previous`) &&
          bars[i][2].includes(`${(s.conversion_from_first * 100).toFixed(1)}% of the first`),
        bars[i][2],
      );
  });
  assert.equal(
    Number(await page.getAttribute('[data-testid=funnel-conversion]', 'data-raw')),
    answer.conversion,
  );
  if (split) {
    const groups = await cellsOf(page, 'funnel-groups');
    assert.ok(answer.groups.length > 0);
    assert.deepEqual(
      groups,
      answer.groups.map((g) => [
        g.group === null ? '(none)' : String(g.group),
        ...g.steps.map((s) => s.sessions),
        g.conversion,
      ]),
    );
  } else {
    assert.equal(await page.locator('[data-testid=funnel-groups]').count(), 0);
  }
  return answer;
}

test('funnel: the default and built funnels show the API figures; split by a dimension; the URL keeps it', async () => {
  const { ctx, page, problems } = await signedIn();
  await openBusiness(page);
  // with no funnel in the URL: the demo's valued events, most frequent first
  assert.deepEqual(await builderSteps(page), [
    ['event', 'add_to_cart'],
    ['event', 'checkout'],
  ]);
  const two = [
    ['event', 'add_to_cart'],
    ['event', 'checkout'],
  ];
  const first = await funnelShowsApi(page, two);
  assert.ok(first.steps[0].sessions > first.steps[1].sessions, 'fewer sessions check out');
  assert.ok(first.steps[1].sessions > 0, 'some check out');

  // three steps, the first a page pattern
  const three = [
    ['page', '/products/*'],
    ['event', 'add_to_cart'],
    ['event', 'checkout'],
  ];
  await buildFunnel(page, three, { within: '30' });
  await viewAt(page, {
    funnel: 'page:/products/*,event:add_to_cart,event:checkout',
    within: '30',
    split: null,
  });
  const answer = await funnelShowsApi(page, three, { within: 30 });
  assert.ok(answer.steps[0].sessions > answer.steps[1].sessions);
  assert.equal(answer.steps[1].median_ms_from_first, 9000, "the demo's add to cart comes 9 s in");

  // split by device type: group × step
  await buildFunnel(page, three, { within: '30', split: 'device_type' });
  await viewAt(page, { within: '30', split: 'device_type' });
  const split = await funnelShowsApi(page, three, { within: 30, split: 'device_type' });
  const groups = split.groups.map((g) => g.group);
  assert.ok(groups.includes('desktop') && groups.includes('mobile'), String(groups));
  assert.equal(
    split.groups.reduce((n, g) => n + g.steps[0].sessions, 0),
    split.steps[0].sessions,
    'every session in one device group',
  );
  await page.screenshot({ path: join(ARTIFACTS, 'business-funnel.png'), fullPage: true });

  // the URL is the funnel: a reload, and a new tab from the link, show it again
  const url = page.url();
  await page.reload();
  await viewAt(page, { split: 'device_type' });
  assert.deepEqual(await builderSteps(page), three);
  assert.equal(await page.inputValue('[data-testid=funnel-within]'), '30');
  assert.equal(await page.inputValue('[data-testid=funnel-split]'), 'device_type');
  await funnelShowsApi(page, three, { within: 30, split: 'device_type' });
  const other = await ctx.newPage();
  await other.goto(url);
  await other.waitForSelector('[data-testid=view][data-view=business][data-state=ready]');
  assert.deepEqual(await builderSteps(other), three);
  await funnelShowsApi(other, three, { within: 30, split: 'device_type' });
  await other.close();

  // back and forth through history
  await page.goBack();
  await viewAt(page, { within: '30', split: null });
  await funnelShowsApi(page, three, { within: 30 });

  // the filter bar's common filters apply to every step
  const DESKTOP = [{ field: 'device_type', op: 'eq', value: 'desktop' }];
  await openBusiness(page, '&funnel=event:add_to_cart,event:checkout&f=device_type:eq:desktop');
  const desktop = await funnelShowsApi(page, two, { filters: DESKTOP });
  assert.ok(desktop.steps[0].sessions < first.steps[0].sessions);

  // removing rows stops at two; adding stops at ten
  await openBusiness(page, '&funnel=event:add_to_cart,event:checkout');
  assert.equal(await page.isDisabled('[data-testid=step-remove] >> nth=0'), true);
  for (let i = 0; i < 8; i++) await page.click('[data-testid=step-add]');
  assert.equal(await page.locator('[data-testid=funnel-step]').count(), 10);
  assert.equal(await page.isDisabled('[data-testid=step-add]'), true);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('funnel: a bad funnel says what is wrong; names are shown as text', async () => {
  // the server's 400 for a refused funnel is logged by the browser as a failed request
  const refused = (m) => /400/.test(m.text()) && /\/api\/v1\/funnel\?/.test(m.location().url);
  const { ctx, page, problems } = await signedIn(refused);
  await openBusiness(page, '&funnel=event:add_to_cart,event:checkout');
  // a step without a name: said here, nothing asked
  let asked = 0;
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/funnel')) asked++;
  });
  await buildFunnel(page, [
    ['event', 'add_to_cart'],
    ['event', '  '],
  ]);
  await viewAt(page, { funnel: 'event:add_to_cart,event:' });
  assert.match(await page.textContent('[data-testid=funnel-error]'), /^Step 2 has no event name/);
  assert.equal(await page.locator('[data-testid=funnel-bars]').count(), 0);
  assert.equal(asked, 0);
  // the builder keeps the funnel to fix
  assert.deepEqual(await builderSteps(page), [
    ['event', 'add_to_cart'],
    ['event', ''],
  ]);

  // what the server refuses: its message
  await buildFunnel(
    page,
    [
      ['event', 'add_to_cart'],
      ['event', 'checkout'],
    ],
    { within: '0' },
  );
  await viewAt(page, { within: '0' });
  const { from, to } = await rangeOf(page);
  const r = await fetch(`${base}/api/v1/funnel?project=${projectId}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      steps: asBody([
        ['event', 'add_to_cart'],
        ['event', 'checkout'],
      ]),
      within_minutes: 0,
      from,
      to,
    }),
  });
  assert.equal(r.status, 400);
  const { code, message } = await r.json();
  assert.equal(code, 'invalid_query');
  assert.equal(
    await page.textContent('[data-testid=funnel-error]'),
    `This funnel cannot be computed: ${message}`,
  );
  assert.match(message, /within_minutes/);
  // a one-step funnel from a link: the server's message, and a second row to fill in
  await openBusiness(page, '&funnel=event:checkout');
  assert.match(await page.textContent('[data-testid=funnel-error]'), /2 to 10 steps/);
  assert.deepEqual(await builderSteps(page), [
    ['event', 'checkout'],
    ['event', ''],
  ]);

  // a name that looks like HTML, and one with the URL's separators: text, and kept whole
  const odd = 'a,b%2C:c';
  await openBusiness(page, '&funnel=event:checkout');
  await buildFunnel(page, [
    ['event', XSS_NAME],
    ['page', odd],
  ]);
  await viewAt(page, { funnel: `event:${XSS_NAME},page:a%2Cb%252C:c` });
  assert.deepEqual(await builderSteps(page), [
    ['event', XSS_NAME],
    ['page', odd],
  ]);
  const labels = await page.$$eval('[data-testid=funnel-bar] .rate-label', (ls) =>
    ls.map((l) => l.textContent),
  );
  assert.deepEqual(labels, [`1. event ${XSS_NAME}`, `2. page ${odd}`]);
  const none = await funnelShowsApi(page, [
    ['event', XSS_NAME],
    ['page', odd],
  ]);
  assert.equal(none.steps[0].sessions, 0);
  // and as the converting event
  await openBusiness(page, `&event=${encodeURIComponent(XSS_NAME)}`);
  assert.equal(await page.inputValue('[data-testid=event]'), XSS_NAME);
  assert.equal(await page.locator('[data-testid=view] img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
  assert.deepEqual(problems, []);
  await ctx.close();
});
