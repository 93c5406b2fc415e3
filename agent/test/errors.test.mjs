// Errors (thrown, rejected, console breadcrumbs, manual), resource load failures, and
// fetch/XHR requests with status, failures, templates, phases and traceparent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPage, sessionId, stored, ofType, withStack } from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

test('thrown errors, rejections and manual errors with frames and breadcrumbs', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/errors.html');
  const sid = await sessionId(page);
  await page.click('#go');
  await page.evaluate(() => actions.consoleError());
  await page.evaluate(() => actions.fetchUser());
  await page.evaluate(() => actions.throwError());
  await page.evaluate(() => actions.reject());
  await page.evaluate(() => actions.rejectString());
  await page.evaluate(() => vigil.error(new RangeError('handled by the app')));
  await page.waitForTimeout(100);
  await page.evaluate(() => vigil.flush());
  const events = await stored(vigil, sid, (e) => ofType(e, 'errors').length >= 4, 'four errors');
  const errors = ofType(events, 'errors');
  assert.equal(errors.length, 4);

  const thrown = errors.find((e) => e.source === 'onerror');
  assert.equal(thrown.error_type, 'TypeError');
  assert.equal(thrown.message, 'boom from the test page');
  assert.equal(thrown.handled, false);
  assert.match(thrown.stack, /throwDeep/);
  const frames = JSON.parse(thrown.frames);
  assert.equal(frames[0].function, 'throwDeep');
  assert.match(frames[0].file, /\/errors-page\.js$/);
  assert.ok(frames[0].line > 1 && frames[0].column > 0);
  assert.equal(frames[1].function, 'onTimer');
  const crumbs = JSON.parse(thrown.breadcrumbs);
  const cats = crumbs.map((c) => c.category);
  assert.deepEqual(cats, ['click', 'console', 'request'], JSON.stringify(crumbs));
  assert.equal(crumbs[0].message, 'button#go');
  assert.equal(crumbs[1].message, 'something went wrong 42');
  assert.match(crumbs[2].message, /^GET http:\/\/127\.0\.0\.1:\d+\/api\/users\/123\?expand=1 200$/);
  assert.equal(crumbs[2].data.status, 200);
  // The request's breadcrumb names its trace (same origin: traced by default), so the
  // dashboard can open it from the error.
  assert.match(crumbs[2].data.trace_id, /^[0-9a-f]{32}$/);
  // The request event waits up to 1 s for its Resource Timing entry.
  await page.waitForTimeout(1100);
  await page.evaluate(() => vigil.flush());
  const withRequest = await stored(
    vigil,
    sid,
    (e) => ofType(e, 'requests').some((r) => r.trace_id === crumbs[2].data.trace_id),
    'the request the breadcrumb names',
  );
  assert.equal(
    ofType(withRequest, 'requests').filter((e) => e.trace_id === crumbs[2].data.trace_id).length,
    1,
  );

  const rejected = errors.filter((e) => e.source === 'unhandledrejection');
  assert.equal(rejected.length, 2);
  const r1 = rejected.find((e) => e.error_type === 'Error');
  assert.equal(r1.message, 'rejected from the test page');
  assert.ok(JSON.parse(r1.frames).length >= 1);
  const r2 = rejected.find((e) => e.error_type === 'UnhandledRejection');
  assert.equal(r2.message, 'plain string reason');

  const manual = errors.find((e) => e.source === 'manual');
  assert.equal(manual.error_type, 'RangeError');
  assert.equal(manual.message, 'handled by the app');
  assert.equal(manual.handled, true);
  await context.close();
});

test('resource load failures: image and script', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/errors.html');
  const sid = await sessionId(page);
  await page.evaluate(() => {
    actions.brokenImage();
    actions.brokenScript();
  });
  await page.waitForTimeout(300);
  await page.evaluate(() => vigil.flush());
  const events = await stored(
    vigil,
    sid,
    (e) => ofType(e, 'resource_errors').length >= 2,
    'resource errors',
  );
  const re = ofType(events, 'resource_errors');
  const img = re.find((e) => e.tag === 'img');
  assert.match(img.url, /^http:\/\/127\.0\.0\.1:\d+\/missing\.png\?from=test$/);
  const script = re.find((e) => e.tag === 'script');
  assert.match(script.url, /\/missing-script\.js$/);
  assert.equal(ofType(events, 'errors').length, 0, 'a failed resource is not a JS error');
  await context.close();
});

