//go:build cudaemu && !cuda

package cuda

import (
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
)

// TestEmuCatchesGemmFaults launches the tensor-core GEMM with arguments the
// host code never passes, to check that the emulator reports what would
// fault or misbehave on a GPU instead of computing something.
func TestEmuCatchesGemmFaults(t *testing.T) {
	be := OpenEmulator()
	const M, N, K = 16, 16, 32
	ab, _ := be.Alloc(gpu.BF16, M*(K+4)+8) // room for every lda tried below
	bb, _ := be.Alloc(gpu.BF16, N*K)
	cb, _ := be.Alloc(gpu.F32, M*N)
	ptr := func(g gpu.Buffer) uint64 { p, _ := be.vec(g); return p }
	launch := func(smem int, a uint64, lda int) error {
		return be.do(func() error {
			return be.launch("k_gemm_tc_nt", 1, 1, 1, 256, smem, intArg(M), intArg(N), intArg(K), f32Arg(1), f32Arg(0),
				a, i64Arg(lda), ptr(bb), i64Arg(K), ptr(cb), i64Arg(N), intArg(int(gpu.F32)), intArg(K), 0)
		})
	}
	if err := launch(tcSmem, ptr(ab), K); err != nil {
		t.Fatalf("valid launch: %v", err)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"A rows not 16-byte aligned", launch(tcSmem, ptr(ab), K+4), "not 16-byte aligned"},
		{"A pointer not 16-byte aligned", launch(tcSmem, ptr(ab)+2, K), "not 16-byte aligned"},
		{"too little shared memory", launch(tcSmem/4, ptr(ab), K), "outside the block's"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, c.err, c.want)
		}
	}
}

// TestEmuLdmatrix checks the emulator's ldmatrix .x1, .x2 and .x4, plain
// and .trans, against the PTX ISA's fragment layout: for 8x8 matrix j, lane
// l gets the elements (row l/4, columns 2*(l%4), 2*(l%4)+1), or with .trans
// (rows 2*(l%4), 2*(l%4)+1, column l/4), the first in the low half.
func TestEmuLdmatrix(t *testing.T) {
	be := OpenEmulator()
	src, _ := be.Alloc(gpu.BF16, 256)
	out, _ := be.Alloc(gpu.I32, 6*32*4)
	vals := make([]float32, 256)
	for i := range vals {
		vals[i] = float32(i) // exact in bf16
	}
	if err := be.Write(src, 0, vals); err != nil {
		t.Fatal(err)
	}
	err := be.do(func() error {
		return be.launch("k_emu_test_ldmatrix", 1, 1, 1, 32, 512, be.ptr(src), be.ptr(out))
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int32, 6*32*4)
	if err := be.ReadInt32(got, out, 0); err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 6; v++ {
		trans := v%2 == 1
		for lane := 0; lane < 32; lane++ {
			for q := 0; q < 4; q++ {
				var want uint32
				for h := 0; h < 2; h++ {
					r, c := lane/4, 2*(lane%4)+h
					if trans {
						r, c = c, r
					}
					want |= uint32(gpu.BF16Bits(vals[((q&1)*8+r)*16+(q>>1)*8+c])) << (16 * h)
				}
				if g := uint32(got[(v*32+lane)*4+q]); g != want {
					t.Errorf("ldmatrix.x%d trans=%v lane %d register %d: %#08x, want %#08x", 1<<(v/2), trans, lane, q, g, want)
				}
			}
		}
	}
}
