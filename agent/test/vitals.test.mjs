// Web vitals: a slow LCP image, a layout shift and a slow click handler. The values the agent
// stored must equal what the web-vitals library, loaded separately on the same page load,
// reports; the attribution must name the right elements and phases.
// On an SPA page, INP and CLS go to the route (soft view) where the interaction or the largest
// shift happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, sessionId, stored, ofType, waitFor, withStack } from './helpers.mjs';

let vigil, pages, browser;
withStack((s) => ({ vigil, pages, browser } = s));

test('LCP, CLS and INP equal the web-vitals values, with attribution', async () => {
  const { context, page } = await newPage(browser);
  pages.state.reports.length = 0;
  await page.goto(pages.url + '/vitals.html');
  const sid = await sessionId(page);
  // LCP is final once the image has rendered and the user interacts.
  await page.waitForFunction(() => document.getElementById('hero').complete && document.getElementById('banner'));
  await page.waitForTimeout(200);
  await page.click('#slow');
  await page.waitForFunction(() => document.getElementById('slow').textContent === 'done');
  // web-vitals processes interactions in idle callbacks, and headless Chromium holds idle
  // callbacks (and event timing entries) after synthetic input until a frame is presented:
  // repaint until the reference copy has seen the interaction, then once more for the agent's.
  // A repaint (a background colour change: no layout shift) makes a frame be presented.
  const frameThenIdle = () =>
    page.evaluate(() => {
      const s = document.documentElement.style;
      s.backgroundColor = s.backgroundColor ? '' : 'rgb(250, 250, 250)';
      return new Promise((r) => requestAnimationFrame(() => requestIdleCallback(() => r())));
    });
  await waitFor(async () => {
    await frameThenIdle();
    return page.evaluate(() => window.__inpSeen);
  }, { what: 'web-vitals to process the interaction' });
  await frameThenIdle();
  await page.waitForTimeout(100);
  // Leaving the page hides it: both the reference and the agent report final values.
  await page.goto(pages.url + '/blank.html');

  const want = (n) => waitFor(() => pages.state.reports.find((r) => r.name === n), { what: `reference ${n}` });
  const ref = { LCP: await want('LCP'), CLS: await want('CLS'), INP: await want('INP'), FCP: await want('FCP') };
  const events = await stored(vigil, sid, (e) => ofType(e, 'views').length && ['LCP', 'CLS', 'INP', 'FCP', 'TTFB'].every((n) => ofType(e, 'vitals', (v) => v.name === n).length), 'the view and all five vitals');
  const vital = (n) => {
    const v = ofType(events, 'vitals', (x) => x.name === n);
    assert.equal(v.length, 1, `one ${n}`);
    return v[0];
  };

  const lcp = vital('LCP');
  assert.ok(Math.abs(lcp.value - ref.LCP.value) <= 0.06, `LCP ${lcp.value} vs web-vitals ${ref.LCP.value}`);
  assert.ok(lcp.value >= 900, 'the image is delayed 900 ms');
  assert.equal(lcp.element, 'img#hero');
  assert.match(lcp.url, /\/slow\.png\?delay=900$/);
  for (const k of ['lcp_ttfb', 'load_delay', 'load_duration', 'render_delay']) assert.equal(typeof lcp[k], 'number', k);
  const sum = lcp.lcp_ttfb + lcp.load_delay + lcp.load_duration + lcp.render_delay;
  assert.ok(Math.abs(sum - lcp.value) < 0.5, `LCP phases add up: ${sum} vs ${lcp.value}`);
  assert.ok(lcp.load_duration >= 850, `load_duration ${lcp.load_duration}`);
  assert.equal(lcp.rating, 'good');

  const cls = vital('CLS');
  assert.ok(ref.CLS.value > 0.05, `the banner shifts the page (${ref.CLS.value})`);
  assert.ok(Math.abs(cls.value - ref.CLS.value) <= 0.001, `CLS ${cls.value} vs web-vitals ${ref.CLS.value}`);
  assert.ok(cls.element, 'the largest shift has a target');
  assert.equal(typeof cls.shift_time, 'number');
  assert.ok(cls.load_state);

  const inp = vital('INP');
  assert.ok(Math.abs(inp.value - ref.INP.value) <= 0.06, `INP ${inp.value} vs web-vitals ${ref.INP.value}`);
  assert.ok(inp.value >= 250, `the handler blocks 250 ms (${inp.value})`);
  assert.equal(inp.element, 'button#slow'); // an id ends the selector
  assert.equal(inp.event_type, 'click');
  assert.ok(inp.processing >= 240, `processing ${inp.processing}`);
  for (const k of ['input_delay', 'presentation_delay']) assert.equal(typeof inp[k], 'number', k);
  assert.match(inp.script_url, /\/vitals-page\.js$/);
  assert.ok(inp.script_duration >= 240, `script_duration ${inp.script_duration}`);
  assert.equal(inp.load_state, 'complete');
  assert.equal(inp.rating, 'needs-improvement');

  const fcp = vital('FCP');
  assert.ok(Math.abs(fcp.value - ref.FCP.value) <= 0.06, `FCP ${fcp.value} vs ${ref.FCP.value}`);
  const ttfb = vital('TTFB');
  assert.ok(ttfb.value > 0 && ttfb.value <= fcp.value);

  // The page view carries the navigation timing breakdown and FCP.
  const [view] = ofType(events, 'views');
  assert.equal(view.navigation_type, 'navigate');
  assert.equal(view.title, 'Vitals page');
  for (const k of ['dns', 'tcp', 'request', 'ttfb', 'download', 'dom_interactive', 'dom_content_loaded', 'dom_complete', 'load', 'fcp'])
    assert.equal(typeof view[k], 'number', `view.${k}`);
  assert.ok(view.load >= 900 && view.dom_complete <= view.load && view.dom_interactive <= view.dom_content_loaded);
  assert.ok(Math.abs(view.fcp - fcp.value) <= 0.06);

  // The slow handler is also a long animation frame with its script.
  const lt = ofType(events, 'long_tasks', (t) => t.duration >= 250);
  assert.ok(lt.length >= 1, 'a long animation frame');
  assert.equal(lt[0].kind, 'long-animation-frame');
  assert.ok(lt.some((t) => /vitals-page\.js$/.test(t.script_url || '') && t.script_duration >= 240));
  // All vitals belong to the page view.
  for (const v of ofType(events, 'vitals')) assert.equal(v.view_id, view.view_id);
  await context.close();
});

