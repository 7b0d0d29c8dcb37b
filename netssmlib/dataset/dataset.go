package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// Example is one training sample.
type Example struct {
	InputIDs      []int32
	AttentionMask []int8 // same length as InputIDs: 1 for tokens, 0 for padding
}

// Reader yields the examples of a dataset. See the package documentation for
// the lifetime of the slices it returns.
type Reader interface {
	// Next returns the next example, or io.EOF after the last one.
	Next() (Example, error)
	// Reset rewinds Next to the first example.
	Reset()
	// Len is the number of examples.
	Len() int
	// At returns example i (0 <= i < Len()) without moving Next.
	At(i int) (Example, error)
	// Close releases the mapping; examples read before become invalid.
	Close() error
}

// Options control Open.
type Options struct {
	// Tokenizer tokenizes JSONL input; Arrow datasets are already tokenized
	// and ignore it.
	Tokenizer *tokenizer.Tokenizer
	// MaxLen > 0 truncates JSONL examples to MaxLen tokens.
	MaxLen int
	// Padding pads JSONL examples to MaxLen with the tokenizer's pad id
	// (attention mask 0). It needs MaxLen > 0.
	Padding bool
}

// Open opens a dataset: a save_to_disk folder, an .arrow file or a .jsonl
// file (see the package documentation).
func Open(path string, opt Options) (Reader, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if st.IsDir() {
		files, err := shardFiles(path)
		if err != nil {
			return nil, err
		}
		return openArrow(files)
	}
	if isJSONL(path) {
		if opt.Tokenizer == nil {
			return nil, fmt.Errorf("dataset: %s: a JSONL dataset needs a tokenizer", path)
		}
		if opt.Padding && opt.MaxLen <= 0 {
			return nil, fmt.Errorf("dataset: %s: padding needs a maximum length", path)
		}
		if opt.Padding && opt.Tokenizer.Pad() < 0 {
			return nil, fmt.Errorf("dataset: %s: padding asked but the tokenizer has no pad token", path)
		}
		return openJSONL(path, opt)
	}
	return openArrow([]string{path})
}

func isJSONL(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".jsonl" || ext == ".json" || ext == ".ndjson" {
		return true
	}
	// NetSSM's train.py treats any path containing ".jsonl" as JSONL; sniff
	// the content for other names: Arrow starts with 0xFFFFFFFF or ARROW1.
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	n, _ := f.Read(b[:])
	return n == 1 && b[0] == '{'
}

// errClosed is returned by a Reader used after Close.
var errClosed = errors.New("dataset: reader is closed")
