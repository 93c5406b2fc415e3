// Alerts in the dashboard, end to end: real `vigil serve` on the demo data (evaluating every
// second, webhooks allowed to reach this machine) + headless Debian Chromium. A rule is made in
// the editor, previewed (the count agrees with the API's), saved, evaluated, muted, tested
// against a webhook receiver here, seen on Overview, read by a viewer and deleted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { asUser, demoData, startServe, stopServe, withToken } from './vigil-serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const ARTIFACTS = resolve(WEB, '../test-artifacts');
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), '.cache/vigil-target/debug/vigil');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const XSS_NAME = '<img src=x onerror=window.__xss=1>';
const VIEWER = { email: 'alerts-viewer@example.com', password: 'alerts-viewer-password' };

let dir, server, base, browser, receiver, hookUrl, token, email, password, projectId;
/** What the webhook receiver got: { headers, body } per request. */
const received = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-alerts-test-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  // the demo spreads its page views over the last 7 days, up to now: the preview finds them
  ({ token, email, password, projectId } = demoData(VIGIL, join(dir, 'data'), 3000));
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* kept as null: the test says so */
      }
      received.push({ headers: req.headers, body: json });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
  // evaluated every second; the receiver is on this machine; a failed delivery is retried soon
  const config = join(dir, 'vigil.toml');
  writeFileSync(
    config,
    'alert_webhook_private_addresses = true\nalert_retry_base_ms = 200\nalert_interval_secs = 1\n',
  );
  process.env.VIGIL_CONFIG = config; // `vigil serve --config`, through the environment
  ({ server, base } = await startServe(VIGIL, join(dir, 'data'), join(WEB, 'dist')));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  await stopServe(server);
  await new Promise((r) => (receiver ? receiver.close(r) : r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('dialog', (d) => {
    problems.push('dialog: ' + d.message());
    void d.dismiss();
  });
  // the 401 of the unauthenticated check before signing in is expected; nothing else is
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401/.test(m.text()))
      problems.push(m.text() + ' ' + m.location().url);
  });
  return { ctx, page, problems };
}
async function login(page, user = { email, password }) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', user.email);
  await page.fill('input[name=password]', user.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=view][data-state=ready]');
}
const ready = (view) => `[data-testid=view][data-view=${view}][data-state=ready]`;
/** A request with the demo project's API token. */
const apiCall = (method, path, body) => withToken(base, token, method, path, body);
async function waitFor(what, check, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    assert.ok(Date.now() < until, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const text = async (page, sel) => (await page.textContent(sel))?.trim();

/** The rule the test makes in the editor, as the API should receive it. */
let rule;
let ruleId;

test('editor: a server error is shown inline; the preview fires as often as the API says; saved, the rule is listed', async () => {
  rule = {
    name: XSS_NAME,
    enabled: true,
    metric: 'lcp',
    aggregation: 'p75',
    filters: [],
    group_by: ['country'],
    condition: 'above',
    threshold: 1,
    window_minutes: 60,
    delay_minutes: 2,
    min_samples: 1,
    pending_evaluations: 1,
    max_segments: 50,
    channels: [{ type: 'webhook', url: hookUrl }],
  };
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/alerts?project=${projectId}`);
  await page.waitForSelector(ready('alerts'));
  assert.equal(await page.locator('[data-testid=alert-rules-empty]').count(), 1);
  assert.equal(await page.locator('[data-testid=filter-bar]').count(), 0, 'no filter bar here');
  await page.click('[data-testid=new-rule]');
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-form]`);
  assert.equal(new URL(page.url()).searchParams.get('rule'), 'new');

  await page.fill('[data-testid=rule-name]', XSS_NAME);
  await page.fill('[data-testid=rule-metric]', 'lcpx');
  await page.selectOption('[data-testid=rule-aggregation]', 'p75');
  await page.selectOption('[data-testid=rule-group-0]', 'country');
  await page.selectOption('[data-testid=rule-condition]', 'above');
  await page.fill('[data-testid=rule-threshold]', '1');
  await page.selectOption('[data-testid=rule-window]', '60');
  await page.fill('[data-testid=rule-min-samples]', '1');
  await page.click('[data-testid=add-channel-webhook]');
  await page.fill('[data-testid=channel] [data-testid=channel-target]', hookUrl);
  // the server's message for a bad rule, where the user is
  await page.click('[data-testid=rule-save]');
  await page.waitForSelector('[data-testid=rule-error]:not(:empty)');
  assert.match(await text(page, '[data-testid=rule-error]'), /unknown metric "lcpx"/);
  assert.equal(new URL(page.url()).searchParams.get('rule'), 'new', 'still in the editor');
  await page.fill('[data-testid=rule-metric]', 'lcp');

  // the preview: what the editor sends is the rule, and its count is the API's for that rule
  let shown;
  for (let attempt = 0; ; attempt++) {
    const sent = page.waitForRequest((r) => r.url().includes('/api/v1/alerts/preview'));
    await page.click('[data-testid=rule-preview]');
    assert.deepEqual((await sent).postDataJSON(), { rule, days: 7 });
    await page.waitForSelector('[data-testid=preview][data-state=ready]');
    shown = {
      fired: Number(await page.getAttribute('[data-testid=preview]', 'data-fired')),
      from: Number(await page.getAttribute('[data-testid=preview]', 'data-from')),
      to: Number(await page.getAttribute('[data-testid=preview]', 'data-to')),
    };
    const api = await apiCall('POST', `/api/v1/alerts/preview?project=${projectId}`, {
      rule,
      days: 7,
    });
    // the preview ends at the last whole window: an hour may turn between the two requests
    if (api.to !== shown.to && attempt < 2) continue;
    assert.equal(shown.to, api.to);
    assert.equal(shown.from, api.from);
    assert.equal(shown.fired, api.fired);
    assert.ok(api.fired > 0, 'p75 LCP above 1 ms fires in the demo data');
    assert.equal(Number(await text(page, '[data-testid=preview-fired]')), api.fired);
    assert.equal(
      await page.locator('[data-testid=preview-events] tbody tr').count(),
      Math.min(100, api.events.length),
    );
    assert.equal(
      await page.locator('[data-testid=preview-events] tbody tr[data-to=firing]').count(),
      api.events.slice(0, 100).filter((e) => e.to === 'firing').length,
    );
    break;
  }
  assert.equal(await page.locator('[data-testid=preview-chart] canvas').count(), 1);
  await page.screenshot({ path: join(ARTIFACTS, 'alerts-editor.png'), fullPage: true });

  await page.click('[data-testid=rule-save]');
  await page.waitForFunction(() => /^\d+$/.test(new URL(location.href).searchParams.get('rule')));
  ruleId = Number(new URL(page.url()).searchParams.get('rule'));
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-name]`);
  // the name is text, not markup
  assert.equal(await text(page, '[data-testid=rule-name]'), XSS_NAME);
  assert.equal(await page.locator('[data-testid=view] img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await text(page, '[data-testid=rule-what]'), 'p75 of lcp above 1 ms by country');
  const stored = await asUser(page, 'GET', `/api/v1/alerts/rules/${ruleId}?project=${projectId}`);
  assert.equal(stored.status, 200);
  for (const [k, v] of Object.entries(rule)) assert.deepEqual(stored.body[k], v, k);

  await page.click('a:text("← All alert rules")');
  await page.waitForSelector(`${ready('alerts')} [data-testid=alert-rules]`);
  const row = page.locator(`[data-testid=alert-rules] tr[data-rule-id="${ruleId}"]`);
  assert.equal(await row.locator('a.rule-link').textContent(), XSS_NAME);
  assert.equal(
    (await row.locator('[data-testid=rule-what]').textContent()).trim(),
    'p75 of lcp above 1 ms by country',
  );
  assert.equal(await page.locator('[data-testid=view] img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  // the browser logs the refused save (400); that one was meant
  assert.deepEqual(
    problems.filter((p) => !/status of 400 .*\/api\/v1\/alerts\/rules\?project=/.test(p)),
    [],
  );
  assert.equal(problems.length, 1);
  await ctx.close();
});

test('detail: segments evaluated, a segment and the rule muted and unmuted, a test notification delivered to the webhook', async () => {
  assert.ok(ruleId, 'the rule of the first test');
  // evaluated every second: its segments fire (p75 LCP is above 1 ms wherever there is data)
  const detail = await waitFor('firing segments', async () => {
    const d = await apiCall('GET', `/api/v1/alerts/rules/${ruleId}?project=${projectId}`);
    return d.segments.some((s) => s.state === 'firing') && d;
  });
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/alerts?project=${projectId}&rule=${ruleId}`);
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-segments]`);
  assert.match(await text(page, '[data-badge=firing]'), /^\d+ firing$/);
  const firstSegment = detail.segments[0].segment;
  const segRow = `[data-testid=rule-segments] tr[data-segment='${JSON.stringify(firstSegment)}']`;
  await page.waitForSelector(segRow);
  assert.equal(await page.getAttribute(segRow, 'data-muted'), 'false');

  // mute one segment for an hour, then unmute it
  await page.click(`${segRow} [data-testid=segment-mute-1h]`);
  await page.waitForSelector(`${ready('alerts')} ${segRow}[data-muted=true]`);
  assert.match(await text(page, `${segRow} [data-testid=segment-muted]`), /^until \d{4}-/);
  const muted = await apiCall('GET', `/api/v1/alerts/rules/${ruleId}?project=${projectId}`);
  assert.deepEqual(
    muted.mutes.map((m) => m.segment),
    [firstSegment],
  );
  assert.ok(Math.abs(muted.mutes[0].until - (Date.now() + 3600000)) < 60000);
  await page.click(`${segRow} [data-testid=segment-unmute]`);
  await page.waitForSelector(`${ready('alerts')} ${segRow}[data-muted=false]`);

  // the whole rule for 24 hours, then not
  await page.click('[data-testid=rule-mute-24h]');
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-muted]`);
  assert.match(await text(page, '[data-testid=rule-muted]'), /^muted until \d{4}-/);
  const r = await apiCall('GET', `/api/v1/alerts/rules/${ruleId}?project=${projectId}`);
  assert.ok(Math.abs(r.muted_until - (Date.now() + 86400000)) < 60000);
  await page.click('[data-testid=rule-unmute]');
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-mute-1h]`);
  assert.equal(await page.locator('[data-testid=rule-muted]').count(), 0);
  assert.equal(
    (await apiCall('GET', `/api/v1/alerts/rules/${ruleId}?project=${projectId}`)).muted_until,
    null,
  );

  // a test notification: the receiver gets it, and the list shows its delivery with status 200
  await page.click('[data-testid=rule-test]');
  await page.waitForSelector('[data-testid=rule-action-note]:not(:empty)');
  const got = await waitFor('the test notification', () =>
    received.find((x) => x.body?.kind === 'test'),
  );
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.body.rule.id, ruleId);
  assert.equal(got.body.rule.name, XSS_NAME);
  assert.match(got.body.summary, /^Test notification from Vigil/);
  assert.equal(String(got.body.notification_id), got.headers['x-vigil-notification']);
  const testRow = `[data-testid=alert-notifications] tr[data-notification-id="${got.body.notification_id}"]`;
  await page.waitForSelector(`${testRow}[data-kind=test][data-state=delivered]`);
  assert.equal(await text(page, `${testRow} [data-testid=delivery-state]`), 'delivered');
  const attempt = page.locator(`${testRow} [data-testid=delivery]`);
  assert.equal(await attempt.count(), 1);
  assert.equal(await attempt.getAttribute('data-status'), '200');
  assert.match(await attempt.textContent(), /^#1 \d{4}-\d\d-\d\d \S+ UTC · status 200 · \d+ ms$/);
  // the firing segments were notified too (the rule has a channel)
  await waitFor('an alert notification', () => received.find((x) => x.body?.kind === 'alert'));
  await page.screenshot({ path: join(ARTIFACTS, 'alerts-rule.png'), fullPage: true });

  // the list has the history and the deliveries
  await page.goto(`${base}/alerts?project=${projectId}`);
  await page.waitForSelector(`${ready('alerts')} [data-testid=alert-history]`);
  assert.ok((await page.locator('[data-testid=alert-history] tr[data-to=firing]').count()) > 0);
  assert.equal(
    await page.getAttribute(
      `[data-testid=alert-notifications] tr[data-notification-id="${got.body.notification_id}"]`,
      'data-state',
    ),
    'delivered',
  );
  assert.equal(await page.getAttribute(`tr[data-rule-id="${ruleId}"]`, 'data-state'), 'firing');
  await page.screenshot({ path: join(ARTIFACTS, 'alerts.png'), fullPage: true });
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('overview: the firing alerts card links to the rule', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector(`${ready('overview')} [data-testid=firing-alerts]`);
  const { firing } = await apiCall('GET', `/api/v1/alerts/firing?project=${projectId}`);
  assert.ok(firing.length > 0);
  assert.equal(
    await page.locator('[data-testid=firing-alert]').count(),
    Math.min(10, firing.length),
  );
  const first = page.locator('[data-testid=firing-alert]').first();
  assert.equal(await first.getAttribute('data-rule-id'), String(ruleId));
  assert.ok((await first.textContent()).includes(firing[0].value_text));
  assert.equal(await page.locator('[data-testid=view] img').count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, 'alerts-overview.png') });
  await first.locator('a').click();
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-name]`);
  assert.equal(new URL(page.url()).searchParams.get('rule'), String(ruleId));
  // the rule stays on the alerts page: other views drop it from the URL
  await page.click('header.shell nav a:text("Overview")');
  await page.waitForSelector(ready('overview'));
  assert.equal(new URL(page.url()).searchParams.get('rule'), null);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a viewer reads rules and deliveries, without buttons to change them', async () => {
  const owner = await newPage();
  await login(owner.page);
  const invite = await asUser(owner.page, 'POST', `/api/v1/projects/${projectId}/members`, {
    email: VIEWER.email,
    role: 'viewer',
  });
  assert.equal(invite.status, 201, JSON.stringify(invite.body));
  await owner.ctx.close();
  const { ctx, page, problems } = await newPage();
  await page.goto(invite.body.link);
  await page.fill('[data-testid=invite-password]', VIEWER.password);
  await page.click('[data-testid=accept-invitation]');
  await page.waitForSelector(ready('overview'));
  await page.goto(`${base}/alerts?project=${projectId}`);
  await page.waitForSelector(`${ready('alerts')} [data-testid=alert-rules]`);
  assert.equal(await page.locator('[data-testid=new-rule]').count(), 0);
  assert.equal(await page.locator('[data-testid=alerts-readonly]').count(), 1);
  await page.goto(`${base}/alerts?project=${projectId}&rule=${ruleId}`);
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-segments]`);
  assert.equal(await page.locator('[data-testid=rule-actions]').count(), 0);
  assert.equal(await page.locator('[data-testid=view] button').count(), 0);
  assert.equal(await page.locator('[data-testid=rule-edit]').count(), 0);
  assert.equal(await page.locator('[data-testid=rule-readonly]').count(), 1);
  // the webhook's secret (its path) is not shown to readers who may not change the rule
  assert.match(
    await text(page, '[data-testid=rule-summary]'),
    /webhook http:\/\/127\.0\.0\.1:\d+\/…/,
  );
  assert.ok(!(await text(page, '[data-testid=rule-summary]')).includes('/hook'));
  assert.ok((await page.locator('[data-testid=alert-notifications] tr').count()) > 1);
  await page.goto(`${base}/alerts?project=${projectId}&rule=new`);
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-readonly]`);
  assert.equal(await page.locator('[data-testid=rule-form]').count(), 0);
  assert.deepEqual(problems, []);
  // and the server refuses anyway (the browser logs the 403)
  const refused = await asUser(
    page,
    'POST',
    `/api/v1/alerts/rules/${ruleId}/mute?project=${projectId}`,
    {
      until: null,
    },
  );
  assert.equal(refused.status, 403);
  await ctx.close();
});

