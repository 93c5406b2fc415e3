// Issue 11, from a slow click to the slow database query, with real parts end to end: the agent
// on a page traces a fetch to a Python backend instrumented with the OpenTelemetry SDK from PyPI
// (test/otel/backend.py: Flask, a SQLite query under its own span, logs bridged from `logging`),
// which exports spans and logs in OTLP protobuf to vigil; vigil's waterfall API must return the
// browser's request and the backend's spans as one tree, joined by the trace id and the span id
// in `traceparent`, with the logs on their spans. The other tests send spans from this process
// with the OpenTelemetry JS SDK's OTLP JSON exporter (a whole tree; the other path and the key
// as a bearer token; a wrong key). Malformed OTLP is the Rust tests' (crates/vigil/tests).
// The Python packages live in a venv under ~/.cache (VIGIL_OTEL_VENV), built here from
// test/otel/requirements.txt when it or the Python version changes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, newPage, sessionId, stored, ofType, waitFor, withStack } from './helpers.mjs';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const OTEL = join(ROOT, 'test', 'otel');
const REQUIREMENTS = join(OTEL, 'requirements.txt');
const VENV = process.env.VIGIL_OTEL_VENV || join(homedir(), '.cache', 'vigil-otel-venv');
const PYTHON = process.env.PYTHON || 'python3';
/** The backend's SQL waits this long: far more than any other span's own time. */
const QUERY_DELAY_MS = 400;
const TP = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

const run = promisify(execFile);

/**
 * The venv's python, with requirements.txt installed. The venv is kept while the hash of the
 * requirements and of the base Python's version is the one stamped in it; else it is rebuilt.
 */
async function pythonVenv() {
  const version = (await run(PYTHON, ['-c', 'import sys; print(sys.version)'])).stdout;
  const key = createHash('sha256').update(readFileSync(REQUIREMENTS)).update(version).digest('hex');
  const python = join(VENV, 'bin', 'python');
  const stamp = join(VENV, 'requirements.sha256');
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return python;
  const t0 = Date.now();
  rmSync(VENV, { recursive: true, force: true });
  const quiet = { maxBuffer: 16 << 20 };
  try {
    await run(PYTHON, ['-m', 'venv', VENV], quiet);
    await run(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-input',
        '--progress-bar=off',
        '-r',
        REQUIREMENTS,
      ],
      quiet,
    );
  } catch (e) {
    throw new Error(
      `building the OpenTelemetry venv in ${VENV} failed (python3-venv missing?): ${e.message}\n${e.stderr ?? ''}`,
    );
  }
  writeFileSync(stamp, key); // last: a venv cut short has no stamp and is built again
  console.log(`built the OpenTelemetry venv ${VENV} in ${Date.now() - t0} ms`);
  return python;
}

/**
 * backend.py on a free 127.0.0.1 port, exporting to `vigil` with the standard OTEL_* variables,
 * answering CORS for `origin`. Its stderr (exporter failures among it) is kept for messages.
 */
