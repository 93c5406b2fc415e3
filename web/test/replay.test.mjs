// Session replay in the dashboard, end to end: real `vigil serve` (replay segments uploaded over
// HTTP with the public key, RUM events through /api/v1/ingest) + headless Debian Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createProject, startServe, stopServe } from './vigil-serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const ARTIFACTS = resolve(WEB, '../test-artifacts');
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), '.cache/vigil-target/debug/vigil');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const TRACKER = 'https://tracker.example/pixel.png';
const USER = { email: 'replay@example.com', password: 'replay-password-1' };

// One session with a replay of two page loads (three segments), and one without.
const SID = 'replay-session-0001';
const BARE_SID = 'bare-session-0001';
// the recording: page one from T0, page two from T0 + 20 s, last event at T0 + 40 s
const T0 = Math.floor((Date.now() - 10 * 60000) / 1000) * 1000;
const PAGE_TWO = T0 + 20000;
const END = T0 + 40000;
const ERROR_TS = T0 + 25000;

let dir, server, base, browser, project;

/** rrweb's serialized DOM of a small page: <h1>{title}</h1>, a paragraph and an inert script. */
function snapshot(title) {
  const text = (id, textContent) => ({ type: 3, textContent, id });
  const elem = (id, tagName, childNodes = [], attributes = {}) => ({
    type: 2,
    tagName,
    attributes,
    childNodes,
    id,
  });
  return {
    node: {
      type: 0,
      id: 1,
      childNodes: [
        { type: 1, name: 'html', publicId: '', systemId: '', id: 2 },
        elem(3, 'html', [
          elem(4, 'head', [elem(5, 'style', [text(6, 'h1 { color: rgb(200, 0, 0); }')])]),
          elem(7, 'body', [
            elem(8, 'h1', [text(9, title)]),
            elem(10, 'p', [text(11, 'Masked: ****')]),
            // watching a replay must not call other origins (the dashboard's CSP holds in it)
            elem(14, 'img', [], { src: TRACKER }),
            // a recorded script must never run when played
            elem(12, 'script', [text(13, 'parent.__replayScriptRan = 1')]),
          ]),
        ]),
      ],
    },
    initialOffset: { left: 0, top: 0 },
  };
}
const meta = (ts, path) => ({
  type: 4,
  timestamp: ts,
  data: { href: `https://shop.example.com${path}`, width: 1024, height: 640 },
});
const full = (ts, title) => ({ type: 2, timestamp: ts, data: snapshot(title) });
const move = (ts, x) => ({
  type: 3,
  timestamp: ts,
  data: { source: 1, positions: [{ x, y: 40, id: 8, timeOffset: 0 }] },
});
const custom = (ts, tag, payload = {}) => ({ type: 5, timestamp: ts, data: { tag, payload } });
const SEGMENTS = [
  {
    view_id: 'replay-view-1',
    events: [meta(T0, '/one'), full(T0 + 10, 'Replay page one'), move(T0 + 3000, 100)],
  },
  { view_id: 'replay-view-1', events: [move(T0 + 15000, 200), move(T0 + 18000, 300)] },
  {
    view_id: 'replay-view-2',
    events: [
      meta(PAGE_TWO, '/two'),
      full(PAGE_TWO + 10, 'Replay page two'),
      // the agent's markers (agent/src/replay): paused and stopped get a marker, resumed not
      custom(T0 + 30000, 'vigil-paused', { reason: 'mutation_budget' }),
      custom(T0 + 33000, 'vigil-resumed'),
      move(T0 + 35000, 500),
      custom(END, 'vigil-stopped', { reason: 'max_size' }),
    ],
  },
].map((s, seq) => ({
  v: 1,
  session_id: SID,
  seq,
  start: s.events[0].timestamp,
  end: s.events.at(-1).timestamp,
  mode: 'session',
  ...s,
}));

