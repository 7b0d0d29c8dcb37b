package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The torch.save zip format (PyTorch >= 1.6, "_use_new_zipfile_serialization"):
//
//	<archive>/data.pkl                 pickle of the object, protocol 2
//	<archive>/.format_version          "1"   (torch >= 2.5)
//	<archive>/.storage_alignment       "64"  (torch >= 2.5)
//	<archive>/byteorder                "little"
//	<archive>/data/<key>               raw bytes of each storage
//	<archive>/version                  "3"
//	<archive>/.data/serialization_id   40 decimal digits
//
// Entries are stored uncompressed; each entry's data starts on a 64-byte
// boundary (padding goes into a "FB" extra field), which lets torch.load
// mmap storages. Tensors in data.pkl are calls of
// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks) whose storage is a persistent id
// ('storage', torch.FloatStorage, key, location, numel).

// torchAlignment is the storage alignment torch.save uses.
const torchAlignment = 64

// maxPickleSize bounds data.pkl: a state_dict's pickle is a few hundred
// bytes per tensor.
const maxPickleSize = 256 << 20

// storageRef is a persistent id from data.pkl.
type storageRef struct {
	class string // e.g. FloatStorage
	dtype DType  // "" if we do not support the class
	key   string
	numel int64
}

// torchTensor is a rebuilt tensor (or the reason it cannot be).
type torchTensor struct {
	t   *Tensor
	err error
}

// storageDType maps torch's legacy storage class names to dtypes. Double
// storages are narrowed to float32 (F32).
func storageDType(class string) (dt DType, width int) {
	switch class {
	case "FloatStorage":
		return F32, 4
	case "BFloat16Storage":
		return BF16, 2
	case "HalfStorage":
		return F16, 2
	case "DoubleStorage":
		return F32, 8
	}
	return "", 0
}

// ReadTorch reads a pytorch_model.bin (or any torch.save'd state_dict).
func ReadTorch(path string) (StateDict, error) {
	return readFile(path, DecodeTorch)
}

