// Delivery: retries (503/429 then 200 → every batch exactly once), non-retryable 4xx, offline
// then online, size and timer flushes, a cross-origin endpoint; and the gates: consent, Global
// Privacy Control, sample rate 0, manual start; the queue stub and the context fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  newPage,
  sessionId,
  stored,
  ofType,
  waitFor,
  sleep,
  withStack,
  idWith,
} from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

const customs = (events) =>
  ofType(events, 'custom_events')
    .map((e) => e.name)
    .sort();
const bodiesOf = (sid) => pages.state.ingest.filter((i) => i.body.includes(sid));

/**
 * A page of basic.html whose page view the collector has accepted. The agent holds the view until
 * its TTI is known (5 s without a long task after FCP), so this flushes until the view has gone.
 */
async function basicPageWithViewAccepted() {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/basic.html');
  const sid = await sessionId(page);
  await waitFor(
    async () => {
      await page.evaluate(() => vigil.flush());
      return bodiesOf(sid).some((i) => i.status === 202 && i.body.includes('"type":"view"'));
    },
    { what: 'the page view accepted', interval: 300 },
  );
  // The batches sent from here on.
  const from = bodiesOf(sid).length;
  return { context, page, sid, since: () => bodiesOf(sid).slice(from) };
}

for (const status of [503, 429, 500]) {
  test(`a collector answering ${status} then 202 gets every batch exactly once`, async () => {
    // The page view goes first, unharmed.
    const { context, page, sid, since } = await basicPageWithViewAccepted();
    pages.state.fail = { count: 3, status, retryAfter: '1' };
    for (const n of ['one', 'two', 'three', 'four']) {
      await page.evaluate((name) => {
        vigil.event(name);
        vigil.flush();
      }, n);
    }
    const events = await stored(vigil, sid, (e) => customs(e).length >= 4, 'four custom events');
    await sleep(1500); // any duplicate retry would land by now
    const again = await vigil.session(sid);
    assert.deepEqual(customs(again), ['four', 'one', 'three', 'two']);
    assert.equal(ofType(again, 'views').length, 1);
    const mine = since();
    assert.equal(mine.filter((i) => i.status === status).length, 3, 'three answered with failures');
    assert.equal(
      mine.filter((i) => i.status === 202).length,
      4,
      'each of the four batches accepted once',
    );
    void events;
    await context.close();
  });
}

test('a batch rejected with 400 is dropped, not retried', async () => {
  // The page view goes first, unharmed.
  const { context, page, sid } = await basicPageWithViewAccepted();
  pages.state.fail = { count: 1, status: 400, retryAfter: '1' };
  await page.evaluate(() => {
    vigil.event('rejected');
    vigil.flush();
  });
  await waitFor(() => bodiesOf(sid).some((i) => i.status === 400), { what: 'the 400' });
  await page.evaluate(() => {
    vigil.event('after');
    vigil.flush();
  });
  await stored(vigil, sid, (e) => customs(e).includes('after'), 'the next batch');
  await sleep(2500); // a retry would have come after ~1 s
  assert.deepEqual(customs(await vigil.session(sid)), ['after']);
  assert.equal(bodiesOf(sid).filter((i) => i.body.includes('"rejected"')).length, 1);
  await context.close();
});

test('offline then online: queued batches are sent once on `online`', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/basic.html');
  const sid = await sessionId(page);
  await context.setOffline(true);
  await page.evaluate(() => {
    vigil.event('offline_1');
    vigil.flush();
    vigil.event('offline_2');
    vigil.flush();
  });
  await sleep(1500);
  assert.equal(
    bodiesOf(sid).filter((i) => i.body.includes('offline_')).length,
    0,
    'nothing reaches the network offline',
  );
  await context.setOffline(false);
  const events = await stored(vigil, sid, (e) => customs(e).length >= 2, 'the offline events');
  await sleep(1000);
  assert.deepEqual(customs(await vigil.session(sid)), ['offline_1', 'offline_2']);
  assert.equal(bodiesOf(sid).filter((i) => i.body.includes('offline_')).length, 2);
  void events;
  await context.close();
});

