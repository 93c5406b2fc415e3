// traceparent on fetch and XHR: the sampled flag follows the session's trace sampling
// (data-trace-sample-rate), the same for every request of a session; an application's own
// traceparent is kept and its flag recorded; other origins get no header; a session sampled
// out by data-sample-rate sends -00 and no event. Headers are checked as the page server saw
// them, events as sent (and accepted) and as stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPage, sessionId, stored, ofType, withStack, unit } from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

const TP = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/** The first session id whose session draw satisfies `sent` and trace draw `traced`. */
const idWith = (sent, traced) => {
  for (let i = 0; ; i++) {
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    if (sent(unit(id)) && traced(unit('t' + id))) return id;
  }
};

/** A page of basic.html with a live session `id` already stored (when given). */
async function open(query, id) {
  const { context, page } = await newPage(browser);
  if (id) {
    const now = Date.now();
    await context.addInitScript(
      (v) => localStorage.setItem('vigil_session', v),
      `${id}.${now}.${now}`,
    );
  }
  await page.goto(pages.url + '/basic.html' + query);
  const sid = await sessionId(page);
  if (id) assert.equal(sid, id);
  return { context, page, sid };
}

/** fetch and XHR of /api/users/<n> from the page: the traceparent each request arrived with. */
const fetchUser = (page, n, headers) =>
  page.evaluate(
    async ([n, headers]) =>
      (await (await fetch('/api/users/' + n, { headers })).json()).traceparent,
    [String(n), headers],
  );
const xhrUser = (page, n, header) =>
  page.evaluate(
    ([n, header]) =>
      new Promise((resolve) => {
        const x = new XMLHttpRequest();
        x.open('GET', '/api/users/' + n);
        if (header) x.setRequestHeader('traceparent', header);
        x.onload = () => resolve(JSON.parse(x.responseText).traceparent);
        x.send();
      }),
    [String(n), header],
  );

/** What the page server saw for /api/users/<n>. */
const seen = (n) => pages.state.api.filter((r) => r.path === '/api/users/' + n);

/** The request events sent and accepted for a session, by path. */
const sent = (sid) =>
  pages.state.ingest
    .filter((i) => i.status === 202)
    .map((i) => JSON.parse(i.body))
    .filter((b) => b.context.session_id === sid)
    .flatMap((b) => b.events)
    .filter((e) => e.type === 'request');

/** Stored request events of a session, once `n` of them are there (the queue flushed meanwhile). */
const storedRequests = async (sid, n, page) =>
  ofType(
    await stored(vigil, sid, (e) => ofType(e, 'requests').length >= n, `${n} requests`, page),
    'requests',
  );

const byPath = (events, n, api) =>
  events.find((e) => new URL(e.url).pathname === '/api/users/' + n && (!api || e.api === api));

/** Checks the header the server saw for request n against its sent and stored events. */
function agrees(n, api, flag, sentEvents, storedEvents) {
  const s = seen(n);
  assert.equal(s.length, 1, `one request ${n}`);
  const m = TP.exec(s[0].traceparent);
  assert.ok(m, `request ${n}: ${s[0].traceparent}`);
  assert.equal(m[3], flag, `request ${n} flag`);
  for (const [what, events] of [
    ['sent', sentEvents],
    ['stored', storedEvents],
  ]) {
    const e = byPath(events, n, api);
    assert.ok(e, `${what} request ${n}`);
    assert.equal(e.trace_id, m[1], `${what} trace_id of ${n}`);
    assert.equal(e.span_id, m[2], `${what} span_id of ${n}`);
    assert.equal(e.trace_sampled, flag === '01', `${what} trace_sampled of ${n}`);
  }
}

