package dataset

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// TokenizeOptions are NetSSM's create_tok_dataset options.
type TokenizeOptions struct {
	// MaxLen > 0 truncates every sample to its first MaxLen tokens
	// (--max_len).
	MaxLen int
	// Padding pads every sample with the pad id (attention mask 0): to MaxLen
	// when it is set, else to the longest sample of the file (which costs a
	// second pass over the input).
	Padding bool
	// Workers tokenizing in parallel (default GOMAXPROCS).
	Workers int
	// ShardBytes is passed to the Writer (default DefaultShardBytes).
	ShardBytes int64
	// Progress, if set, is called from the calling goroutine after each
	// chunk of input with the running totals.
	Progress func(Stats)
}

// Stats summarises a Tokenize run.
type Stats struct {
	InputBytes int64 // JSONL bytes read (in the writing pass)
	Examples   int
	Tokens     int64 // ids written, padding excluded
	Padded     int64 // padding ids written
	Truncated  int   // samples cut to MaxLen
	Unknown    int64 // ids that are the unk token (words outside the vocabulary)
	MaxTokens  int   // longest sample after truncation
	Shards     int
}

// chunkBytes is how much JSONL one worker tokenizes at a time.
const chunkBytes = 4 << 20

// Chunk and id buffers are recycled: allocating (and zeroing) them anew for
// every chunk costs more than tokenizing a chunk.
var (
	chunkPool = sync.Pool{New: func() any { return make([]byte, 0, chunkBytes+64<<10) }}
	idsPool   = sync.Pool{New: func() any { return make([]int32, 0, chunkBytes/2) }}
)

type chunk struct {
	seq       int
	firstLine int // 1-based line number of data[0]
	data      []byte
}

type chunkResult struct {
	seq   int
	ids   []int32
	lens  []int32 // tokens per example (before padding)
	trunc int
	unk   int64
	bytes int64
	err   error
}

