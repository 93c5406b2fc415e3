// Total Blocking Time and Time to Interactive of the hard load, and the session's sample rate in
// every batch. busy.html runs two long tasks after FCP (busy loops of 200 ms and 120 ms, 300 ms
// apart) and is quiet after them; basic.html has no long task.
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

/** The accepted batches of a session, parsed. */
const batchesOf = (sid) =>
  pages.state.ingest
    .filter((i) => i.status === 202 && i.body.includes(sid))
    .map((i) => JSON.parse(i.body));
const viewsSent = (sid) => batchesOf(sid).flatMap((b) => b.events.filter((e) => e.type === 'view'));
/** Flushes until the hard view has been accepted; returns it as sent. */
const sentView = (page, sid) =>
  waitFor(
    async () => {
      await page.evaluate(() => vigil.flush());
      return viewsSent(sid)[0];
    },
    { what: 'the page view', interval: 300 },
  );
/** Makes the page keep its own record of long tasks (window.__long), to explain a failure. */
const recordLongTasks = (context) =>
  context.addInitScript(() => {
    window.__long = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  });
/** The blocking time of the page's own record of its busy loops: what TBT must come to. */
const blocking = (tasks) => tasks.reduce((sum, [s, e]) => sum + Math.max(0, e - s - 50), 0);

test('two long tasks after FCP: TBT ≈ 220 ms, TTI at the end of the second; the view waits for 5 s of quiet; sample rate in every batch', async () => {
  const { context, page } = await newPage(browser);
  // A session id the agent keeps at a sample rate of 0.5 (it samples by the id).
  const id = idWith((u) => u < 0.5);
  const now = Date.now();
  await context.addInitScript(
    (v) => localStorage.setItem('vigil_session', v),
    `${id}.${now - 60e3}.${now - 10e3}`,
  );
  // When each body went out (the agent keeps the page's fetch as it was when it loaded).
  await context.addInitScript(() => {
    const f = window.fetch;
    window.__sent = [];
    window.fetch = function (url, init) {
      window.__sent.push([performance.now(), String(init && init.body)]);
      return f.apply(this, arguments);
    };
  });
  await recordLongTasks(context);
  await page.goto(pages.url + '/busy.html?a.sample-rate=0.5');
  const sid = await sessionId(page);
  assert.equal(sid, id);
  await page.waitForFunction(() => window.__tasks.length === 2);
  const tasks = await page.evaluate(() => window.__tasks);
  // (A loaded machine can stretch a loop by some milliseconds.)
  assert.ok(Math.abs(blocking(tasks) - 220) < 30, `the loops ran as planned: ${tasks}`);

  const view = await sentView(page, sid);
  const seen = `; the page saw long tasks [start, duration] ${JSON.stringify(
    await page.evaluate(() => window.__long),
  )}, fcp ${view.fcp}`;
  assert.ok(Math.abs(view.tbt - 220) <= 40, `tbt ${view.tbt}, want 220 ± 40${seen}`);
  assert.ok(
    Math.abs(view.tti - tasks[1][1]) <= 50,
    `tti ${view.tti}, want the end of the second task ${tasks[1][1]} ± 50${seen}`,
  );
  assert.ok(view.tti >= view.fcp, 'TTI is not before FCP');
  // Held until 5 s without a long task had passed, then sent with the next flush (every 300 ms;
  // up to 2 s late on a loaded machine).
  const sent = await page.evaluate(() => window.__sent);
  const [at] = sent.find(([, b]) => b.includes('"type":"view"'));
  assert.ok(at >= view.tti + 5000 && at < view.tti + 7000, `sent at ${at}, tti ${view.tti}`);
  assert.ok(sent[0][0] < view.tti + 5000, 'other batches went before it');

  // Every batch of the session says which share of sessions it stands for.
  const batches = batchesOf(sid);
  assert.ok(batches.length >= 2);
  assert.deepEqual(
    batches.map((b) => b.context.sample_rate),
    batches.map(() => 0.5),
  );
  // Stored as sent.
  const events = await stored(vigil, sid, (e) => ofType(e, 'views').length, 'the stored view');
  const [row] = ofType(events, 'views');
  assert.equal(row.tbt, view.tbt);
  assert.equal(row.tti, view.tti);
  assert.equal(row.sample_rate, 0.5);
  await context.close();
});

test('a page left before TTI sends its view with the TBT so far and no TTI', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/busy.html');
  const sid = await sessionId(page);
  await page.waitForFunction(() => window.__tasks.length === 2);
  const tasks = await page.evaluate(() => window.__tasks);
  await page.waitForTimeout(200);
  await page.goto(pages.url + '/blank.html'); // hidden and left: the view goes with the beacon
  const view = await waitFor(() => viewsSent(sid)[0], { what: 'the view of the left page' });
  assert.ok(Math.abs(view.tbt - blocking(tasks)) <= 40, `tbt ${view.tbt} for ${tasks}`);
  assert.equal(view.tti, undefined);
  assert.equal(typeof view.timing.load, 'number', 'sent after load, with the whole timing');
  // Without data-sample-rate every session is kept, and the batches say so.
  assert.ok(batchesOf(sid).every((b) => b.context.sample_rate === 1));
  await context.close();
});

test('a route change before TTI sends the hard view at once, without TTI', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/busy.html');
  const sid = await sessionId(page);
  await page.waitForFunction(() => window.__tasks.length === 2);
  const tasks = await page.evaluate(() => window.__tasks);
  await page.evaluate(() => history.pushState(null, '', '/busy.html?step=2'));
  const view = await sentView(page, sid);
  // Sent well before 5 s of quiet could have passed.
  assert.ok(
    (await page.evaluate(() => performance.now())) < tasks[1][1] + 5000,
    'sent at the route change, not at TTI',
  );
  assert.ok(Math.abs(view.tbt - blocking(tasks)) <= 40, `tbt ${view.tbt} for ${tasks}`);
  assert.equal(view.tti, undefined);
  await context.close();
});

test('no long task: TBT 0, TTI at FCP or at the end of DOMContentLoaded, whichever is later', async () => {
  const { context, page } = await newPage(browser);
  // The page's own record of long tasks, to tell a busy test machine from a wrong TBT.
  await recordLongTasks(context);
  await page.goto(pages.url + '/basic.html');
  const sid = await sessionId(page);
  const view = await sentView(page, sid);
  const [fcp, dcl, long] = await page.evaluate(() => [
    performance.getEntriesByName('first-contentful-paint')[0].startTime,
    performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
    window.__long,
  ]);
  assert.deepEqual(
    long.filter(([s, d]) => s + d > fcp),
    [],
    'precondition: no long task after FCP on this machine',
  );
  assert.equal(view.tbt, 0);
  assert.ok(
    Math.abs(view.tti - Math.max(fcp, dcl)) <= 0.1,
    `tti ${view.tti}, fcp ${fcp}, dom content loaded ${dcl}`,
  );
  await context.close();
});
