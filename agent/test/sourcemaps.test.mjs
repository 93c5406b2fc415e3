// Errors that find the line: an app written for the test (test/pages/sourcemap-app/*.ts), built
// with esbuild into a minified bundle with a source map, the map uploaded with the CLI
// (`vigil sourcemaps upload`), errors thrown in Chromium, and the stored frames checked against
// the original source: file, line, column and function. A second build carries a debug id and is
// uploaded under another release and URL than the page uses (mapped by the id); a page whose
// release has no maps keeps its frames minified with the reason. Then grouping: the same error
// from three pages is one fingerprint, two call sites of one function are one, another error is
// another, and `vigil.error(e, {fingerprint})` regroups.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT, VIGIL_BIN, ofType, sessionId, stored, waitFor, withStack } from './helpers.mjs';

const APP = join(ROOT, 'test', 'pages', 'sourcemap-app');
const FILES = ['cart.ts', 'checkout.ts', 'main.ts'];
// The releases: the bundle's maps are uploaded for R; the debug-id build's under DBG_UPLOAD (and
// another URL prefix) while its page reports DBG_PAGE; NO_MAPS has no maps at all.
const R = 'sm-1.0.0';
const DBG_UPLOAD = 'sm-dbg-upload';
const DBG_PAGE = 'sm-dbg-page';
const NO_MAPS = 'sm-no-maps';
const DEBUG_ID = randomUUID();

let vigil, pages, browser;
withStack(async (s) => {
  ({ vigil, pages, browser } = s);
  await prepare();
});

/**
 * Where a marker `@expect(NAME): TEXT` in the app's source puts a frame: the file, the marker's
 * 1-based line, and the 1-based column where TEXT starts in that line's code (before the comment,
 * where it must occur once).
 */
function expected(name) {
  const tag = `@expect(${name}):`;
  for (const file of FILES) {
    const lines = readFileSync(join(APP, file), 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes(tag));
    if (i < 0) continue;
    const text = lines[i].split(tag)[1].trim();
    const code = lines[i].slice(0, lines[i].lastIndexOf('//'));
    const at = code.indexOf(text);
    assert.ok(at >= 0 && at == code.lastIndexOf(text), `${tag} ${text} occurs once in ${file}`);
    return { file, line: i + 1, column: at + 1, source: lines[i] };
  }
  throw new Error(`no marker ${tag}`);
}

