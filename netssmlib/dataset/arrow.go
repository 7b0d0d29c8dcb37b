package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// Arrow IPC, the subset HuggingFace datasets writes (format spec:
// https://arrow.apache.org/docs/format/Columnar.html#serialization-and-interprocess-communication-ipc).
//
// A stream is a sequence of encapsulated messages: 0xFFFFFFFF, an int32
// metadata length, a flatbuffer Message (padded to 8 bytes), then the body
// (bodyLength bytes). The first message is the Schema; RecordBatch messages
// follow; 0xFFFFFFFF 0x00000000 ends the stream. The IPC file format is the
// same stream between an "ARROW1\0\0" header and a footer.

// Message header types (Message.fbs MessageHeader union).
const (
	msgSchema          = 1
	msgDictionaryBatch = 2
	msgRecordBatch     = 3
)

// Type union ids (Schema.fbs Type).
const (
	typeNull            = 1
	typeInt             = 2
	typeFloatingPoint   = 3
	typeBinary          = 4
	typeUtf8            = 5
	typeBool            = 6
	typeDecimal         = 7
	typeDate            = 8
	typeTime            = 9
	typeTimestamp       = 10
	typeInterval        = 11
	typeList            = 12
	typeStruct          = 13
	typeUnion           = 14
	typeFixedSizeBinary = 15
	typeFixedSizeList   = 16
	typeMap             = 17
	typeDuration        = 18
	typeLargeBinary     = 19
	typeLargeUtf8       = 20
	typeLargeList       = 21
)

const metadataV5 = 4

var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// field is a schema field flattened for buffer bookkeeping.
type field struct {
	name     string
	typ      int
	bits     int // Int bit width
	signed   bool
	dict     bool
	children []*field
}

// counts returns the field nodes and buffers the field and its children take
// in a record batch.
func (f *field) counts() (nodes, bufs int, err error) {
	nodes = 1
	switch f.typ {
	case typeNull:
	case typeInt, typeFloatingPoint, typeBool, typeDecimal, typeDate, typeTime, typeTimestamp,
		typeInterval, typeFixedSizeBinary, typeDuration:
		bufs = 2
	case typeBinary, typeUtf8, typeLargeBinary, typeLargeUtf8:
		bufs = 3
	case typeList, typeLargeList, typeMap:
		bufs = 2
	case typeStruct, typeFixedSizeList:
		bufs = 1
	default:
		return 0, 0, fmt.Errorf("column %q has an Arrow type (%d) this reader does not support", f.name, f.typ)
	}
	if f.dict {
		bufs = 2
	}
	for _, c := range f.children {
		n, b, err := c.counts()
		if err != nil {
			return 0, 0, err
		}
		nodes += n
		bufs += b
	}
	return nodes, bufs, nil
}

func parseField(t fbTable, depth int) (*field, error) {
	if depth > 64 {
		return nil, errors.New("schema nested too deeply")
	}
	f := &field{}
	var err error
	if f.name, err = t.str(0); err != nil {
		return nil, fbErr("field name", err)
	}
	tt, err := t.uint(2, 1, 0)
	if err != nil {
		return nil, err
	}
	f.typ = int(tt)
	if f.typ == typeInt {
		it, ok, err := t.table(3)
		if err != nil || !ok {
			return nil, fmt.Errorf("column %q: Int type without parameters", f.name)
		}
		bw, err := it.uint(0, 4, 0)
		if err != nil {
			return nil, err
		}
		sg, err := it.uint(1, 1, 0)
		if err != nil {
			return nil, err
		}
		f.bits, f.signed = int(int32(bw)), sg != 0
	}
	if _, ok, err := t.ref(4); err != nil {
		return nil, err
	} else if ok {
		f.dict = true
	}
	start, n, err := t.vector(5, 4)
	if err != nil {
		return nil, fbErr("field children", err)
	}
	for i := 0; i < n; i++ {
		ct, err := t.tableAt(start + 4*i)
		if err != nil {
			return nil, err
		}
		c, err := parseField(ct, depth+1)
		if err != nil {
			return nil, err
		}
		f.children = append(f.children, c)
	}
	return f, nil
}

// message is one encapsulated IPC message.
type message struct {
	header fbTable // the Schema / RecordBatch table
	kind   int
	body   []byte
	next   int // offset of the following message
}

// errNoEOS is returned when data ends without the end-of-stream marker.
var errNoEOS = errors.New("the stream ends without its end-of-stream marker (truncated file?)")

