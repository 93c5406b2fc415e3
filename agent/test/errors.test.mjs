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

test('every batch the agent sent was accepted by the collector (valid protocol)', () => {
  assert.ok(pages.state.ingest.length > 0);
  assert.deepEqual(
    pages.rejected().map((r) => `${r.status} ${r.body.slice(0, 500)}`),
    [],
  );
});
