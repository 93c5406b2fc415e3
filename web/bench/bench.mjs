// Dashboard benchmark: real `vigil serve` on `vigil demo` data + headless Debian Chromium.
// Opens each view RUNS times (full navigation) and prints the median time from navigation to
// the view's ready marker ([data-testid=view][data-state=ready]).
//   BENCH_PAGE_VIEWS (default 100000), BENCH_RUNS (default 5), BENCH_RANGE (default 7d),
//   VIGIL_BIN, CHROMIUM as for the tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServe, stopServe } from '../test/vigil-serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB = resolve(HERE, '..');
const VIGIL = process.env.VIGIL_BIN ?? join(homedir(), '.cache/vigil-target/debug/vigil');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PAGE_VIEWS = Number(process.env.BENCH_PAGE_VIEWS ?? 100000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const RANGE = process.env.BENCH_RANGE ?? '7d';
// [label, path, data-view]
const VIEWS = [
  ['overview', '/overview', 'overview'],
  ['performance', '/explorer', 'explorer'],
  ['pages', '/pages', 'pages'],
  ['page', '/page?page=/checkout', 'page'],
  ['network', '/network', 'network'],
  ['resources', '/resources', 'resources'],
  ['geography', '/geography', 'geography'],
  ['errors', '/errors', 'errors'],
  ['sessions', '/sessions', 'sessions'],
  ['business', '/business', 'business'],
  ['settings', '/settings', 'settings'],
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'vigil-web-bench-'));
let server, browser;
try {
  const t0 = Date.now();
  const out = execFileSync(
    VIGIL,
    [
      'demo',
      '--data',
      join(dir, 'data'),
      '--page-views',
      String(PAGE_VIEWS),
      '--mobile-sessions',
      '0',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
  );
  console.log(
    `# vigil demo --page-views ${PAGE_VIEWS}: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const [, email, password] = /login\s+(\S+) \/ (\S+)/.exec(out);
  const pm = /\(id (\d+)\)/.exec(out);
  const projectId = pm ? Number(pm[1]) : 1;
  let base;
  ({ server, base } = await startServe(VIGIL, join(dir, 'data'), join(WEB, 'dist'), 60000));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(120000);
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=view][data-state=ready]');
  const results = [];
  for (const [label, path, view] of VIEWS) {
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const start = Date.now();
      await page.goto(
        `${base}${path}${path.includes('?') ? '&' : '?'}project=${projectId}&range=${RANGE}`,
      );
      await page.waitForSelector(`[data-testid=view][data-view=${view}][data-state=ready]`);
      times.push(Date.now() - start);
    }
    results.push([label, median(times), Math.min(...times), Math.max(...times)]);
  }
  console.log(
    `\nDashboard bench: ${PAGE_VIEWS} page views, range ${RANGE}, ${RUNS} runs per view (navigation → data-state=ready)\n`,
  );
  console.log('view          median ms    min ms    max ms');
  console.log('------------  ---------  --------  --------');
  for (const [l, m, lo, hi] of results)
    console.log(
      `${l.padEnd(12)}  ${String(Math.round(m)).padStart(9)}  ${String(lo).padStart(8)}  ${String(hi).padStart(8)}`,
    );
  await ctx.close();
} finally {
  await browser?.close();
  await stopServe(server);
  rmSync(dir, { recursive: true, force: true });
}