// readMessage reads the message at data[off:]. It returns io.EOF at the
// end-of-stream marker and errNoEOS at the end of data.
func readMessage(data []byte, off int) (message, error) {
	if off >= len(data) {
		return message{}, errNoEOS
	}
	if len(data)-off >= 4 && binary.LittleEndian.Uint32(data[off:]) == 0 {
		return message{}, io.EOF // pre-0.15 end-of-stream: a bare zero length
	}
	if len(data)-off < 8 {
		return message{}, fmt.Errorf("truncated message header at offset %d", off)
	}
	size := binary.LittleEndian.Uint32(data[off:])
	p := off + 4
	if size == 0xFFFFFFFF {
		size = binary.LittleEndian.Uint32(data[p:])
		p += 4
	} // else: pre-0.15 format without the continuation marker
	if size == 0 {
		return message{}, io.EOF
	}
	if int64(size) > int64(len(data)-p) {
		return message{}, fmt.Errorf("message at offset %d: metadata of %d bytes runs past the end of the file", off, size)
	}
	meta := data[p : p+int(size)]
	root, err := fbRoot(meta)
	if err != nil {
		return message{}, fmt.Errorf("message at offset %d: %w", off, err)
	}
	ver, err := root.uint(0, 2, 0)
	if err != nil {
		return message{}, err
	}
	if ver < 3 { // V4 (=3) and V5 (=4) share the layout we read
		return message{}, fmt.Errorf("message at offset %d: Arrow metadata version %d is too old", off, ver)
	}
	kind, err := root.uint(1, 1, 0)
	if err != nil {
		return message{}, err
	}
	hdr, ok, err := root.table(2)
	if err != nil || !ok {
		return message{}, fmt.Errorf("message at offset %d: no header", off)
	}
	bodyLen, err := root.uint(3, 8, 0)
	if err != nil {
		return message{}, err
	}
	bstart := p + int(size)
	if bodyLen > uint64(len(data)-bstart) {
		return message{}, fmt.Errorf("message at offset %d: body of %d bytes runs past the end of the file (truncated?)", off, bodyLen)
	}
	return message{header: hdr, kind: int(kind), body: data[bstart : bstart+int(bodyLen)], next: bstart + int(bodyLen)}, nil
}

// column locates one list column of a record batch.
type column struct {
	rows      int
	validity  []byte // nil when there are no nulls
	offsets   []byte
	offWidth  int // 4 (list) or 8 (large_list)
	values    []byte
	valBits   int
	valSigned bool
	nvalues   int
}

// batch is one record batch of a shard.
type batch struct {
	first int // index of its first row in the dataset
	rows  int
	ids   column
	mask  column
	hasM  bool
}

// schemaInfo is what the reader needs from a Schema.
type schemaInfo struct {
	fields []*field
	idsCol int // index into fields
	mskCol int // -1 if absent
}

func parseSchema(t fbTable) (*schemaInfo, error) {
	if e, err := t.uint(0, 2, 0); err != nil || e != 0 {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("big-endian Arrow data is not supported")
	}
	start, n, err := t.vector(1, 4)
	if err != nil {
		return nil, fbErr("schema fields", err)
	}
	s := &schemaInfo{idsCol: -1, mskCol: -1}
	for i := 0; i < n; i++ {
		ft, err := t.tableAt(start + 4*i)
		if err != nil {
			return nil, err
		}
		f, err := parseField(ft, 0)
		if err != nil {
			return nil, err
		}
		switch f.name {
		case "input_ids":
			s.idsCol = i
		case "attention_mask":
			s.mskCol = i
		}
		s.fields = append(s.fields, f)
	}
	if s.idsCol < 0 {
		return nil, errors.New("no input_ids column (is this a tokenized dataset?)")
	}
	for _, c := range []int{s.idsCol, s.mskCol} {
		if c < 0 {
			continue
		}
		f := s.fields[c]
		if f.dict || (f.typ != typeList && f.typ != typeLargeList) || len(f.children) != 1 ||
			f.children[0].typ != typeInt || f.children[0].dict {
			return nil, fmt.Errorf("column %q is not a list of integers", f.name)
		}
		if b := f.children[0].bits; b != 8 && b != 16 && b != 32 && b != 64 {
			return nil, fmt.Errorf("column %q: integer width %d", f.name, b)
		}
	}
	return s, nil
}