test('fetch and XHR: status, template, phases, sizes, failures and traceparent', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/errors.html');
  const sid = await sessionId(page);
  assert.equal(await page.evaluate(() => actions.fetch500()), 500);
  const user = await page.evaluate(() => actions.fetchUser());
  assert.equal(user.id, '123');
  const echo = await page.evaluate(() => actions.fetchRequestObject());
  assert.equal(echo.body, 'hello', 'a Request body still arrives');
  const xuser = await page.evaluate(() => actions.xhrUser());
  assert.equal(xuser.id, '456');
  assert.equal(await page.evaluate(() => actions.xhrPost()), 200);
  assert.equal(await page.evaluate(() => actions.fetchNetworkError()), 'TypeError');
  assert.equal(await page.evaluate(() => actions.fetchAbort()), 'AbortError');
  await page.waitForTimeout(1200);
  await page.evaluate(() => vigil.flush());
  const events = await stored(
    vigil,
    sid,
    (e) => ofType(e, 'requests').length >= 7,
    'seven requests',
  );
  const reqs = ofType(events, 'requests');
  assert.equal(reqs.length, 7);
  const by = (re, api = 'fetch') => {
    const r = reqs.find((x) => re.test(x.url) && x.api === api);
    assert.ok(r, `request ${re} (${api})`);
    return r;
  };

  const fail = by(/\/api\/fail$/);
  assert.equal(fail.status, 500);
  assert.equal(fail.method, 'GET');
  assert.ok(fail.duration > 0);
  assert.match(fail.url_template, /^http:\/\/127\.0\.0\.1:\d+\/api\/fail$/);

  const u = by(/\/api\/users\/123/);
  assert.equal(u.status, 200);
  assert.match(u.url_template, /\/api\/users\/:id$/);
  // Same origin is traced by default: the server saw the traceparent that was recorded.
  assert.match(u.trace_id, /^[0-9a-f]{32}$/);
  assert.match(u.span_id, /^[0-9a-f]{16}$/);
  assert.equal(user.traceparent, `00-${u.trace_id}-${u.span_id}-01`);
  // Phases and size from Resource Timing.
  for (const k of ['dns', 'tcp', 'ttfb', 'download']) assert.equal(typeof u[k], 'number', k);
  assert.equal(u.response_size, JSON.stringify(user).length);

  const post = by(/\/api\/echo$/);
  assert.equal(post.method, 'POST');
  assert.match(echo.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

  const x = by(/\/api\/users\/456$/, 'xhr');
  assert.equal(x.status, 200);
  assert.match(x.url_template, /\/api\/users\/:id$/);
  assert.equal(xuser.traceparent, `00-${x.trace_id}-${x.span_id}-01`);
  const xp = by(/\/api\/echo$/, 'xhr');
  assert.equal(xp.method, 'POST');
  assert.equal(xp.request_size, 10);

  const net = by(/127\.0\.0\.1:1\//);
  assert.equal(net.failure, 'network');
  assert.ok(!net.status);
  assert.equal(net.trace_id, undefined, 'other origins get no traceparent by default');

  const ab = by(/\/api\/slow/);
  assert.equal(ab.failure, 'abort');
  await context.close();
});

test('data-trace-origins: only listed origins get a traceparent', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/errors.html?a.trace-origins=https://api.example.com');
  const sid = await sessionId(page);
  const user = await page.evaluate(() => actions.fetchUser());
  assert.equal(user.traceparent, null, 'the page origin is not listed');
  await page.waitForTimeout(1100);
  await page.evaluate(() => vigil.flush());
  const events = await stored(vigil, sid, (e) => ofType(e, 'requests').length >= 1, 'the request');
  assert.equal(ofType(events, 'requests')[0].trace_id, undefined);
  await context.close();
});

/** The error events with `message` the collector accepted (as the agent sent them). */
/** The error event with this message as the agent sent it. The proxy records a batch when
 *  the collector's answer has arrived, which can be a moment after the collector already
 *  shows the event to `stored`: so wait for the record. */
async function sentError(message) {
  const find = () =>
    pages.acceptedEvents().find((e) => e.type === 'error' && e.message === message);
  for (let i = 0; i < 100 && !find(); i++) await new Promise((r) => setTimeout(r, 50));
  return find();
}

