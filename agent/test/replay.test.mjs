// Session replay (src/replay, dist/vigil-replay.js) against the real collector: what is masked
// (in the replay the API returns and in the files it stores), error-triggered mode, segments
// across a navigation, sampling (the chunk is never fetched for a session it does not record),
// a strict CSP, and the mutation budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { VIGIL_BIN, newPage, sessionId, sleep, unit, waitFor, withStack } from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

const CHUNK = '/agent/vigil-replay.js';
const WHOLE = 'a.replay-sample-rate=1';
const ON_ERROR = 'a.replay-on-error-rate=1';

/** The session's stored replay, polled until `pred(segments)` holds. */
const replayed = (sid, pred, what) =>
  waitFor(
    async () => {
      const segs = await vigil.replay(sid);
      return pred(segs) ? segs : false;
    },
    { what, timeout: 30000, interval: 300 },
  );
const events = (segs) => segs.flatMap((s) => s.events);
/** rrweb's custom events (type 5) with `tag`. */
const marks = (segs, tag) => events(segs).filter((e) => e.type === 5 && e.data?.tag === tag);
/** Uploads of `sid` that the page server's proxy saw. */
const uploads = (sid) => pages.state.replay.filter((r) => r.segment?.session_id === sid);

test('typed values, masked text and blocked elements never leave the page; visible text does', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid = await sessionId(page);
  const typed = {
    '#pw': 'hunter2-pass-Q',
    '#email': 'alice.private@example.org',
    '#ta': 'textarea-typed-words-X',
  };
  for (const [sel, text] of Object.entries(typed)) await page.type(sel, text, { delay: 5 });
  await page.selectOption('#sel', 'b');
  await page.evaluate(() => replayPage.add('added-later-paragraph'));
  // the attribute path too: a value and a data-* set by script on a field
  await page.evaluate(() => {
    document.getElementById('email').setAttribute('value', 'attr-value-secret');
    document.getElementById('email').setAttribute('data-user', 'attr-data-secret');
  });
  await page.goto(pages.url + '/blank.html'); // leaving the page sends what is left
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('added-later-paragraph'),
    'the replay with the DOM change',
  );
  const all = JSON.stringify(segs);
  assert.ok(all.includes('zebra-quartz-17'), 'visible text is recorded');
  assert.ok(
    events(segs).some((e) => e.type === 2),
    'a full snapshot',
  );
  // masked input events are there, as stars of the typed length
  const inputs = events(segs).filter((e) => e.type === 3 && e.data.source === 5);
  assert.ok(inputs.length > 0, 'input events');
  assert.ok(
    inputs.some((e) => e.data.text === '*'.repeat(typed['#pw'].length)),
    'a password as stars of its length',
  );
  const secrets = [
    ...Object.values(typed),
    'hunter2',
    'alice.private',
    'textarea-typed',
    'mango-secret-42', // .vigil-mask text
    'mask-title-attr', // .vigil-mask's attributes
    'papaya-hidden-99', // .vigil-block
    'user-data-attr', // a field's data-*
    'pw-hint-placeholder', // a password field's placeholder
    'attr-value-secret',
    'attr-data-secret',
    'replay-image-url', // images are placeholders by default
  ];
  for (const s of secrets) assert.ok(!all.includes(s), `the replay API returns no ${s}`);
  // the selected option is not recorded either (its text is the page's own)
  assert.ok(!/"selected":true/.test(all), 'no selected option');

  // and what is stored on disk
  const dump = execFileSync(
    VIGIL_BIN,
    [
      'replay',
      'dump',
      '--data',
      vigil.data,
      '--project',
      String(vigil.projectId),
      '--session',
      sid,
    ],
    { encoding: 'utf8' },
  );
  assert.ok(dump.includes('zebra-quartz-17'), 'the dump holds the replay');
  for (const s of secrets) assert.ok(!dump.includes(s), `the stored files hold no ${s}`);
  await context.close();
});