async function startShop(python, vigil, origin) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^OTEL_/.test(k)));
  Object.assign(env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: vigil.url,
    OTEL_EXPORTER_OTLP_HEADERS: `x-vigil-key=${vigil.key}`,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip', // spans gzipped, logs plain
    SHOP_ALLOW_ORIGIN: origin,
    SHOP_QUERY_DELAY_MS: String(QUERY_DELAY_MS),
    SHOP_PORT: '0',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  });
  // stdin stays open: backend.py exits when it closes, should this process die without `after`.
  const proc = spawn(python, [join(OTEL, 'backend.py')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('backend.py did not start: ' + stderr)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /shop-api listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.on('exit', (c) => reject(new Error(`backend.py exited ${c}: ${stderr}`)));
  }).catch((e) => {
    proc.kill('SIGKILL');
    throw e;
  });
  return {
    url,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode != null || proc.signalCode != null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

let vigil, pages, browser, python, shop;
after(() => shop?.stop()); // registered before withStack's: the backend stops before vigil
withStack(async (s) => {
  ({ vigil, pages, browser } = s);
  pages.mount('/otel/', join(OTEL, 'pages'));
  // Here, not in a `before` of its own: the file's two root `before` hooks did not wait for
  // each other, and on a fresh machine (pip installing for seconds) the shop started with
  // no venv.
  python = await pythonVenv();
  shop = await startShop(python, vigil, pages.url);
});

/** GET /api/v1/traces/{id}: the waterfall, or null while it is 404. */
async function waterfall(traceId) {
  const r = await fetch(`${vigil.url}/api/v1/traces/${traceId}`, {
    headers: { authorization: `Bearer ${vigil.token}` },
  });
  const text = await r.text();
  if (r.status === 404) return null;
  if (!r.ok) throw new Error(`GET /api/v1/traces/${traceId}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** The waterfall once it has `spans` spans and `logs` log records; `more()` adds to a timeout. */
async function waterfallWith(traceId, spans, logs, more = () => '') {
  try {
    return await waitFor(
      async () => {
        const w = await waterfall(traceId);
        return w && w.spans.length >= spans && w.logs.length >= logs && w;
      },
      { timeout: 20000, interval: 200, what: `trace ${traceId} with ${spans} spans, ${logs} logs` },
    );
  } catch (e) {
    e.message += more();
    throw e;
  }
}

/** A time in ms to the µs, for exact comparisons of times that went through ns and back. */
const ms = (t) => Math.round(t * 1000) / 1000;

/** `inner` lies within `outer` in time, give or take `slack` ms (two clocks). */
function within(inner, outer, slack, what) {
  assert.ok(
    inner.start >= outer.start - slack,
    `${what}: starts ${outer.start - inner.start} ms early`,
  );
  assert.ok(
    inner.start + inner.duration <= outer.start + outer.duration + slack,
    `${what}: ends ${inner.start + inner.duration - outer.start - outer.duration} ms late`,
  );
}

test('a click on the page, the Flask request and its slow SQLite query: one trace, browser span at the root', async () => {
  const { context, page, logs } = await newPage(browser);
  try {
    await page.goto(
      `${pages.url}/otel/shop.html?key=${vigil.key}&api=${encodeURIComponent(shop.url)}`,
    );
    const sid = await sessionId(page);
    await page.click('#cart');
    const body = JSON.parse(
      await waitFor(() => page.textContent('#out'), { what: 'the cart on the page' }),
    );

    // The backend got the agent's traceparent and continued that trace.
    const tp = TP.exec(body.traceparent);
    assert.ok(tp, `traceparent the backend saw: ${body.traceparent}`);
    const [, traceId, browserSpanId] = tp;
    assert.equal(body.trace_id, traceId);
    assert.deepEqual(
      body.items.map((i) => [i.name, i.qty]),
      [
        ['cup', 4],
        ['teapot', 1],
      ],
    );

    // The agent's request event carries the same ids.
    const isCart = (e) => e.url === `${shop.url}/api/cart?cart=7`;
    const events = await stored(
      vigil,
      sid,
      (ev) => ofType(ev, 'requests', isCart).length > 0,
      'the request to shop-api',
      page,
    );
    const requests = ofType(events, 'requests', isCart);
    assert.equal(requests.length, 1, JSON.stringify(requests));
    const [req] = requests;
    assert.equal(req.trace_id, traceId);
    assert.equal(req.span_id, browserSpanId);
    assert.equal(req.trace_sampled, true);
    assert.equal(req.status, 200);

    const w = await waterfallWith(traceId, 3, 2, () => `; backend stderr: ${shop.stderr()}`);
    const why = JSON.stringify(w, null, 1).slice(0, 6000);
    assert.equal(w.trace_id, traceId);
    assert.equal(w.spans.length, 3, why);
    const [client, server, db] = w.spans;

    // depth 0: the browser's request as a client span, the root
    assert.equal(client.depth, 0, why);
    assert.equal(client.span_id, browserSpanId);
    assert.ok(!client.parent_span_id, `browser span's parent: ${client.parent_span_id}`);
    assert.equal(client.browser, true);
    assert.equal(client.service, 'browser');
    assert.equal(client.kind, 'client');
    assert.equal(client.name, 'GET /api/cart');
    assert.equal(client.session_id, sid);
    assert.equal(client.view_id, req.view_id);
    assert.equal(client.url, req.url);
    assert.ok(
      Math.abs(client.duration - req.duration) <= 1,
      `browser span ${client.duration} ms, request event ${req.duration} ms`,
    );

    // depth 1: Flask's SERVER span, child of the span id the browser sent
    assert.equal(server.depth, 1, why);
    assert.equal(server.parent_span_id, browserSpanId);
    assert.equal(server.span_id, body.span_id);
    assert.equal(server.service, 'shop-api');
    assert.equal(server.kind, 'server');
    assert.equal(server.name, 'GET /api/cart');
    assert.equal(server.browser, false);
    assert.equal(server.scope, 'opentelemetry.instrumentation.flask');
    assert.equal(server.resource['service.name'], 'shop-api');
    assert.equal(server.resource['service.version'], '1.4.2');
    assert.equal(server.attributes['http.route'], '/api/cart');

    // depth 2: the SQLite query, the slowest span
    assert.equal(db.depth, 2, why);
    assert.equal(db.parent_span_id, server.span_id);
    assert.equal(db.span_id, body.db_span_id);
    assert.equal(db.service, 'shop-api');
    assert.equal(db.name, 'SELECT cart');
    assert.equal(db.kind, 'client');
    assert.equal(db.scope, 'shop.cart');
    assert.equal(db.attributes['db.system.name'], 'sqlite');
    assert.equal(db.attributes['db.collection.name'], 'cart_items');
    assert.equal(db.attributes['db.response.returned_rows'], 2);
    assert.match(db.attributes['db.query.text'], /FROM cart_items i JOIN products p/);
    assert.ok(db.duration >= QUERY_DELAY_MS, `SELECT cart took ${db.duration} ms`);
    assert.equal(w.slowest_span_id, db.span_id, why);

    // Each span within its parent in time: Python's one clock, the browser's and Python's.
    within(db, server, 1, 'SELECT cart in GET /api/cart');
    within(server, client, 20, 'GET /api/cart in the browser request');
    assert.equal(client.offset, 0);
    assert.equal(w.start, client.start);
    assert.ok(Math.abs(w.duration - client.duration) < 0.01, `trace ${w.duration} ms`);

    assert.deepEqual(w.services, ['browser', 'shop-api']);
    assert.equal(w.session_id, sid);
    assert.equal(w.view_id, req.view_id);
    assert.equal(w.truncated, false);

    // The two log records, each on the span it was written in.
    assert.equal(w.logs.length, 2, why);
    const [slow, loaded] = [...w.logs].sort((a, b) => a.time - b.time);
    assert.match(slow.body, /^slow query: \d+ ms for cart 7$/);
    assert.equal(slow.span_id, db.span_id);
    assert.equal(slow.severity, 'WARN');
    assert.equal(slow.service, 'shop-api');
    assert.equal(slow.scope, 'shop.cart');
    assert.equal(slow.attributes['cart.id'], 7);
    assert.equal(loaded.body, 'cart 7 loaded: 2 items');
    assert.equal(loaded.span_id, server.span_id);
    assert.equal(loaded.severity, 'INFO');
    assert.equal(loaded.attributes['cart.total_cents'], 4800);
    assert.ok(
      slow.time >= db.start &&
        loaded.time >= slow.time &&
        loaded.time <= server.start + server.duration,
      `log times ${slow.time}, ${loaded.time} against SELECT cart at ${db.start}`,
    );

    // The HTTP status: the browser's from its request event, Flask's from http.status_code.
    assert.deepEqual(
      w.spans.map((s) => s.http_status),
      [200, 200, null],
    );

    // The spans are in the query API too, by service and name.
    const q = await vigil.query({
      metric: 'spans.duration',
      aggregations: ['count', 'p75', 'error_rate'],
      group_by: ['service', 'name'],
    });
    const groups = q.rows.map((r) => Object.fromEntries(q.columns.map((c, i) => [c, r[i]])));
    // Flask's span of the CORS preflight is there too: a trace of its own (no traceparent).
    assert.deepEqual(
      groups.map((g) => [g.service, g.name, g.count, g.error_rate]).sort(),
      [
        ['browser', 'GET /api/cart', 1, 0],
        ['shop-api', 'GET /api/cart', 1, 0],
        ['shop-api', 'OPTIONS /api/cart', 1, 0],
        ['shop-api', 'SELECT cart', 1, 0],
      ],
      JSON.stringify(q),
    );
    const sel = groups.find((g) => g.name === 'SELECT cart');
    assert.ok(Math.abs(sel.p75 - db.duration) < 0.01, `p75 ${sel.p75}, span ${db.duration} ms`);

    assert.deepEqual(
      logs.filter((l) => /^(error|pageerror)/.test(l)),
      [],
      'console errors on the page',
    );
  } finally {
    await context.close();
  }
});

