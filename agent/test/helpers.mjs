import { before, after, afterEach } from 'node:test';
// Test harness: a real `vigil serve` on 127.0.0.1, a small page server (static pages from
// test/pages, the built agent, test endpoints, and a proxy to vigil that can fail on purpose),
// and Debian's Chromium through playwright-core. Everything binds 127.0.0.1 and is stopped by
// the `stop` functions the tests call in `after`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir, homedir } from 'node:os';
import { join, dirname, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { schemaErrors } from './schema.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PAGES = join(ROOT, 'test', 'pages');

export const VIGIL_BIN =
  process.env.VIGIL_BIN ||
  join(process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'vigil-target'), 'debug', 'vigil');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws with `what` after the deadline. */
/**
 * `promise`, or an error naming `what` when it has not settled within `ms`. Playwright's
 * `page.evaluate` and Node's `fetch` have no deadline of their own: without this, one call that
 * never returns stalls a whole test file until the runner's timeout, which names no step.
 */
export function within(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

export async function waitFor(fn, { timeout = 15000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      // A call that hangs ends at the deadline (and a little after, so that a slow last
      // answer still counts) rather than never.
      const v = await within(fn(), Math.max(end - Date.now(), 0) + 5000, `a check for ${what}`);
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}: ${last instanceof Error ? last.message : JSON.stringify(last)?.slice(0, 2000)}`,
      );
    await sleep(interval);
  }
}

/**
 * Repaints the page (a background colour change: no layout shift), then waits for the next
 * frame and an idle callback after it. Headless Chromium holds idle callbacks (and event
 * timing entries) after synthetic input until a frame is presented, and web-vitals processes
 * interactions in idle callbacks. A frame that does not come within 5 s is asked for again by
 * another repaint, three times at most; then this fails with the step's name.
 */
export async function frameThenIdle(page) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await within(
        page.evaluate(() => {
          const s = document.documentElement.style;
          s.backgroundColor = s.backgroundColor ? '' : 'rgb(250, 250, 250)';
          return new Promise((r) => requestAnimationFrame(() => requestIdleCallback(() => r())));
        }),
        5000,
        `a presented frame and an idle callback after it (repaint ${attempt} of 3)`,
      );
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

/** Starts `vigil serve` on a fresh data folder with one project (any origin allowed). */
export async function startVigil() {
  if (!existsSync(VIGIL_BIN))
    throw new Error(`vigil binary not found at ${VIGIL_BIN} (build it with cargo build -p vigil)`);
  const data = mkdtempSync(join(tmpdir(), 'vigil-agent-test-'));
  const project = JSON.parse(
    execFileSync(VIGIL_BIN, ['project', 'create', 'agent-test', '--data', data, '--json'], {
      encoding: 'utf8',
    }),
  );
  const proc = spawn(VIGIL_BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Should the test process die without its `after` hooks, the server goes with it.
  const kill = () => proc.exitCode == null && proc.kill('SIGKILL');
  process.once('exit', kill);
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('vigil serve did not start: ' + stderr)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /vigil listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.on('exit', (c) => reject(new Error(`vigil serve exited ${c}: ${stderr}`)));
  });
  const token = project.api_token;
  const api = async (path, body) => {
    const r = await fetch(url + path, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30000),
    });
    const j = await r.json();
    if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  return {
    url,
    key: project.public_key,
    token,
    /** The data folder and the project's name, for the CLI (`vigil sourcemaps upload`). */
    data,
    project: 'agent-test',
    /** The project's id (`?project=`). */
    projectId: project.id,
    /** A session's stored replay segments (GET …/replay, NDJSON), [] while it has none. */
    async replay(sid) {
      const r = await fetch(
        `${url}/api/v1/sessions/${encodeURIComponent(sid)}/replay?project=${project.id}`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      if (r.status === 404) return [];
      const text = await r.text();
      if (!r.ok) throw new Error(`replay of ${sid}: ${r.status} ${text}`);
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l));
    },
    /** Every stored event of a session: [{type: table, ts, ...columns}]. */
    session: async (sid) => (await api(`/api/v1/sessions/${encodeURIComponent(sid)}`)).events,
    query: (q) => api('/api/v1/query', { from: 0, to: 9000000000000, ...q }),
    async stop() {
      process.removeListener('exit', kill);
      if (proc.exitCode == null && proc.signalCode == null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

// ---- a PNG of w×h pixels (for LCP)
function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function png(w, h) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  const row = Buffer.alloc(1 + w * 3);
  for (let x = 0; x < w; x++) row.set([40, 120 + (x % 100), 200], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
const IMAGE = png(600, 400);

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.png': 'image/png',
};

/**
 * The page server. Pages are templated: {{AGENT}} becomes the agent's script tag, built from
 * the query string (`noagent=1` leaves it out; `a.NAME=VALUE` adds data-NAME="VALUE"),
 * {{KEY}} the public key, {{VIGIL}} the collector's URL.
 * The agent's default endpoint (the script's origin) reaches vigil through the proxy at
 * /api/v1/*, which records every ingest request and can fail the next N on purpose.
 * `mount(prefix, dir)` serves a folder's files as they are under a path prefix (`/sm/`).
 */
export async function startPages(vigil) {
  const mounts = [];
  const state = {
    ingest: [], // {status, body} of every ingest request that reached the proxy
    // {status, enc, bytes, segment} of every replay upload that reached the proxy (segment:
    // the JSON, decompressed)
    replay: [],
    invalid: [], // {errors, body} of every ingest body that fails docs/protocol.schema.json
    reports: [], // bodies POSTed to /__report
    fail: { count: 0, status: 503, retryAfter: '1' },
    hits: {}, // path → count
    // {method, host, path, traceparent} of every request to a test endpoint (/api/…, not the
    // collector's /api/v1/…): the trace headers as the receiving server saw them
    api: [],
  };
  const server = createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    const path = u.pathname;
    state.hits[path] = (state.hits[path] || 0) + 1;
    if (path.startsWith('/api/') && !path.startsWith('/api/v1/'))
      state.api.push({
        method: req.method,
        host: req.headers.host,
        path,
        traceparent: req.headers.traceparent ?? null,
      });
    const send = (status, type, body, headers = {}) => {
      // no-cache, not no-store: no-store pages are never kept in the back/forward cache.
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache', ...headers });
      res.end(body);
    };
    if (path.startsWith('/api/v1/')) return proxy(req, res, u, vigil, state);
    if (path === '/rum/ingest')
      return proxy(req, res, new URL('/api/v1/ingest' + u.search, u), vigil, state); // a first-party path
    if (
      path === '/agent/vigil.js' ||
      path === '/agent/vigil.esm.js' ||
      path === '/agent/vigil-replay.js'
    )
      return send(200, TYPES['.js'], readFileSync(join(ROOT, 'dist', path.slice(7))));
    if (path === '/wv.js')
      return send(
        200,
        TYPES['.js'],
        readFileSync(
          join(ROOT, 'node_modules', 'web-vitals', 'dist', 'web-vitals.attribution.iife.js'),
        ),
      );
    if (path === '/slow.png') {
      const d = Math.min(5000, +u.searchParams.get('delay') || 0);
      return setTimeout(() => send(200, TYPES['.png'], IMAGE), d);
    }
    if (path === '/missing.png') return send(404, 'text/plain', 'not found');
    if (path === '/api/fail') return send(500, 'application/json', '{"error":"boom"}');
    if (path === '/api/slow')
      return setTimeout(
        () => send(200, 'application/json', '{"ok":true}'),
        +u.searchParams.get('delay') || 300,
      );
    const m = /^\/api\/users\/([^/]+)$/.exec(path);
    if (m)
      return send(
        200,
        'application/json',
        JSON.stringify({ id: m[1], traceparent: req.headers.traceparent || null }),
        { 'access-control-allow-origin': '*' }, // readable from another origin (localhost)
      );
    if (path === '/api/echo') {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () =>
        send(
          200,
          'application/json',
          JSON.stringify({
            method: req.method,
            body: b,
            traceparent: req.headers.traceparent || null,
          }),
        ),
      );
      return;
    }
    if (path === '/__report') {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => {
        try {
          state.reports.push(JSON.parse(b));
        } catch {
          state.reports.push(b);
        }
        send(204, 'text/plain', '');
      });
      return;
    }
    const mount = mounts.find((m) => path.startsWith(m.prefix));
    if (mount) {
      const file = normalize(join(mount.dir, path.slice(mount.prefix.length)));
      if (!file.startsWith(mount.dir) || !existsSync(file) || !statSync(file).isFile())
        return send(404, 'text/plain', 'not found');
      return send(200, TYPES[extname(file)] || 'application/octet-stream', readFileSync(file));
    }
    const file = normalize(join(PAGES, path === '/' ? 'index.html' : path));
    if (!file.startsWith(PAGES) || !existsSync(file)) return send(404, 'text/plain', 'not found');
    let body = readFileSync(file);
    const ext = file.slice(file.lastIndexOf('.'));
    const headers = {};
    if (ext === '.html') {
      const attrs = [`data-key="${u.searchParams.get('key') || vigil.key}"`];
      for (const [k, v] of u.searchParams)
        if (k.startsWith('a.')) attrs.push(`data-${k.slice(2)}="${v.replace(/"/g, '&quot;')}"`);
      const tag = u.searchParams.has('noagent')
        ? ''
        : `<script async src="/agent/vigil.js" ${attrs.join(' ')}></script>`;
      body = body
        .toString()
        .replaceAll('{{AGENT}}', tag)
        .replaceAll('{{KEY}}', vigil.key)
        .replaceAll('{{VIGIL}}', vigil.url);
      if (path.includes('csp'))
        headers['content-security-policy'] =
          `default-src 'none'; script-src 'self'; connect-src 'self' ${vigil.url}; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'self'`;
    }
    send(200, TYPES[ext] || 'application/octet-stream', body, headers);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    state,
    mount(prefix, dir) {
      mounts.push({ prefix, dir: normalize(dir + '/') });
    },
    /** Batches the collector itself refused (not failures injected by the tests). */
    rejected: () => state.ingest.filter((i) => !i.injected && i.status !== 202),
    /** Ingested events (from 202-answered batches) seen by the proxy. */
    acceptedEvents: () =>
      state.ingest.filter((i) => i.status === 202).flatMap((i) => JSON.parse(i.body).events),
    async stop() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}

