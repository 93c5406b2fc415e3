// SPA route changes, clicks (rage and dead), scroll depth and forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPage, sessionId, stored, ofType, waitFor, withStack } from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

test('SPA navigations: route events with new view ids and soft views', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/spa.html');
  const sid = await sessionId(page);
  const first = await page.evaluate(() => vigil.getContext().view_id);
  const base = pages.url;
  await page.click('#to-products'); // push
  await page.waitForFunction(() => document.title === 'Product 42');
  const v2 = await waitFor(() =>
    page.evaluate((f) => vigil.getContext().view_id !== f && vigil.getContext().view_id, first),
  );
  await page.evaluate(() => router.replace());
  await page.evaluate(() => router.hash());
  await page.evaluate(() => router.back()); // pop back to ?tab=reviews (hash only → "hash")
  await page.waitForFunction(() => location.hash === '');
  await page.evaluate(() => router.back()); // pop back to /spa.html
  await page.waitForFunction(() => location.pathname === '/spa.html');
  await page.waitForTimeout(400); // the last route settles
  await page.evaluate(() => vigil.flush());
  const events = await stored(
    vigil,
    sid,
    (e) => ofType(e, 'routes').length >= 5 && ofType(e, 'views').length >= 6,
    'five routes and six views',
  );
  const routes = ofType(events, 'routes').sort((a, b) => a.ts - b.ts);
  assert.deepEqual(
    routes.map((r) => r.trigger),
    ['push', 'replace', 'hash', 'hash', 'pop'],
  );
  assert.deepEqual(
    routes.map((r) => r.to_url.slice(base.length)),
    [
      '/spa/products/42',
      '/spa/products/42?tab=reviews',
      '/spa/products/42?tab=reviews#details',
      '/spa/products/42?tab=reviews',
      '/spa.html',
    ],
  );
  assert.equal(routes[0].from_url, base + '/spa.html');
  assert.equal(routes[0].view_id, first, 'a route belongs to the view it leaves');
  assert.equal(routes[0].new_view_id, v2);
  // Views are named after their session (the server stores only what follows its id), then
  // their start in ms after the session's (base 36) and 16 random bits.
  const ids = [first, ...routes.map((r) => r.new_view_id)];
  const starts = ids.map((id) => {
    const m = id.match(new RegExp(`^${sid}-([0-9a-z]+)[0-9a-f]{4}$`));
    assert.ok(m, `${id} is named after ${sid}`);
    return parseInt(m[1], 36);
  });
  const sessionAge = Date.now() - parseInt(sid.slice(0, 11), 16);
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i] >= starts[i - 1], `${starts}`);
  assert.ok(starts.at(-1) <= sessionAge, `${starts} within the session's ${sessionAge} ms`);
  assert.ok(starts.at(-1) > starts[0], `${starts}: the routes came later`);
  assert.equal(new Set(ids).size, ids.length, 'each view its own id');
  for (let i = 1; i < routes.length; i++) {
    assert.equal(routes[i].view_id, routes[i - 1].new_view_id, 'views chain');
    assert.equal(routes[i].from_url, routes[i - 1].to_url);
  }
  assert.ok(routes[0].duration >= 20, `push settles after the render (${routes[0].duration})`);
  const soft = ofType(events, 'views', (v) => v.navigation_type === 'soft');
  assert.equal(soft.length, 5);
  const pushed = soft.find((v) => v.view_id === v2);
  assert.equal(pushed.title, 'Product 42', 'the soft view has the title after rendering');
  assert.equal(pushed.page_url, base + '/spa/products/42');
  assert.equal(ofType(events, 'views', (v) => v.navigation_type === 'navigate').length, 1);
  // Events after a route carry the new view.
  const clicks = ofType(events, 'actions', (a) => a.action === 'click');
  assert.equal(clicks[0].view_id, first);
  assert.equal(clicks[0].selector, 'a#to-products');
  await context.close();
});