/** An exporter that keeps the result of every export (the SDK only logs failures). */
class Recording {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
  }
  export(spans, done) {
    this.inner.export(spans, (r) => {
      const e = r.error;
      this.results.push({
        spans: spans.length,
        code: r.code,
        error: e?.message,
        status: e?.code,
        body: e?.data,
      });
      done(r);
    });
  }
  shutdown() {
    return this.inner.shutdown();
  }
  forceFlush() {
    return this.inner.forceFlush();
  }
}

test('OTLP JSON from the OpenTelemetry JS SDK: a trace continued from a traceparent, in order, with its attributes', async () => {
  const traceId = randomBytes(16).toString('hex');
  const remoteParent = randomBytes(8).toString('hex'); // a caller that sends no spans
  const exporter = new Recording(
    new OTLPTraceExporter({ url: `${vigil.url}/v1/traces`, headers: { 'x-vigil-key': vigil.key } }),
  );
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'checkout-api',
      'service.version': '2.0.0',
      'host.name': 'node-test',
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('checkout', '2.0.0');
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId: remoteParent,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });

  // Fixed times (ms): POST /api/checkout 0–450 ⊃ load order 10–60, charge card 100–400 ⊃
  // POST acme /charges 110–390. Own times: 100, 50, 20 and 280: the last is the slowest.
  const t0 = Date.now() - 5000;
  const root = tracer.startSpan(
    'POST /api/checkout',
    {
      kind: SpanKind.SERVER,
      startTime: t0,
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/api/checkout',
        'http.response.status_code': 502,
      },
    },
    parent,
  );
  const inRoot = trace.setSpan(parent, root);
  const load = tracer.startSpan(
    'load order',
    { startTime: t0 + 10, attributes: { 'order.id': 'o-1', 'order.items': 3 } },
    inRoot,
  );
  load.end(t0 + 60);
  const charge = tracer.startSpan(
    'charge card',
    {
      kind: SpanKind.CLIENT,
      startTime: t0 + 100,
      attributes: { 'payment.provider': 'acme', 'payment.retried': true, amounts: [12.5, 7] },
    },
    inRoot,
  );
  const acme = tracer.startSpan(
    'POST acme /charges',
    {
      kind: SpanKind.CLIENT,
      startTime: t0 + 110,
      attributes: { 'http.response.status_code': 402 },
    },
    trace.setSpan(inRoot, charge),
  );
  acme.addEvent('retry', { attempt: 2 }, t0 + 200);
  acme.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
  acme.end(t0 + 390);
  charge.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
  charge.end(t0 + 400);
  root.end(t0 + 450);
  await provider.forceFlush();
  await provider.shutdown();
  assert.deepEqual(
    exporter.results.map((r) => [r.code, r.error]),
    exporter.results.map(() => [0, undefined]),
    `exports to /v1/traces: ${JSON.stringify(exporter.results)}`,
  );
  assert.equal(
    exporter.results.reduce((n, r) => n + r.spans, 0),
    4,
  );

  const w = await waterfallWith(traceId, 4, 0);
  const why = JSON.stringify(w, null, 1).slice(0, 6000);
  const ids = new Map([root, load, charge, acme].map((s) => [s.spanContext().spanId, s.name]));
  // Depth first, children by start; offsets and durations as the SDK set them.
  assert.deepEqual(
    w.spans.map((s) => [
      s.name,
      s.depth,
      ids.get(s.parent_span_id) ?? s.parent_span_id,
      ms(s.offset),
      ms(s.duration),
    ]),
    [
      ['POST /api/checkout', 0, remoteParent, 0, 450],
      ['load order', 1, 'POST /api/checkout', 10, 50],
      ['charge card', 1, 'POST /api/checkout', 100, 300],
      ['POST acme /charges', 2, 'charge card', 110, 280],
    ],
    why,
  );
  assert.deepEqual(
    w.spans.map((s) => s.span_id),
    [root, load, charge, acme].map((s) => s.spanContext().spanId),
  );
  const [r, l, c, a] = w.spans;
  assert.deepEqual(
    w.spans.map((s) => [s.service, s.kind, s.scope, s.browser]),
    [
      ['checkout-api', 'server', 'checkout', false],
      ['checkout-api', 'internal', 'checkout', false],
      ['checkout-api', 'client', 'checkout', false],
      ['checkout-api', 'client', 'checkout', false],
    ],
  );
  assert.equal(r.attributes['http.route'], '/api/checkout');
  assert.equal(l.attributes['order.id'], 'o-1');
  assert.equal(l.attributes['order.items'], 3);
  assert.equal(c.attributes['payment.retried'], true);
  assert.deepEqual(c.attributes.amounts, [12.5, 7]);
  assert.equal(r.resource['service.name'], 'checkout-api');
  assert.equal(r.resource['host.name'], 'node-test');
  assert.deepEqual(
    w.spans.map((s) => [s.status, s.status_message || null]),
    [
      ['unset', null],
      ['unset', null],
      ['error', 'card declined'],
      ['error', 'card declined'],
    ],
  );
  assert.equal(a.events.length, 1, why);
  assert.equal(a.events[0].name, 'retry');
  assert.equal(a.events[0].attributes.attempt, 2);
  assert.equal(ms(a.events[0].time_ms), t0 + 200);

  assert.equal(ms(w.start), t0);
  assert.equal(ms(w.duration), 450);
  assert.deepEqual(w.services, ['checkout-api']);
  assert.equal(w.slowest_span_id, a.span_id);
  assert.equal(w.session_id ?? null, null);
  assert.deepEqual(w.logs, []);
  assert.equal(w.truncated, false);
  // From http.response.status_code.
  assert.deepEqual(
    w.spans.map((s) => s.http_status),
    [502, null, null, 402],
  );
});

