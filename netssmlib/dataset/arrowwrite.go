package dataset

import (
	"bufio"
	"encoding/binary"
	"io"
	"sync"
	"unsafe"
)

// featuresJSON is the features dict datasets (>= 4) writes for tokenizer
// output, in its json.dumps spelling.
const featuresJSON = `{"input_ids": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "List"}, ` +
	`"attention_mask": {"feature": {"dtype": "int8", "_type": "Value"}, "_type": "List"}}`

// schemaMetadata is the "huggingface" schema metadata value.
const schemaMetadata = `{"info": {"features": ` + featuresJSON + `}}`

// Batches are cut at datasets' writer_batch_size (1000 rows) or earlier when
// they grow past batchBytes, which bounds memory for long samples.
const (
	batchRows  = 1000
	batchBytes = 16 << 20
)

// streamWriter writes examples as an Arrow IPC stream with the two list
// columns.
type streamWriter struct {
	w       *bufio.Writer
	n       int64 // bytes written
	ids     []int32
	mask    []int8
	offsets []int32
	rows    int
	total   int
	schema  bool
}

// batchBufs are the column buffers of a batch, recycled between writers:
// growing them from empty for every shard costs more than filling them.
type batchBufs struct {
	ids     []int32
	mask    []int8
	offsets []int32
}

var batchPool = sync.Pool{New: func() any { return &batchBufs{} }}

func newStreamWriter(w io.Writer) *streamWriter {
	b := batchPool.Get().(*batchBufs)
	return &streamWriter{w: bufio.NewWriterSize(w, 1<<20), ids: b.ids[:0], mask: b.mask[:0], offsets: append(b.offsets[:0], 0)}
}

// release returns the column buffers to the pool.
func (s *streamWriter) release() {
	batchPool.Put(&batchBufs{ids: s.ids[:0], mask: s.mask[:0], offsets: s.offsets[:0]})
	s.ids, s.mask, s.offsets = nil, nil, nil
}

func (s *streamWriter) write(ex Example) error {
	if !s.schema {
		if err := s.writeMessage(schemaMessage(), nil); err != nil {
			return err
		}
		s.schema = true
	}
	s.ids = append(s.ids, ex.InputIDs...)
	s.mask = append(s.mask, ex.AttentionMask...)
	s.offsets = append(s.offsets, int32(len(s.ids)))
	s.rows++
	s.total++
	if s.rows >= batchRows || len(s.ids)*5 >= batchBytes {
		return s.flush()
	}
	return nil
}

// pad8 is the padded length of n bytes.
func pad8(n int) int { return (n + 7) &^ 7 }

func (s *streamWriter) flush() error {
	if s.rows == 0 {
		return nil
	}
	offBytes := i32bytes(s.offsets)
	idBytes := i32bytes(s.ids)
	maskBytes := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s.mask))), len(s.mask))
	bufs := [][]byte{nil, offBytes, nil, idBytes, nil, offBytes, nil, maskBytes}
	var layout [][2]int64
	var off int64
	for _, b := range bufs {
		layout = append(layout, [2]int64{off, int64(len(b))})
		off += int64(pad8(len(b)))
	}
	nodes := [][2]int64{
		{int64(s.rows), 0}, {int64(len(s.ids)), 0},
		{int64(s.rows), 0}, {int64(len(s.mask)), 0},
	}
	meta := fbFinish(func(w *fbWriter) int {
		return w.table(
			fbScalar(2, metadataV5),
			fbScalar(1, msgRecordBatch),
			fbRef(func(w *fbWriter) int {
				return w.table(
					fbScalar(8, uint64(s.rows)),
					fbRef(func(w *fbWriter) int { return w.structs16(nodes) }),
					fbRef(func(w *fbWriter) int { return w.structs16(layout) }),
				)
			}),
			fbScalar(8, uint64(off)),
		)
	})
	if err := s.writeMessage(meta, bufs); err != nil {
		return err
	}
	s.ids, s.mask, s.offsets, s.rows = s.ids[:0], s.mask[:0], s.offsets[:1], 0
	return nil
}

// i32bytes views int32s as little-endian bytes (copying on big-endian hosts).
func i32bytes(v []int32) []byte {
	if littleEndianHost {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	}
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}

var zeros [8]byte

func (s *streamWriter) writeMessage(meta []byte, body [][]byte) error {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(meta))) // meta is padded to 8
	s.put(hdr[:])
	s.put(meta)
	for _, b := range body {
		s.put(b)
		s.put(zeros[:pad8(len(b))-len(b)])
	}
	return nil
}

func (s *streamWriter) put(b []byte) {
	n, _ := s.w.Write(b) // errors are sticky in bufio and reported by close
	s.n += int64(n)
}

// close flushes the last batch and writes the end-of-stream marker.
func (s *streamWriter) close() error {
	if !s.schema {
		if err := s.writeMessage(schemaMessage(), nil); err != nil {
			return err
		}
		s.schema = true
	}
	if err := s.flush(); err != nil {
		return err
	}
	s.put([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0})
	s.release()
	return s.w.Flush()
}

// schemaMessage is the Schema message: input_ids list<item: int32>,
// attention_mask list<item: int8>, nullable as pyarrow makes them, with the
// huggingface metadata.
func schemaMessage() []byte {
	listField := func(name string, bits int) func(w *fbWriter) int {
		return func(w *fbWriter) int {
			return w.table(
				fbRef(func(w *fbWriter) int { return w.str(name) }),
				fbScalar(1, 1),        // nullable
				fbScalar(1, typeList), // type_type
				fbRef(func(w *fbWriter) int { return w.table() }),
				nil, // dictionary
				fbRef(func(w *fbWriter) int {
					return w.refs(1, func(w *fbWriter, _ int) int {
						return w.table(
							fbRef(func(w *fbWriter) int { return w.str("item") }),
							fbScalar(1, 1),
							fbScalar(1, typeInt),
							fbRef(func(w *fbWriter) int {
								return w.table(fbScalar(4, uint64(bits)), fbScalar(1, 1))
							}),
							nil,
							fbRef(func(w *fbWriter) int { return w.refs(0, nil) }),
						)
					})
				}),
			)
		}
	}
	return fbFinish(func(w *fbWriter) int {
		return w.table(
			fbScalar(2, metadataV5),
			fbScalar(1, msgSchema),
			fbRef(func(w *fbWriter) int {
				return w.table(
					nil, // endianness: Little (default)
					fbRef(func(w *fbWriter) int {
						fields := []func(*fbWriter) int{listField("input_ids", 32), listField("attention_mask", 8)}
						return w.refs(len(fields), func(w *fbWriter, i int) int { return fields[i](w) })
					}),
					fbRef(func(w *fbWriter) int {
						return w.refs(1, func(w *fbWriter, _ int) int {
							return w.table(
								fbRef(func(w *fbWriter) int { return w.str("huggingface") }),
								fbRef(func(w *fbWriter) int { return w.str(schemaMetadata) }),
							)
						})
					}),
				)
			}),
			fbScalar(8, 0),
		)
	})
}