test('with data-replay-images and data-replay-mask-all-text: images by URL, no text at all', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(
    pages.url + '/replay-form.html?' + WHOLE + '&a.replay-images=1&a.replay-mask-all-text=1',
  );
  const sid = await sessionId(page);
  await page.evaluate(() => replayPage.add('added-later-paragraph'));
  await page.goto(pages.url + '/blank.html');
  const segs = await replayed(sid, (s) => events(s).some((e) => e.type === 2), 'a snapshot');
  const all = JSON.stringify(segs);
  assert.ok(all.includes('replay-image-url'), 'the image is recorded by URL');
  for (const s of ['zebra-quartz-17', 'Replay test page', 'added-later-paragraph'])
    assert.ok(!all.includes(s), `no ${s}`);
  await context.close();
});

test('error-triggered: nothing is sent before the error, then the minute before it and all after', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + ON_ERROR);
  const sid = await sessionId(page);
  await page.waitForFunction(() => !!document.querySelector('script[src*="vigil-replay"]'));
  await sleep(500);
  await page.evaluate(() => replayPage.add('before-error-marker'));
  await sleep(6000); // past a whole-session segment's 5 s
  assert.deepEqual(uploads(sid), [], 'nothing uploaded before the error');
  assert.deepEqual(await vigil.replay(sid), [], 'nothing stored before the error');

  const errorAt = await page.evaluate(() => replayPage.fail());
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('before-error-marker'),
    'the window before the error',
  );
  assert.ok(
    segs.every((s) => s.mode === 'error'),
    'segments of mode error',
  );
  const before = events(segs).filter((e) => e.timestamp < errorAt);
  assert.ok(
    before.some((e) => e.type === 2),
    'a full snapshot from before the error',
  );
  assert.ok(
    before.some((e) => JSON.stringify(e).includes('before-error-marker')),
    'the DOM change of the seconds before the error',
  );
  assert.ok(marks(segs, 'vigil-error').length >= 1, 'the error is marked in the replay');

  // recording goes on after the error (sent when the page is left)
  await page.evaluate(() => replayPage.add('after-error-marker'));
  await page.goto(pages.url + '/blank.html');
  const later = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('after-error-marker'),
    'a DOM change after the error',
  );
  const after = events(later).find((e) => JSON.stringify(e).includes('after-error-marker'));
  assert.ok(after.timestamp > errorAt);
  await context.close();
});

test('a session across two pages: segments of both, seq increasing', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid = await sessionId(page);
  const viewA = await page.evaluate(() => vigil.getContext().view_id);
  await page.type('#email', 'someone@example.org');
  await page.evaluate(() => replayPage.add('first-page-marker'));
  // a plain link (a new page load) to a page with the same agent options
  await page.$eval('#next', (a) => (a.search = location.search));
  await page.click('#next');
  await page.waitForURL(/replay-next/);
  assert.equal(await sessionId(page), sid, 'same session');
  const viewB = await page.evaluate(() => vigil.getContext().view_id);
  await page.evaluate(() => replayPage.add('second-page-marker'));
  await page.goto(pages.url + '/blank.html');
  const segs = await replayed(
    sid,
    (s) => {
      const j = JSON.stringify(s);
      return j.includes('first-page-marker') && j.includes('second-page-marker');
    },
    'segments of both pages',
  );
  const seqs = segs.map((s) => s.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'in seq order',
  );
  assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');
  assert.equal(seqs[0], 0, 'from 0');
  const views = segs.map((s) => s.view_id);
  assert.ok(views.includes(viewA) && views.includes(viewB), 'both views');
  // page A's segments all come before page B's
  assert.ok(views.lastIndexOf(viewA) < views.indexOf(viewB), views.join(' '));
  // each page starts with its own full snapshot
  for (const v of [viewA, viewB])
    assert.ok(
      segs.filter((s) => s.view_id === v).some((s) => s.events.some((e) => e.type === 2)),
      `a full snapshot in view ${v}`,
    );
  for (const s of segs) assert.ok(s.start <= s.end && s.events.length > 0);
  await context.close();
});