test('a page left while offline keeps its batches for the next page', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/basic.html');
  const sid = await sessionId(page);
  await context.setOffline(true);
  await page.evaluate(() => vigil.event('left_offline'));
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange'))); // no-op while visible
  await page.goto('about:blank').catch(() => {}); // pagehide → stored in localStorage
  await context.setOffline(false);
  await page.goto(pages.url + '/basic.html');
  await stored(vigil, sid, (e) => customs(e).includes('left_offline'), 'the stored batch');
  await context.close();
});

test('batches are sent at 16 KiB without waiting, and every 5 s otherwise', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/basic.html');
  const sid = await sessionId(page);
  await page.waitForLoadState('load');
  const t0 = Date.now();
  await page.evaluate(() => {
    for (let i = 0; i < 60; i++) vigil.event('bulk', { i, pad: 'x'.repeat(300) });
  });
  await waitFor(() => bodiesOf(sid).some((i) => i.body.includes('"bulk"')), {
    what: 'size flush',
    timeout: 4000,
  });
  assert.ok(Date.now() - t0 < 4000, 'before the 5 s timer');
  const big = bodiesOf(sid).find((i) => i.body.includes('"bulk"'));
  assert.ok(big.body.length >= 16384 && big.body.length < 60000, `body ${big.body.length} bytes`);
  await page.evaluate(() => vigil.event('timer'));
  const t1 = Date.now();
  await stored(vigil, sid, (e) => customs(e).includes('timer'), 'timer flush');
  const dt = Date.now() - t1;
  assert.ok(dt >= 3500 && dt < 9000, `sent by the timer after ${dt} ms`);
  await context.close();
});

test('cross-origin endpoint (data-endpoint) straight to vigil, with CORS', async () => {
  const { context, page, logs } = await newPage(browser);
  await page.goto(
    pages.url + `/basic.html?a.endpoint=${encodeURIComponent(vigil.url + '/api/v1/ingest')}`,
  );
  const sid = await sessionId(page);
  await page.evaluate(() => {
    vigil.event('direct');
    vigil.flush();
  });
  await stored(vigil, sid, (e) => customs(e).includes('direct'), 'direct event');
  assert.equal(bodiesOf(sid).length, 0, 'the proxy was not used');
  assert.ok(!logs.some((l) => /CORS/i.test(l)), logs.join('\n'));
  await context.close();
});

test('consent required: nothing is collected or stored before vigil.consent(true)', async () => {
  const { context, page } = await newPage(browser);
  const before = pages.state.ingest.length;
  await page.goto(pages.url + '/spa.html?a.consent-required=');
  await page.waitForFunction(() => window.vigil && window.vigil.version);
  await page.click('#live');
  await page.evaluate(() => {
    vigil.event('before_consent');
    vigil.flush();
    history.pushState({}, '', '/spa/a');
  });
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await sleep(1200);
  assert.equal(pages.state.ingest.length, before, 'no request before consent');
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), [], 'nothing stored');
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.equal(await page.evaluate(() => vigil.getContext().session_id), '');
  await page.evaluate(() => vigil.consent(true));
  const sid = await sessionId(page);
  await page.evaluate(() => {
    vigil.event('after_consent');
    vigil.flush();
  });
  const events = await stored(
    vigil,
    sid,
    (e) => customs(e).includes('after_consent') && ofType(e, 'views').length,
    'events after consent',
    page,
  );
  assert.ok(!customs(events).includes('before_consent'));
  // Withdrawn: stops and forgets the session.
  await page.evaluate(() => vigil.consent(false));
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  const n = pages.state.ingest.length;
  await page.evaluate(() => {
    vigil.event('after_withdrawal');
    vigil.flush();
  });
  await sleep(800);
  assert.equal(pages.state.ingest.length, n);
  await context.close();
});

