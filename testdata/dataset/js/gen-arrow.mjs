// Writes the Arrow test files of testdata/dataset with an independent Arrow
// implementation (apache-arrow for JavaScript), so the Go reader is checked
// against files it did not write. Regenerate with:
//   cd testdata/dataset/js && npm ci && node gen-arrow.mjs
// The expected content is in expected.json, written by this script from the
// same arrays.
import { createRequire } from 'module';
import { mkdirSync, writeFileSync as write } from 'fs';
import { dirname, join } from 'path';
import { fileURLToPath } from 'url';
const require = createRequire(import.meta.url);
const A = require('apache-arrow');
const out = join(dirname(fileURLToPath(import.meta.url)), '..');
const writeFileSync = (name, data) => write(join(out, name), data);

const rows = [
  [261, 160, 206, 0, 259, 1, 2],
  [260],
  [],
  [256, 257, 258, 259, 260, 261, 262, 263, 0, 255],
  [7, 7, 7],
];
const masks = rows.map((r, i) => r.map((_, k) => (i === 3 && k >= 8 ? 0 : 1)));
const features = { info: { features: {
  Data: { dtype: 'string', _type: 'Value' },
  input_ids: { feature: { dtype: 'int32', _type: 'Value' }, _type: 'List' },
  token_type_ids: { feature: { dtype: 'int8', _type: 'Value' }, _type: 'List' },
  attention_mask: { feature: { dtype: 'int8', _type: 'Value' }, _type: 'List' },
  OrigLen: { dtype: 'int64', _type: 'Value' },
} } };

function listOf(child, large) {
  const f = new A.Field('item', child, true);
  return large ? new A.LargeList(f) : new A.List(f);
}

function table(cols, lo, hi, metadata) {
  const vecs = {};
  for (const [name, [type, values]] of Object.entries(cols)) {
    vecs[name] = A.vectorFromArray(values.slice(lo, hi), type);
  }
  const t = new A.Table(vecs);
  if (metadata) {
    const schema = new A.Schema(t.schema.fields, new Map([['huggingface', JSON.stringify(metadata)]]));
    return new A.Table(schema, t.batches);
  }
  return t;
}

function twoBatches(cols, metadata) {
  const a = table(cols, 0, 2, metadata), b = table(cols, 2, rows.length, metadata);
  return new A.Table(a.schema, [...a.batches, ...b.batches]);
}

// 1. What NetSSM's create_tok_dataset writes: the JSONL columns kept, token_type_ids,
//    list<int32>/list<int8>, huggingface metadata, two record batches.
const hfCols = {
  Data: [new A.Utf8(), rows.map((r) => r.join(' '))],
  input_ids: [listOf(new A.Int32(), false), rows],
  token_type_ids: [listOf(new A.Int8(), false), rows.map((r) => r.map(() => 0))],
  attention_mask: [listOf(new A.Int8(), false), masks],
  OrigLen: [new A.Int64(), rows.map((r) => BigInt(r.length))],
};
writeFileSync('hf-columns.arrow', A.tableToIPC(twoBatches(hfCols, features), 'stream'));

// 2. large_list<int64> ids and mask (what datasets writes when a column was
//    built from int64 lists), stream format.
const bigCols = {
  input_ids: [listOf(new A.Int64(), true), rows.map((r) => r.map(BigInt))],
  attention_mask: [listOf(new A.Int64(), true), masks.map((r) => r.map(BigInt))],
};
writeFileSync('large-list-int64.arrow', A.tableToIPC(twoBatches(bigCols), 'stream'));

// 3. IPC file format, list<int32> ids only (no attention_mask).
writeFileSync('file-format.arrow', A.tableToIPC(table({ input_ids: [listOf(new A.Int32(), false), rows] }, 0, rows.length), 'file'));

// 4. A save_to_disk folder with two shards listed in state.json.
mkdirSync(join(out, 'two-shards'), { recursive: true });
writeFileSync('two-shards/data-00000-of-00002.arrow', A.tableToIPC(table(hfCols, 0, 3, features), 'stream'));
writeFileSync('two-shards/data-00001-of-00002.arrow', A.tableToIPC(table(hfCols, 3, rows.length, features), 'stream'));
writeFileSync('two-shards/state.json', JSON.stringify({
  _data_files: [{ filename: 'data-00000-of-00002.arrow' }, { filename: 'data-00001-of-00002.arrow' }],
  _fingerprint: '0123456789abcdef', _format_columns: null, _format_kwargs: {}, _format_type: null,
  _output_all_columns: false, _split: 'train',
}, null, 2));

writeFileSync('expected.json', JSON.stringify({ input_ids: rows, attention_mask: masks }) + '\n');
