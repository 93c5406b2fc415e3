// Builds the agent: type-checks (tsc), bundles dist/vigil.js (IIFE, minified, the script tag
// build) and dist/vigil.esm.js (ESM, the npm build), prints their sizes, and fails when the
// core bundle is over 15 KiB gzipped.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const LIMIT = 15 * 1024;

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

let failed = false;
for (const f of ['vigil.js', 'vigil.esm.js']) {
  const buf = readFileSync(join(root, 'dist', f));
  const gz = gzipSync(buf, { level: 9 }).length;
  const over = f == 'vigil.js' && gz > LIMIT;
  failed ||= over;
  console.log(
    `dist/${f}: ${(buf.length / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(2)} KiB gzip${over ? `  OVER the ${LIMIT / 1024} KiB limit` : ''}`,
  );
}
if (failed) {
  console.error('build: the core bundle is over budget');
  process.exit(1);
}
