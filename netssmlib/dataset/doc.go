// Package dataset is NetSSM's tokenized dataset: it tokenizes the JSONL
// samples that preprocessing writes (NetSSM's create_tok_dataset), stores
// them in the layout HuggingFace datasets' save_to_disk writes, and reads
// training examples back from either form.
//
// # Reading (what the trainer uses)
//
//	r, err := dataset.Open(path, dataset.Options{Tokenizer: tok})
//	defer r.Close()
//	for {
//		ex, err := r.Next()
//		if err == io.EOF { break }
//		... ex.InputIDs, ex.AttentionMask ...
//	}
//
// Open accepts
//   - a save_to_disk folder (state.json lists the shards; without it, every
//     *.arrow file in name order, as NetSSM's train.py globs them; a
//     DatasetDict folder opens its "train" split),
//   - a single .arrow file (Arrow IPC streaming format as datasets writes it,
//     or the IPC file format),
//   - a JSONL file (needs Options.Tokenizer; each line's "Data" is tokenized
//     when read, with Options.MaxLen/Padding applied).
//
// Arrow files are memory-mapped and read record batch by record batch, so
// a dataset larger than memory opens instantly and costs only the pages
// touched. The input_ids column may be list or large_list of any integer
// type (int32 is returned without copying); attention_mask likewise (int8
// without copying); a missing attention_mask reads as all ones. Other columns
// (Data, Hash, token_type_ids...) are ignored.
//
// Every Reader has random access (Len, At) for shuffling, and sequential
// access (Next, Reset) for epochs. The slices of an Example may point into
// the mapped file or into a buffer the Reader reuses: they are valid until
// the next call of Next or At; copy them to keep them. A Reader is not safe
// for concurrent use; open one per goroutine (opening is cheap).
//
// # Writing
//
// Tokenize (netssm tokenize) streams a JSONL file through a tokenizer into a
// save_to_disk folder: data-0000K-of-0000N.arrow shards (Arrow IPC stream,
// about 500 MB each as datasets cuts them), dataset_info.json and state.json.
// Columns: input_ids list<int32> and attention_mask list<int8>, the types
// datasets picks for tokenizer output, with the features JSON in the schema's
// "huggingface" metadata. Writer is the lower-level API for any Example
// source. Output goes to a temporary folder renamed into place at the end,
// so a failed or cancelled run leaves no half dataset.
//
// Arrow IPC is written and read by this package in plain Go (flatbuffers by
// hand, see arrow.go): the format subset datasets uses is small, and this
// keeps the module free of the arrow-go dependency tree and gives zero-copy
// reads from the mapping.
package dataset