test('a back/forward cache restore is a new view, with its own vitals', async () => {
  const bf = await launch({ bfcache: true });
  try {
    const { page } = await newPage(bf);
    await page.goto(pages.url + '/basic.html');
    const sid = await sessionId(page);
    const first = await page.evaluate(() => vigil.getContext().view_id);
    await page.goto(pages.url + '/blank.html');
    await page.goBack({ waitUntil: 'commit' });
    const restored = await waitFor(() => page.evaluate((f) => window.vigil && vigil.getContext().view_id !== f && vigil.getContext().view_id, first), { what: 'restore' });
    await page.waitForTimeout(300);
    await page.goto(pages.url + '/blank.html'); // hidden again: the restored view's vitals are final
    const events = await stored(vigil, sid, (e) => ofType(e, 'views', (v) => v.navigation_type === 'restore').length && ofType(e, 'vitals', (v) => v.view_id === restored && v.name === 'CLS').length, 'the restore and its vitals');
    const [view] = ofType(events, 'views', (v) => v.navigation_type === 'restore');
    assert.equal(view.view_id, restored);
    assert.equal(view.title, 'Basic page');
    assert.equal(ofType(events, 'views', (v) => v.navigation_type === 'navigate').length, 1);
    // Vitals of the first load stay with the first view.
    assert.ok(ofType(events, 'vitals', (v) => v.view_id === first && v.name === 'LCP').length === 1);
    const after = ofType(events, 'vitals', (v) => v.view_id === restored);
    assert.ok(after.some((v) => v.name === 'FCP' || v.name === 'LCP'), JSON.stringify(after.map((v) => v.name)));
  } finally {
    await bf.close();
  }
});

// SPA: web-vitals measures the whole page load, so the agent attributes INP and CLS by time to
// the view (hard load or soft navigation) that was current at the interaction or largest shift.
// A repaint (no layout shift) makes headless Chromium present a frame, after which web-vitals
// processes the interaction in an idle callback (see above).
const frameThenIdle = (page) =>
  page.evaluate(() => {
    const s = document.documentElement.style;
    s.backgroundColor = s.backgroundColor ? '' : 'rgb(250, 250, 250)';
    return new Promise((r) => requestAnimationFrame(() => requestIdleCallback(() => r())));
  });