test('OTLP under /api/v1/otlp with the key as a bearer token; a wrong key is refused and stores nothing', async () => {
  /** Ends one span of a fresh trace through an exporter with `url` and `headers`. */
  const send = async (url, headers) => {
    const exporter = new Recording(new OTLPTraceExporter({ url, headers }));
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'billing-worker' }),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    const span = provider.getTracer('billing').startSpan('close month');
    span.end();
    await provider.shutdown().catch(() => {}); // a refused export rejects: see `results`
    return { traceId: span.spanContext().traceId, results: exporter.results };
  };

  const ok = await send(`${vigil.url}/api/v1/otlp/v1/traces`, {
    authorization: `Bearer ${vigil.key}`,
  });
  assert.deepEqual(
    ok.results.map((r) => [r.spans, r.code, r.error]),
    [[1, 0, undefined]],
  );
  const w = await waterfallWith(ok.traceId, 1, 0);
  assert.deepEqual(
    w.spans.map((s) => [s.service, s.name, s.scope, s.depth]),
    [['billing-worker', 'close month', 'billing', 0]],
  );

  const refused = await send(`${vigil.url}/v1/traces`, { 'x-vigil-key': 'pk_not_a_key' });
  assert.deepEqual(
    refused.results.map((r) => [r.spans, r.code]),
    [[1, 1]],
    JSON.stringify(refused.results),
  );
  // 401 with a google.rpc.Status: 16 is UNAUTHENTICATED.
  assert.equal(refused.results[0].status, 401);
  assert.equal(JSON.parse(refused.results[0].body).code, 16);
  assert.equal(await waterfall(refused.traceId), null);
});