test('traceSampleRate 1 (the default): traceparent ends in -01, trace_sampled true', async () => {
  const { context, page, sid } = await open('?a.trace-sample-rate=1');
  assert.match(await fetchUser(page, 101), /-01$/);
  assert.match(await xhrUser(page, 102), /-01$/);
  const st = await storedRequests(sid, 2, page);
  agrees(101, 'fetch', '01', sent(sid), st);
  agrees(102, 'xhr', '01', sent(sid), st);
  await context.close();

  // Without the attribute as well.
  const d = await open('');
  assert.match(await fetchUser(d.page, 103), /-01$/);
  const dst = await storedRequests(d.sid, 1, d.page);
  agrees(103, 'fetch', '01', sent(d.sid), dst);
  await d.context.close();
});

test('data-trace-sample-rate=0: traceparent ends in -00, trace_sampled false, events still sent', async () => {
  const { context, page, sid } = await open('?a.trace-sample-rate=0');
  assert.match(await fetchUser(page, 201), /-00$/);
  assert.match(await xhrUser(page, 202), /-00$/);
  const st = await storedRequests(sid, 2, page);
  agrees(201, 'fetch', '00', sent(sid), st);
  agrees(202, 'xhr', '00', sent(sid), st);
  await context.close();
});

test('the decision is per session (from its id, apart from the session sampling) and the same for all its requests', async () => {
  // Both sessions are sent (sample rate 0.9); the trace draw keeps one and not the other.
  const kept = idWith(
    (u) => u < 0.9,
    (u) => u < 0.5,
  );
  const dropped = idWith(
    (u) => u < 0.9,
    (u) => u >= 0.5,
  );
  let n = 300;
  for (const [id, flag] of [
    [kept, '01'],
    [dropped, '00'],
  ]) {
    const q = '?a.sample-rate=0.9&a.trace-sample-rate=0.5';
    const { context, page, sid } = await open(q, id);
    const reqs = [];
    for (let i = 0; i < 3; i++) {
      await fetchUser(page, ++n);
      reqs.push([n, 'fetch']);
      await xhrUser(page, ++n);
      reqs.push([n, 'xhr']);
    }
    // A second page of the same session.
    await page.goto(pages.url + '/basic.html' + q);
    assert.equal(await sessionId(page), sid);
    await fetchUser(page, ++n);
    reqs.push([n, 'fetch']);
    await xhrUser(page, ++n);
    reqs.push([n, 'xhr']);
    const st = await storedRequests(sid, reqs.length, page);
    for (const [r, api] of reqs) agrees(r, api, flag, sent(sid), st);
    await context.close();
  }
});

test("an application's own traceparent is sent as it is and its flag recorded", async () => {
  const app = (flag) => `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-${flag}`;
  // Flags 00 while the agent would ask for 01, and the other way round.
  for (const [rate, flag, n] of [
    ['1', '00', 400],
    ['0', '01', 410],
  ]) {
    const { context, page, sid } = await open('?a.trace-sample-rate=' + rate);
    const h = app(flag);
    assert.equal(await fetchUser(page, n + 1, { traceparent: h }), h);
    assert.equal(
      await page.evaluate(
        async ([n, h]) =>
          (
            await (
              await fetch(new Request('/api/users/' + n, { headers: { traceparent: h } }))
            ).json()
          ).traceparent,
        [String(n + 2), h],
      ),
      h,
      'a Request with the header',
    );
    assert.equal(await xhrUser(page, n + 3, h), h, 'XHR: one header, not two');
    const st = await storedRequests(sid, 3, page);
    for (const [r, api] of [
      [n + 1, 'fetch'],
      [n + 2, 'fetch'],
      [n + 3, 'xhr'],
    ]) {
      assert.equal(seen(r)[0].traceparent, h, `request ${r} arrived with the application's header`);
      agrees(r, api, flag, sent(sid), st);
    }
    await context.close();
  }
});