// Tokenize tokenizes the "Data" field of every line of the JSONL file in and
// writes the dataset folder out (save_to_disk layout), as NetSSM's
// create_tok_dataset does. Blank lines are skipped; a line that is not a JSON
// object with a string Data field stops the run with an error naming the file
// and line, and nothing is written.
func Tokenize(ctx context.Context, tok *tokenizer.Tokenizer, in, out string, opt TokenizeOptions) (Stats, error) {
	if opt.MaxLen < 0 {
		return Stats{}, fmt.Errorf("dataset: negative maximum length %d", opt.MaxLen)
	}
	if opt.Padding && tok.Pad() < 0 {
		return Stats{}, errors.New("dataset: padding asked but the tokenizer has no pad token")
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	padTo := opt.MaxLen
	if opt.Padding && opt.MaxLen == 0 {
		// Pad to the longest sample: a first pass finds it.
		var longest int
		err := runChunks(ctx, tok, in, opt, func(r *chunkResult) error {
			for _, l := range r.lens {
				longest = max(longest, int(l))
			}
			return nil
		})
		if err != nil {
			return Stats{}, err
		}
		padTo = longest
	}
	w, err := Create(out, WriterOptions{ShardBytes: opt.ShardBytes})
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	padID := tok.Pad()
	var ids []int32
	var ones, mask []int8
	err = runChunks(ctx, tok, in, opt, func(r *chunkResult) error {
		off := 0
		for _, l := range r.lens {
			for len(ones) < int(l) {
				ones = append(ones, 1)
			}
			ids, mask = r.ids[off:off+int(l)], ones[:l]
			off += int(l)
			if opt.Padding && len(ids) < padTo {
				ids = append(make([]int32, 0, padTo), ids...)
				mask = append(make([]int8, 0, padTo), mask...)
				for len(ids) < padTo {
					ids = append(ids, padID)
					mask = append(mask, 0)
				}
				st.Padded += int64(len(ids) - int(l))
			}
			if err := w.Write(Example{InputIDs: ids, AttentionMask: mask}); err != nil {
				return err
			}
			st.Examples++
			st.Tokens += int64(l)
			st.MaxTokens = max(st.MaxTokens, int(l))
		}
		idsPool.Put(r.ids[:0])
		r.ids = nil
		st.Truncated += r.trunc
		st.Unknown += r.unk
		st.InputBytes += r.bytes
		if opt.Progress != nil {
			opt.Progress(st)
		}
		return nil
	})
	if err != nil {
		w.Abort()
		return st, err
	}
	st.Shards = len(w.shards)
	if st.Shards == 0 {
		st.Shards = 1
	}
	if err := w.Close(); err != nil {
		return st, err
	}
	return st, nil
}

// runChunks reads in by chunks of whole lines, tokenizes them on
// opt.Workers goroutines and calls sink with the results in input order.
func runChunks(ctx context.Context, tok *tokenizer.Tokenizer, in string, opt TokenizeOptions, sink func(*chunkResult) error) error {
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	chunks := make(chan chunk, opt.Workers)
	results := make(chan *chunkResult, opt.Workers)
	readErr := make(chan error, 1)
	go func() { // reader
		defer close(chunks)
		br := bufio.NewReaderSize(f, 1<<20)
		line, seq := 1, 0
		for {
			buf := chunkPool.Get().([]byte)[:0]
			for len(buf) < chunkBytes {
				part, err := br.ReadSlice('\n')
				buf = append(buf, part...)
				if err == bufio.ErrBufferFull {
					continue
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					readErr <- fmt.Errorf("dataset: reading %s: %w", in, err)
					return
				}
			}
			if len(buf) == 0 {
				readErr <- nil
				return
			}
			select {
			case chunks <- chunk{seq: seq, firstLine: line, data: buf}:
			case <-ctx.Done():
				readErr <- nil
				return
			}
			line += bytes.Count(buf, []byte("\n"))
			seq++
			if buf[len(buf)-1] != '\n' { // EOF reached
				readErr <- nil
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				r := tokenizeChunk(tok, c, opt.MaxLen, in)
				select {
				case results <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	pending := map[int]*chunkResult{}
	next := 0
	var firstErr error
	for r := range results {
		if firstErr != nil {
			continue
		}
		pending[r.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if r.err != nil {
				firstErr = r.err
				cancel()
				break
			}
			if err := ctx.Err(); err != nil {
				firstErr = err
				break
			}
			if err := sink(r); err != nil {
				firstErr = err
				cancel()
				break
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if err := <-readErr; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

func tokenizeChunk(tok *tokenizer.Tokenizer, c chunk, maxLen int, name string) *chunkResult {
	r := &chunkResult{seq: c.seq, bytes: int64(len(c.data))}
	r.ids = idsPool.Get().([]int32)[:0]
	defer chunkPool.Put(c.data[:0])
	unk := tok.Unk()
	data := c.data
	line := c.firstLine
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		var l []byte
		if end < 0 {
			l, data = data, nil
		} else {
			l, data = data[:end], data[end+1:]
		}
		if len(bytes.TrimSpace(l)) == 0 {
			line++
			continue
		}
		start := len(r.ids)
		var err error
		limit := 0
		if maxLen > 0 {
			limit = maxLen
			if tok.AddedSpecial() == 0 {
				limit++ // one more id tells whether the sample was cut
			}
		}
		r.ids, err = encodeLine(tok, r.ids, l, limit)
		if err != nil {
			r.err = fmt.Errorf("dataset: %s:%d: %v", name, line, err)
			return r
		}
		n := len(r.ids) - start
		if maxLen > 0 && n > maxLen {
			r.ids = r.ids[:start+maxLen]
			n = maxLen
			r.trunc++
		}
		if unk >= 0 {
			for _, id := range r.ids[start:] {
				if id == unk {
					r.unk++
				}
			}
		}
		r.lens = append(r.lens, int32(n))
		line++
	}
	return r
}