// DecodeTorch decodes a torch.save zip holding a state_dict: a dict of
// tensor names to float32, bfloat16, float16 (or float64, narrowed)
// tensors. Strided and offset views are gathered; tensors sharing a storage
// (tied weights) get separate copies.
func DecodeTorch(r io.ReaderAt, size int64) (StateDict, error) {
	var magic [2]byte
	if _, err := r.ReadAt(magic[:], 0); err == nil && magic[0] == 0x80 {
		return nil, errors.New("torch: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a PyTorch >= 1.6")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("torch: not a torch.save zip: %w", err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	prefix := ""
	found := false
	for _, f := range zr.File {
		files[f.Name] = f
		if dir, base := path.Split(f.Name); base == "data.pkl" && strings.Count(dir, "/") <= 1 && !found {
			prefix, found = dir, true
		}
	}
	if !found {
		return nil, errors.New("torch: no data.pkl in the zip")
	}
	readEntry := func(name string, limit int64) ([]byte, error) {
		f := files[prefix+name]
		if f == nil {
			return nil, fmt.Errorf("torch: missing entry %s%s", prefix, name)
		}
		if int64(f.UncompressedSize64) > limit {
			return nil, fmt.Errorf("torch: entry %s is %d bytes, more than %d", f.Name, f.UncompressedSize64, limit)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("torch: entry %s: %w", f.Name, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, fmt.Errorf("torch: entry %s: %w", f.Name, err)
		}
		return b, nil
	}
	bigEndian := false
	if files[prefix+"byteorder"] != nil {
		b, err := readEntry("byteorder", 16)
		if err != nil {
			return nil, err
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, fmt.Errorf("torch: unknown byteorder %q", b)
		}
	}
	pkl, err := readEntry("data.pkl", maxPickleSize)
	if err != nil {
		return nil, err
	}

	storages := map[string][]float32{}
	loadStorage := func(s *storageRef) ([]float32, error) {
		if d, ok := storages[s.key]; ok {
			if int64(len(d)) != s.numel {
				return nil, fmt.Errorf("storage %s is used with %d and %d elements", s.key, len(d), s.numel)
			}
			return d, nil
		}
		_, width := storageDType(s.class)
		f := files[prefix+"data/"+s.key]
		if f == nil {
			return nil, fmt.Errorf("storage %s: missing entry %sdata/%s", s.key, prefix, s.key)
		}
		want := s.numel * int64(width)
		if int64(f.UncompressedSize64) < want {
			return nil, fmt.Errorf("storage %s: %d bytes, need %d for %d elements", s.key, f.UncompressedSize64, want, s.numel)
		}
		b, err := readEntry("data/"+s.key, want)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) < want {
			return nil, fmt.Errorf("storage %s: short read", s.key)
		}
		d := decodeStorage(b[:want], s.class, bigEndian)
		storages[s.key] = d
		return d, nil
	}

	vm := &pickleVM{data: pkl}
	vm.persistentLoad = func(pid any) (any, error) {
		t, ok := pid.(pyTuple)
		if !ok || len(t) < 5 {
			return nil, fmt.Errorf("torch: persistent id %v is not a ('storage', type, key, location, numel) tuple", pid)
		}
		if s, _ := t[0].(string); s != "storage" {
			return nil, fmt.Errorf("torch: persistent id kind %v, want 'storage'", t[0])
		}
		var class string
		switch c := t[1].(type) {
		case pyGlobal:
			class = c.name
		case string: // some writers store the dtype name
			class = c
		default:
			return nil, fmt.Errorf("torch: storage type %v", t[1])
		}
		key := fmt.Sprint(t[2])
		if !validStorageKey(key) {
			return nil, fmt.Errorf("torch: bad storage key %q", key)
		}
		numel, ok := t[4].(int64)
		if !ok || numel < 0 || numel > math.MaxInt32*4 {
			return nil, fmt.Errorf("torch: storage %s: bad element count %v", key, t[4])
		}
		dt, _ := storageDType(class)
		return &storageRef{class: class, dtype: dt, key: key, numel: numel}, nil
	}
	vm.reduce = func(fn pyGlobal, args pyTuple) (any, bool, error) {
		switch fn.String() {
		case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
			return &pyDict{}, true, nil
		case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
			t, err := rebuildTensor(args, loadStorage)
			return &torchTensor{t: t, err: err}, true, nil
		case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
			if len(args) > 0 {
				if t, ok := args[0].(*torchTensor); ok {
					return t, true, nil
				}
			}
			return nil, false, errors.New("torch: _rebuild_parameter of a non-tensor")
		case "torch._tensor._rebuild_from_type_v2":
			// (func, new_type, args, state): a tensor subclass; rebuild the
			// plain tensor func(*args) describes.
			if len(args) >= 3 {
				fn, ok1 := args[0].(pyGlobal)
				inner, ok2 := args[2].(pyTuple)
				if ok1 && ok2 && vm.reduce != nil {
					return vm.reduce(fn, inner)
				}
			}
			return nil, false, errors.New("torch: malformed _rebuild_from_type_v2")
		case "torch.storage._load_from_bytes":
			return nil, false, errors.New("torch: legacy storage pickles (torch.storage._load_from_bytes) are not supported")
		}
		return nil, false, nil
	}
	top, err := vm.run()
	if err != nil {
		return nil, fmt.Errorf("torch: data.pkl: %w", err)
	}
	d, ok := top.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("torch: data.pkl holds a %s, not a state_dict", pyTypeName(top))
	}
	sd := make(StateDict, len(d.keys))
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("torch: state_dict key %v is not a string", k)
		}
		tt, ok := d.vals[i].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("torch: state_dict entry %q is a %s, not a tensor", name, pyTypeName(d.vals[i]))
		}
		if tt.err != nil {
			return nil, fmt.Errorf("torch: tensor %q: %w", name, tt.err)
		}
		sd[name] = tt.t
	}
	return sd, nil
}

func validStorageKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case *pyDict:
		return "dict"
	case *pyList:
		return "list"
	case pyTuple:
		return "tuple"
	case *pyObject:
		if g, ok := x.callable.(pyGlobal); ok {
			return g.String() + " object"
		}
		return "object"
	case *storageRef:
		return "storage"
	case *torchTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// rebuildTensor gathers (storage, offset, size, stride, ...) into a tensor.
func rebuildTensor(args pyTuple, load func(*storageRef) ([]float32, error)) (*Tensor, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor with %d arguments", len(args))
	}
	s, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("tensor storage is a %s", pyTypeName(args[0]))
	}
	if s.dtype == "" {
		return nil, fmt.Errorf("unsupported storage type torch.%s (only float32, bfloat16, float16, float64)", s.class)
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("bad storage offset %v", args[1])
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("stride: %w", err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in rank", size, stride)
	}
	n := int64(1)
	maxIdx := off
	for i, d := range size {
		if d < 0 || stride[i] < 0 {
			return nil, fmt.Errorf("bad size %v / stride %v", size, stride)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > math.MaxInt32/d {
			return nil, fmt.Errorf("size %v is too large", size)
		}
		n *= d
		maxIdx += (d - 1) * stride[i]
	}
	shape := make([]int, len(size))
	for i, d := range size {
		shape[i] = int(d)
	}
	t := &Tensor{DType: s.dtype, Shape: shape, Data: make([]float32, n)}
	if n == 0 {
		return t, nil
	}
	if maxIdx >= s.numel {
		return nil, fmt.Errorf("view (offset %d, size %v, stride %v) reaches past its %d-element storage", off, size, stride, s.numel)
	}
	data, err := load(s)
	if err != nil {
		return nil, err
	}
	// Walk the view in row-major order.
	idx := make([]int64, len(size))
	pos := off
	for i := range t.Data {
		t.Data[i] = data[pos]
		for d := len(size) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < size[d] {
				break
			}
			pos -= idx[d] * stride[d]
			idx[d] = 0
		}
	}
	return t, nil
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s is not a tuple", pyTypeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, not an int", i, pyTypeName(x))
		}
		out[i] = n
	}
	return out, nil
}

