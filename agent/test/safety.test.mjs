// Never break the host: a strict CSP page, a page whose own code throws and defines globals
// behaves the same with and without the agent, and the agent adds no global but `vigil`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPage, sessionId, stored, ofType, withStack } from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

test('works under a strict Content-Security-Policy, cross-origin endpoint', async () => {
  const { context, page, logs } = await newPage(browser);
  const resp = await page.goto(
    pages.url + `/csp.html?a.endpoint=${encodeURIComponent(vigil.url + '/api/v1/ingest')}`,
  );
  assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
  const sid = await sessionId(page);
  await page.click('#btn');
  assert.equal(await page.evaluate(() => cspActions.request()), 200);
  await page.evaluate(() => cspActions.fail());
  await page.waitForTimeout(1100);
  await page.goto(pages.url + '/blank.html');
  const events = await stored(
    vigil,
    sid,
    (e) =>
      ofType(e, 'views').length &&
      ofType(e, 'errors').length &&
      ofType(e, 'requests').length &&
      ofType(e, 'vitals', (v) => v.name === 'CLS').length,
    'events from the CSP page',
  );
  assert.equal(ofType(events, 'errors')[0].message, 'csp page error');
  assert.ok(!logs.some((l) => /Content Security Policy|Refused to/i.test(l)), logs.join('\n'));
  await context.close();
});

test('no CSP violations are raised by the agent', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(
    pages.url + `/csp.html?a.endpoint=${encodeURIComponent(vigil.url + '/api/v1/ingest')}`,
  );
  await sessionId(page);
  await page.click('#btn');
  await page.evaluate(() => vigil.flush());
  await page.waitForTimeout(500);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  await context.close();
});

async function runHost(withAgent) {
  const { context, page, logs } = await newPage(browser);
  const globalsBefore = await (async () => {
    await page.goto(pages.url + '/blank.html');
    return page.evaluate(() => Object.getOwnPropertyNames(window));
  })();
  await page.goto(
    pages.url + '/host.html' + (withAgent ? '?a.resource-sample-rate=1' : '?noagent=1'),
  );
  if (withAgent) await sessionId(page);
  const result = await page.evaluate(() => runHost());
  const globals = await page.evaluate(() => Object.getOwnPropertyNames(window));
  const added = globals.filter((g) => !globalsBefore.includes(g));
  const protoChanges = await page.evaluate(() => {
    // Own properties of well-known prototypes that are not native functions.
    const out = [];
    for (const [name, proto] of [
      ['Object', Object.prototype],
      ['Array', Array.prototype],
      ['Function', Function.prototype],
      ['EventTarget', EventTarget.prototype],
      ['Element', Element.prototype],
      ['Node', Node.prototype],
      ['Promise', Promise.prototype],
      ['History', History.prototype],
      ['XMLHttpRequest', XMLHttpRequest.prototype],
    ]) {
      for (const k of Object.getOwnPropertyNames(proto)) {
        const d = Object.getOwnPropertyDescriptor(proto, k);
        if (
          typeof d.value === 'function' &&
          !/\[native code\]/.test(Function.prototype.toString.call(d.value))
        )
          out.push(name + '.' + k);
      }
    }
    return out.sort();
  });
  const sid = withAgent ? await page.evaluate(() => vigil.getContext().session_id) : null;
  if (withAgent) await page.evaluate(() => vigil.flush());
  const pageErrors = logs
    .filter((l) => l.startsWith('pageerror') || l.startsWith('error: host'))
    .sort();
  await context.close();
  return { result, added, protoChanges, pageErrors, sid };
}

test('a host page that throws and defines globals behaves the same with and without the agent', async () => {
  const without = await runHost(false);
  const withA = await runHost(true);
  assert.deepEqual(withA.result, without.result);
  assert.deepEqual(
    withA.pageErrors,
    without.pageErrors,
    'uncaught errors and console.error still reach the browser',
  );
  assert.ok(
    without.pageErrors.includes('error: host console error 1'),
    JSON.stringify(without.pageErrors),
  );
  assert.ok(
    without.result.log.some((l) => l.startsWith('onerror:Uncaught Error: host throws 1')),
    JSON.stringify(without.result.log),
  );
  assert.ok(without.result.log.includes('rejection:host rejects'));
  assert.ok(without.result.log.includes('resource-error:IMG'));
  assert.equal(without.result.illegal, withA.result.illegal);
  // Globals: the page's own, plus exactly `vigil`.
  assert.deepEqual(
    withA.added.filter((g) => !without.added.includes(g)),
    ['vigil'],
  );
  // Prototypes: only XMLHttpRequest open, send and setRequestHeader (for the page's own
  // traceparent) are wrapped.
  assert.deepEqual(without.protoChanges, []);
  assert.deepEqual(withA.protoChanges, [
    'XMLHttpRequest.open',
    'XMLHttpRequest.send',
    'XMLHttpRequest.setRequestHeader',
  ]);
  // And the agent saw it all.
  const events = await stored(
    vigil,
    withA.sid,
    (e) =>
      ofType(e, 'errors').length >= 2 &&
      ofType(e, 'requests').length >= 5 &&
      ofType(e, 'resource_errors').length,
    'host events',
  );
  assert.ok(ofType(events, 'routes').length >= 1);
});

test('every batch the agent sent was accepted by the collector (valid protocol)', () => {
  assert.ok(pages.state.ingest.length > 0);
  assert.deepEqual(
    pages.rejected().map((r) => `${r.status} ${r.body.slice(0, 500)}`),
    [],
  );
});