test('vigil.error(e, {fingerprint}): a list of strings, at most 16 parts of 256 bytes; anything else is left out', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/errors.html');
  const sid = await sessionId(page);
  await page.evaluate(() => {
    vigil.error(new Error('fp plain'), { fingerprint: ['checkout', '{{ default }}'] });
    vigil.error(new Error('fp long'), {
      fingerprint: Array.from({ length: 20 }, (_, i) => (i ? 'part ' + i : 'é'.repeat(300))),
    });
    vigil.error(new Error('fp string'), { fingerprint: 'checkout' });
    vigil.error(new Error('fp mixed'), { fingerprint: ['checkout', 42] });
    vigil.error(new Error('fp none'), null);
    vigil.error(new Error('fp holes'), { fingerprint: new Array(3) }); // JSON would make them null
  });
  await page.evaluate(() => vigil.flush());
  const events = await stored(vigil, sid, (e) => ofType(e, 'errors').length >= 6, 'six errors');
  assert.deepEqual((await sentError('fp plain')).fingerprint, ['checkout', '{{ default }}']);
  const long = (await sentError('fp long')).fingerprint;
  assert.equal(long.length, 16);
  assert.equal(long[0], 'é'.repeat(128), '256 bytes of UTF-8');
  assert.equal(long[15], 'part 15');
  for (const m of ['fp string', 'fp mixed', 'fp none', 'fp holes']) {
    assert.ok(await sentError(m), m);
    assert.equal((await sentError(m)).fingerprint, undefined, m);
  }
  const grouping = (m) => JSON.parse(ofType(events, 'errors', (e) => e.message === m)[0].grouping);
  assert.equal(grouping('fp plain').method, 'custom');
  assert.deepEqual(grouping('fp plain').custom, ['checkout', '{{ default }}']);
  assert.equal(grouping('fp long').method, 'custom');
  assert.notEqual(grouping('fp mixed').method, 'custom');
  await context.close();
});

test('the cause chain is sent for every source: causes in order, a cycle cut, at most 8, non-errors described', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/errors.html');
  const sid = await sessionId(page);
  await page.evaluate(() => {
    const middle = new TypeError('middle', { cause: 'the root cause, a string' });
    vigil.error(new Error('two causes', { cause: middle }));
    const a = new Error('cycle a');
    const b = new RangeError('cycle b', { cause: a });
    a.cause = b;
    vigil.error(a);
    vigil.error(new Error('object cause', { cause: { code: 42 } }));
    let deep = new Error('level 12');
    for (let i = 11; i >= 1; i--) deep = new Error('level ' + i, { cause: deep });
    vigil.error(deep);
    vigil.error(new Error('no cause'));
    setTimeout(() => {
      throw new Error('uncaught', { cause: new Error('why uncaught') });
    });
    Promise.reject(new SyntaxError('rejected', { cause: new Error('why rejected') }));
  });
  await page.waitForTimeout(100);
  await page.evaluate(() => vigil.flush());
  const events = await stored(vigil, sid, (e) => ofType(e, 'errors').length >= 7, 'seven errors');

  const two = await sentError('two causes');
  assert.equal(two.causes.length, 2);
  assert.equal(two.causes[0].error_type, 'TypeError');
  assert.equal(two.causes[0].message, 'middle');
  assert.match(two.causes[0].stack, /^TypeError: middle\n/);
  assert.deepEqual(Object.keys(two.causes[0]).sort(), ['error_type', 'message', 'stack']);
  assert.deepEqual(two.causes[1], { error_type: 'Error', message: 'the root cause, a string' });
  const cycle = (await sentError('cycle a')).causes;
  assert.deepEqual(
    cycle.map((c) => [c.error_type, c.message]),
    [['RangeError', 'cycle b']],
    'the chain stops where it comes back',
  );
  assert.deepEqual((await sentError('object cause')).causes, [
    { error_type: 'Error', message: '{"code":42}' },
  ]);
  assert.deepEqual(
    (await sentError('level 1')).causes.map((c) => c.message),
    ['level 2', 'level 3', 'level 4', 'level 5', 'level 6', 'level 7', 'level 8', 'level 9'],
  );
  assert.equal((await sentError('no cause')).causes, undefined);
  const uncaught = await sentError('uncaught');
  assert.equal(uncaught.source, 'onerror');
  assert.deepEqual(
    uncaught.causes.map((c) => c.message),
    ['why uncaught'],
  );
  const rejected = await sentError('rejected');
  assert.equal(rejected.source, 'unhandledrejection');
  assert.deepEqual(
    rejected.causes.map((c) => c.message),
    ['why rejected'],
  );
  // stored beside the error, with the frames the collector parsed from the stacks
  const storedTwo = JSON.parse(
    ofType(events, 'errors', (e) => e.message === 'two causes')[0].causes,
  );
  assert.deepEqual(
    storedTwo.map((c) => [c.error_type, c.message]),
    [
      ['TypeError', 'middle'],
      ['Error', 'the root cause, a string'],
    ],
  );
  assert.ok(storedTwo[0].frames.length >= 1, JSON.stringify(storedTwo[0]));
  await context.close();
});

