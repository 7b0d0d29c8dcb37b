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
	ab, _ := be.Alloc(gpu.BF16, M*K+8)
	bb, _ := be.Alloc(gpu.BF16, N*K)
	cb, _ := be.Alloc(gpu.F32, M*N)
	ptr := func(g gpu.Buffer) uint64 { p, _ := be.vec(g); return p }
	launch := func(smem int, a uint64, lda int) error {
		return be.do(func() error {
			return be.launch("k_gemm_tc_nt", 1, 1, 1, tcThreads, smem, intArg(M), intArg(N), intArg(K), f32Arg(1), f32Arg(0),
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