// parseBatch locates the two columns in a RecordBatch message.
func parseBatch(s *schemaInfo, m message) (batch, error) {
	t := m.header
	length, err := t.uint(0, 8, 0)
	if err != nil {
		return batch{}, err
	}
	if _, ok, err := t.ref(3); err != nil || ok {
		if err != nil {
			return batch{}, err
		}
		return batch{}, errors.New("compressed record batches are not supported")
	}
	nstart, nn, err := t.vector(1, 16)
	if err != nil {
		return batch{}, fbErr("field nodes", err)
	}
	bstart, nb, err := t.vector(2, 16)
	if err != nil {
		return batch{}, fbErr("buffers", err)
	}
	if length > math.MaxInt32 {
		return batch{}, fmt.Errorf("record batch of %d rows", length)
	}
	b := batch{rows: int(length)}
	node, buf := 0, 0
	get := func(c int, f *field) (column, error) {
		if node+2 > nn || buf+4 > nb {
			return column{}, errors.New("record batch has fewer buffers than its schema needs")
		}
		rd := func(k int) (int64, int64) {
			p := nstart + 16*k
			return int64(binary.LittleEndian.Uint64(t.b[p:])), int64(binary.LittleEndian.Uint64(t.b[p+8:]))
		}
		bufAt := func(k int) ([]byte, error) {
			p := bstart + 16*k
			off, ln := int64(binary.LittleEndian.Uint64(t.b[p:])), int64(binary.LittleEndian.Uint64(t.b[p+8:]))
			if off < 0 || ln < 0 || off > int64(len(m.body)) || ln > int64(len(m.body))-off {
				return nil, fmt.Errorf("column %q: buffer [%d,+%d) outside the record batch body", f.name, off, ln)
			}
			return m.body[off : off+ln], nil
		}
		rows, nulls := rd(node)
		nvals, _ := rd(node + 1)
		if rows != int64(length) || nvals < 0 {
			return column{}, fmt.Errorf("column %q: %d rows in a batch of %d", f.name, rows, length)
		}
		col := column{rows: int(rows), nvalues: int(nvals), offWidth: 4, valBits: f.children[0].bits, valSigned: f.children[0].signed}
		if f.typ == typeLargeList {
			col.offWidth = 8
		}
		var err error
		if nulls > 0 {
			if col.validity, err = bufAt(buf); err != nil {
				return column{}, err
			}
			if len(col.validity) < (col.rows+7)/8 {
				return column{}, fmt.Errorf("column %q: short validity bitmap", f.name)
			}
		}
		if col.offsets, err = bufAt(buf + 1); err != nil {
			return column{}, err
		}
		if col.rows > 0 && len(col.offsets) < (col.rows+1)*col.offWidth {
			return column{}, fmt.Errorf("column %q: offsets buffer too short", f.name)
		}
		if col.values, err = bufAt(buf + 3); err != nil {
			return column{}, err
		}
		if int64(len(col.values)) < nvals*int64(col.valBits/8) {
			return column{}, fmt.Errorf("column %q: values buffer too short", f.name)
		}
		return col, nil
	}
	for i, f := range s.fields {
		nodes, bufs, err := f.counts()
		if err != nil {
			if i == s.idsCol || i == s.mskCol {
				return batch{}, err
			}
			return batch{}, err
		}
		switch i {
		case s.idsCol:
			if b.ids, err = get(i, f); err != nil {
				return batch{}, err
			}
		case s.mskCol:
			if b.mask, err = get(i, f); err != nil {
				return batch{}, err
			}
			b.hasM = true
		}
		node += nodes
		buf += bufs
	}
	if node > nn || buf > nb {
		return batch{}, errors.New("record batch has fewer buffers than its schema needs")
	}
	return b, nil
}

// offset returns the [start,end) of row i of a list column.
func (c *column) span(i int) (int, int, error) {
	var s, e int64
	if c.offWidth == 4 {
		s = int64(int32(binary.LittleEndian.Uint32(c.offsets[4*i:])))
		e = int64(int32(binary.LittleEndian.Uint32(c.offsets[4*i+4:])))
	} else {
		s = int64(binary.LittleEndian.Uint64(c.offsets[8*i:]))
		e = int64(binary.LittleEndian.Uint64(c.offsets[8*i+8:]))
	}
	if s < 0 || e < s || e > int64(c.nvalues) {
		return 0, 0, fmt.Errorf("bad list offsets [%d,%d) for row %d", s, e, i)
	}
	return int(s), int(e), nil
}

func (c *column) null(i int) bool {
	return c.validity != nil && c.validity[i/8]&(1<<(i%8)) == 0
}

// int32s returns values[s:e] as int32, without copying when they are stored
// as aligned int32 on a little-endian host, else converted into buf.
func (c *column) int32s(s, e int, buf []int32) ([]int32, []int32, error) {
	n := e - s
	if c.valBits == 32 && littleEndianHost {
		b := c.values[4*s : 4*e]
		if n == 0 {
			return []int32{}, buf, nil
		}
		if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
			return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), n), buf, nil
		}
	}
	buf = buf[:0]
	for k := s; k < e; k++ {
		v := c.intAt(k)
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, buf, fmt.Errorf("token id %d does not fit in int32", v)
		}
		buf = append(buf, int32(v))
	}
	return buf, buf, nil
}

func (c *column) int8s(s, e int, buf []int8) ([]int8, []int8, error) {
	n := e - s
	if c.valBits == 8 {
		if n == 0 {
			return []int8{}, buf, nil
		}
		b := c.values[s:e]
		return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), n), buf, nil
	}
	buf = buf[:0]
	for k := s; k < e; k++ {
		v := c.intAt(k)
		if v < math.MinInt8 || v > math.MaxInt8 {
			return nil, buf, fmt.Errorf("attention mask value %d does not fit in int8", v)
		}
		buf = append(buf, int8(v))
	}
	return buf, buf, nil
}

func (c *column) intAt(k int) int64 {
	switch c.valBits {
	case 8:
		if c.valSigned {
			return int64(int8(c.values[k]))
		}
		return int64(c.values[k])
	case 16:
		v := binary.LittleEndian.Uint16(c.values[2*k:])
		if c.valSigned {
			return int64(int16(v))
		}
		return int64(v)
	case 32:
		v := binary.LittleEndian.Uint32(c.values[4*k:])
		if c.valSigned {
			return int64(int32(v))
		}
		return int64(v)
	default:
		v := binary.LittleEndian.Uint64(c.values[8*k:])
		if !c.valSigned && v > math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(v)
	}
}
