// Benchmark of session replay in Chromium: the replay chunk's size, the bytes a minute of
// replay takes on the wire on a typical content page and on a mutation-heavy one, and the
// main-thread time recording adds there (CDP Performance metrics, the agent loaded in both
// runs, replay on in one: data-replay-sample-rate 1 against 0). A user reads each page for
// BENCH_SECONDS (default 20): the mouse moves every 250 ms, the page scrolls every second, a
// click every 5 s; then the tab is hidden (the last segment is sent).
//   npm run bench:replay      (BENCH_RUNS runs of each, default 3)
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { startVigil, startPages, launch, waitFor, sleep } from '../test/helpers.mjs';

const RUNS = Math.max(1, +(process.env.BENCH_RUNS || 3));
const SECONDS = Math.max(5, +(process.env.BENCH_SECONDS || 20));
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const chunk = readFileSync(new URL('../dist/vigil-replay.js', import.meta.url));
console.log(
  `replay chunk: ${chunk.length} bytes, ${gzipSync(chunk, { level: 9 }).length} bytes gzip`,
);

const vigil = await startVigil();
const pages = await startPages(vigil);
const browser = await launch();

async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  return { task: m.TaskDuration * 1000, script: m.ScriptDuration * 1000 };
}

/** One visit of `page` with replay on or off: added main-thread time and replay bytes sent. */
async function visit(page, replay) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const tab = await context.newPage();
  const cdp = await context.newCDPSession(tab);
  await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
  await tab.goto(`${pages.url}/${page}?a.replay-sample-rate=${replay ? 1 : 0}`, {
    waitUntil: 'load',
  });
  const sid = await waitFor(() =>
    tab.evaluate(() => window.vigil && vigil.getContext().session_id),
  );
  if (replay)
    await waitFor(() => pages.state.hits['/agent/vigil-replay.js'] > 0, { what: 'the chunk' });
  await sleep(500);
  const before = await metrics(cdp);
  const started = Date.now();
  let i = 0;
  while (Date.now() - started < SECONDS * 1000) {
    await tab.mouse.move(100 + ((i * 97) % 1000), 100 + ((i * 53) % 600), { steps: 4 });
    if (i % 4 === 3) await tab.mouse.wheel(0, i % 40 < 20 ? 300 : -300);
    if (i % 20 === 19) await tab.mouse.click(640, 400);
    await sleep(250);
    i++;
  }
  const during = await metrics(cdp);
  await tab.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
  });
  await sleep(1500);
  const uploads = pages.state.replay.filter((u) => u.segment && u.segment.session_id === sid);
  await context.close();
  return {
    task: during.task - before.task,
    script: during.script - before.script,
    bytes: uploads.reduce((n, u) => n + u.bytes, 0),
    segments: uploads.length,
    refused: uploads.filter((u) => u.status !== 202).length,
  };
}

try {
  await visit('bench.html', true); // warm up the server, the browser and the chunk
  for (const [label, page] of [
    ['content page (bench.html, 300-item list)', 'bench.html'],
    [
      'mutation-heavy page (50 cells every 100 ms, a feed row every 250 ms)',
      'bench-replay-busy.html',
    ],
  ]) {
    const on = [];
    const off = [];
    for (let r = 0; r < RUNS; r++) {
      off.push(await visit(page, false));
      on.push(await visit(page, true));
      process.stdout.write('.');
    }
    process.stdout.write('\n');
    const perMinute = median(on.map((x) => (x.bytes * 60) / SECONDS));
    const added = (k) => median(on.map((x) => x[k])) - median(off.map((x) => x[k]));
    console.log(`${label}, ${RUNS} runs of ${SECONDS} s each, medians:`);
    console.log(
      `  replay sent: ${(perMinute / 1024).toFixed(1)} KiB per minute (gzip), ${median(on.map((x) => x.segments))} segments in ${SECONDS} s, refused ${on.reduce((n, x) => n + x.refused, 0)}`,
    );
    console.log(
      `  main thread: tasks ${median(off.map((x) => x.task)).toFixed(1)} → ${median(on.map((x) => x.task)).toFixed(1)} ms (+${added('task').toFixed(1)} ms, ${((added('task') / SECONDS / 1000) * 100).toFixed(2)}% of the time), script +${added('script').toFixed(1)} ms`,
    );
  }
} finally {
  await browser.close();
  await pages.stop();
  await vigil.stop();
}
