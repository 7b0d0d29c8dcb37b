// Reads one Arrow IPC file (stream or file format) with apache-arrow and
// prints its schema, metadata and the input_ids / attention_mask columns as
// JSON; netssmlib/dataset's tests compare that with what they wrote.
import { createRequire } from 'module';
import { readFileSync } from 'fs';
const require = createRequire(import.meta.url);
const A = require('apache-arrow');

const t = A.tableFromIPC(readFileSync(process.argv[2]));
const col = (name) => {
  const v = t.getChild(name);
  if (!v) return null;
  const out = [];
  for (let i = 0; i < v.length; i++) out.push(Array.from(v.get(i) ?? [], Number));
  return out;
};
console.log(JSON.stringify({
  fields: t.schema.fields.map((f) => `${f.name}: ${f.type}`),
  nullable: t.schema.fields.map((f) => f.nullable),
  metadata: Object.fromEntries(t.schema.metadata),
  batches: t.batches.length,
  input_ids: col('input_ids'),
  attention_mask: col('attention_mask'),
}));
