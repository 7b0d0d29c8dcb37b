package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

func TestReadTorchFixtureMatchesSafetensors(t *testing.T) {
	dir := testenv.Shared(t, "fixtures/tiny-mamba2")
	pt, err := ReadTorch(filepath.Join(dir, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pt) != len(st) {
		t.Errorf("pytorch_model.bin has %d tensors, model.safetensors %d", len(pt), len(st))
	}
	for name, want := range st {
		got := pt[name]
		if got == nil {
			t.Errorf("%s missing from pytorch_model.bin", name)
			continue
		}
		if got.DType != want.DType || !equalShape(got.Shape, want.Shape) {
			t.Errorf("%s: %s %v, want %s %v", name, got.DType, got.Shape, want.DType, want.Shape)
			continue
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], want.Data[i])
				break
			}
		}
	}
	// The tied head shares the embedding's storage in the file; we must
	// hand out independent copies.
	emb, head := pt["backbone.embedding.weight"], pt["lm_head.weight"]
	if emb == nil || head == nil {
		t.Fatal("tied tensors missing")
	}
	if &emb.Data[0] == &head.Data[0] {
		t.Error("tied tensors alias one slice")
	}
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTorchRoundTrip(t *testing.T) {
	shared := []float32{1, 2, 3, 4, 5, 6}
	sd := StateDict{
		"backbone.layers.10.w": {DType: F32, Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, 1e-30, float32(math.Inf(-1))}},
		"backbone.layers.2.w":  {DType: BF16, Shape: []int{3}, Data: []float32{1, -0.5, 3}},
		"half":                 {DType: F16, Shape: []int{2}, Data: []float32{0.25, -1024}},
		"scalar":               {DType: F32, Shape: []int{}, Data: []float32{42}},
		"emb":                  {DType: F32, Shape: []int{3, 2}, Data: shared},
		"head":                 {DType: F32, Shape: []int{3, 2}, Data: shared},
		"big.4d":               {DType: F32, Shape: []int{2, 1, 2, 2}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8}},
	}
	path := filepath.Join(t.TempDir(), "pytorch_model.bin")
	if err := WriteTorch(path, sd); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTorch(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sd) {
		t.Fatalf("read %d tensors, wrote %d", len(got), len(sd))
	}
	for name, w := range sd {
		g := got[name]
		if g == nil || g.DType != w.DType || !equalShape(g.Shape, w.Shape) {
			t.Fatalf("%s: got %+v want %+v", name, g, w)
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, g.Data[i], w.Data[i])
			}
		}
	}

	// The zip is what torch writes: stored entries, 64-byte aligned data,
	// the archive name from the file name, and tied tensors sharing one
	// storage.
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("%s is compressed", f.Name)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 {
			t.Errorf("%s data at offset %d, not 64-aligned", f.Name, off)
		}
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"pytorch_model/data.pkl", "pytorch_model/byteorder", "pytorch_model/version",
		"pytorch_model/.data/serialization_id", "pytorch_model/data/0"} {
		if !strings.Contains(joined, want) {
			t.Errorf("zip lacks %s: %s", want, joined)
		}
	}
	if strings.Contains(joined, "pytorch_model/data/6") {
		t.Errorf("tied tensors were written as separate storages: %s", joined)
	}
	if !strings.HasPrefix(joined, "pytorch_model/data.pkl") {
		t.Errorf("data.pkl is not the first record: %s", joined)
	}

	// Writing the same weights twice gives the same bytes.
	path2 := filepath.Join(t.TempDir(), "pytorch_model.bin")
	if err := WriteTorch(path2, sd); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path2)
	if !bytes.Equal(a, b) {
		t.Error("two writes of the same state_dict differ")
	}
}

// pklBuilder assembles hand-written pickles for the view tests.
type pklBuilder struct{ bytes.Buffer }

func (b *pklBuilder) op(x ...byte) *pklBuilder { b.Write(x); return b }
func (b *pklBuilder) str(s string) *pklBuilder {
	b.WriteByte('X')
	binary.Write(b, binary.LittleEndian, uint32(len(s)))
	b.WriteString(s)
	return b
}
func (b *pklBuilder) global(m, n string) *pklBuilder {
	b.WriteString("c" + m + "\n" + n + "\n")
	return b
}

