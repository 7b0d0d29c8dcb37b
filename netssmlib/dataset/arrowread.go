package dataset

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// shardFiles lists the Arrow files of a save_to_disk folder, in order.
func shardFiles(dir string) ([]string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "dataset_dict.json")); err == nil {
		var dd struct {
			Splits []string `json:"splits"`
		}
		if err := json.Unmarshal(b, &dd); err != nil {
			return nil, fmt.Errorf("dataset: %s: %v", filepath.Join(dir, "dataset_dict.json"), err)
		}
		split := "train"
		if len(dd.Splits) > 0 && !contains(dd.Splits, "train") {
			split = dd.Splits[0]
		}
		return shardFiles(filepath.Join(dir, split))
	}
	statePath := filepath.Join(dir, stateFile)
	if b, err := os.ReadFile(statePath); err == nil {
		var st struct {
			DataFiles []struct {
				Filename string `json:"filename"`
			} `json:"_data_files"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("dataset: %s: %v", statePath, err)
		}
		if len(st.DataFiles) == 0 {
			return nil, fmt.Errorf("dataset: %s lists no data files", statePath)
		}
		var out []string
		for _, f := range st.DataFiles {
			if f.Filename == "" || strings.Contains(f.Filename, "..") || filepath.IsAbs(f.Filename) {
				return nil, fmt.Errorf("dataset: %s: bad data file name %q", statePath, f.Filename)
			}
			out = append(out, filepath.Join(dir, f.Filename))
		}
		return out, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.arrow"))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dataset: %s: no state.json and no .arrow files", dir)
	}
	sort.Strings(files)
	return files, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

type shard struct {
	path    string
	data    []byte
	unmap   func() error
	batches []batch
}

type arrowReader struct {
	shards []*shard
	// flat index of batches across shards
	idx   []batchRef
	total int
	next  int
	ibuf  []int32
	mbuf  []int8
	ones  []int8
}

type batchRef struct {
	shard int
	b     int
	first int
}

var arrowFileMagic = []byte("ARROW1")

func openArrow(paths []string) (*arrowReader, error) {
	r := &arrowReader{}
	for _, p := range paths {
		sh, err := openShard(p)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.shards = append(r.shards, sh)
		for bi, b := range sh.batches {
			if b.rows == 0 {
				continue
			}
			r.idx = append(r.idx, batchRef{shard: len(r.shards) - 1, b: bi, first: r.total})
			r.total += b.rows
		}
	}
	return r, nil
}

func openShard(path string) (*shard, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	sh := &shard{path: path, data: data, unmap: unmap}
	if err := sh.index(); err != nil {
		unmap()
		return nil, fmt.Errorf("dataset: %s: %v", path, err)
	}
	return sh, nil
}

// index reads the schema and the headers of every record batch (bodies are
// only touched when examples are read).
func (sh *shard) index() error {
	data := sh.data
	if len(data) == 0 {
		return errors.New("empty file")
	}
	if bytes.HasPrefix(data, arrowFileMagic) {
		return sh.indexFile()
	}
	m, err := readMessage(data, 0)
	if err == io.EOF || err == errNoEOS {
		return errors.New("not an Arrow IPC stream (no schema)")
	}
	if err != nil {
		return fmt.Errorf("not an Arrow IPC stream: %v", err)
	}
	if m.kind != msgSchema {
		return fmt.Errorf("not an Arrow IPC stream: first message is of type %d, not a schema", m.kind)
	}
	s, err := parseSchema(m.header)
	if err != nil {
		return err
	}
	for off := m.next; ; off = m.next {
		m, err = readMessage(data, off)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := sh.add(s, m); err != nil {
			return err
		}
	}
}

func (sh *shard) add(s *schemaInfo, m message) error {
	switch m.kind {
	case msgRecordBatch:
		b, err := parseBatch(s, m)
		if err != nil {
			return fmt.Errorf("record batch %d: %v", len(sh.batches), err)
		}
		if b.hasM && b.mask.rows != b.rows {
			return fmt.Errorf("record batch %d: attention_mask rows differ", len(sh.batches))
		}
		sh.batches = append(sh.batches, b)
	case msgDictionaryBatch:
		// dictionaries belong to columns we do not read
	default:
		return fmt.Errorf("unexpected message type %d", m.kind)
	}
	return nil
}

// indexFile reads the IPC file format through its footer: "ARROW1", int32
// footer length at the end; the Footer table holds the schema and the blocks
// (offset, metadata length, body length) of the record batches.
func (sh *shard) indexFile() error {
	data := sh.data
	if len(data) < 8+10 || !bytes.HasSuffix(data, arrowFileMagic) {
		return errors.New("arrow file without its closing magic (truncated?)")
	}
	flen := int(int32(binary.LittleEndian.Uint32(data[len(data)-10:])))
	fstart := len(data) - 10 - flen
	if flen <= 0 || fstart < 8 {
		return errors.New("arrow file with a bad footer length")
	}
	footer, err := fbRoot(data[fstart : len(data)-10])
	if err != nil {
		return fmt.Errorf("arrow file footer: %v", err)
	}
	st, ok, err := footer.table(1)
	if err != nil || !ok {
		return errors.New("arrow file footer has no schema")
	}
	s, err := parseSchema(st)
	if err != nil {
		return err
	}
	start, n, err := footer.vector(3, 24)
	if err != nil {
		return fbErr("arrow file record batches", err)
	}
	for i := 0; i < n; i++ {
		off := int64(binary.LittleEndian.Uint64(footer.b[start+24*i:]))
		if off < 8 || off >= int64(fstart) {
			return fmt.Errorf("record batch %d at bad offset %d", i, off)
		}
		m, err := readMessage(data[:fstart], int(off))
		if err != nil {
			if err == io.EOF || err == errNoEOS {
				err = errors.New("empty message")
			}
			return fmt.Errorf("record batch %d: %v", i, err)
		}
		if err := sh.add(s, m); err != nil {
			return err
		}
	}
	return nil
}

func (r *arrowReader) Len() int { return r.total }
func (r *arrowReader) Reset()   { r.next = 0 }

func (r *arrowReader) Next() (Example, error) {
	if r.next >= r.total {
		return Example{}, io.EOF
	}
	ex, err := r.At(r.next)
	r.next++
	return ex, err
}

func (r *arrowReader) At(i int) (Example, error) {
	if r.shards == nil {
		return Example{}, errClosed
	}
	if i < 0 || i >= r.total {
		return Example{}, fmt.Errorf("dataset: example %d out of range [0,%d)", i, r.total)
	}
	k := sort.Search(len(r.idx), func(k int) bool { return r.idx[k].first > i }) - 1
	ref := r.idx[k]
	sh := r.shards[ref.shard]
	b := &sh.batches[ref.b]
	row := i - ref.first
	fail := func(err error) (Example, error) {
		return Example{}, fmt.Errorf("dataset: %s: example %d: %v", sh.path, i, err)
	}
	if b.ids.null(row) {
		return fail(errors.New("input_ids is null"))
	}
	s, e, err := b.ids.span(row)
	if err != nil {
		return fail(err)
	}
	var ex Example
	if ex.InputIDs, r.ibuf, err = b.ids.int32s(s, e, r.ibuf); err != nil {
		return fail(err)
	}
	if b.hasM && !b.mask.null(row) {
		ms, me, err := b.mask.span(row)
		if err != nil {
			return fail(err)
		}
		if me-ms != e-s {
			return fail(fmt.Errorf("attention_mask has %d values for %d ids", me-ms, e-s))
		}
		if ex.AttentionMask, r.mbuf, err = b.mask.int8s(ms, me, r.mbuf); err != nil {
			return fail(err)
		}
	} else {
		for len(r.ones) < e-s {
			r.ones = append(r.ones, 1)
		}
		ex.AttentionMask = r.ones[:e-s]
	}
	return ex, nil
}

func (r *arrowReader) Close() error {
	var first error
	for _, sh := range r.shards {
		if err := sh.unmap(); err != nil && first == nil {
			first = err
		}
	}
	r.shards = nil
	return first
}