/** Builds the app into `dir`/app.js with its map (the debug-id build registers `banner`). */
async function bundle(dir, banner) {
  await build({
    entryPoints: [join(APP, 'main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true, // external app.js.map, named by //# sourceMappingURL
    sourcesContent: true,
    format: 'iife',
    outfile: join(dir, 'app.js'),
    banner: banner ? { js: banner } : undefined,
    logLevel: 'warning',
  });
}

/** A page served beside the bundle: the agent with `release`, then the app. */
const page = (dir, name, release) =>
  writeFileSync(
    join(dir, name),
    `<!doctype html><meta charset="utf-8"><title>${name}</title>` +
      `<script async src="/agent/vigil.js" data-key="${vigil.key}" data-release="${release}"></script>` +
      `<script src="app.js"></script><h1>${name}</h1>`,
  );

const upload = (release, prefix, dir) =>
  execFileSync(
    VIGIL_BIN,
    [
      'sourcemaps',
      'upload',
      '--data',
      vigil.data,
      '--project',
      vigil.project,
      '--release',
      release,
      '--url-prefix',
      prefix,
      dir,
    ],
    { encoding: 'utf8' },
  );

let tmp;
/** Builds the bundles and their pages, serves them under /sm/ and uploads the maps. */
async function prepare() {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-sourcemaps-'));
  const app = join(tmp, 'app');
  const dbg = join(tmp, 'dbg');
  const none = join(tmp, 'none');
  await bundle(app);
  for (const name of ['index.html', 'cart.html', 'checkout.html']) page(app, name, R);
  // The debug-id build: the registration is the build's banner (so the map accounts for its
  // line), the id is in the bundle's `//# debugId=` comment and the map's `debugId`, as
  // bundler plugins write them.
  await bundle(dbg, `(globalThis._vigilDebugIds ||= {})[new Error().stack] = '${DEBUG_ID}';`);
  writeFileSync(
    join(dbg, 'app.js'),
    readFileSync(join(dbg, 'app.js'), 'utf8') + `\n//# debugId=${DEBUG_ID}\n`,
  );
  const map = JSON.parse(readFileSync(join(dbg, 'app.js.map'), 'utf8'));
  writeFileSync(join(dbg, 'app.js.map'), JSON.stringify({ ...map, debugId: DEBUG_ID }));
  page(dbg, 'index.html', DBG_PAGE);
  mkdirSync(none);
  cpSync(join(app, 'app.js'), join(none, 'app.js'));
  page(none, 'index.html', NO_MAPS);
  pages.mount('/sm/', tmp);
  upload(R, '~/sm/app', app);
  upload(DBG_UPLOAD, '~/sm/elsewhere', dbg);
}
after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

/**
 * Opens `path`, runs `app[action](...args)` for each [action, ...args], and returns the stored
 * errors of the session once `n` are stored (with their JSON columns parsed) and the page.
 */
async function errorsOf(path, actions, n = actions.length, context = undefined) {
  const ctx = context || (await browser.newContext());
  const p = await ctx.newPage();
  await p.goto(pages.url + path);
  const sid = await sessionId(p);
  for (const [action, ...args] of actions)
    await p.evaluate(([a, x]) => app[a](...x), [action, args]);
  await p.waitForTimeout(100);
  const events = await stored(
    vigil,
    sid,
    (e) => ofType(e, 'errors', (x) => x.page_url.endsWith(path)).length >= n,
    `${n} errors on ${path}`,
    p,
  );
  const errors = ofType(events, 'errors', (x) => x.page_url.endsWith(path)).map((e) => ({
    ...e,
    frames: e.frames ? JSON.parse(e.frames) : [],
    grouping: JSON.parse(e.grouping),
    causes: e.causes ? JSON.parse(e.causes) : [],
  }));
  if (!context) await ctx.close();
  return errors;
}

/** Asserts that a stored frame was mapped to the marker `name` in `fn`, and kept its own place. */
function assertMapped(frame, name, fn, bundleUrl) {
  const want = expected(name);
  const m = frame.mapped;
  assert.ok(m, `frame mapped: ${JSON.stringify(frame)}`);
  assert.ok(
    m.file.endsWith('sourcemap-app/' + want.file),
    `${m.file} is sourcemap-app/${want.file}`,
  );
  assert.deepEqual(
    { line: m.line, column: m.column },
    { line: want.line, column: want.column },
    `${name}: ${want.source.trim()}`,
  );
  if (fn) assert.equal(m.function, fn);
  // The map carries the sources: the frame's line is in its context.
  assert.equal(m.context.lines[m.line - m.context.start_line], want.source);
  // The minified frame is kept beside it.
  assert.match(frame.file, bundleUrl);
  assert.ok(frame.line >= 1 && frame.column >= 1);
  assert.notDeepEqual([frame.line, frame.column], [m.line, m.column]);
  assert.equal(frame.unmapped, undefined);
  assert.equal(frame.in_app, true);
}

/** The minified position of the innermost frame, as the stack tells it. */
const stackTop = (e) => {
  const m = /app\.js:(\d+):(\d+)/.exec(e.stack);
  return [+m[1], +m[2]];
};

test('frames of a minified bundle are stored with the original file, line, column and function', async () => {
  const errors = await errorsOf('/sm/app/index.html', [['readMissing'], ['coupon'], ['wrapped']]);
  const bundleUrl = /^http:\/\/127\.0\.0\.1:\d+\/sm\/app\/app\.js$/;

  const read = errors.find((e) => e.error_type == 'TypeError');
  assert.ok(read, JSON.stringify(errors.map((e) => e.error_type)));
  assert.match(read.message, /reading 'qty'/);
  assert.equal(read.symbolication, 'mapped');
  assert.deepEqual([read.frames[0].line, read.frames[0].column], stackTop(read));
  assertMapped(read.frames[0], 'read-qty', 'lineTotal', bundleUrl);
  assertMapped(read.frames[1], 'call-line-total', 'orderTotal', bundleUrl);
  assert.ok(read.frames[2].mapped.file.endsWith('sourcemap-app/main.ts'));
  assert.equal(read.culprit, `lineTotal (cart.ts:${expected('read-qty').line})`);

  // A custom Error subclass thrown from an arrow function assigned to a const.
  const coupon = errors.find(
    (e) => e.error_type == 'CheckoutError' && e.message.includes('coupon'),
  );
  assert.equal(coupon.message, 'invalid coupon nope');
  assert.equal(coupon.symbolication, 'mapped');
  assertMapped(coupon.frames[0], 'coupon', 'applyCoupon', bundleUrl);

  // The cause chain is mapped too.
  const wrapped = errors.find((e) => e.message == 'checkout failed');
  assert.equal(wrapped.error_type, 'CheckoutError');
  assertMapped(wrapped.frames[0], 'wrap', undefined, bundleUrl);
  assert.equal(wrapped.causes.length, 1);
  assert.equal(wrapped.causes[0].error_type, 'TypeError');
  assert.match(wrapped.causes[0].message, /reading 'qty'/);
  assertMapped(wrapped.causes[0].frames[0], 'read-qty', 'lineTotal', bundleUrl);
  assertMapped(wrapped.causes[0].frames[1], 'call-line-total', 'orderTotal', bundleUrl);
});

test('a bundle with a debug id is mapped by its id, whatever the release and URL it was uploaded under', async () => {
  const sent = pages.acceptedEvents().length;
  const errors = await errorsOf('/sm/dbg/index.html', [['readMissing'], ['coupon']]);
  const bundleUrl = /^http:\/\/127\.0\.0\.1:\d+\/sm\/dbg\/app\.js$/;
  // The agent sent the id registered for the bundle's URL.
  const wire = pages
    .acceptedEvents()
    .slice(sent)
    .filter((e) => e.type == 'error');
  assert.equal(wire.length, 2);
  for (const e of wire) {
    const url = e.frames[0].file;
    assert.match(url, bundleUrl);
    assert.deepEqual(e.debug_ids, { [url]: DEBUG_ID });
  }
  const read = errors.find((e) => e.error_type == 'TypeError');
  assert.equal(read.symbolication, 'mapped');
  assert.equal(read.frames[0].line, 2, 'the registration banner is the bundle’s first line');
  assertMapped(read.frames[0], 'read-qty', 'lineTotal', bundleUrl);
  assertMapped(read.frames[1], 'call-line-total', 'orderTotal', bundleUrl);
  const coupon = errors.find((e) => e.error_type == 'CheckoutError');
  assertMapped(coupon.frames[0], 'coupon', 'applyCoupon', bundleUrl);
});

test('without maps for the release, frames stay minified and say why', async () => {
  const [e] = await errorsOf('/sm/none/index.html', [['readMissing']]);
  assert.equal(e.symbolication, 'unmapped');
  assert.ok(e.frames.length >= 3);
  for (const f of e.frames) {
    assert.equal(f.mapped, undefined);
    assert.equal(f.unmapped.code, 'no_maps_for_release', JSON.stringify(f));
    assert.match(f.unmapped.reason, new RegExp(NO_MAPS));
  }
  assert.deepEqual([e.frames[0].line, e.frames[0].column], stackTop(e));
});

test('grouping: one error from three pages is one group; call sites and lines do not split it', async () => {
  const context = await browser.newContext();
  const fromPages = [];
  for (const path of ['/sm/app/index.html', '/sm/app/cart.html', '/sm/app/checkout.html'])
    fromPages.push(...(await errorsOf(path, [['readMissing']], 1, context)));
  await context.close();
  assert.equal(fromPages.length, 3);
  const fp = fromPages[0].fingerprint;
  assert.match(fp, /^[0-9a-f]{32}$/);
  for (const e of fromPages) {
    assert.equal(e.fingerprint, fp, JSON.stringify(e.grouping));
    assert.equal(e.grouping.method, 'in_app_frames');
    assert.deepEqual(e.grouping.frames.slice(0, 2), [
      { file: 'cart.ts', function: 'lineTotal' },
      { file: 'checkout.ts', function: 'orderTotal' },
    ]);
    assert.equal(e.grouping.fingerprint, fp);
  }

  // lastTotal calls lineTotal from two lines: one group, apart from orderTotal's.
  const paths = await errorsOf('/sm/app/index.html', [['pathA'], ['pathB'], ['coupon']]);
  const [a, b] = ['path-a', 'path-b'].map((name) => {
    const e = paths.find((x) => x.frames[1]?.mapped?.line == expected(name).line);
    assert.ok(e, `the error through ${name}`);
    assertMapped(e.frames[1], name, 'lastTotal', /\/sm\/app\/app\.js$/);
    return e;
  });
  assert.notEqual(a.frames[1].mapped.line, b.frames[1].mapped.line);
  assert.equal(a.fingerprint, b.fingerprint);
  assert.notEqual(a.fingerprint, fp, 'another caller, another group');
  const coupon = paths.find((e) => e.error_type == 'CheckoutError');
  assert.notEqual(coupon.fingerprint, fp, 'another error, another group');
  assert.notEqual(coupon.fingerprint, a.fingerprint);
});

test('grouping: vigil.error(e, {fingerprint}) regroups different errors under the app’s own list', async () => {
  const errors = await errorsOf('/sm/app/index.html', [
    ['caughtCoupon', ['checkout']],
    ['caughtMissing', ['checkout']],
    ['coupon'],
  ]);
  const custom = errors.filter((e) => e.handled);
  assert.equal(custom.length, 2);
  assert.deepEqual(custom.map((e) => e.error_type).sort(), ['CheckoutError', 'TypeError']);
  for (const e of custom) {
    assert.equal(e.grouping.method, 'custom');
    assert.deepEqual(e.grouping.custom, ['checkout']);
    assert.equal(e.symbolication, 'mapped', 'the frames are still mapped');
  }
  assert.equal(custom[0].fingerprint, custom[1].fingerprint);
  const uncaught = errors.find((e) => !e.handled);
  assert.equal(uncaught.grouping.method, 'in_app_frames');
  assert.notEqual(uncaught.fingerprint, custom[0].fingerprint);
});

test('every batch the agent sent was accepted by the collector', async () => {
  await waitFor(() => pages.state.ingest.length > 0);
  assert.deepEqual(
    pages.rejected().map((r) => `${r.status} ${r.body.slice(0, 500)}`),
    [],
  );
});
