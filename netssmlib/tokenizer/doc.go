// Package tokenizer reads, writes and runs the HuggingFace tokenizers that
// NetSSM uses, without Python.
//
// A Tokenizer is loaded from a HuggingFace tokenizer folder (tokenizer.json,
// plus tokenizer_config.json and special_tokens_map.json when present) or a
// bare tokenizer.json. Two kinds of file are supported, the two NetSSM
// circulates:
//
//   - NetSSM's own layout, written by its create_tokenizer (and by New/Save
//     here): a WordLevel model over "0".."255" plus "<|unk|>", Whitespace
//     pre-tokenizer, and the special tokens <|endoftext|>, <|padding|>,
//     <|pkt|> and one <|label|> per traffic label as added tokens.
//   - The BPE-vocab layout of NetSSM's pretrained tokenizer: specials first,
//     byte strings learnt as BPE merges, Lowercase normalizer,
//     CharDelimiterSplit pre-tokenizer.
//
// Ids are always read from the file, never assumed. Components outside what
// these files use (other normalizers, pre-tokenizers, decoders, post
// processors, Unigram/WordPiece models) are rejected by Load with an error
// naming the component, rather than silently encoding differently from HF.
//
// Encoding follows HF tokenizers: added tokens are split out of the raw text
// first (leftmost-longest), the rest is normalized, pre-tokenized (Whitespace
// is the regex \w+|[^\w\s]+) and run through the model; unknown words become
// the model's unk token. Text made of ASCII decimal bytes, spaces and <|...|>
// tokens (what netssm preprocess writes) takes a table-driven fast path that
// gives the same ids as the general path. Decoding follows transformers'
// PreTrainedTokenizerFast.decode: tokens joined by one space (no decoder),
// special tokens kept unless asked, clean_up_tokenization_spaces honoured.
//
// New builds NetSSM's tokenizer for a list of labels, WithLabels extends any
// tokenizer with more label tokens keeping every old id (for fine-tuning on
// new labels), and Save writes the folder as transformers 4.x does (the
// version NetSSM pins), with tokenizer.json byte-identical to HF's.
package tokenizer
