// Benchmark: loads a reference page N times (default 20) without and with the agent in
// Chromium (alternating, each in a fresh browser context) and prints the median main-thread
// time the agent adds (CDP Performance metrics TaskDuration and ScriptDuration) at load and
// when the page is hidden, the bytes the agent sends per page view, and the bytes of the agent
// script itself over the wire as `vigil serve` answers it (brotli, gzip, uncompressed).
//   npm run bench            (N from BENCH_RUNS, default 20)
import { request } from 'node:http';
import { startVigil, startPages, launch, waitFor, sleep } from '../test/helpers.mjs';

const N = Math.max(1, +(process.env.BENCH_RUNS || 20));
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const vigil = await startVigil();
const pages = await startPages(vigil);
const browser = await launch();

async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  return { task: m.TaskDuration * 1000, script: m.ScriptDuration * 1000 };
}

async function once(withAgent) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
  const url = pages.url + '/bench.html' + (withAgent ? '' : '?noagent=1');
  await page.goto(url, { waitUntil: 'load' });
  let sid = null;
  if (withAgent)
    sid = await waitFor(() => page.evaluate(() => window.vigil && vigil.getContext().session_id));
  await page.click('#add');
  await page.click('#add');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 500))));
  const load = await metrics(cdp);
  // Hide the page the way a tab switch does: web vitals are final, the queue is sent.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
  });
  await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
  const hidden = await metrics(cdp);
  await page.goto(pages.url + '/blank.html');
  let bytes = 0;
  let requests = 0;
  if (withAgent) {
    await sleep(300);
    for (const i of pages.state.ingest)
      if (i.body.includes(sid)) {
        bytes += Buffer.byteLength(i.body);
        requests++;
      }
  }
  await context.close();
  return {
    load,
    hide: { task: hidden.task - load.task, script: hidden.script - load.script },
    bytes,
    requests,
  };
}

/** Bytes of the response body as sent (node's http does not decompress), and its encoding. */
function wireBytes(url, acceptEncoding) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () =>
        resolve({ bytes: n, encoding: res.headers['content-encoding'] || 'none' }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

try {
  for (const accept of ['gzip, deflate, br', 'gzip', 'identity']) {
    const { bytes, encoding } = await wireBytes(vigil.url + '/agent/vigil.js', accept);
    console.log(`agent over the wire (Accept-Encoding: ${accept}): ${bytes} bytes, ${encoding}`);
  }
  await once(false); // warm up the server and the browser
  await once(true);
  const runs = { without: [], with: [] };
  for (let i = 0; i < N; i++) {
    for (const w of i % 2 ? [true, false] : [false, true])
      runs[w ? 'with' : 'without'].push(await once(w));
    process.stdout.write('.');
  }
  process.stdout.write('\n');
  const med = (k, f) => median(runs[k].map(f));
  const row = (label, f) => {
    const a = med('without', f);
    const b = med('with', f);
    console.log(
      `${label.padEnd(34)} ${a.toFixed(1).padStart(8)} ms ${b.toFixed(1).padStart(8)} ms ${(b - a).toFixed(1).padStart(8)} ms`,
    );
  };
  console.log(`reference page, ${N} loads each, medians       without       with      added`);
  row('main-thread tasks, load + 0.5 s', (r) => r.load.task);
  row('script, load + 0.5 s', (r) => r.load.script);
  row('main-thread tasks, page hidden', (r) => r.hide.task);
  row('script, page hidden', (r) => r.hide.script);
  const bytes = runs.with.map((r) => r.bytes);
  console.log(
    `bytes sent per page view: median ${median(bytes)}, min ${Math.min(...bytes)}, max ${Math.max(...bytes)} (requests: median ${median(runs.with.map((r) => r.requests))})`,
  );
} finally {
  await browser.close();
  await pages.stop();
  await vigil.stop();
}