test('a session not sampled for replay never fetches the chunk', async () => {
  // A session id whose replay draw (FNV-1a of 'r' + id) is above one half.
  let id = '';
  for (let i = 0; !id; i++) if (unit('r' + 'replay-out-' + i) >= 0.5) id = 'replay-out-' + i;
  const now = Date.now();
  const before = pages.state.hits[CHUNK] || 0;
  for (const query of ['?noop=1', '?a.replay-sample-rate=0.5&a.replay-on-error-rate=0']) {
    const { context, page } = await newPage(browser);
    await context.addInitScript(
      ([v]) => localStorage.setItem('vigil_session', v),
      [`${id}.${now}.${now}`],
    );
    await page.goto(pages.url + '/replay-form.html' + query);
    assert.equal(await sessionId(page), id);
    await page.type('#email', 'x@example.org');
    await page.evaluate(() => replayPage.fail());
    await sleep(1500);
    assert.equal(
      await page.evaluate(() => !!document.querySelector('script[src*="vigil-replay"]')),
      false,
      query,
    );
    await context.close();
  }
  assert.equal((pages.state.hits[CHUNK] || 0) - before, 0, 'vigil-replay.js never requested');
  // the same page with a rate that samples it does fetch it (the check above can fail)
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  await sessionId(page);
  await waitFor(() => (pages.state.hits[CHUNK] || 0) > before, { what: 'the chunk fetched' });
  await context.close();
});

test('records and sends under a strict CSP (no blob:, no eval), to the collector cross-origin', async () => {
  const { context, page, logs } = await newPage(browser);
  const resp = await page.goto(
    pages.url +
      '/replay-csp.html?' +
      WHOLE +
      `&a.endpoint=${encodeURIComponent(vigil.url + '/api/v1/ingest')}`,
  );
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /blob:|unsafe-eval|worker-src/);
  const sid = await sessionId(page);
  await page.type('#field', 'csp-typed-secret');
  await page.evaluate(() => replayPage.add('csp-added-marker'));
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('csp-added-marker'),
    'the CSP page replay',
  );
  const all = JSON.stringify(segs);
  assert.ok(all.includes('lime-csp-31'));
  assert.ok(!all.includes('csp-typed-secret'));
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.ok(!logs.some((l) => /Content Security Policy|Refused to/i.test(l)), logs.join('\n'));
  await context.close();
});

test('a mutation storm pauses recording (said in the replay), the page stays responsive, and it resumes', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid = await sessionId(page);
  await page.waitForFunction(() => !!document.querySelector('script[src*="vigil-replay"]'));
  await sleep(300);
  await page.evaluate(() => replayPage.storm());
  const paused = await replayed(sid, (s) => marks(s, 'vigil-paused').length > 0, 'the pause');
  const pausedAt = marks(paused, 'vigil-paused')[0].timestamp;
  // the storm goes on, unrecorded: the page's 100 ms timer keeps firing
  const t0 = await page.evaluate(() => ({ ticks: window.ticks, at: performance.now() }));
  await sleep(2000);
  const t1 = await page.evaluate(() => ({ ticks: window.ticks, at: performance.now() }));
  const expected = (t1.at - t0.at) / 100;
  assert.ok(
    t1.ticks - t0.ticks >= expected * 0.6,
    `timer fired ${t1.ticks - t0.ticks} times of ${expected.toFixed(0)}`,
  );
  const start = Date.now();
  await page.evaluate(() => 1);
  assert.ok(Date.now() - start < 1000, 'the page answers');
  // while paused, nothing of the storm after the pause is recorded
  await page.evaluate(() => replayPage.stopStorm());
  const resumed = await replayed(
    sid,
    (s) => marks(s, 'vigil-resumed').length > 0,
    'recording resumed after the storm',
  );
  const resumedAt = marks(resumed, 'vigil-resumed')[0].timestamp;
  const between = events(resumed).filter(
    (e) => e.timestamp > pausedAt + 100 && e.timestamp < resumedAt && e.type === 3,
  );
  assert.deepEqual(between, [], 'no incremental events while paused');
  await page.evaluate(() => replayPage.add('after-storm-marker'));
  await page.goto(pages.url + '/blank.html');
  const after = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('after-storm-marker'),
    'a DOM change after resuming',
  );
  assert.ok(
    events(after).some((e) => e.type === 2 && e.timestamp >= resumedAt),
    'a fresh full snapshot at resume',
  );
  await context.close();
});