func decodeStorage(b []byte, class string, bigEndian bool) []float32 {
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	switch class {
	case "FloatStorage":
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(bo.Uint32(b[4*i:]))
		}
		return out
	case "DoubleStorage":
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(bo.Uint64(b[8*i:])))
		}
		return out
	case "BFloat16Storage":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = F32FromBF16(bo.Uint16(b[2*i:]))
		}
		return out
	case "HalfStorage":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = F32FromF16(bo.Uint16(b[2*i:]))
		}
		return out
	}
	return nil
}

// WriteTorch writes sd atomically as torch.save(state_dict) does, under the
// archive name torch uses for path (its base name without extension, e.g.
// "pytorch_model"). Tensors whose Data is the same slice share a storage,
// as tied weights do in PyTorch.
func WriteTorch(path string, sd StateDict) error {
	name := strings.TrimSuffix(pathBase(path), pathExt(path))
	if name == "" {
		name = "archive"
	}
	return WriteFileAtomic(path, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := EncodeTorch(w, sd, name); err != nil {
			return err
		}
		return w.Flush()
	})
}

func pathBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func pathExt(p string) string {
	b := pathBase(p)
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		return b[i:]
	}
	return ""
}

// torchStorageClass is the inverse of storageDType.
func torchStorageClass(dt DType) (string, error) {
	switch dt {
	case F32:
		return "FloatStorage", nil
	case BF16:
		return "BFloat16Storage", nil
	case F16:
		return "HalfStorage", nil
	}
	return "", fmt.Errorf("unsupported dtype %q", dt)
}

// EncodeTorch writes sd as a torch.save zip whose records live under
// archive/. Tensors are written in natural name order (layers.2 before
// layers.10), which is the state_dict order of mamba-ssm models.
func EncodeTorch(w io.Writer, sd StateDict, archive string) error {
	names := sd.Names()
	sort.SliceStable(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })

	type storage struct {
		t   *Tensor
		key string
	}
	var storages []storage
	byData := map[*float32]int{}
	keyOf := make([]string, len(names))
	for i, name := range names {
		t := sd[name]
		if t == nil {
			return fmt.Errorf("tensor %q is nil", name)
		}
		if NumElements(t.Shape) != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %v holds %d values, have %d", name, t.Shape, NumElements(t.Shape), len(t.Data))
		}
		if _, err := torchStorageClass(t.DType); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		if len(t.Data) > 0 {
			if j, ok := byData[&t.Data[0]]; ok && len(storages[j].t.Data) == len(t.Data) && storages[j].t.DType == t.DType {
				keyOf[i] = storages[j].key
				continue
			}
			byData[&t.Data[0]] = len(storages)
		}
		key := strconv.Itoa(len(storages))
		storages = append(storages, storage{t: t, key: key})
		keyOf[i] = key
	}

	var pk pickleWriter
	pk.header()
	for i, name := range names {
		t := sd[name]
		class, _ := torchStorageClass(t.DType)
		pk.tensorEntry(name, class, keyOf[i], t.Shape)
	}
	pk.footer()

	zw := &torchZipWriter{zw: zip.NewWriter(w)}
	hash := sha256.New()
	hash.Write(pk.buf.Bytes())
	zw.add(archive+"/data.pkl", pk.buf.Bytes())
	zw.add(archive+"/.format_version", []byte("1"))
	zw.add(archive+"/.storage_alignment", []byte(strconv.Itoa(torchAlignment)))
	zw.add(archive+"/byteorder", []byte("little"))
	var buf bytes.Buffer
	for _, s := range storages {
		buf.Reset()
		if err := encodeValues(&buf, s.t); err != nil {
			return err
		}
		hash.Write(buf.Bytes())
		zw.add(archive+"/data/"+s.key, buf.Bytes())
	}
	zw.add(archive+"/version", []byte("3"))
	// torch writes 40 random decimal digits; ours derive from the content,
	// so that writing the same weights twice gives the same file.
	id := new(big.Int).SetBytes(hash.Sum(nil))
	id.Mod(id, new(big.Int).Exp(big.NewInt(10), big.NewInt(40), nil))
	zw.add(archive+"/.data/serialization_id", fmt.Appendf(nil, "%040s", id.String()))
	if zw.err != nil {
		return zw.err
	}
	return zw.zw.Close()
}

