// Builds the agent: type-checks (tsc), bundles dist/vigil.js (IIFE, minified, the script tag
// build), dist/vigil.esm.js (ESM, the npm build) and dist/vigil-replay.js (IIFE, minified: the
// session replay chunk that the core loads only for sessions sampled for replay), prints their
// sizes, and fails when the core bundle is over 15.3 KiB gzipped.
// For the collector to serve the script tag build as it is, it also writes vigil.js
// precompressed (vigil.js.gz, gzip level 9; vigil.js.br, brotli at its best quality), a copy
// named by its content (vigil.<first 12 hex of its sha256>.js, with its .gz and .br) that can be
// cached for good, and dist/manifest.json naming that copy with the sizes.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// 15 KiB until error tracking's fingerprint option, cause chain and debug ids (+321 B gzip);
// 15.3 until session and view ids that carry their start (+45 B gzip, and about 5 bytes less
// for every page view the server stores).
const LIMIT = Math.round(15.35 * 1024);

// A fresh dist: no hashed copy of an earlier build is left behind.
rmSync(join(root, 'dist'), { recursive: true, force: true });
mkdirSync(join(root, 'dist'));

// Type-check and emit declarations for the npm build.
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
    cwd: root,
  });
} catch {
  console.error('build: type errors');
  process.exit(1);
}

const common = {
  bundle: true,
  minify: true,
  // es2022: web-vitals' class fields stay class fields instead of helpers (~115 B gzip); web-vitals
  // itself already needs newer browsers (it calls Array.prototype.at).
  target: 'es2022',
  define: { __VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
};
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/vigil.js', format: 'iife' });
await build({
  ...common,
  entryPoints: ['src/esm.ts'],
  outfile: 'dist/vigil.esm.js',
  format: 'esm',
});
// rrweb's recorder is ~23 KiB gzipped by itself: a chunk of its own, fetched from beside the
// agent's script (the collector serves it at /agent/vigil-replay.js).
await build({
  ...common,
  entryPoints: ['src/replay/index.ts'],
  outfile: 'dist/vigil-replay.js',
  format: 'iife',
});

const dist = (f) => join(root, 'dist', f);
const gzip = (buf) => gzipSync(buf, { level: 9 });
const brotli = (buf) =>
  brotliCompressSync(buf, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
    },
  });
const kib = (n) => (n / 1024).toFixed(2) + ' KiB';

// The script tag build: precompressed, and a copy named by its content.
const core = readFileSync(dist('vigil.js'));
const coreGz = gzip(core);
const coreBr = brotli(core);
const hash = createHash('sha256').update(core).digest('hex').slice(0, 12);
const hashed = `vigil.${hash}.js`;
writeFileSync(dist(hashed), core);
for (const name of ['vigil.js', hashed]) {
  writeFileSync(dist(name + '.gz'), coreGz);
  writeFileSync(dist(name + '.br'), coreBr);
}
const manifest = {
  'vigil.js': hashed,
  hash,
  bytes: core.length,
  gzip_bytes: coreGz.length,
  brotli_bytes: coreBr.length,
};
writeFileSync(dist('manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

const over = coreGz.length > LIMIT;
console.log(
  `dist/vigil.js: ${(core.length / 1024).toFixed(1)} KiB raw, ${kib(coreGz.length)} gzip, ${kib(coreBr.length)} brotli${over ? `  OVER the ${kib(LIMIT)} gzip limit` : ''} (also ${hashed}, .gz, .br, manifest.json)`,
);
const esm = readFileSync(dist('vigil.esm.js'));
console.log(
  `dist/vigil.esm.js: ${(esm.length / 1024).toFixed(1)} KiB raw, ${kib(gzip(esm).length)} gzip`,
);
const replay = readFileSync(dist('vigil-replay.js'));
console.log(
  `dist/vigil-replay.js: ${(replay.length / 1024).toFixed(1)} KiB raw, ${kib(gzip(replay).length)} gzip, ${kib(brotli(replay).length)} brotli`,
);
if (over) {
  console.error('build: the core bundle is over budget');
  process.exit(1);
}
