// docs/protocol.schema.json against the protocol's fixtures and the agent's generated wire types: every valid one passes, and the
// schema refuses the invalid ones it can express (wrong types, missing and unknown fields, the
// batch's size bounds). Value checks (negative durations, vital names, ts bounds, limits on
// depth and length) are the collector's, not the schema's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCS, schemaErrors } from './schema.mjs';
import { generate } from '../scripts/wire-types.mjs';

const fixtures = (dir) =>
  readdirSync(join(DOCS, 'fixtures', dir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f, join(DOCS, 'fixtures', dir, f)]);

test('every valid fixture passes the schema', () => {
  const files = fixtures('valid');
  assert.ok(files.length >= 15, `only ${files.length} valid fixtures`);
  for (const [name, path] of files)
    assert.deepEqual(schemaErrors(JSON.parse(readFileSync(path, 'utf8'))), [], name);
});

test('the schema refuses the invalid fixtures of wrong types, missing or unknown fields and batch size', () => {
  const files = fixtures('invalid').filter(([f]) =>
    /^(invalid_field|unknown_field|empty_batch|too_many_events)--/.test(f),
  );
  assert.ok(files.length >= 25, `only ${files.length} such invalid fixtures`);
  for (const [name, path] of files)
    assert.notDeepEqual(schemaErrors(JSON.parse(readFileSync(path, 'utf8'))), [], name);
});

test('src/wire.ts is what docs/protocol.schema.json generates (npm run wire-types)', async () => {
  const checkedIn = readFileSync(new URL('../src/wire.ts', import.meta.url), 'utf8');
  assert.ok(checkedIn === (await generate()), 'src/wire.ts is stale: run npm run wire-types');
});