test('Global Privacy Control: consent is required', async () => {
  const { context, page } = await newPage(browser);
  await context.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  );
  const before = pages.state.ingest.length;
  await page.goto(pages.url + '/basic.html');
  await page.waitForFunction(() => window.vigil && window.vigil.version);
  await page.evaluate(() => {
    vigil.event('gpc');
    vigil.flush();
  });
  await sleep(1000);
  assert.equal(pages.state.ingest.length, before);
  await page.evaluate(() => vigil.consent(true));
  const sid = await sessionId(page);
  await stored(vigil, sid, (e) => ofType(e, 'views').length, 'the view after consent', page);
  await context.close();
});

test('sample rate 0 sends nothing', async () => {
  const { context, page } = await newPage(browser);
  // This page's batches (the context has its URL); a previous test's last beacon may land now.
  const mine = () => pages.state.ingest.filter((i) => i.body.includes('sample-rate=0'));
  await page.goto(pages.url + '/spa.html?a.sample-rate=0');
  await page.waitForFunction(() => window.vigil && window.vigil.version);
  await page.click('#live');
  await page.evaluate(() => {
    vigil.event('sampled_out');
    vigil.error(new Error('x'));
    vigil.flush();
  });
  await page.goto(pages.url + '/blank.html');
  await sleep(1500);
  assert.deepEqual(mine(), []);
  await context.close();
});

test('manual start: nothing until vigil.start()', async () => {
  const { context, page } = await newPage(browser);
  const before = pages.state.ingest.length;
  await page.goto(pages.url + '/basic.html?a.manual-start=1');
  await page.waitForFunction(() => window.vigil && window.vigil.version);
  await page.evaluate(() => vigil.flush());
  await sleep(800);
  assert.equal(pages.state.ingest.length, before);
  await page.evaluate(() => vigil.start());
  const sid = await sessionId(page);
  await page.evaluate(() => vigil.flush());
  await stored(vigil, sid, (e) => ofType(e, 'views').length, 'the view', page);
  await context.close();
});

test('queue stub replay, user, attributes, release, environment and context', async () => {
  const { context, page } = await newPage(browser, { viewport: { width: 900, height: 700 } });
  await page.goto(pages.url + '/stub.html?a.release=2025.11.3&a.environment=staging');
  const sid = await sessionId(page);
  await page.evaluate(() => vigil.flush());
  const events = await stored(
    vigil,
    sid,
    (e) => customs(e).includes('early_event') && ofType(e, 'views').length,
    'the queued event',
    page,
  );
  const ev = ofType(events, 'custom_events')[0];
  assert.equal(ev.value, 7);
  assert.deepEqual(JSON.parse(ev.properties), { source: 'stub' });
  assert.equal(ev.user_id, 'u_early');
  assert.deepEqual(JSON.parse(ev.attributes), { plan: 'pro', beta: true, n: 3 });
  assert.equal(ev.release, '2025.11.3');
  assert.equal(ev.environment, 'staging');
  assert.equal(ev.agent, 'vigil-browser');
  assert.equal(ev.agent_version, await page.evaluate(() => vigil.version));
  const [view] = ofType(events, 'views');
  assert.equal(view.viewport_width, 900);
  assert.equal(view.viewport_height, 700);
  assert.ok(view.screen_width > 0);
  assert.match(view.page_url, /\/stub\.html\?a\.release=/);
  // The same session across page loads.
  await page.goto(pages.url + '/basic.html');
  assert.equal(await sessionId(page), sid);
  await context.close();
});

test('the npm (ESM) build with init() and a first-party endpoint path', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + `/esm.html?key=${vigil.key}`);
  const sid = await sessionId(page);
  await page.evaluate(() => vigil.flush());
  const events = await stored(vigil, sid, (e) => customs(e).includes('from_esm'), 'the ESM event');
  assert.equal(ofType(events, 'custom_events')[0].release, 'esm-1');
  assert.ok(pages.state.hits['/rum/ingest'] >= 1, 'sent to /rum/ingest');
  await context.close();
});

