package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// maxHeader bounds the safetensors JSON header (the reference implementation
// uses 100 MB) so a corrupt length never makes us allocate gigabytes.
const maxHeader = 100 << 20

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// ReadSafetensors reads a whole .safetensors file.
func ReadSafetensors(path string) (StateDict, error) {
	return readFile(path, DecodeSafetensors)
}

// readFile opens path and decodes it with decode, naming the file in errors.
func readFile(path string, decode func(io.ReaderAt, int64) (StateDict, error)) (StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sd, err := decode(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, nil
}

// DecodeSafetensors decodes safetensors data of the given total size.
func DecodeSafetensors(r io.ReaderAt, size int64) (StateDict, error) {
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > maxHeader || int64(hlen) > size-8 {
		return nil, fmt.Errorf("safetensors: header length %d does not fit a %d-byte file", hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not JSON: %w", err)
	}
	base := int64(8 + hlen)
	dataLen := size - base
	sd := make(StateDict, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		dt := DType(e.DType)
		if dt.Size() == 0 {
			return nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", name, e.DType)
		}
		n := 1
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && n > math.MaxInt32/d) {
				return nil, fmt.Errorf("safetensors: tensor %q: bad shape %v", name, e.Shape)
			}
			n *= d
		}
		start, end := e.DataOffsets[0], e.DataOffsets[1]
		if start < 0 || end < start || end > dataLen || end-start != int64(n*dt.Size()) {
			return nil, fmt.Errorf("safetensors: tensor %q: data offsets %v do not match shape %v %s in %d data bytes",
				name, e.DataOffsets, e.Shape, dt, dataLen)
		}
		buf := make([]byte, end-start)
		if _, err := r.ReadAt(buf, base+start); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		sd[name] = &Tensor{DType: dt, Shape: append([]int{}, e.Shape...), Data: decodeValues(buf, dt, n)}
	}
	return sd, nil
}

// decodeValues widens n little-endian values of dtype dt to float32.
func decodeValues(buf []byte, dt DType, n int) []float32 {
	out := make([]float32, n)
	switch dt {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = F32FromBF16(binary.LittleEndian.Uint16(buf[2*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F32FromF16(binary.LittleEndian.Uint16(buf[2*i:]))
		}
	}
	return out
}

// encodeValues writes t's values as its dtype, little-endian.
func encodeValues(w io.Writer, t *Tensor) error {
	var b [4]byte
	for _, v := range t.Data {
		switch t.DType {
		case F32:
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			if _, err := w.Write(b[:4]); err != nil {
				return err
			}
		case BF16:
			binary.LittleEndian.PutUint16(b[:], BF16FromF32(v))
			if _, err := w.Write(b[:2]); err != nil {
				return err
			}
		case F16:
			binary.LittleEndian.PutUint16(b[:], F16FromF32(v))
			if _, err := w.Write(b[:2]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unsupported dtype %q", t.DType)
		}
	}
	return nil
}

// WriteSafetensors writes sd atomically, tensors in name order, with the
// {"format": "pt"} metadata that PyTorch's safetensors writer adds.
func WriteSafetensors(path string, sd StateDict) error {
	return WriteFileAtomic(path, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := EncodeSafetensors(w, sd); err != nil {
			return err
		}
		return w.Flush()
	})
}

// EncodeSafetensors writes sd in safetensors format.
func EncodeSafetensors(w io.Writer, sd StateDict) error {
	names := sd.Names()
	hdr := make(map[string]any, len(sd)+1)
	hdr["__metadata__"] = map[string]string{"format": "pt"}
	var off int64
	for _, name := range names {
		t := sd[name]
		n := NumElements(t.Shape)
		if n != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %v holds %d values, have %d", name, t.Shape, n, len(t.Data))
		}
		if t.DType.Size() == 0 {
			return fmt.Errorf("tensor %q: unsupported dtype %q", name, t.DType)
		}
		size := int64(n * t.DType.Size())
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[name] = stEntry{DType: string(t.DType), Shape: shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	// Pad the header with spaces to 8 bytes, as the reference writer does,
	// so the data that follows is aligned.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, name := range names {
		if err := encodeValues(w, sd[name]); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	return nil
}

// sortedKeys is a helper for deterministic iteration in tests and writers.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
