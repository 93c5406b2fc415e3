// Generates src/wire.ts, the wire protocol's types, from docs/protocol.schema.json (which the
// server generates from its own types). `npm run wire-types` writes it; `--check` (run by the
// tests) fails when the checked-in file differs from what the schema generates.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCHEMA = join(ROOT, '..', 'docs', 'protocol.schema.json');
const OUT = join(ROOT, 'src', 'wire.ts');

export async function generate() {
  const schema = JSON.parse(readFileSync(SCHEMA, 'utf8'));
  return compile(schema, 'Batch', {
    bannerComment:
      '// Generated from docs/protocol.schema.json by `npm run wire-types`; do not edit.\n' +
      '// The wire protocol v1 as the collector accepts it (crates/protocol is its source).',
    additionalProperties: false,
    style: { singleQuote: true, printWidth: 100 },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ts = await generate();
  if (process.argv.includes('--check')) {
    if (readFileSync(OUT, 'utf8') !== ts) {
      console.error('src/wire.ts differs from docs/protocol.schema.json: run npm run wire-types');
      process.exit(1);
    }
  } else writeFileSync(OUT, ts);
}