test('sampling is deterministic by session id; sessions expire after 30 min idle or 4 h', async () => {
  const now = Date.now();
  const inId = idWith((u) => u < 0.5);
  const outId = idWith((u) => u >= 0.5);
  const run = async (stored, query = '?a.sample-rate=0.5') => {
    const { context, page } = await newPage(browser);
    await context.addInitScript((v) => localStorage.setItem('vigil_session', v), stored);
    await page.goto(pages.url + '/basic.html' + query);
    await page.waitForFunction(() => window.vigil && window.vigil.version);
    await page.waitForTimeout(100);
    const sid = await page.evaluate(() => vigil.getContext().session_id);
    const kept = await page.evaluate(() => localStorage.getItem('vigil_session').split('.')[0]);
    const view = await page.evaluate(() => vigil.getContext().view_id);
    await context.close();
    return { sid, kept, view };
  };
  // A live session is kept; its id decides the sampling.
  const live = await run(`${inId}.${now - 60e3}.${now - 10e3}`);
  assert.deepEqual([live.sid, live.kept], [inId, inId]);
  // A session id of an earlier form (here a UUID) names its views all the same: its start reads as
  // the time less what its first characters are as hex (still one per millisecond), in base 36.
  assert.match(live.view, new RegExp(`^${inId}-[0-9a-z]+[0-9a-f]{4}$`));
  const out = await run(`${outId}.${now - 60e3}.${now - 10e3}`);
  assert.deepEqual([out.sid, out.kept], ['', outId]);
  // 31 minutes idle, or started 4 h ago: a new session.
  const idle = await run(`${inId}.${now - 3600e3}.${now - 31 * 60e3}`, '');
  assert.ok(idle.sid && idle.sid !== inId);
  const old = await run(`${inId}.${now - 4 * 3600e3 - 1000}.${now - 1000}`, '');
  assert.ok(old.sid && old.sid !== inId);
  // A new session is named after its start (ms as 11 hex characters), then 40 random bits; its
  // first view after the session, its start 0 ms or a few after the session's, and 16 random bits.
  assert.match(idle.sid, /^[0-9a-f]{21}$/);
  const started = parseInt(idle.sid.slice(0, 11), 16);
  assert.ok(started >= now && started <= Date.now(), `started ${started - now} ms after the test`);
  const [, after] = idle.view.match(new RegExp(`^${idle.sid}-([0-9a-z]+)[0-9a-f]{4}$`));
  assert.ok(parseInt(after, 36) < 1000, `the first view starts ${after} (base 36) ms after it`);
  assert.notEqual(idle.sid, old.sid, 'two new sessions have their own ids');
  assert.equal((await run(`${inId}.${now - 3 * 3600e3}.${now - 29 * 60e3}`, '')).sid, inId);
});

test('resource timings: sent for sampled views, bounded, without the agent’s own requests', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/vitals.html?a.resource-sample-rate=1');
  const sid = await sessionId(page);
  await page.waitForFunction(() => document.getElementById('hero').complete);
  await page.waitForTimeout(100);
  await page.evaluate(() => vigil.flush());
  await page.waitForTimeout(300);
  await page.evaluate(() => vigil.flush());
  const events = await stored(vigil, sid, (e) => ofType(e, 'resources').length >= 4, 'resources');
  const res = ofType(events, 'resources');
  const by = (re) => res.find((r) => re.test(r.url));
  const css = by(/\/vitals\.css$/);
  assert.equal(css.initiator, 'link');
  assert.equal(css.render_blocking, true);
  const img = by(/\/slow\.png/);
  assert.equal(img.initiator, 'img');
  assert.ok(img.duration >= 850 && img.ttfb >= 850, `image ${img.duration}/${img.ttfb}`);
  assert.equal(img.status, 200);
  assert.ok(img.decoded_size > 0 && img.transfer_size > img.encoded_size - 1);
  assert.equal(by(/\/agent\/vigil\.js$/).initiator, 'script');
  assert.ok(!res.some((r) => /\/api\/v1\/ingest/.test(r.url)), 'never its own batches');
  assert.equal(ofType(events, 'requests').length, 0, 'nor as requests');
  await context.close();
  // Rate 0: no resources.
  const p2 = await newPage(browser);
  await p2.page.goto(pages.url + '/basic.html?a.resource-sample-rate=0');
  const sid2 = await sessionId(p2.page);
  await p2.page.waitForTimeout(300);
  await p2.page.evaluate(() => vigil.flush());
  const e2 = await stored(vigil, sid2, (e) => ofType(e, 'views').length, 'view', p2.page);
  assert.equal(ofType(e2, 'resources').length, 0);
  await p2.context.close();
});