test('rage clicks and dead clicks', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/spa.html');
  const sid = await sessionId(page);
  const box = await page.locator('#nothing').boundingBox();
  for (let i = 0; i < 4; i++) await page.mouse.click(box.x + 10 + i, box.y + 5);
  // Any DOM change, request or navigation within 1 s makes a click live, so wait first.
  await page.waitForTimeout(1100);
  await page.click('#live'); // changes the DOM: not dead
  await page.click('#card .label'); // nothing happens: dead
  await page.fill('input[name=email]', 'a@b.c'); // a form field: never dead
  await page.waitForTimeout(1300);
  await page.evaluate(() => vigil.flush());
  const events = await stored(
    vigil,
    sid,
    (e) =>
      ofType(e, 'actions', (a) => a.action === 'rage_click').length &&
      ofType(e, 'actions', (a) => a.action === 'dead_click').length >= 2,
    'rage and dead clicks',
  );
  const rage = ofType(events, 'actions', (a) => a.action === 'rage_click');
  assert.equal(rage.length, 1);
  assert.equal(rage[0].selector, 'button#nothing');
  assert.equal(rage[0].count, 4);
  const dead = ofType(events, 'actions', (a) => a.action === 'dead_click')
    .map((a) => a.selector)
    .sort();
  assert.deepEqual(dead, ['button#nothing', 'div#card > span.label']);
  const clicks = ofType(events, 'actions', (a) => a.action === 'click');
  assert.equal(clicks.length, 6);
  assert.ok(clicks.some((c) => c.selector === 'button#live'));
  await context.close();
});

test('a click has the selector its target had before the page handled it, without state classes', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/toggle.html');
  const sid = await sessionId(page);
  await page.click('.menu-toggle'); // opens: is-open, active, open
  await page.waitForFunction(() => document.querySelector('.menu-toggle.is-open'));
  await page.click('.menu-toggle'); // closes
  await page.waitForFunction(() => !document.querySelector('.menu-toggle.is-open'));
  await page.click('.dismiss'); // the page's handler removes the banner before the agent sees the click
  await page.waitForFunction(() => !document.querySelector('.banner'));
  await page.evaluate(() => vigil.flush());
  const events = await stored(
    vigil,
    sid,
    (e) => ofType(e, 'actions', (a) => a.action === 'click').length >= 3,
    'three clicks',
  );
  const clicks = ofType(events, 'actions', (a) => a.action === 'click')
    .sort((a, b) => a.ts - b.ts)
    .map((a) => a.selector);
  assert.deepEqual(clicks, [
    'body > nav.menu > button.menu-toggle',
    'body > nav.menu > button.menu-toggle',
    'body > div.banner > button.dismiss',
  ]);
  await context.close();
});

test('a form filled and left, a form submitted, and the scroll depth', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/spa.html');
  const sid = await sessionId(page);
  await page.fill('input[name=email]', 'secret@example.com');
  await page.fill('input[name=password]', 'hunter2-secret');
  await page.click('#signup-submit');
  await page.fill('#nl-email', 'other-secret@example.com');
  await page.selectOption('select[name=topic]', 'b');
  await page.check('input[name=consent]');
  await page.evaluate(() => window.scrollTo(0, 1200));
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.waitForTimeout(400);
  await page.goto(pages.url + '/blank.html'); // leave with the newsletter form half done
  const events = await stored(
    vigil,
    sid,
    (e) =>
      ofType(e, 'actions', (a) => a.action === 'form_abandon').length &&
      ofType(e, 'actions', (a) => a.action === 'scroll').length,
    'abandon and scroll',
  );
  const act = (n) => ofType(events, 'actions', (a) => a.action === n);
  const starts = act('form_start');
  assert.deepEqual(starts.map((s) => [s.form, s.selector, JSON.parse(s.fields)]).sort(), [
    ['newsletter', 'form#newsletter', ['nl-email']],
    ['signup', 'form#signup', ['email']],
  ]);
  const [submit] = act('form_submit');
  assert.equal(submit.form, 'signup');
  assert.deepEqual(JSON.parse(submit.fields), ['email', 'password']);
  const [ab] = act('form_abandon');
  assert.equal(ab.form, 'newsletter');
  assert.deepEqual(JSON.parse(ab.fields), ['nl-email', 'topic', 'consent']);
  assert.equal(ab.last_field, 'consent');
  assert.equal(act('form_abandon').length, 1, 'the submitted form is not abandoned');
  // Never values.
  const raw = pages.state.ingest.map((i) => i.body).join('\n');
  assert.ok(!raw.includes('secret'), 'no field value is sent');
  // 1200 px scrolled + a 720 px viewport over the page height.
  const [scroll] = act('scroll');
  assert.equal(act('scroll').length, 1);
  assert.ok(
    Math.abs(scroll.depth - ((1200 + 720) / height) * 100) < 0.2,
    `depth ${scroll.depth} (page ${height} px)`,
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
