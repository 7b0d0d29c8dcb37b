// Encodes and decodes texts with HuggingFace tokenizers (the Rust library,
// through its Node binding) for netssmlib/tokenizer's differential test.
// Usage: node encode.mjs tokenizer.json texts.json
// texts.json is a JSON array of strings; the output is one JSON object with,
// per text, the ids, the decoded text and the decoded text without specials.
import { createRequire } from 'module';
import { readFileSync } from 'fs';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const tok = Tokenizer.fromFile(process.argv[2]);
const texts = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const out = { ids: [], decoded: [], decodedSkip: [] };
for (const text of texts) {
  const enc = await tok.encode(text);
  const ids = Array.from(enc.getIds());
  out.ids.push(ids);
  out.decoded.push(await tok.decode(ids, false));
  out.decodedSkip.push(await tok.decode(ids, true));
}
console.log(JSON.stringify(out));