test('editing keeps the rule; disabling and deleting it (two clicks)', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  await page.goto(`${base}/alerts?project=${projectId}&rule=${ruleId}&edit=1`);
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-form]`);
  // the form holds the stored rule: saved unchanged, the definition stays the same
  assert.equal(await page.inputValue('[data-testid=rule-name]'), XSS_NAME);
  assert.equal(await page.inputValue('[data-testid=rule-recovery]'), '', 'the default recovery');
  const sent = page.waitForRequest((r) => r.method() === 'PUT');
  await page.click('[data-testid=rule-save]');
  assert.deepEqual((await sent).postDataJSON(), rule);
  await page.waitForSelector(`${ready('alerts')} [data-testid=rule-summary]`);
  assert.equal(new URL(page.url()).searchParams.get('edit'), null);

  await page.click('[data-testid=rule-toggle]');
  await page.waitForSelector(`${ready('alerts')} [data-badge=disabled]`);
  assert.equal(await text(page, '[data-testid=rule-toggle]'), 'Enable');
  const r = await apiCall('GET', `/api/v1/alerts/rules/${ruleId}?project=${projectId}`);
  assert.equal(r.enabled, false);
  assert.equal(r.version, 3);

  await page.click('[data-testid=rule-delete]');
  assert.equal(await text(page, '[data-testid=rule-delete]'), 'Click again to delete');
  await page.click('[data-testid=rule-delete]');
  await page.waitForSelector(`${ready('alerts')} [data-testid=alert-rules-empty]`);
  assert.equal(new URL(page.url()).searchParams.get('rule'), null);
  assert.deepEqual((await apiCall('GET', `/api/v1/alerts/rules?project=${projectId}`)).rules, []);
  // nothing fires any more: Overview has no card
  await page.goto(`${base}/overview?project=${projectId}&range=7d`);
  await page.waitForSelector(ready('overview'));
  assert.equal(await page.locator('[data-testid=firing-alerts]').count(), 0);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a spike rule and an error-group rule keep their kind through the editor', async () => {
  const { ctx, page, problems } = await newPage();
  await login(page);
  for (const kind of [
    { baseline_windows: 4, words: 'against the previous 4 windows above 3×' },
    { error_groups: 'new', words: 'of new groups' },
  ]) {
    const { words, ...extra } = kind;
    const rule = {
      name: `kind ${words}`,
      enabled: true,
      metric: 'errors',
      aggregation: 'count',
      filters: [],
      group_by: ['fingerprint'],
      condition: 'above',
      threshold: 3,
      window_minutes: 15,
      delay_minutes: 2,
      min_samples: 5,
      pending_evaluations: 1,
      max_segments: 50,
      channels: [],
      ...extra,
    };
    const created = await asUser(page, 'POST', `/api/v1/alerts/rules?project=${projectId}`, rule);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await page.goto(`${base}/alerts?project=${projectId}&rule=${id}&edit=1`);
    await page.waitForSelector(`${ready('alerts')} [data-testid=rule-form]`);
    const sent = page.waitForRequest((r) => r.method() === 'PUT');
    await page.click('[data-testid=rule-save]');
    assert.deepEqual((await sent).postDataJSON(), rule);
    await page.waitForSelector(`${ready('alerts')} [data-testid=rule-summary]`);
    const summary = await text(page, '[data-testid=rule-what]');
    assert.ok(summary.includes(words), summary);
    const gone = await asUser(page, 'DELETE', `/api/v1/alerts/rules/${id}?project=${projectId}`);
    assert.equal(gone.status, 204);
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});