function proxy(req, res, u, vigil, state) {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const ingest = u.pathname === '/api/v1/ingest';
    if (ingest) checkSchema(body.toString(), state);
    if (ingest && state.fail.count > 0) {
      state.fail.count--;
      state.ingest.push({ status: state.fail.status, body: body.toString(), injected: true });
      res.writeHead(state.fail.status, {
        'content-type': 'application/json',
        'retry-after': state.fail.retryAfter,
      });
      return res.end(JSON.stringify({ code: 'overloaded', message: 'injected failure' }));
    }
    const target = new URL(u.pathname + u.search, vigil.url);
    const headers = { ...req.headers, host: target.host };
    const p = httpRequest(target, { method: req.method, headers }, (pr) => {
      const out = [];
      pr.on('data', (d) => out.push(d));
      pr.on('end', () => {
        if (ingest) state.ingest.push({ status: pr.statusCode, body: body.toString() });
        if (u.pathname === '/api/v1/replay')
          state.replay.push(replayUpload(u, body, pr.statusCode));
        res.writeHead(pr.statusCode, pr.headers);
        res.end(Buffer.concat(out));
      });
    });
    p.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    p.end(body);
  });
}

/** A replay upload as the proxy saw it, its segment decoded (null when it is not JSON). */
export function replayUpload(u, body, status) {
  const enc = u.searchParams.get('enc');
  let segment = null;
  try {
    segment = JSON.parse((enc === 'gzip' ? gunzipSync(body) : body).toString());
  } catch {
    /* left null: the test sees it */
  }
  return { status, enc, bytes: body.length, segment };
}

