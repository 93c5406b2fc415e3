// Bundles src/main.ts (+ CSS) into dist/app.js and dist/app.css, the session replay player
// (src/replay/player.ts + rrweb) into dist/replay.js and dist/replay.css, copies index.html and
// the icon.
import { build } from 'esbuild';
import { mkdirSync, copyFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { buildWorld } from './world.mjs';

mkdirSync('dist', { recursive: true });
const common = {
  bundle: true,
  outdir: 'dist',
  target: 'es2020',
  minify: true,
  sourcemap: false,
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: { app: 'src/main.ts' },
  format: 'iife',
  // the player is fetched by the session view when a session has a replay (import() at run
  // time), so rrweb is not part of every page's app.js
  external: ['/replay.js'],
});
await build({ ...common, entryPoints: { replay: 'src/replay/player.ts' }, format: 'esm' });
copyFileSync('src/index.html', 'dist/index.html');
copyFileSync('src/favicon.svg', 'dist/favicon.svg');
buildWorld('dist/world.json');
const size = (f) => {
  const kb = (n) => (n / 1024).toFixed(1) + ' kB';
  return `${f} ${kb(statSync(f).size)} (gzip ${kb(gzipSync(readFileSync(f)).length)})`;
};
console.log(
  'built dist/index.html dist/world.json ' +
    ['dist/app.js', 'dist/app.css', 'dist/replay.js', 'dist/replay.css'].map(size).join(', '),
);
