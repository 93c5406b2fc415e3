// Bundles src/main.ts (+ CSS) into dist/app.js and dist/app.css, copies index.html and the icon.
import { build } from 'esbuild';
import { mkdirSync, copyFileSync } from 'node:fs';
import { buildWorld } from './world.mjs';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: { app: 'src/main.ts' },
  bundle: true,
  outdir: 'dist',
  format: 'iife',
  target: 'es2020',
  minify: true,
  sourcemap: false,
  logLevel: 'warning',
});
copyFileSync('src/index.html', 'dist/index.html');
copyFileSync('src/favicon.svg', 'dist/favicon.svg');
buildWorld('dist/world.json');
console.log('built dist/index.html dist/app.js dist/app.css dist/world.json');