test('a second copy of the chunk, or another rrweb recorder, keeps replay off', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid = await sessionId(page);
  await page.waitForFunction(() => !!document.querySelector('script[src*="vigil-replay"]'));
  await page.addScriptTag({ url: CHUNK }); // loaded a second time
  await page.evaluate(() => replayPage.add('two-copies-marker'));
  await page.goto(pages.url + '/blank.html');
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('two-copies-marker'),
    'the replay',
  );
  assert.equal(
    events(segs).filter((e) => e.type === 2).length,
    1,
    'one recorder: one full snapshot',
  );
  // a page where rrweb already records: the chunk stays off
  const other = await newPage(browser);
  await other.context.addInitScript(() => {
    const d = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
    Object.defineProperty(HTMLInputElement.prototype, 'value', {
      ...d,
      set(v) {
        d.set.call(this, v); // as rrweb's hookSetter
      },
    });
  });
  await other.page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid2 = await sessionId(other.page);
  await other.page.waitForFunction(() => !!document.querySelector('script[src*="vigil-replay"]'));
  await other.page.evaluate(() => replayPage.add('other-recorder-marker'));
  await sleep(1000);
  await other.page.goto(pages.url + '/blank.html');
  await sleep(1500);
  assert.deepEqual(uploads(sid2), [], 'nothing recorded beside another recorder');
  await other.context.close();
  await context.close();
});

test('without CompressionStream, segments go as JSON (enc=none)', async () => {
  const { context, page } = await newPage(browser);
  await context.addInitScript(() => {
    delete window.CompressionStream;
  });
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid = await sessionId(page);
  await page.evaluate(() => replayPage.add('no-compression-marker'));
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('no-compression-marker'),
    'the replay',
  );
  assert.ok(segs.length > 0);
  // The proxy records an upload once the collector's answer is back, which can be after
  // the stored segment is readable: wait for the record.
  const ups = await waitFor(() => uploads(sid).length > 0 && uploads(sid), {
    what: 'the uploads the proxy saw',
  });
  assert.ok(ups.every((u) => u.enc === 'none' && u.status === 202));
  await context.close();
});

test('a segment refused with 503 is sent again; one refused with 400 is dropped', async () => {
  // Two pages at once: on each, the first attempt of every segment is answered `status`.
  const open = async (status) => {
    const { context, page } = await newPage(browser);
    const attempts = {}; // seq → what each attempt was answered
    await context.route('**/api/v1/replay?*', async (route) => {
      const req = route.request();
      const body = req.postDataBuffer();
      const enc = new URL(req.url()).searchParams.get('enc');
      const seg = JSON.parse((enc === 'gzip' ? gunzipSync(body) : body).toString());
      const answered = (attempts[seg.seq] ||= []);
      if (answered.length === 0) {
        answered.push(status);
        return route.fulfill({
          status,
          headers: { 'retry-after': '1', 'content-type': 'application/json' },
          body: JSON.stringify({ code: status === 503 ? 'overloaded' : 'invalid_value' }),
        });
      }
      answered.push('passed');
      return route.continue();
    });
    await page.goto(pages.url + '/replay-form.html?' + WHOLE);
    return { context, attempts, sid: await sessionId(page) };
  };
  const [a, b] = await Promise.all([open(503), open(400)]);
  await waitFor(() => a.attempts[0]?.length >= 2, {
    what: '503: seq 0 sent again',
    timeout: 20000,
  });
  assert.deepEqual(a.attempts[0], [503, 'passed']);
  await waitFor(() => b.attempts[0]?.length >= 1, { what: '400: seq 0 sent', timeout: 20000 });
  await sleep(3000); // past the 1 s Retry-After and a backoff
  assert.deepEqual(b.attempts[0], [400], 'not sent again');
  const stored = await replayed(a.sid, (s) => s.length > 0, 'the retried segment');
  assert.equal(stored[0].seq, 0);
  assert.ok(!(await vigil.replay(b.sid)).some((s) => s.seq === 0), 'the refused one dropped');
  await a.context.close();
  await b.context.close();
});