test('unsupported browsers: the agent is a no-op that breaks nothing', async () => {
  const { context, page, logs } = await newPage(browser);
  await context.addInitScript(() => {
    delete window.PerformanceObserver;
  });
  // only this page's batches: a page of an earlier test, closed, may still be heard from late
  const mine = () => pages.state.ingest.filter((i) => i.body.includes('/unsupported.html'));
  await page.goto(pages.url + '/unsupported.html');
  await page.waitForFunction(() => window.vigil && window.vigil.version);
  await page.evaluate(() => {
    vigil.event('x');
    vigil.setUser('u');
    vigil.error(new Error('e'));
    vigil.flush();
    return fetch('/api/users/1').then((r) => r.json());
  });
  await sleep(800);
  assert.deepEqual(mine(), []);
  assert.equal(await page.evaluate(() => vigil.getContext().session_id), '');
  assert.ok(!logs.some((l) => l.startsWith('pageerror')), logs.join('\n'));
  await context.close();
});

test('with localStorage blocked the session lives in a first-party cookie', async () => {
  const { context, page } = await newPage(browser);
  await context.addInitScript(() =>
    Object.defineProperty(window, 'localStorage', {
      get() {
        throw new DOMException('blocked', 'SecurityError');
      },
    }),
  );
  await page.goto(pages.url + '/basic.html');
  const sid = await sessionId(page);
  assert.match(await page.evaluate(() => document.cookie), new RegExp(`vigil_session=${sid}\\.`));
  await page.goto(pages.url + '/spa.html');
  assert.equal(await sessionId(page), sid, 'the same session on the next page');
  await page.evaluate(() => vigil.flush());
  await stored(vigil, sid, (e) => ofType(e, 'views').length >= 1, 'events');
  await context.close();
});

test('a batch answered 413 is split in halves, each sent once', async () => {
  // The page view goes first, unharmed.
  const { context, page, sid } = await basicPageWithViewAccepted();
  pages.state.fail = { count: 1, status: 413, retryAfter: '' };
  await page.evaluate(() => {
    for (const n of ['s1', 's2', 's3', 's4']) vigil.event(n);
    vigil.flush();
  });
  await stored(vigil, sid, (e) => customs(e).length >= 4, 'the four events');
  await sleep(1000);
  assert.deepEqual(customs(await vigil.session(sid)), ['s1', 's2', 's3', 's4']);
  const parts = bodiesOf(sid).filter((i) => i.body.includes('"s1"') || i.body.includes('"s4"'));
  assert.deepEqual(
    parts.map((i) => [i.status, JSON.parse(i.body).events.length]),
    [
      [413, 4],
      [202, 2],
      [202, 2],
    ],
  );
  await context.close();
});

test('every batch the agent sent was accepted by the collector (valid protocol)', () => {
  assert.ok(pages.state.ingest.length > 0);
  assert.deepEqual(
    pages.rejected().map((r) => `${r.status} ${r.body.slice(0, 500)}`),
    [],
  );
});
