// docs/protocol.schema.json (generated from the server's wire types) as a validator, for the
// fixtures and for every batch the agent sends during the tests (helpers.mjs checks those).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';

export const DOCS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
export const SCHEMA_PATH = join(DOCS, 'protocol.schema.json');
export const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));

// schemars writes Rust number formats (int64, uint16, double): annotations here, the types and
// bounds beside them already say what the collector accepts
const formats = new Set();
JSON.stringify(schema, (k, v) => (k === 'format' && typeof v === 'string' && formats.add(v), v));
const ajv = new Ajv2020({
  strict: true,
  allowUnionTypes: true,
  allErrors: true,
  formats: Object.fromEntries([...formats].map((f) => [f, true])),
});
const check = ajv.compile(schema);

/** The schema's complaints about a batch (parsed JSON), or [] when it is valid. */
export function schemaErrors(batch) {
  return check(batch)
    ? []
    : check.errors.map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