// naturalLess orders strings with digit runs compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		ca, cb := a[0], b[0]
		if isDigit(ca) && isDigit(cb) {
			i, j := 0, 0
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[i:], b[j:]
			continue
		}
		if ca != cb {
			return ca < cb
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// torchZipWriter stores entries uncompressed with each entry's data aligned
// to torchAlignment, as PyTorch's PyTorchStreamWriter does.
type torchZipWriter struct {
	zw     *zip.Writer
	offset int64
	err    error
}

func (z *torchZipWriter) add(name string, data []byte) {
	if z.err != nil {
		return
	}
	// Local header: 30 fixed bytes + name + extra; the extra field is
	// "FB" + uint16 length + padding 'Z's (4 bytes at least, like torch).
	start := z.offset + 30 + int64(len(name)) + 4
	pad := (torchAlignment - start%torchAlignment) % torchAlignment
	extra := make([]byte, 4+pad)
	extra[0], extra[1] = 'F', 'B'
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	}
	fw, err := z.zw.CreateRaw(fh)
	if err != nil {
		z.err = err
		return
	}
	if _, err := fw.Write(data); err != nil {
		z.err = err
		return
	}
	z.offset += 30 + int64(len(name)) + int64(len(extra)) + int64(len(data))
}

// pickleWriter emits the protocol-2 pickle of a state_dict exactly in the
// shape torch.save produces (minus the _metadata attribute, which
// load_state_dict does not need).
type pickleWriter struct {
	buf     bytes.Buffer
	memo    int
	globals map[string]int
}

func (p *pickleWriter) op(b ...byte) { p.buf.Write(b) }

func (p *pickleWriter) put() {
	if p.memo < 256 {
		p.op('q', byte(p.memo))
	} else {
		p.op('r')
		binary.Write(&p.buf, binary.LittleEndian, uint32(p.memo))
	}
	p.memo++
}

func (p *pickleWriter) global(module, name string) {
	k := module + "\n" + name
	if i, ok := p.globals[k]; ok {
		if i < 256 {
			p.op('h', byte(i))
		} else {
			p.op('j')
			binary.Write(&p.buf, binary.LittleEndian, uint32(i))
		}
		return
	}
	p.op('c')
	p.buf.WriteString(k + "\n")
	p.globals[k] = p.memo
	p.put()
}

func (p *pickleWriter) str(s string) {
	p.op('X')
	binary.Write(&p.buf, binary.LittleEndian, uint32(len(s)))
	p.buf.WriteString(s)
	p.put()
}

func (p *pickleWriter) int(v int64) {
	switch {
	case v >= 0 && v < 256:
		p.op('K', byte(v))
	case v >= 0 && v < 65536:
		p.op('M')
		binary.Write(&p.buf, binary.LittleEndian, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.op('J')
		binary.Write(&p.buf, binary.LittleEndian, int32(v))
	default:
		p.op(0x8a, 8)
		binary.Write(&p.buf, binary.LittleEndian, v)
	}
}

func (p *pickleWriter) tuple(vals []int64) {
	switch len(vals) {
	case 0:
		p.op(')')
		return
	case 1, 2, 3:
		for _, v := range vals {
			p.int(v)
		}
		p.op(0x84 + byte(len(vals)))
	default:
		p.op('(')
		for _, v := range vals {
			p.int(v)
		}
		p.op('t')
	}
	p.put()
}

func (p *pickleWriter) header() {
	p.globals = map[string]int{}
	p.op(0x80, 2)
	p.global("collections", "OrderedDict")
	p.op(')', 'R')
	p.put()
	p.op('(')
}

func (p *pickleWriter) tensorEntry(name, class, key string, shape []int) {
	p.str(name)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(', '(')
	p.str("storage")
	p.global("torch", class)
	p.str(key)
	p.str("cpu")
	p.int(int64(NumElements(shape)))
	p.op('t')
	p.put()
	p.op('Q')
	p.int(0)
	size := make([]int64, len(shape))
	stride := make([]int64, len(shape))
	acc := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		size[i] = int64(shape[i])
		stride[i] = acc
		acc *= int64(shape[i])
	}
	p.tuple(size)
	p.tuple(stride)
	p.op(0x89) // requires_grad False
	p.global("collections", "OrderedDict")
	p.op(')', 'R')
	p.put()
	p.op('t')
	p.put()
	p.op('R')
	p.put()
}

func (p *pickleWriter) footer() {
	p.op('u', '.')
}