/** The RUM events of both sessions: the replayed one has 2 actions, a route change, an error, two slow or failed requests and a fast one. */
function rum(sid, viewId, page, events) {
  return {
    v: 1,
    context: {
      session_id: sid,
      view_id: viewId,
      agent: { name: 'vigil-browser', version: '0.1.0' },
      page_url: `https://shop.example.com${page}`,
    },
    events,
  };
}
const BATCHES = [
  rum(SID, 'replay-view-1', '/one', [
    { ts: T0, type: 'view' },
    { ts: T0 + 5000, type: 'action', action: 'click', selector: 'button#buy' },
    {
      ts: T0 + 8000,
      type: 'request',
      api: 'fetch',
      method: 'GET',
      url: 'https://api.example.com/slow',
      status: 200,
      duration: 1500,
    },
    {
      ts: T0 + 9000,
      type: 'request',
      api: 'fetch',
      method: 'GET',
      url: 'https://api.example.com/fast',
      status: 200,
      duration: 100,
    },
    {
      ts: T0 + 12000,
      type: 'request',
      api: 'xhr',
      method: 'POST',
      url: 'https://api.example.com/cart',
      status: 503,
      duration: 80,
    },
    {
      ts: T0 + 14000,
      type: 'route',
      from: 'https://shop.example.com/one',
      to: 'https://shop.example.com/one#details',
      new_view_id: 'replay-view-1b',
      trigger: 'hash',
    },
  ]),
  rum(SID, 'replay-view-2', '/two', [
    { ts: PAGE_TWO, type: 'view' },
    {
      ts: ERROR_TS,
      type: 'error',
      error_type: 'TypeError',
      message: 'replay test: cart is undefined',
      source: 'onerror',
    },
    { ts: T0 + 26000, type: 'action', action: 'dead_click', selector: 'div.banner' },
  ]),
  rum(BARE_SID, 'bare-view-1', '/bare', [
    { ts: T0, type: 'view' },
    { ts: T0 + 1000, type: 'action', action: 'click', selector: 'a#home' },
  ]),
];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-replay-test-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const cli = (...args) =>
    execFileSync(VIGIL, [...args, '--data', join(dir, 'data')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  project = createProject(VIGIL, join(dir, 'data'), 'replay');
  cli('user', 'add', USER.email, '--project', 'replay', '--password', USER.password);
  ({ server, base } = await startServe(VIGIL, join(dir, 'data'), join(WEB, 'dist')));
  for (const s of SEGMENTS) {
    const r = await fetch(`${base}/api/v1/replay?key=${project.public_key}&enc=none`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify(s),
    });
    assert.equal(r.status, 202, await r.text());
  }
  for (const b of BATCHES) {
    const r = await fetch(`${base}/api/v1/ingest?key=${project.public_key}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(b),
    });
    assert.equal(r.status, 202, await r.text());
  }
  const want = BATCHES.filter((b) => b.context.session_id === SID).flatMap((b) => b.events).length;
  for (let i = 0; ; i++) {
    const s = await apiGet(`/api/v1/sessions/${SID}?project=${project.id}`);
    const bare = await apiGet(`/api/v1/sessions/${BARE_SID}?project=${project.id}`);
    if (s.events.length === want && bare.events.length === 2) break;
    assert.ok(i < 100, 'ingested events never became visible');
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  await stopServe(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function apiGet(path) {
  const r = await fetch(`${base}${path}`, {
    headers: { Authorization: `Bearer ${project.api_token}` },
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

async function signedInPage() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = [],
    refused = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  // CSP violations and failed requests are console errors; the 401 of the first /me is expected
  page.on('console', (m) => {
    if (m.type() !== 'error' || /401/.test(m.text())) return;
    // the recorded image of another origin, refused by the dashboard's CSP inside the replay
    if (m.text().includes(TRACKER) && /Content Security Policy/.test(m.text()))
      refused.push(m.text());
    else problems.push(m.text() + ' ' + m.location().url);
  });
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', USER.email);
  await page.fill('input[name=password]', USER.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=view][data-state=ready]');
  return { ctx, page, problems, refused };
}

const sessionUrl = (sid, extra = '') =>
  `${base}/sessions?project=${project.id}&range=24h&session=${sid}${extra}`;
/** Opens a session view and waits for its replay card to settle (player ready or "no replay"). */
async function openSession(page, sid, extra = '') {
  await page.goto(sessionUrl(sid, extra));
  await page.waitForSelector(
    '[data-testid=replay-card][data-state=ready], [data-testid=replay-card][data-state=none]',
  );
}
const frameText = (page) =>
  page.frameLocator('[data-testid=replay-stage] iframe').locator('body').innerText();
const current = async (page) =>
  Number(await page.getAttribute('[data-testid=replay]', 'data-current'));
/** The player's position (ms from the recording's start), once it is within 100 ms of `want`. */
async function waitCurrent(page, want) {
  await page
    .waitForFunction(
      (w) =>
        Math.abs(Number(document.querySelector('[data-testid=replay]')?.dataset.current) - w) <=
        100,
      want,
      { timeout: 5000 },
    )
    .catch(() => {});
  return current(page);
}

test('a session with a replay: the player plays both page loads, its bar marks the timeline events', async () => {
  const { ctx, page, problems, refused } = await signedInPage();
  // the recorded image of another origin: Chromium announces the request, then the CSP
  // blocks it before anything is sent
  const elsewhere = [];
  page.on('requestfailed', (r) => elsewhere.push([r.url(), r.failure()?.errorText]));
  page.on('requestfinished', (r) => {
    if (new URL(r.url()).origin !== base) elsewhere.push([r.url(), 'sent']);
  });
  await openSession(page, SID);
  const replay = page.locator('[data-testid=replay]');
  assert.equal(await replay.getAttribute('data-state'), 'ready');
  assert.equal(Number(await replay.getAttribute('data-start')), T0);
  assert.equal(Number(await replay.getAttribute('data-end')), END);
  assert.equal(await page.locator('[data-testid=replay-none]').count(), 0);
  // rrweb's sandbox: same origin (to draw it) without scripts
  assert.equal(
    await page.getAttribute('[data-testid=replay-stage] iframe', 'sandbox'),
    'allow-same-origin',
  );
  // the start: page one, paused at 0:00 of 0:40
  assert.ok((await current(page)) <= 100, String(await current(page)));
  assert.match(await frameText(page), /Replay page one/);
  assert.doesNotMatch(await frameText(page), /Replay page two/);
  assert.equal(await page.textContent('[data-testid=replay-time]'), '0:00 / 0:40');
  assert.equal(await page.getAttribute('[data-testid=replay]', 'data-playing'), 'false');
  // the recorded page's own style is applied; its script never ran
  assert.equal(
    // read from the dashboard's side: running code inside the sandboxed frame is refused
    await page.evaluate(() => {
      const doc = document.querySelector('[data-testid=replay-stage] iframe').contentDocument;
      return getComputedStyle(doc.querySelector('h1')).color;
    }),
    'rgb(200, 0, 0)',
  );
  assert.equal(await page.evaluate(() => window.__replayScriptRan), undefined);

  // markers: one per event of each kind the session API returns, at its place on the bar
  const api = await apiGet(`/api/v1/sessions/${SID}?project=${project.id}`);
  const ofType = (t, pred = () => true) =>
    api.events
      .filter((e) => e.type === t && pred(e))
      .map((e) => e.ts)
      .sort((a, b) => a - b);
  const expected = {
    action: ofType('actions'),
    route: ofType('routes'),
    error: ofType('errors'),
    request: ofType('requests', (e) => e.duration >= 1000 || e.status >= 500),
    paused: [T0 + 30000, END],
  };
  assert.deepEqual(Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.length])), {
    action: 2,
    route: 1,
    error: 1,
    request: 2,
    paused: 2,
  });
  const markers = await page.$$eval('[data-testid=replay-marker]', (ms) =>
    ms.map((m) => ({
      kind: m.dataset.kind,
      ts: Number(m.dataset.ts),
      left: parseFloat(m.style.left),
      title: m.title,
    })),
  );
  for (const [kind, times] of Object.entries(expected))
    assert.deepEqual(
      markers
        .filter((m) => m.kind === kind)
        .map((m) => m.ts)
        .sort((a, b) => a - b),
      times,
      kind,
    );
  for (const m of markers)
    assert.ok(Math.abs(m.left - ((m.ts - T0) / (END - T0)) * 100) < 0.01, JSON.stringify(m));
  const err = markers.find((m) => m.kind === 'error');
  assert.equal(err.title, 'TypeError: replay test: cart is undefined');
  assert.deepEqual(
    markers.filter((m) => m.kind === 'paused').map((m) => m.title),
    [
      'recording paused: the page changed faster than the recording budget',
      "recording stopped: the session's replay reached its size limit",
    ],
  );
  assert.match(markers.find((m) => m.ts === T0 + 12000).title, /^POST .*503 80 ms$/);
  // the marker's place on screen is its share of the bar
  const bar = await page.locator('[data-testid=replay-bar]').boundingBox();
  const box = await page.locator('[data-testid=replay-marker][data-kind=error]').boundingBox();
  const centre = box.x + box.width / 2;
  assert.ok(Math.abs(centre - (bar.x + (bar.width * (ERROR_TS - T0)) / (END - T0))) < 2);

  // the error's marker seeks there: page two, 0:25
  await page.click('[data-testid=replay-marker][data-kind=error]');
  assert.ok(Math.abs((await waitCurrent(page, ERROR_TS - T0)) - (ERROR_TS - T0)) <= 100);
  assert.match(await frameText(page), /Replay page two/);
  assert.doesNotMatch(await frameText(page), /Replay page one/);
  assert.equal(await page.textContent('[data-testid=replay-time]'), '0:25 / 0:40');
  // back to page one by clicking the bar at 10% (0:04)
  await page
    .locator('[data-testid=replay-bar]')
    .click({ position: { x: bar.width * 0.1, y: bar.height / 2 } });
  assert.ok(Math.abs((await waitCurrent(page, 4000)) - 4000) <= 100);
  assert.match(await frameText(page), /Replay page one/);
  await page.screenshot({ path: join(ARTIFACTS, 'replay.png'), fullPage: true });

  // play at 8× without skipping: time moves on, then stops where paused
  await page.click('[data-testid=replay-speed][data-speed="8"]');
  assert.equal(
    await page.getAttribute('[data-testid=replay-speed][data-speed="8"]', 'aria-pressed'),
    'true',
  );
  await page.uncheck('[data-testid=replay-skip]');
  await page.click('[data-testid=replay-play]');
  assert.equal(await page.textContent('[data-testid=replay-play]'), 'Pause');
  await page.waitForFunction(
    () => Number(document.querySelector('[data-testid=replay]').dataset.current) > 6000,
    null,
    { timeout: 5000 },
  );
  await page.click('[data-testid=replay-play]');
  assert.equal(await page.getAttribute('[data-testid=replay]', 'data-playing'), 'false');
  const stopped = await current(page);
  await page.waitForTimeout(300);
  assert.equal(await current(page), stopped);
  // …and with inactivity skipped it reaches the end and stops there
  await page.check('[data-testid=replay-skip]');
  await page.click('[data-testid=replay-play]');
  await page.waitForFunction(
    () => document.querySelector('[data-testid=replay]').dataset.playing === 'false',
    null,
    { timeout: 15000 },
  );
  assert.ok((await current(page)) >= END - T0 - 100, String(await current(page)));
  assert.equal(await page.textContent('[data-testid=replay-time]'), '0:40 / 0:40');
  assert.ok(elsewhere.length > 0);
  for (const [url, how] of elsewhere) {
    assert.equal(url, TRACKER);
    assert.equal(how, 'csp');
  }
  assert.ok(refused.length > 0);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('t= in the URL opens the replay paused at that moment; the timeline seeks it', async () => {
  const { ctx, page, problems } = await signedInPage();
  await openSession(page, SID, `&t=${PAGE_TWO + 2000}`);
  assert.ok(Math.abs((await waitCurrent(page, 22000)) - 22000) <= 100);
  assert.equal(await page.getAttribute('[data-testid=replay]', 'data-playing'), 'false');
  assert.match(await frameText(page), /Replay page two/);
  // at the page load itself: the moment before it is page one; between its Meta and its
  // snapshot, page two as soon as it is drawn
  for (const [t, text] of [
    [PAGE_TWO - 1, /Replay page one/],
    [PAGE_TWO, /Replay page two/],
    [PAGE_TWO + 5, /Replay page two/],
  ]) {
    await openSession(page, SID, `&t=${t}`);
    assert.ok(Math.abs((await current(page)) - (t - T0)) <= 100);
    assert.match(await frameText(page), text, String(t - T0));
  }
  await openSession(page, SID, `&t=${PAGE_TWO + 2000}`);
  // the error row's "replay" link seeks to the error, and says so in the URL
  const link = page.locator(
    '[data-testid=session-events] tr[data-type=errors] [data-testid=replay-at]',
  );
  assert.equal(await link.count(), 1);
  await page.locator('[data-testid=session-events] tr[data-type=views] a.seek').first().click();
  assert.ok(Math.abs((await waitCurrent(page, 0)) - 0) <= 100);
  assert.match(await frameText(page), /Replay page one/);
  await link.click();
  assert.ok(Math.abs((await waitCurrent(page, ERROR_TS - T0)) - (ERROR_TS - T0)) <= 100);
  assert.equal(new URL(page.url()).searchParams.get('t'), String(ERROR_TS));
  assert.match(await frameText(page), /Replay page two/);
  // the bar takes arrow keys: 5 s back, twice, is page one again
  await page.focus('[data-testid=replay-bar]');
  await page.keyboard.press('ArrowLeft');
  assert.ok(Math.abs((await waitCurrent(page, 20000)) - 20000) <= 100);
  await page.keyboard.press('ArrowLeft');
  assert.ok(Math.abs((await waitCurrent(page, 15000)) - 15000) <= 100);
  assert.match(await frameText(page), /Replay page one/);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a session without a replay says so, with no player', async () => {
  const { ctx, page, problems } = await signedInPage();
  await openSession(page, BARE_SID);
  assert.equal(
    (await page.textContent('[data-testid=replay-none]')).trim(),
    'No replay for this session.',
  );
  assert.equal(await page.locator('[data-testid=replay]').count(), 0);
  assert.equal(await page.locator('[data-testid=replay-at]').count(), 0);
  // the timeline is there as before
  assert.equal(await page.locator('[data-testid=session-events] tbody tr').count(), 2);
  // the only complaint is the browser's own log of the 404 that says "no replay"
  assert.deepEqual(
    problems.filter((p) => !(/404/.test(p) && p.includes(`/sessions/${BARE_SID}/replay`))),
    [],
  );
  assert.equal(problems.length, 1, problems.join('\n'));
  // the player bundle was never fetched
  assert.equal(
    await page.evaluate(() =>
      performance.getEntriesByType('resource').some((r) => /\/replay\.(js|css)$/.test(r.name)),
    ),
    false,
  );
  await ctx.close();
});

test('the error group opens the session replay at the error', async () => {
  const { ctx, page, problems } = await signedInPage();
  const now = Date.now();
  const r = await fetch(`${base}/api/v1/errors/groups?project=${project.id}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${project.api_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: now - 86400000, to: now + 60000 }),
  });
  assert.equal(r.status, 200);
  const groups = (await r.json()).groups;
  assert.equal(groups.length, 1);
  await page.goto(`${base}/errors?project=${project.id}&range=24h&fp=${groups[0].fingerprint}`);
  await page.waitForSelector('[data-testid=view][data-state=ready]');
  // the sessions it hit open at the error, as does the latest event
  const rowLink = new URL(
    await page.getAttribute(`[data-testid=group-sessions] tr[data-session=${SID}] a`, 'href'),
    base,
  );
  assert.equal(rowLink.searchParams.get('session'), SID);
  assert.equal(rowLink.searchParams.get('t'), String(ERROR_TS));
  await page.click('[data-testid=event-facts] a.replay-at-error');
  await page.waitForSelector('[data-testid=replay-card][data-state=ready]');
  assert.equal(new URL(page.url()).searchParams.get('session'), SID);
  assert.ok(Math.abs((await waitCurrent(page, ERROR_TS - T0)) - (ERROR_TS - T0)) <= 100);
  assert.match(await frameText(page), /Replay page two/);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('the sessions list marks the sessions with a replay and finds them with "has replay"', async () => {
  const { ctx, page, problems } = await signedInPage();
  await page.goto(`${base}/sessions?project=${project.id}&range=24h`);
  await page.waitForSelector('[data-testid=view][data-view=sessions][data-state=ready]');
  const listed = () =>
    page.$$eval('[data-testid=sessions-table] tbody tr', (trs) =>
      trs.map((tr) => {
        const td = [...tr.querySelectorAll('td')];
        const replay = td.at(-1).querySelector('a');
        return {
          id: new URL(td[0].querySelector('a').href).searchParams.get('session'),
          replay: replay ? new URL(replay.href).searchParams.get('session') : null,
        };
      }),
    );
  assert.deepEqual(
    (await listed()).sort((a, b) => a.id.localeCompare(b.id)),
    [
      { id: BARE_SID, replay: null },
      { id: SID, replay: SID },
    ],
  );
  await page.check('[data-testid=session-has_replay]');
  await page.click('[data-testid=session-search] button[type=submit]');
  await page.waitForFunction(
    () =>
      new URL(location.href).searchParams.get('has_replay') === '1' &&
      !!document.querySelector('[data-testid=view][data-view=sessions][data-state=ready]'),
  );
  assert.deepEqual(await listed(), [{ id: SID, replay: SID }]);
  await page.click(`[data-testid=sessions-table] tbody tr td:last-child a`);
  await page.waitForSelector('[data-testid=replay-card][data-state=ready]');
  assert.equal(new URL(page.url()).searchParams.get('session'), SID);
  assert.equal(new URL(page.url()).searchParams.get('has_replay'), '1');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("the agent's own recording of two page loads plays in the player", async () => {
  // pages of a shop on another origin (a server of the test's own) with the collector's
  // agent, every session recorded; the agent fetches its replay chunk from the collector and
  // sends there
  const html = (title) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
    `<script async src="${base}/agent/vigil.js" data-key="${project.public_key}" ` +
    `data-replay-sample-rate="1"></script></head><body><h1>${title}</h1>` +
    `<p class="vigil-mask">secret-words-of-the-visitor</p><input id="q" value=""></body></html>`;
  const shopServer = createServer((req, res) => {
    const title = { '/one': 'Agent page one', '/two': 'Agent page two' }[req.url];
    res.writeHead(title ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(title ? html(title) : '');
  });
  await new Promise((r) => shopServer.listen(0, '127.0.0.1', r));
  const SHOP = `http://127.0.0.1:${shopServer.address().port}`;
  const shop = await browser.newContext();
  // closed whatever happens: an open page server would keep the test process alive
  let segments = [];
  let sid;
  try {
    const visitor = await shop.newPage();
    const visitorLog = [];
    visitor.on('console', (m) => visitorLog.push(`${m.type()}: ${m.text()}`));
    await visitor.goto(`${SHOP}/one`);
    for (let i = 0; !sid; i++) {
      sid = await visitor.evaluate(() => window.vigil?.getContext?.().session_id);
      assert.ok(i < 100, `the agent never started\n${visitorLog.join('\n')}`);
      if (!sid) await new Promise((r) => setTimeout(r, 100));
    }
    await visitor.type('#q', 'typed-by-visitor', { delay: 5 });
    await visitor.waitForTimeout(1500);
    await visitor.goto(`${SHOP}/two`); // leaving a page sends what it recorded
    await visitor.waitForTimeout(1500);
    await visitor.goto('about:blank');
    for (let i = 0; ; i++) {
      const r = await fetch(`${base}/api/v1/sessions/${sid}/replay?project=${project.id}`, {
        headers: { Authorization: `Bearer ${project.api_token}` },
      });
      if (r.status === 200) {
        segments = (await r.text())
          .split('\n')
          .filter((l) => l)
          .map((l) => JSON.parse(l));
        const snapshots = segments.flatMap((s) => s.events).filter((e) => e.type === 2);
        if (snapshots.length >= 2 && JSON.stringify(segments).includes('Agent page two')) break;
      }
      assert.ok(
        i < 150,
        `the agent's segments never arrived (${segments.length} so far)\n${visitorLog.join('\n')}`,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await shop.close();
    shopServer.closeAllConnections();
    shopServer.close();
  }
  const times = segments.flatMap((s) => s.events).map((e) => e.timestamp);
  const pageTwo = segments
    .flatMap((s) => s.events)
    .find((e) => e.type === 2 && JSON.stringify(e).includes('Agent page two')).timestamp;

  const { ctx, page, problems } = await signedInPage();
  await openSession(page, sid);
  assert.equal(await page.getAttribute('[data-testid=replay-card]', 'data-state'), 'ready');
  assert.equal(
    Number(await page.getAttribute('[data-testid=replay]', 'data-start')),
    Math.min(...times),
  );
  assert.equal(
    Number(await page.getAttribute('[data-testid=replay]', 'data-end')),
    Math.max(...times),
  );
  const text = await frameText(page);
  assert.match(text, /Agent page one/);
  // what the agent masked stays masked in the player
  assert.doesNotMatch(text, /secret-words-of-the-visitor/);
  // what the visitor typed, at the end of page one: as many stars
  const pageTwoLoad = segments.find((s) => s.view_id !== segments[0].view_id).start;
  await page.goto(sessionUrl(sid, `&t=${pageTwoLoad - 1}`));
  await page.waitForSelector('[data-testid=replay-card][data-state=ready]');
  assert.match(await frameText(page), /Agent page one/);
  const typed = await page.evaluate(
    () =>
      document
        .querySelector('[data-testid=replay-stage] iframe')
        .contentDocument.querySelector('#q').value,
  );
  assert.equal(typed, '*'.repeat('typed-by-visitor'.length));
  // the second page load, from the moment its snapshot was taken
  await page.goto(sessionUrl(sid, `&t=${pageTwo + 1}`));
  await page.waitForSelector('[data-testid=replay-card][data-state=ready]');
  assert.match(await frameText(page), /Agent page two/);
  assert.deepEqual(problems, []);
  await ctx.close();
});
