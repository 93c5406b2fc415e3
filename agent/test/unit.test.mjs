// Pure functions, bundled from the TypeScript sources on the fly: stack parsing for the V8 and
// Firefox/Safari formats, URL templates (same rules as the collector), options from the script
// tag, and the independence of the session and trace sampling draws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ROOT } from './helpers.mjs';

async function load(entry) {
  const out = buildSync({
    entryPoints: [join(ROOT, 'src', entry)],
    bundle: true,
    format: 'esm',
    write: false,
    platform: 'neutral',
  });
  return import(
    'data:text/javascript;base64,' + Buffer.from(out.outputFiles[0].text).toString('base64')
  );
}
const { parseStack } = await load('stack.ts');
const { urlTemplate } = await load('template.ts');
// config.ts and util.ts read the page's globals: a page at https://shop.example.com.
globalThis.window ??= globalThis;
globalThis.document ??= {};
globalThis.location ??= new URL('https://shop.example.com/cart');
const { fromScript, makeConfig } = await load('config.ts');
const { unit } = await load('util.ts');

test('parses V8 (Chrome, Edge, Node) stacks', () => {
  const stack = [
    "TypeError: Cannot read properties of undefined (reading 'sku')",
    '    at addLine (https://shop.example.com/assets/cart-9f2c1e.js:1:18342)',
    '    at HTMLButtonElement.onClick (https://shop.example.com/assets/cart-9f2c1e.js:1:20117)',
    '    at https://shop.example.com/assets/vendor-a81c3f.js:2:99812',
    '    at async Promise.all (index 0)',
    '    at new Cart (https://x.example/c.js:10:5)',
    '    at eval (eval at run (https://x.example/e.js:3:7), <anonymous>:1:1)',
    '    at Array.map (<anonymous>)',
  ].join('\n');
  assert.deepEqual(parseStack(stack), [
    {
      function: 'addLine',
      file: 'https://shop.example.com/assets/cart-9f2c1e.js',
      line: 1,
      column: 18342,
    },
    {
      function: 'HTMLButtonElement.onClick',
      file: 'https://shop.example.com/assets/cart-9f2c1e.js',
      line: 1,
      column: 20117,
    },
    { file: 'https://shop.example.com/assets/vendor-a81c3f.js', line: 2, column: 99812 },
    { function: 'async Promise.all' },
    { function: 'new Cart', file: 'https://x.example/c.js', line: 10, column: 5 },
    { function: 'eval', file: 'https://x.example/e.js', line: 3, column: 7 },
    { function: 'Array.map' },
  ]);
});

test('parses Firefox and Safari stacks', () => {
  const firefox = [
    'addLine@https://shop.example.com/assets/cart.js:1:18342',
    'onClick/<@https://shop.example.com/assets/cart.js:1:20117',
    '@https://shop.example.com/assets/vendor.js:2:99812',
    'run@https://x.example/e.js line 3 > eval:1:5',
    '',
  ].join('\n');
  assert.deepEqual(parseStack(firefox), [
    {
      function: 'addLine',
      file: 'https://shop.example.com/assets/cart.js',
      line: 1,
      column: 18342,
    },
    {
      function: 'onClick/<',
      file: 'https://shop.example.com/assets/cart.js',
      line: 1,
      column: 20117,
    },
    { file: 'https://shop.example.com/assets/vendor.js', line: 2, column: 99812 },
    { function: 'run', file: 'https://x.example/e.js', line: 3 },
  ]);
  const safari = [
    'addLine@https://s.example/a.js:12:34',
    'forEach@[native code]',
    'global code@https://s.example/a.js:40:1',
  ].join('\n');
  assert.deepEqual(parseStack(safari), [
    { function: 'addLine', file: 'https://s.example/a.js', line: 12, column: 34 },
    { function: 'forEach' },
    { function: 'global code', file: 'https://s.example/a.js', line: 40, column: 1 },
  ]);
});

