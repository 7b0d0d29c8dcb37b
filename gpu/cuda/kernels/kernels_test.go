package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
)

// sourceHash is what gen.sh computes: sha256 of the .cu and .cuh files
// concatenated in C-locale name order.
func sourceHash(t *testing.T) string {
	names, err := fs.Glob(sources, "*.cu*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(sources, n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestPTXUpToDate fails when a kernel source changed without `go generate
// ./gpu/cuda/kernels`, or a .cu file has no PTX.
func TestPTXUpToDate(t *testing.T) {
	want := sourceHash(t)
	cus, _ := fs.Glob(sources, "*.cu")
	mods := Modules()
	if len(mods) != len(cus) {
		t.Fatalf("%d .cu files but %d .ptx files: run go generate ./gpu/cuda/kernels", len(cus), len(mods))
	}
	for _, m := range mods {
		first, _, _ := strings.Cut(m.PTX, "\n")
		got, ok := strings.CutPrefix(first, StampPrefix)
		if !ok {
			t.Errorf("%s.ptx: no source stamp on its first line", m.Name)
			continue
		}
		if got != want {
			t.Errorf("%s.ptx was generated from other sources (stamp %s, sources %s): run go generate ./gpu/cuda/kernels", m.Name, got, want)
		}
		if !strings.Contains(m.PTX, ".target sm_80") {
			t.Errorf("%s.ptx: not compiled for compute_80", m.Name)
		}
	}
}

// TestEmulatorStamp checks the stamp the CPU emulator of gpu/cuda includes
// so that Go's build cache recompiles it when the kernels change.
func TestEmulatorStamp(t *testing.T) {
	b, err := os.ReadFile("../emu_stamp.h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), StampPrefix+sourceHash(t)+"\n") {
		t.Errorf("../emu_stamp.h is stale: run go generate ./gpu/cuda/kernels")
	}
}

// TestKernelsPresent checks that every kernel the backend launches is in
// the PTX (an .entry directive), so a renamed kernel fails here, not on a GPU.
func TestKernelsPresent(t *testing.T) {
	var all strings.Builder
	for _, m := range Modules() {
		all.WriteString(m.PTX)
	}
	for _, k := range Names {
		if !strings.Contains(all.String(), ".entry "+k+"(") {
			t.Errorf("kernel %s not in the PTX", k)
		}
	}
}