/** Every batch the agent sends must match the wire schema; withStack fails the test otherwise. */
function checkSchema(body, state) {
  let errors;
  try {
    errors = schemaErrors(JSON.parse(body));
  } catch (e) {
    errors = [`not JSON: ${e.message}`];
  }
  if (errors.length) state.invalid.push({ errors, body: body.slice(0, 2000) });
}

/** Launches Debian's Chromium; `bfcache` keeps the back/forward cache that Playwright turns off. */
/**
 * Starts a real `vigil serve`, the page server in front of it and Chromium before the file's
 * tests, hands them to `assign` (awaited: it may prepare more), and stops all three after.
 */
export function withStack(assign) {
  const s = {};
  before(async () => {
    s.vigil = await startVigil();
    s.pages = await startPages(s.vigil);
    s.browser = await launch();
    await assign(s);
  });
  // a batch the agent sent during a test that fails docs/protocol.schema.json fails that test
  afterEach(() => {
    const bad = s.pages ? s.pages.state.invalid.splice(0) : [];
    if (bad.length)
      throw new Error(
        `the agent sent ${bad.length} batch(es) that fail docs/protocol.schema.json: ` +
          JSON.stringify(bad, null, 1).slice(0, 4000),
      );
  });
  after(async () => {
    const bad = s.pages ? s.pages.state.invalid.splice(0) : [];
    if (bad.length)
      throw new Error(
        `the agent sent ${bad.length} batch(es) that fail docs/protocol.schema.json (after the last test): ` +
          JSON.stringify(bad, null, 1).slice(0, 4000),
      );
    await s.browser?.close();
    await s.pages?.stop();
    await s.vigil?.stop();
  });
}