test('a message with @ in a V8 stack is not a frame; junk gives no frames', () => {
  assert.deepEqual(parseStack('Error: mail a@b.c failed\n    at f (https://x/a.js:1:2)'), [
    { function: 'f', file: 'https://x/a.js', line: 1, column: 2 },
  ]);
  assert.deepEqual(parseStack(undefined), []);
  assert.deepEqual(parseStack('just a message'), []);
  assert.equal(
    parseStack(
      Array.from({ length: 80 }, (_, i) => `    at f${i} (https://x/a.js:${i + 1}:1)`).join('\n'),
    ).length,
    50,
  );
});

test('URL templates follow the collector', () => {
  assert.equal(
    urlTemplate('https://api.example.com/users/123/orders?x=1'),
    'https://api.example.com/users/:id/orders',
  );
  assert.equal(urlTemplate('http://127.0.0.1:8080/users/123'), 'http://127.0.0.1:8080/users/:id');
  assert.equal(urlTemplate('/api/items/550e8400-e29b-41d4-a716-446655440000'), '/api/items/:uuid');
  assert.equal(
    urlTemplate('https://cdn.example.com/a/3f2a9c0b1d4e5f60.js'),
    'https://cdn.example.com/a/3f2a9c0b1d4e5f60.js',
  );
  assert.equal(
    urlTemplate('https://cdn.example.com/b/3f2a9c0b1d4e5f60'),
    'https://cdn.example.com/b/:hash',
  );
  assert.equal(urlTemplate('https://x.example/t/aB3dE5gH7jK9mN1pQ'), 'https://x.example/t/:token');
  assert.equal(
    urlTemplate('https://x.example/u/ann@example.org/profile#top'),
    'https://x.example/u/:email/profile',
  );
  assert.equal(urlTemplate('https://example.com'), 'https://example.com/');
});

test('options from the script tag: data-trace-sample-rate and the other rates', () => {
  const script = (dataset) => ({ dataset });
  const src = 'https://rum.example.com/agent/vigil.js';
  const cfg = makeConfig(
    fromScript(
      script({ key: 'pk_test', sampleRate: '0.5', traceSampleRate: '0.25', traceOrigins: 'self' }),
    ),
    src,
  );
  assert.equal(cfg.traceRate, 0.25);
  assert.equal(cfg.sampleRate, 0.5);
  assert.equal(cfg.endpoint, 'https://rum.example.com/api/v1/ingest');
  assert.ok(cfg.trace[0].test('https://shop.example.com/api/x'));
  const rate = (traceSampleRate) =>
    makeConfig(fromScript(script({ key: 'pk_test', traceSampleRate })), src).traceRate;
  assert.equal(rate('0'), 0);
  assert.equal(rate(' 1 '), 1);
  assert.equal(rate(undefined), 1, 'default');
  for (const bad of ['', '1.5', '-0.1', 'half']) assert.equal(rate(bad), 1, bad);
  // init() options
  assert.equal(makeConfig({ key: 'pk_test', traceSampleRate: 0.1 }).traceRate, 0.1);
  assert.equal(makeConfig({ key: 'pk_test' }).traceRate, 1);
});

test('the trace draw is independent of the session draw', () => {
  // As collect/network.ts decides: sent when unit(id) < sampleRate, traces recorded when also
  // unit('t' + id) < traceSampleRate. Ids as the agent makes them (16 hex).
  const n = 40000;
  const ids = Array.from({ length: n }, (_, i) =>
    createHash('sha256').update(String(i)).digest('hex').slice(0, 16),
  );
  for (const [a, b] of [
    [0.5, 0.5],
    [0.1, 0.1],
    [0.2, 0.7],
  ]) {
    let sent = 0;
    let traced = 0;
    let both = 0;
    for (const id of ids) {
      const s = unit(id) < a;
      const t = unit('t' + id) < b;
      sent += s;
      traced += t;
      both += s && t;
    }
    assert.ok(Math.abs(sent / n - a) < 0.01, `sent ${sent / n} for ${a}`);
    assert.ok(Math.abs(traced / n - b) < 0.01, `traced ${traced / n} for ${b}`);
    // The share of both is the product: 4 standard deviations at most.
    const sd = Math.sqrt((a * b * (1 - a * b)) / n);
    assert.ok(Math.abs(both / n - a * b) < 4 * sd, `both ${both / n} for ${a} × ${b}`);
  }
});
