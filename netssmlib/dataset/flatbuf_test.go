package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// The C++ Arrow reader (pyarrow) runs the flatbuffers verifier with
// alignment checks on every message; this test walks our Schema and
// RecordBatch messages and checks the same rules: scalars aligned to their
// size, offsets and vector lengths to 4, struct vectors' elements to 8,
// strings NUL-terminated, vtables even-sized and inside the buffer.

type fbCheck struct {
	t   *testing.T
	buf []byte
}

func (c *fbCheck) fail(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(format, args...)
}

func (c *fbCheck) aligned(pos, n int, what string) {
	c.t.Helper()
	if pos%n != 0 {
		c.fail("%s at %d is not aligned to %d", what, pos, n)
	}
}

// slot sizes per table kind: 'b' 1, 's' 2, 'i' 4, 'l' 8, 'r' reference.
func (c *fbCheck) table(pos int, layout string, what string) fbTable {
	c.t.Helper()
	c.aligned(pos, 4, what+" table")
	t, err := fbAt(c.buf, pos)
	if err != nil {
		c.fail("%s: %v", what, err)
		return t
	}
	c.aligned(t.vt, 2, what+" vtable")
	for i, k := range layout {
		size := map[rune]int{'b': 1, 's': 2, 'i': 4, 'l': 8, 'r': 4}[k]
		p, err := t.field(i, size)
		if err != nil {
			c.fail("%s slot %d: %v", what, i, err)
		}
		if p >= 0 {
			c.aligned(p, size, fmt.Sprintf("%s slot %d", what, i))
		}
	}
	return t
}

func (c *fbCheck) ref(t fbTable, slot int) (int, bool) {
	p, ok, err := t.ref(slot)
	if err != nil {
		c.fail("ref: %v", err)
	}
	if ok {
		c.aligned(p, 4, "referenced object")
	}
	return p, ok
}

func (c *fbCheck) str(t fbTable, slot int, what string) {
	p, ok := c.ref(t, slot)
	if !ok {
		return
	}
	n := int(binary.LittleEndian.Uint32(c.buf[p:]))
	if p+4+n >= len(c.buf) || c.buf[p+4+n] != 0 {
		c.fail("%s: string not NUL-terminated", what)
	}
}

func (c *fbCheck) tables(t fbTable, slot int, fn func(pos int)) {
	p, ok := c.ref(t, slot)
	if !ok {
		return
	}
	n := int(binary.LittleEndian.Uint32(c.buf[p:]))
	for i := 0; i < n; i++ {
		at := p + 4 + 4*i
		fn(at + int(binary.LittleEndian.Uint32(c.buf[at:])))
	}
}

func (c *fbCheck) field(pos int) {
	f := c.table(pos, "rbbrrrr", "Field")
	c.str(f, 0, "Field.name")
	if p, ok := c.ref(f, 3); ok {
		c.table(p, "ib", "Type")
	}
	c.tables(f, 5, c.field)
	c.tables(f, 6, func(p int) {
		kv := c.table(p, "rr", "KeyValue")
		c.str(kv, 0, "key")
		c.str(kv, 1, "value")
	})
}

func TestFlatbufferAlignment(t *testing.T) {
	var stream bytes.Buffer
	sw := newStreamWriter(&stream)
	for _, ex := range examples(30) {
		if err := sw.write(ex); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.close(); err != nil {
		t.Fatal(err)
	}
	data := stream.Bytes()
	kinds := 0
	for off := 0; ; {
		m, err := readMessage(data, off)
		if err != nil {
			break
		}
		size := int(binary.LittleEndian.Uint32(data[off+4:]))
		if (8+size)%8 != 0 || (m.next-off)%8 != 0 {
			t.Errorf("message at %d: metadata %d bytes, message %d bytes: not padded to 8", off, size, m.next-off)
		}
		c := &fbCheck{t: t, buf: data[off+8 : off+8+size]}
		root := c.table(int(binary.LittleEndian.Uint32(c.buf)), "sbrlr", "Message")
		hp, _ := c.ref(root, 2)
		switch m.kind {
		case msgSchema:
			s := c.table(hp, "srrr", "Schema")
			c.tables(s, 1, c.field)
			c.tables(s, 2, func(p int) {
				kv := c.table(p, "rr", "KeyValue")
				c.str(kv, 0, "key")
				c.str(kv, 1, "value")
			})
			kinds |= 1
		case msgRecordBatch:
			rb := c.table(hp, "lrrrr", "RecordBatch")
			for _, slot := range []int{1, 2} {
				if p, ok := c.ref(rb, slot); ok {
					c.aligned(p+4, 8, "struct vector elements")
				}
			}
			// body buffers start at 8-byte offsets
			bs, nb, _ := rb.vector(2, 16)
			for i := 0; i < nb; i++ {
				if o := binary.LittleEndian.Uint64(c.buf[bs+16*i:]); o%8 != 0 {
					t.Errorf("buffer %d at body offset %d", i, o)
				}
			}
			kinds |= 2
		}
		off = m.next
	}
	if kinds != 3 {
		t.Fatalf("did not see both a schema and a record batch (%b)", kinds)
	}
}
