package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A minimal flatbuffers writer and reader, enough for Arrow's IPC Message,
// Schema and RecordBatch tables.
//
// The writer lays objects out front to back: a table's vtable, then the
// table, then the objects it refers to. Every reference (uoffset) therefore
// points forward, as flatbuffers requires; vtables sit just before their
// table (positive soffset).

type fbWriter struct{ b []byte }

func (w *fbWriter) align(n int) {
	for len(w.b)%n != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *fbWriter) patch32(at, v int) { binary.LittleEndian.PutUint32(w.b[at:], uint32(v)) }

// fbField is one slot of a table: a scalar of size 1, 2, 4 or 8 bytes, or a
// reference to an object that child writes (and returns the position of).
type fbField struct {
	size  int
	v     uint64
	child func(w *fbWriter) int
}

func fbScalar(size int, v uint64) *fbField       { return &fbField{size: size, v: v} }
func fbRef(child func(w *fbWriter) int) *fbField { return &fbField{size: 4, child: child} }

// table writes a table with the given slots (nil = absent) and returns its
// position.
func (w *fbWriter) table(slots ...*fbField) int {
	// Inline layout: soffset, then fields by decreasing size, each aligned.
	offs := make([]int, len(slots))
	p := 4
	for _, size := range []int{8, 4, 2, 1} {
		for i, f := range slots {
			if f == nil || f.size != size {
				continue
			}
			for p%size != 0 {
				p++
			}
			offs[i] = p
			p += size
		}
	}
	w.align(2)
	vt := len(w.b)
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+2*len(slots)))
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(p))
	for _, o := range offs {
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(o))
	}
	w.align(8)
	t := len(w.b)
	w.b = append(w.b, make([]byte, p)...)
	binary.LittleEndian.PutUint32(w.b[t:], uint32(int32(t-vt)))
	for i, f := range slots {
		if f == nil || f.child != nil {
			continue
		}
		at := t + offs[i]
		switch f.size {
		case 1:
			w.b[at] = byte(f.v)
		case 2:
			binary.LittleEndian.PutUint16(w.b[at:], uint16(f.v))
		case 4:
			binary.LittleEndian.PutUint32(w.b[at:], uint32(f.v))
		case 8:
			binary.LittleEndian.PutUint64(w.b[at:], f.v)
		}
	}
	for i, f := range slots {
		if f == nil || f.child == nil {
			continue
		}
		at := t + offs[i]
		pos := f.child(w)
		w.patch32(at, pos-at)
	}
	return t
}

func (w *fbWriter) str(s string) int {
	w.align(4)
	pos := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(s)))
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	return pos
}

// refs writes a vector of n references.
func (w *fbWriter) refs(n int, child func(w *fbWriter, i int) int) int {
	w.align(4)
	pos := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(n))
	w.b = append(w.b, make([]byte, 4*n)...)
	for i := 0; i < n; i++ {
		at := pos + 4 + 4*i
		p := child(w, i)
		w.patch32(at, p-at)
	}
	return pos
}

// structs16 writes a vector of 16-byte structs of two int64 (FieldNode,
// Buffer), the elements aligned to 8.
func (w *fbWriter) structs16(pairs [][2]int64) int {
	w.align(4)
	if (len(w.b)+4)%8 != 0 {
		w.b = append(w.b, 0, 0, 0, 0)
	}
	pos := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(pairs)))
	for _, p := range pairs {
		w.b = binary.LittleEndian.AppendUint64(w.b, uint64(p[0]))
		w.b = binary.LittleEndian.AppendUint64(w.b, uint64(p[1]))
	}
	return pos
}

// finish writes a root table and returns the buffer.
func fbFinish(root func(w *fbWriter) int) []byte {
	w := &fbWriter{b: make([]byte, 4, 512)}
	pos := root(w)
	w.patch32(0, pos)
	w.align(8)
	return w.b
}

// --- reader ---

var errFB = errors.New("malformed flatbuffer")

type fbTable struct {
	b   []byte
	pos int
	vt  int
	vtn int // number of slots
}

func fbRoot(b []byte) (fbTable, error) {
	if len(b) < 4 {
		return fbTable{}, errFB
	}
	return fbAt(b, int(binary.LittleEndian.Uint32(b)))
}

func fbAt(b []byte, pos int) (fbTable, error) {
	if pos < 0 || pos+4 > len(b) {
		return fbTable{}, errFB
	}
	vt := pos - int(int32(binary.LittleEndian.Uint32(b[pos:])))
	if vt < 0 || vt+4 > len(b) {
		return fbTable{}, errFB
	}
	vtSize := int(binary.LittleEndian.Uint16(b[vt:]))
	if vtSize < 4 || vtSize%2 != 0 || vt+vtSize > len(b) {
		return fbTable{}, errFB
	}
	return fbTable{b: b, pos: pos, vt: vt, vtn: (vtSize - 4) / 2}, nil
}

// field returns the absolute position of slot i's data with at least size
// bytes, or -1 if the slot is absent.
func (t fbTable) field(i, size int) (int, error) {
	if i >= t.vtn {
		return -1, nil
	}
	o := int(binary.LittleEndian.Uint16(t.b[t.vt+4+2*i:]))
	if o == 0 {
		return -1, nil
	}
	p := t.pos + o
	if p+size > len(t.b) {
		return -1, errFB
	}
	return p, nil
}

func (t fbTable) uint(i, size int, def uint64) (uint64, error) {
	p, err := t.field(i, size)
	if err != nil || p < 0 {
		return def, err
	}
	switch size {
	case 1:
		return uint64(t.b[p]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(t.b[p:])), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(t.b[p:])), nil
	default:
		return binary.LittleEndian.Uint64(t.b[p:]), nil
	}
}

// ref follows the reference in slot i; ok is false if the slot is absent.
func (t fbTable) ref(i int) (pos int, ok bool, err error) {
	p, err := t.field(i, 4)
	if err != nil || p < 0 {
		return 0, false, err
	}
	target := p + int(binary.LittleEndian.Uint32(t.b[p:]))
	if target > len(t.b)-4 || target < 0 {
		return 0, false, errFB
	}
	return target, true, nil
}

func (t fbTable) table(i int) (fbTable, bool, error) {
	p, ok, err := t.ref(i)
	if !ok || err != nil {
		return fbTable{}, ok, err
	}
	st, err := fbAt(t.b, p)
	return st, err == nil, err
}

// vector returns the position of the first element and the length of the
// vector in slot i, checking that n elements of elemSize fit.
func (t fbTable) vector(i, elemSize int) (start, n int, err error) {
	p, ok, err := t.ref(i)
	if !ok || err != nil {
		return 0, 0, err
	}
	n = int(binary.LittleEndian.Uint32(t.b[p:]))
	start = p + 4
	if n < 0 || n > (len(t.b)-start)/elemSize {
		return 0, 0, errFB
	}
	return start, n, nil
}

func (t fbTable) str(i int) (string, error) {
	start, n, err := t.vector(i, 1)
	if err != nil {
		return "", err
	}
	return string(t.b[start : start+n]), nil
}

// tableAt follows the reference stored at absolute position p (a vector
// element).
func (t fbTable) tableAt(p int) (fbTable, error) {
	if p+4 > len(t.b) {
		return fbTable{}, errFB
	}
	return fbAt(t.b, p+int(binary.LittleEndian.Uint32(t.b[p:])))
}

func fbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
