// The build's files for the collector to serve as they are: vigil.js precompressed (gzip,
// brotli), its copy named by its content, and manifest.json naming that copy (`npm test` builds
// first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { ROOT } from './helpers.mjs';

const dist = (f) => join(ROOT, 'dist', f);
const core = readFileSync(dist('vigil.js'));

test('vigil.js.gz and vigil.js.br decompress to exactly vigil.js', () => {
  assert.ok(gunzipSync(readFileSync(dist('vigil.js.gz'))).equals(core), 'gzip');
  assert.ok(brotliDecompressSync(readFileSync(dist('vigil.js.br'))).equals(core), 'brotli');
});

test('manifest.json names the content-hashed copy of vigil.js, the only one in dist', () => {
  const m = JSON.parse(readFileSync(dist('manifest.json'), 'utf8'));
  const hash = createHash('sha256').update(core).digest('hex').slice(0, 12);
  assert.equal(m.hash, hash);
  assert.equal(m['vigil.js'], `vigil.${hash}.js`);
  assert.ok(existsSync(dist(m['vigil.js'])), `${m['vigil.js']} exists`);
  assert.ok(readFileSync(dist(m['vigil.js'])).equals(core));
  const gz = readFileSync(dist(m['vigil.js'] + '.gz'));
  const br = readFileSync(dist(m['vigil.js'] + '.br'));
  assert.ok(gunzipSync(gz).equals(core), 'hashed gzip');
  assert.ok(brotliDecompressSync(br).equals(core), 'hashed brotli');
  assert.deepEqual(
    [m.bytes, m.gzip_bytes, m.brotli_bytes],
    [core.length, gz.length, br.length],
    'sizes',
  );
  // A new build leaves no hashed copy of an earlier one behind.
  const copies = readdirSync(join(ROOT, 'dist')).filter((f) => /^vigil\.[0-9a-f]{12}\.js$/.test(f));
  assert.deepEqual(copies, [m['vigil.js']]);
});
