package dataset

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
)

const (
	stateFile = "state.json"
	infoFile  = "dataset_info.json"
	// DefaultShardBytes is datasets' default max_shard_size for save_to_disk.
	DefaultShardBytes = 500 << 20
)

// Writer writes examples into a save_to_disk folder. Nothing appears at the
// destination until Close succeeds: the shards are written into a temporary
// folder beside it, which Close renames into place (replacing an existing
// dataset folder there).
type Writer struct {
	dir        string
	tmp        string
	shardBytes int64
	cur        *os.File
	sw         *streamWriter
	shards     []string // temporary shard names, in order
	rows       int
	tokens     int64
	fp, fpLen  hash.Hash32 // fingerprint: CRC-32 of the ids and of the lengths
	closed     bool
}

// WriterOptions control Create.
type WriterOptions struct {
	// ShardBytes cuts a new data-*.arrow file when one grows past it
	// (default DefaultShardBytes).
	ShardBytes int64
}

// Create starts a dataset folder at dir.
func Create(dir string, opt WriterOptions) (*Writer, error) {
	dir = filepath.Clean(dir)
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return nil, fmt.Errorf("dataset: %s exists and is not a folder", dir)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
				return nil, fmt.Errorf("dataset: %s exists, is not empty and is not a dataset folder; refusing to replace it", dir)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if opt.ShardBytes <= 0 {
		opt.ShardBytes = DefaultShardBytes
	}
	return &Writer{dir: dir, tmp: tmp, shardBytes: opt.ShardBytes, fp: crc32.NewIEEE(), fpLen: crc32.NewIEEE()}, nil
}

// Write appends one example. InputIDs and AttentionMask must have the same
// length.
func (w *Writer) Write(ex Example) error {
	if w.closed {
		return errors.New("dataset: write to a closed Writer")
	}
	if len(ex.InputIDs) != len(ex.AttentionMask) {
		return fmt.Errorf("dataset: example %d has %d ids and %d mask values", w.rows, len(ex.InputIDs), len(ex.AttentionMask))
	}
	if w.sw != nil && w.sw.n >= w.shardBytes {
		if err := w.closeShard(); err != nil {
			return err
		}
	}
	if w.sw == nil {
		name := filepath.Join(w.tmp, fmt.Sprintf("shard-%05d.arrow", len(w.shards)))
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
		w.cur, w.sw = f, newStreamWriter(f)
		w.shards = append(w.shards, name)
	}
	w.fp.Write(i32bytes(ex.InputIDs))
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(ex.InputIDs)))
	w.fpLen.Write(l[:])
	w.rows++
	w.tokens += int64(len(ex.InputIDs))
	return w.sw.write(ex)
}

func (w *Writer) closeShard() error {
	err := w.sw.close()
	if err == nil {
		err = w.cur.Sync()
	}
	if cerr := w.cur.Close(); err == nil {
		err = cerr
	}
	w.cur, w.sw = nil, nil
	if err != nil {
		return fmt.Errorf("dataset: writing %s: %w", w.dir, err)
	}
	return nil
}

// Rows is the number of examples written so far.
func (w *Writer) Rows() int { return w.rows }

// Tokens is the number of ids written so far (padding included).
func (w *Writer) Tokens() int64 { return w.tokens }

// Abort discards everything written.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	if w.cur != nil {
		w.cur.Close()
	}
	os.RemoveAll(w.tmp)
}

// Close finishes the shards, writes state.json and dataset_info.json and
// moves the folder into place.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("dataset: Writer closed twice")
	}
	if err := w.finish(); err != nil {
		w.Abort()
		return err
	}
	w.closed = true
	return nil
}

func (w *Writer) finish() error {
	if w.sw == nil && len(w.shards) == 0 { // an empty dataset still has one shard
		name := filepath.Join(w.tmp, "shard-00000.arrow")
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
		w.cur, w.sw = f, newStreamWriter(f)
		w.shards = append(w.shards, name)
	}
	if w.sw != nil {
		if err := w.closeShard(); err != nil {
			return err
		}
	}
	n := len(w.shards)
	var names []string
	for i, s := range w.shards {
		name := fmt.Sprintf("data-%05d-of-%05d.arrow", i, n)
		if err := os.Rename(s, filepath.Join(w.tmp, name)); err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
		names = append(names, name)
	}
	fingerprint := hex.EncodeToString(w.fpLen.Sum(w.fp.Sum(nil))) // 16 hex digits, like datasets' fingerprints
	var st strings.Builder
	st.WriteString("{\n  \"_data_files\": [\n")
	for i, name := range names {
		fmt.Fprintf(&st, "    {\n      \"filename\": %q\n    }", name)
		if i < n-1 {
			st.WriteByte(',')
		}
		st.WriteByte('\n')
	}
	fmt.Fprintf(&st, "  ],\n  \"_fingerprint\": %q,\n  \"_format_columns\": null,\n  \"_format_kwargs\": {},\n  \"_format_type\": null,\n  \"_output_all_columns\": false,\n  \"_split\": \"train\"\n}", fingerprint)
	if err := os.WriteFile(filepath.Join(w.tmp, stateFile), []byte(st.String()), 0o644); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	info := "{\n  \"citation\": \"\",\n  \"description\": \"\",\n  \"features\": {\n" +
		"    \"input_ids\": {\n      \"feature\": {\n        \"dtype\": \"int32\",\n        \"_type\": \"Value\"\n      },\n      \"_type\": \"List\"\n    },\n" +
		"    \"attention_mask\": {\n      \"feature\": {\n        \"dtype\": \"int8\",\n        \"_type\": \"Value\"\n      },\n      \"_type\": \"List\"\n    }\n" +
		"  },\n  \"homepage\": \"\",\n  \"license\": \"\"\n}"
	if err := os.WriteFile(filepath.Join(w.tmp, infoFile), []byte(info), 0o644); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if err := os.Chmod(w.tmp, 0o755); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	// Replace an existing dataset folder: move it aside, move ours in, then
	// delete the old one.
	var old string
	if _, err := os.Stat(w.dir); err == nil {
		old = w.tmp + ".old"
		if err := os.Rename(w.dir, old); err != nil {
			return fmt.Errorf("dataset: replacing %s: %w", w.dir, err)
		}
	}
	if err := os.Rename(w.tmp, w.dir); err != nil {
		if old != "" {
			os.Rename(old, w.dir)
		}
		return fmt.Errorf("dataset: %w", err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}