export async function launch({ bfcache = false } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    ignoreDefaultArgs: bfcache ? ['--disable-back-forward-cache'] : [],
  });
}

/** A fresh browser context and page; console errors of the agent are collected in `logs`. */
export async function newPage(browser, opts = {}) {
  const context = await within(browser.newContext(opts), 30000, 'a new browser context');
  const page = await within(context.newPage(), 30000, 'a new page');
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  return { context, page, logs };
}

/** The agent's session id on the page (waits for the agent to start). */
export async function sessionId(page) {
  return waitFor(
    () =>
      page.evaluate(
        () => window.vigil && window.vigil.getContext && window.vigil.getContext().session_id,
      ),
    { what: 'agent start' },
  );
}

/**
 * Events of a session stored by vigil, polled until `pred(events)` holds. With `page`, its queue
 * is flushed at every poll: a hard-load view is queued only once its TTI is known (5 s after FCP
 * at the earliest), and would otherwise wait for the next 5 s timer.
 */
export async function stored(vigil, sid, pred, what = 'stored events', page = undefined) {
  return waitFor(
    async () => {
      if (page) await page.evaluate(() => vigil.flush());
      const ev = await vigil.session(sid);
      return pred(ev) ? ev : false;
    },
    { what, timeout: 20000, interval: 200 },
  );
}

/** FNV-1a of a string mapped to [0, 1), as the agent samples sessions. */
export const unit = (s) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 4294967296;
};
/** The first session id (a valid UUID) whose sampling value satisfies `pred`. */
export const idWith = (pred) => {
  for (let i = 0; ; i++) {
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    if (pred(unit(id))) return id;
  }
};

export const ofType = (events, type, extra = () => true) =>
  events.filter((e) => e.type === type && extra(e));