// makeTorchZip writes a zip with one pickle and storages.
func makeTorchZip(t *testing.T, pkl []byte, storages map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pkl)
	add("archive/byteorder", []byte("little"))
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f32bytes(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// TestTorchStridedViews reads a transposed view with a storage offset, and
// a parameter wrapped by _rebuild_parameter, written the way torch does
// (protocol 2, memo puts/gets, a _metadata BUILD on the dict).
func TestTorchStridedViews(t *testing.T) {
	var p pklBuilder
	p.op(0x80, 2).global("collections", "OrderedDict").op('q', 0, ')', 'R', 'q', 1, '(')
	// "t": storage 0 (7 floats) offset 1, size (2,3), stride (1,2): a transpose.
	p.str("t").global("torch._utils", "_rebuild_tensor_v2").op('q', 2, '(', '(')
	p.str("storage").global("torch", "FloatStorage").op('q', 3).str("0").str("cpu").op('K', 7, 't', 'Q')
	p.op('K', 1, 'K', 2, 'K', 3, 0x86, 'K', 1, 'K', 2, 0x86, 0x89).op('h', 0, ')', 'R', 't', 'R')
	// "p": a Parameter around a 1-D tensor of the same storage, offset 5.
	p.str("p").global("torch._utils", "_rebuild_parameter").op('(')
	p.op('h', 2, '(', '(').str("storage").op('h', 3).str("0").str("cpu").op('K', 7, 't', 'Q')
	p.op('K', 5, 'K', 2, 0x85, 'K', 1, 0x85, 0x89).op('h', 0, ')', 'R', 't', 'R')
	p.op(0x88).op('h', 0, ')', 'R', 't', 'R')
	p.op('u')
	// _metadata attribute, as torch writes it.
	p.op('}').str("_metadata").op('h', 0, ')', 'R', 's', 'b', '.')

	data := makeTorchZip(t, p.Bytes(), map[string][]byte{"0": f32bytes(0, 1, 2, 3, 4, 5, 6)})
	sd, err := DecodeTorch(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	// Storage [0..6], offset 1: element (i,j) = 1 + i + 2j.
	want := []float32{1, 3, 5, 2, 4, 6}
	if g := sd["t"]; g == nil || !equalShape(g.Shape, []int{2, 3}) {
		t.Fatalf("t = %+v", g)
	}
	for i, w := range want {
		if sd["t"].Data[i] != w {
			t.Errorf("t = %v, want %v", sd["t"].Data, want)
			break
		}
	}
	if g := sd["p"]; g == nil || len(g.Data) != 2 || g.Data[0] != 5 || g.Data[1] != 6 {
		t.Errorf("p = %+v", g)
	}
}

func TestTorchRejectsBadInput(t *testing.T) {
	sd := StateDict{"w": {DType: F32, Shape: []int{4}, Data: []float32{1, 2, 3, 4}}}
	var buf bytes.Buffer
	if err := EncodeTorch(&buf, sd, "archive"); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()

	// A view reaching past its storage.
	var p pklBuilder
	p.op(0x80, 2, '}', '(').str("w").global("torch._utils", "_rebuild_tensor_v2").op('(', '(')
	p.str("storage").global("torch", "FloatStorage").str("0").str("cpu").op('K', 4, 't', 'Q')
	p.op('K', 2, 'K', 3, 0x85, 'K', 1, 0x85, 0x89, 'N', 't', 'R', 'u', '.')
	past := makeTorchZip(t, p.Bytes(), map[string][]byte{"0": f32bytes(1, 2, 3, 4)})

	// An int64 storage (unsupported dtype) names the tensor.
	var q pklBuilder
	q.op(0x80, 2, '}', '(').str("steps").global("torch._utils", "_rebuild_tensor_v2").op('(', '(')
	q.str("storage").global("torch", "LongStorage").str("0").str("cpu").op('K', 1, 't', 'Q')
	q.op('K', 0, ')', ')', 0x89, 'N', 't', 'R', 'u', '.')
	long := makeTorchZip(t, q.Bytes(), map[string][]byte{"0": make([]byte, 8)})

	cases := map[string]struct {
		data []byte
		want string
	}{
		"not a zip":     {[]byte("hello world"), "not a torch.save zip"},
		"legacy":        {[]byte{0x80, 0x02, 0x8a, 0x0a}, "legacy"},
		"truncated":     {good[:len(good)/2], "zip"},
		"view past end": {past, "reaches past"},
		"long storage":  {long, `"steps"`},
	}
	for name, c := range cases {
		_, err := DecodeTorch(bytes.NewReader(c.data), int64(len(c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}

func TestNaturalLess(t *testing.T) {
	if !naturalLess("layers.2.w", "layers.10.w") || naturalLess("layers.10.w", "layers.2.w") {
		t.Error("numeric runs are not compared as numbers")
	}
	if !naturalLess("a", "b") || !naturalLess("a", "ab") || naturalLess("b", "a") {
		t.Error("plain order broken")
	}
}

// FuzzPickle runs arbitrary pickles through the VM and the torch reader:
// errors are fine, panics and runaway allocations are not.
func FuzzPickle(f *testing.F) {
	sd := StateDict{
		"a": {DType: F32, Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		"b": {DType: BF16, Shape: []int{3}, Data: []float32{1, 2, 3}},
	}
	var buf bytes.Buffer
	if err := EncodeTorch(&buf, sd, "archive"); err != nil {
		f.Fatal(err)
	}
	zr, _ := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "data.pkl") {
			rc, _ := zf.Open()
			var pkl bytes.Buffer
			pkl.ReadFrom(rc)
			f.Add(pkl.Bytes())
		}
	}
	f.Add([]byte{0x80, 2, '}', '.'})
	f.Add([]byte("(lp0\nI1\naI-2\naS'x'\np1\na."))
	storage := f32bytes(1, 2, 3, 4, 5, 6, 7, 8)
	f.Fuzz(func(t *testing.T, pkl []byte) {
		vm := &pickleVM{data: pkl, persistentLoad: func(pid any) (any, error) { return pid, nil }}
		vm.run()
		var zbuf bytes.Buffer
		zw := zip.NewWriter(&zbuf)
		w, _ := zw.Create("archive/data.pkl")
		w.Write(pkl)
		w, _ = zw.Create("archive/data/0")
		w.Write(storage)
		w, _ = zw.Create("archive/data/1")
		w.Write(storage)
		zw.Close()
		DecodeTorch(bytes.NewReader(zbuf.Bytes()), int64(zbuf.Len()))
	})
}

func TestPickleDictKeepsOrderAndReplaces(t *testing.T) {
	// {"b": 1, "a": 2, "b": 3} -> keys b, a with b = 3.
	var p pklBuilder
	p.op(0x80, 2, '}', '(').str("b").op('K', 1).str("a").op('K', 2).str("b").op('K', 3, 'u', '.')
	v, err := (&pickleVM{data: p.Bytes()}).run()
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*pyDict)
	if len(d.keys) != 2 || d.keys[0] != "b" || d.vals[0] != int64(3) || d.keys[1] != "a" {
		t.Errorf("dict keys %v vals %v", d.keys, d.vals)
	}
}

func TestTorchRebuildFromType(t *testing.T) {
	// {"w": _rebuild_from_type_v2(_rebuild_tensor_v2, MyTensor, (storage, 1, (2,), (1,), False, None), {})}
	var p pklBuilder
	p.op(0x80, 2, '}', '(').str("w").global("torch._tensor", "_rebuild_from_type_v2").op('(')
	p.global("torch._utils", "_rebuild_tensor_v2").global("mylib", "MyTensor").op('(', '(')
	p.str("storage").global("torch", "FloatStorage").str("0").str("cpu").op('K', 4, 't', 'Q')
	p.op('K', 1, 'K', 2, 0x85, 'K', 1, 0x85, 0x89, 'N', 't', '}', 't', 'R', 'u', '.')
	data := makeTorchZip(t, p.Bytes(), map[string][]byte{"0": f32bytes(1, 2, 3, 4)})
	sd, err := DecodeTorch(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if w := sd["w"]; w == nil || len(w.Data) != 2 || w.Data[0] != 2 || w.Data[1] != 3 {
		t.Errorf("w = %+v", sd["w"])
	}
}