test('the npm build: init() options, the chunk from the collector beside the endpoint', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + `/replay-esm.html?key=${vigil.key}`);
  const sid = await sessionId(page);
  await page.evaluate(() => replayPage.add('esm-added-marker'));
  await page.goto(pages.url + '/blank.html');
  // the added paragraph's text, masked (replayMaskAllText: true)
  const masked = '*'.repeat('esm-added-marker'.length);
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes(`"textContent":"${masked}"`),
    'the added paragraph, masked',
  );
  assert.ok(
    events(segs).some((e) => e.type === 2),
    'a full snapshot',
  );
  const all = JSON.stringify(segs);
  for (const s of ['plum-esm-55', 'esm-added-marker']) assert.ok(!all.includes(s), `no ${s}`);
  await context.close();
});

test('once the collector holds all it will of a session, recording stops for the session', async () => {
  const { context, page } = await newPage(browser);
  const posted = [];
  await context.route('**/api/v1/replay?*', (route) => {
    const req = route.request();
    const body = req.postDataBuffer();
    const enc = new URL(req.url()).searchParams.get('enc');
    posted.push(JSON.parse((enc === 'gzip' ? gunzipSync(body) : body).toString()));
    return route.fulfill({
      status: 413,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'session_replay_too_large', message: 'full' }),
    });
  });
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  await sessionId(page);
  await waitFor(() => posted.some((s) => s.events.some((e) => e.data?.tag === 'vigil-stopped')), {
    what: 'the stop marker sent',
    timeout: 20000,
  });
  const n = posted.length;
  await page.evaluate(() => replayPage.add('after-the-cap'));
  await page.reload(); // the next page of the session records nothing either
  await page.evaluate(() => replayPage.add('next-page-after-the-cap'));
  await sleep(1500);
  await page.goto(pages.url + '/blank.html');
  await sleep(500);
  assert.equal(posted.length, n, 'nothing sent after the stop');
  await context.close();
});

test('error-triggered: after the error, the next page of the session is recorded from its start', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + ON_ERROR);
  const sid = await sessionId(page);
  await page.waitForFunction(() => !!document.querySelector('script[src*="vigil-replay"]'));
  await sleep(300);
  await page.evaluate(() => replayPage.fail());
  await replayed(sid, (s) => marks(s, 'vigil-error').length > 0, 'the error window');
  await page.$eval('#next', (a) => (a.search = location.search));
  await page.click('#next');
  await page.waitForURL(/replay-next/);
  const viewB = await page.evaluate(() => vigil.getContext().view_id);
  await page.evaluate(() => replayPage.add('next-page-no-error'));
  const segs = await replayed(
    sid,
    (s) => JSON.stringify(s).includes('next-page-no-error'),
    'the next page, without an error of its own',
  );
  const b = segs.filter((s) => s.view_id === viewB);
  assert.ok(
    b.every((s) => s.mode === 'error'),
    'mode error',
  );
  assert.ok(
    b.some((s) => s.events.some((e) => e.type === 2)),
    'from its full snapshot',
  );
  assert.equal(marks(b, 'vigil-error').length, 0, 'no error on the second page');
  await context.close();
});

test('consent withdrawn: nothing more is recorded or sent, not even at exit', async () => {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/replay-form.html?' + WHOLE);
  const sid = await sessionId(page);
  await page.waitForFunction(() => !!document.querySelector('script[src*="vigil-replay"]'));
  await sleep(300);
  await page.evaluate(() => replayPage.add('before-withdrawal'));
  await page.evaluate(() => vigil.consent(false));
  await page.evaluate(() => replayPage.add('after-withdrawal'));
  await page.goto(pages.url + '/blank.html'); // the exit flush happens at once
  await sleep(2000);
  const sent = JSON.stringify(uploads(sid));
  assert.ok(!sent.includes('before-withdrawal') && !sent.includes('after-withdrawal'), sent);
  await context.close();
});