test("an Android app's telemetry, through the OpenTelemetry SDK's protobuf exporters, becomes mobile events", async () => {
  // test/otel/mobile_app.py sends what opentelemetry-android sends, attribute for attribute.
  const { stdout } = await run(python, [join(OTEL, 'mobile_app.py')], {
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^OTEL_/.test(k))),
      OTEL_EXPORTER_OTLP_ENDPOINT: vigil.url,
      OTEL_EXPORTER_OTLP_HEADERS: `x-vigil-key=${vigil.key}`,
      PYTHONDONTWRITEBYTECODE: '1',
    },
  });
  const sent = JSON.parse(stdout.trim().split('\n').pop());
  const events = await stored(
    vigil,
    sent.session,
    (ev) =>
      ['app_starts', 'screen_loads', 'requests', 'crashes', 'anrs'].every(
        (t) => ofType(ev, t).length === 1,
      ),
    'the app session’s five mobile events',
  );
  const [start] = ofType(events, 'app_starts');
  assert.deepEqual(
    [start.start_type, start.duration, start.ts, start.page_path],
    ['cold', 1523.4, sent.t0_ms, 'HomeActivity'],
  );
  assert.deepEqual(
    [start.os, start.os_version, start.device_model, start.device_manufacturer, start.app_version],
    ['Android', '14', 'Galaxy S23', 'samsung', '3.5.1'],
  );
  assert.deepEqual(
    [start.agent, start.agent_version, start.connection_type, start.carrier],
    ['opentelemetry-android', '0.11.0', 'wifi', 'Vodafone'],
  );
  const [screen] = ofType(events, 'screen_loads');
  assert.deepEqual([screen.screen, screen.duration], ['HomeActivity', 987.6]);
  const [request] = ofType(events, 'requests');
  assert.deepEqual(
    [request.method, request.status, request.duration, request.trace_id],
    ['GET', 200, 345.6, sent.trace_id],
  );
  const [crash] = ofType(events, 'crashes');
  assert.equal(crash.error_type, 'java.lang.IndexOutOfBoundsException');
  assert.equal(crash.page_path, 'CartActivity');
  // java.util is the platform's: the culprit is the app's adapter.
  assert.equal(
    crash.culprit,
    'com.vigil.shop.cart.CartAdapter.onBindViewHolder (CartAdapter.kt:52)',
  );
  assert.match(crash.fingerprint, /^[0-9a-f]{32}$/);
  const [anr] = ofType(events, 'anrs');
  assert.equal(anr.duration, 5000);
  assert.match(anr.stack, /HomeActivity\.kt:88/);
});