test('debug_ids: the ids that bundles registered, for the scripts in the error’s frames only', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/debug-ids.html');
  const sid = await sessionId(page);
  const url = (n) => `${pages.url}/debug-ids-${n}.js`;
  const A = 'aaaaaaaa-1111-4111-8111-111111111111';
  const B = 'BBBBBBBB2222422282222222222222B2';
  const D = 'dddddddd-4444-4444-8444-444444444444';
  const report = () =>
    page.evaluate(() => {
      const report = (f) => {
        try {
          f();
        } catch (e) {
          vigil.error(e);
        }
      };
      report(() => dbg.throwA('only a'));
      report(() => dbg.through(() => dbg.throwA('a through b')));
      report(() => dbg.throwC('c registered no valid id'));
      report(() => {
        throw new Error('no script of a bundle');
      });
      try {
        dbg.throwA('the cause');
      } catch (e) {
        vigil.error(new Error('a cause from a', { cause: e }));
      }
    });
  await report();
  // A chunk loaded later: the registry has grown.
  await page.addScriptTag({ url: '/debug-ids-d.js' });
  await page.evaluate(() => {
    try {
      dbg.through(() => dbg.throwD('d through b'));
    } catch (e) {
      vigil.error(e);
    }
  });
  await page.evaluate(() => vigil.flush());
  await stored(vigil, sid, (e) => ofType(e, 'errors').length >= 6, 'six errors');
  assert.deepEqual((await sentError('only a')).debug_ids, { [url('a')]: A });
  assert.deepEqual((await sentError('a through b')).debug_ids, { [url('a')]: A, [url('b')]: B });
  assert.equal((await sentError('c registered no valid id')).debug_ids, undefined);
  assert.equal((await sentError('no script of a bundle')).debug_ids, undefined);
  assert.deepEqual(
    (await sentError('a cause from a')).debug_ids,
    { [url('a')]: A },
    'from the causes',
  );
  assert.deepEqual((await sentError('d through b')).debug_ids, { [url('d')]: D, [url('b')]: B });
  await context.close();
});

test('debug_ids: at most 32 scripts', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/debug-ids.html');
  const sid = await sessionId(page);
  // 40 scripts (eval'd, named by sourceURL), each with a debug id, each calling the one before;
  // the first throws.
  const sent = await page.evaluate(() => {
    Error.stackTraceLimit = 100;
    for (let i = 0; i < 40; i++)
      (0, eval)(
        `_vigilDebugIds[new Error().stack] = '00000000-0000-4000-8000-${String(i).padStart(12, '0')}';\n` +
          `dbg.f${i} = function f${i}() { ${i ? `return dbg.f${i - 1}()` : "throw new Error('forty scripts')"}; };\n` +
          `//# sourceURL=${location.origin}/chunk-${i}.js`,
      );
    try {
      dbg.f39();
    } catch (e) {
      vigil.error(e);
      return e.stack;
    }
  });
  assert.match(sent, /chunk-39\.js/);
  await page.evaluate(() => vigil.flush());
  await stored(vigil, sid, (e) => ofType(e, 'errors').length >= 1, 'the error');
  // the innermost 32
  const want = {};
  for (let i = 0; i < 32; i++)
    want[`${pages.url}/chunk-${i}.js`] = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  assert.deepEqual((await sentError('forty scripts')).debug_ids, want);
  await context.close();
});

test('every batch the agent sent was accepted by the collector (valid protocol)', () => {
  assert.ok(pages.state.ingest.length > 0);
  assert.deepEqual(
    pages.rejected().map((r) => `${r.status} ${r.body.slice(0, 500)}`),
    [],
  );
});