/** Repaints until the reference web-vitals copy has an INP of at least `min` ms, then once more for the agent's. */
async function inpProcessed(page, min) {
  await waitFor(async () => {
    await frameThenIdle(page);
    return page.evaluate((m) => window.__inpSeen >= m, min);
  }, { what: `web-vitals to process an interaction of ${min}+ ms` });
  await frameThenIdle(page);
  await page.waitForTimeout(100);
}
/** Loads the SPA page, runs `steps`, leaves it (hidden: final vitals), and returns what was stored. */
async function spaVitals(steps) {
  const { context, page } = await newPage(browser);
  await page.goto(pages.url + '/spa-vitals.html');
  const sid = await sessionId(page);
  const first = await page.evaluate(() => vigil.getContext().view_id);
  await page.waitForFunction(() => document.readyState === 'complete');
  await page.waitForTimeout(200);
  await steps(page);
  await page.goto(pages.url + '/blank.html');
  const events = await stored(vigil, sid, (e) => ofType(e, 'routes').length && ['LCP', 'CLS', 'INP', 'FCP', 'TTFB'].every((n) => ofType(e, 'vitals', (v) => v.name === n).length), 'the route and all five vitals');
  await context.close();
  const routes = ofType(events, 'routes');
  assert.equal(routes.length, 1);
  const [route] = routes;
  assert.equal(route.view_id, first);
  assert.ok(route.new_view_id && route.new_view_id !== first);
  const vital = (n) => {
    const v = ofType(events, 'vitals', (x) => x.name === n);
    assert.equal(v.length, 1, `one ${n}`);
    return v[0];
  };
  // LCP, FCP and TTFB always belong to the hard load.
  for (const n of ['LCP', 'FCP', 'TTFB']) {
    assert.equal(vital(n).view_id, first, n);
    assert.equal(vital(n).page_url, pages.url + '/spa-vitals.html', n);
  }
  return { first, soft: route.new_view_id, inp: vital('INP'), cls: vital('CLS') };
}
const shift = async (page, h) => {
  await page.evaluate((x) => router.shift(x), h);
  await frameThenIdle(page);
};

test('SPA: INP and CLS that happen on a second route belong to its soft view', async () => {
  const { soft, inp, cls } = await spaVitals(async (page) => {
    await shift(page, 40); // a small shift and a fast click on the first route
    await page.click('#fast');
    await page.waitForFunction(() => document.getElementById('fast').textContent === 'clicked /spa-vitals.html');
    await page.evaluate(() => router.go('/spa-vitals/second', 'Second'));
    await page.waitForTimeout(600); // shifts within 500 ms of an input do not count
    await shift(page, 180); // the largest shift and the slow click on the second route
    await page.click('#slow');
    await page.waitForFunction(() => document.getElementById('slow').textContent === 'done /spa-vitals/second');
    await inpProcessed(page, 200);
  });
  assert.ok(inp.value >= 250, `the slow click is the INP (${inp.value})`);
  assert.equal(inp.element, 'button#slow');
  assert.equal(inp.view_id, soft, 'INP belongs to the soft view');
  assert.equal(inp.page_url, pages.url + '/spa-vitals/second');
  assert.ok(cls.value > 0.1, `CLS ${cls.value}`);
  assert.equal(cls.view_id, soft, 'CLS belongs to the soft view of its largest shift');
  assert.equal(cls.page_url, pages.url + '/spa-vitals/second');
});

test('SPA: INP and CLS that happen before a soft navigation stay on the first view', async () => {
  const { first, inp, cls } = await spaVitals(async (page) => {
    await shift(page, 180); // the largest shift and the slow click on the first route
    await page.click('#slow');
    await page.waitForFunction(() => document.getElementById('slow').textContent === 'done /spa-vitals.html');
    await inpProcessed(page, 200);
    await page.evaluate(() => router.go('/spa-vitals/second', 'Second'));
    await page.waitForTimeout(600);
    await shift(page, 40); // a small shift and a fast click on the second route
    await page.click('#fast');
    await page.waitForFunction(() => document.getElementById('fast').textContent === 'clicked /spa-vitals/second');
    await frameThenIdle(page);
    await frameThenIdle(page);
  });
  assert.ok(inp.value >= 250, `the slow click is the INP (${inp.value})`);
  assert.equal(inp.view_id, first, 'INP stays on the first view');
  assert.equal(inp.page_url, pages.url + '/spa-vitals.html');
  assert.ok(cls.value > 0.1, `CLS ${cls.value}`);
  assert.equal(cls.view_id, first, 'CLS stays on the first view');
  assert.equal(cls.page_url, pages.url + '/spa-vitals.html');
});

test('every batch the agent sent was accepted by the collector (valid protocol)', () => {
  assert.ok(pages.state.ingest.length > 0);
  assert.deepEqual(pages.rejected().map((r) => `${r.status} ${r.body.slice(0, 500)}`), []);
});
