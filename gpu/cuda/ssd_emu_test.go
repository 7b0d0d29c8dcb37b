//go:build cudaemu && !cuda

package cuda_test

import (
	"context"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
)

// TestSSDTiles runs the chunked scan forward and backward with bf16
// operands at NetSSM's tile shapes (HeadDim 64, State 128: one p-strip and
// two n-strips; two 64-step tiles per chunk) on the emulator and checks
// what correctness tests cannot see: every operand tile is read by ldmatrix
// without shared-memory bank conflicts (the swizzled layouts of ssd.cu).
// Values are checked against the CPU by gputest.TestSSD.
func TestSSDTiles(t *testing.T) {
	be := cuda.OpenEmulator()
	ctx := context.Background()
	const T, H, P, N, L = 256, 2, 64, 128, 128
	al := func(dt gpu.DType, n int, v float32) gpu.Buffer {
		buf, err := be.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { be.Free(buf) })
		if err := be.Fill(ctx, buf, v); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	conv := H*P + 2*N
	xbc, dxbc := al(gpu.BF16, T*conv, 0.05), al(gpu.BF16, T*conv, 0)
	a := &gpu.SSDArgs{Batch: 1, Seq: T, Heads: H, HeadDim: P, Groups: 1, State: N, ChunkSize: L,
		X: gpu.Cols(xbc, conv, 0), B: gpu.Cols(xbc, conv, H*P), C: gpu.Cols(xbc, conv, H*P+N),
		DT: gpu.Dense(al(gpu.BF16, T*H, 0.1), H), DTBias: al(gpu.F32, H, -3), ALog: al(gpu.F32, H, 1), D: al(gpu.F32, H, 1),
		Y: gpu.Dense(al(gpu.BF16, T*H*P, 0), H*P), FinalState: al(gpu.F32, H*P*N, 0), DY: gpu.Dense(al(gpu.BF16, T*H*P, 0.01), H*P),
		DX: gpu.Cols(dxbc, conv, 0), DB: gpu.Cols(dxbc, conv, H*P), DC: gpu.Cols(dxbc, conv, H*P+N),
		DDT: gpu.Dense(al(gpu.BF16, T*H, 0), H), DDTBias: al(gpu.F32, H, 0), DALog: al(gpu.F32, H, 0), DD: al(gpu.F32, H, 0)}
	conflicts := cuda.EmuLdmatrixConflicts()
	if err := be.SSD(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := be.SSDBackward(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := be.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if d := cuda.EmuLdmatrixConflicts() - conflicts; d != 0 {
		t.Errorf("%d ldmatrix bank conflicts in the SSD tile kernels", d)
	}
	if cuda.EmuLaunches("k_ssd_bwd") == 0 {
		t.Error("k_ssd_bwd never ran")
	}
}