test('an origin not in traceOrigins gets no traceparent, and its request event no trace fields', async () => {
  const { context, page, sid } = await open('');
  // localhost is another origin than the page's 127.0.0.1 (same server); only `self` is traced.
  const other = pages.url.replace('127.0.0.1', 'localhost');
  const got = await page.evaluate(
    async (u) => (await (await fetch(u + '/api/users/501')).json()).traceparent,
    other,
  );
  assert.equal(got, null);
  assert.match(await fetchUser(page, 502), /-01$/, 'the page origin still is');
  const s = seen(501);
  assert.deepEqual(
    s.map((r) => [r.method, r.host.split(':')[0], r.traceparent]),
    [['GET', 'localhost', null]],
    'a simple GET, without a preflight',
  );
  const st = await storedRequests(sid, 2, page);
  for (const events of [sent(sid), st]) {
    const e = byPath(events, 501);
    assert.ok(e && e.status === 200, JSON.stringify(e));
    assert.equal(e.trace_id ?? undefined, undefined);
    assert.equal(e.span_id ?? undefined, undefined);
    assert.equal(e.trace_sampled ?? undefined, undefined);
  }
  await context.close();
});

test('a session sampled out by sampleRate: -00 on traced origins and no event; not instrumented when out from the start', async () => {
  const inId = idWith(
    (u) => u < 0.5,
    (u) => u < 1,
  );
  const outId = idWith(
    (u) => u >= 0.5,
    (u) => u < 1, // its trace draw alone would keep it
  );
  const q = '?a.sample-rate=0.5';

  // Out from the start: the agent installs nothing, so fetch and XHR are the browser's own.
  {
    const { context, page } = await newPage(browser);
    const now = Date.now();
    await context.addInitScript(
      (v) => localStorage.setItem('vigil_session', v),
      `${outId}.${now}.${now}`,
    );
    await page.goto(pages.url + '/basic.html' + q);
    await page.waitForFunction(() => window.vigil && window.vigil.version);
    assert.equal(await page.evaluate(() => vigil.getContext().session_id), '');
    assert.equal(
      await page.evaluate(() => /\[native code\]/.test(String(window.fetch))),
      true,
      'fetch not wrapped',
    );
    assert.equal(await fetchUser(page, 601), null);
    assert.equal(await xhrUser(page, 602), null);
    await context.close();
  }

  // Sampled in, then (30 minutes idle later) a new session that is sampled out: the wrappers
  // are in place, so traced origins get -00 and the new session sends nothing.
  const { context, page, sid } = await (async () => {
    const { context, page } = await newPage(browser);
    await context.addInitScript(() => {
      const real = Date.now;
      window.__shift = 0;
      Date.now = () => real() + window.__shift;
    });
    const now = Date.now();
    await context.addInitScript(
      (v) => localStorage.setItem('vigil_session', v),
      `${inId}.${now}.${now}`,
    );
    await page.goto(pages.url + '/basic.html' + q);
    return { context, page, sid: await sessionId(page) };
  })();
  assert.equal(sid, inId);
  assert.match(await fetchUser(page, 611), /-01$/);
  await storedRequests(sid, 1, page);
  await page.evaluate((id) => {
    window.__shift = 31 * 60e3;
    const t = Date.now();
    localStorage.setItem('vigil_session', `${id}.${t}.${t}`); // another tab started it
  }, outId);
  const before = pages.state.ingest.length;
  assert.match(await fetchUser(page, 612), /-00$/);
  assert.match(await xhrUser(page, 613), /-00$/);
  assert.match(await fetchUser(page, 614), /-00$/);
  assert.equal(await page.evaluate(() => vigil.getContext().session_id), outId);
  await page.waitForTimeout(1200); // past the wait for Resource Timing
  await page.evaluate(() => vigil.flush());
  await page.waitForTimeout(300);
  for (const r of [612, 613, 614]) assert.equal(seen(r).length, 1);
  const later = pages.state.ingest.slice(before).map((i) => JSON.parse(i.body));
  assert.deepEqual(
    later.filter((b) => b.context.session_id === outId),
    [],
    'nothing sent for the sampled-out session',
  );
  assert.equal(
    later.flatMap((b) => b.events).filter((e) => e.type === 'request' && /\/61[234]$/.test(e.url))
      .length,
    0,
  );
  await context.close();
});
