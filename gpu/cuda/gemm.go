//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// Tile and launch constants of the tensor-core GEMM (TC_* in gemm.cu).
const (
	tcBM, tcBN, tcBK = 128, 128, 32
	tcSmem           = 3 * 2 * tcBM * tcBK * 2 // TC_SMEM: 3 stages of A and B tiles, 48 KiB
	tcBlocksPerSM    = 2                       // __launch_bounds__(threads, 2)
	tcMaxSplits      = 16
	tcMinSplitK      = 8 * tcBK // a K split gets at least 8 K tiles
	// K below tcSplitFromK never splits. The splits' partial sums live in
	// the backend's scratch arena, which may be reallocated (with a device
	// sync) when it grows: that must not happen inside a CUDA graph
	// capture, nor may a captured graph keep a pointer into an arena that
	// later grows. Decode steps, the captured ones, have K <= 3352; the
	// weight gradients, which need the splits, have K = tokens.
	tcSplitFromK = 4096
)

// gemmPlan is how Gemm runs one call.
type gemmPlan struct {
	kernel  string // k_gemm_tc_*, k_gemm_tc4_*, k_gemm_bf16, k_gemm_f32 or k_gemv_tb
	threads int    // block size (tensor-core path)
	tiles   int    // output tiles (tensor-core path)
	splits  int    // K splits (tensor-core path; 1 = none)
	kchunk  int    // K per split, a multiple of tcBK
}

// tcAligned reports whether every row of a bf16 view starts 16-byte
// aligned, as cp.async's 16-byte copies need.
func tcAligned(b *Backend, m gpu.Mat) bool {
	p, _, _ := b.mat(m)
	return p%16 == 0 && m.Stride%8 == 0
}

// planGemm picks the kernel: the GEMV for a few rows times a weight stored
// [N, K] (decode), the tensor-core kernel for bf16 operands whose rows are
// 16-byte aligned, the plain bf16 tensor-core kernel for other bf16
// operands, the SIMT kernel for f32.
func (b *Backend) planGemm(a *gpu.GemmArgs) (gemmPlan, error) {
	prefix, threads := "k_gemm_tc_", 256
	switch b.GemmWarps {
	case 0, 8:
	case 4:
		prefix, threads = "k_gemm_tc4_", 128
	default:
		return gemmPlan{}, fmt.Errorf("cuda: gemm: Backend.GemmWarps is %d, want 4 or 8 (or 0 for the default)", b.GemmWarps)
	}
	if a.M <= gemvMaxM && !a.TransA && a.TransB {
		return gemmPlan{kernel: "k_gemv_tb"}, nil
	}
	if a.A.Buf.DType() != gpu.BF16 {
		return gemmPlan{kernel: "k_gemm_f32"}, nil
	}
	if !tcAligned(b, a.A) || !tcAligned(b, a.B) {
		return gemmPlan{kernel: "k_gemm_bf16"}, nil
	}
	name := prefix + layout(a.TransA) + layout(a.TransB)
	tiles := ((a.M + tcBM - 1) / tcBM) * ((a.N + tcBN - 1) / tcBN)
	splits := splitK(tiles, a.K, b.sms*tcBlocksPerSM)
	ktiles := (a.K + tcBK - 1) / tcBK
	kchunk := (ktiles + splits - 1) / splits * tcBK
	splits = (a.K + kchunk - 1) / kchunk
	return gemmPlan{kernel: name, threads: threads, tiles: tiles, splits: splits, kchunk: kchunk}, nil
}

// layout is an operand's letter in the kernel names: n as stored, t transposed.
func layout(trans bool) string {
	if trans {
		return "t"
	}
	return "n"
}

// splitK chooses how many K splits to run when the output tiles are too few
// to fill the device (slots = resident blocks: SMs x blocks per SM) and K
// is at least tcSplitFromK: the count minimising waves per unit of work,
// ceil(tiles*s/slots)/s, over s up to 2*slots/tiles (bounding the fp32
// partials written and re-read) with at least tcMinSplitK of K each; ties
// go to fewer splits.
func splitK(tiles, K, slots int) int {
	if tiles >= slots || K < tcSplitFromK {
		return 1
	}
	maxS := min(tcMaxSplits, max(1, K/tcMinSplitK), max(1, (2*slots+tiles-1)/tiles))
	best, bestNum, bestDen := 1, (tiles+slots-1)/slots, 1
	for s := 2; s <= maxS; s++ {
		num := (tiles*s + slots - 1) / slots
		if num*bestDen < bestNum*s { // num/s < bestNum/bestDen
			best, bestNum, bestDen = s, num, s
		}
	}
	return best
}

// Gemm implements gpu.Ops: bf16 inputs on tensor cores (the pipelined
// k_gemm_tc_* or k_gemm_tc4_* kernels, per GemmWarps, when the rows of A and B are 16-byte aligned, which the
// model's activations and weights are; k_gemm_bf16 otherwise), f32 on the
// SIMT kernel, and the GEMV for decode.
func (b *Backend) Gemm(ctx context.Context, a *gpu.GemmArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.A.Buf, a.B.Buf, a.C.Buf)); err != nil {
		return err
	}
	pl, err := b.planGemm(a)
	if err != nil {
		return err
	}
	return b.do(func() error {
		ap, as, adt := b.mat(a.A)
		bp, bs, bdt := b.mat(a.B)
		cp, cs, cdt := b.mat(a.C)
		switch pl.kernel {
		case "k_gemv_tb":
			return b.launch("k_gemv_tb", (a.N+7)/8, 1, 1, 256, 0, intArg(a.M), intArg(a.N), intArg(a.K),
				f32Arg(a.Alpha), f32Arg(a.Beta), ap, as, adt, bp, bs, bdt, cp, cs, cdt)
		case "k_gemm_bf16", "k_gemm_f32":
			args := []uint64{boolArg(a.TransA), boolArg(a.TransB), intArg(a.M), intArg(a.N), intArg(a.K),
				f32Arg(a.Alpha), f32Arg(a.Beta), ap, as, bp, bs, cp, cs, cdt}
			gx, gy := (a.N+63)/64, (a.M+63)/64
			if gy > 65535 {
				return notImpl("gemm", fmt.Sprintf("M %d > %d on the %s kernel", a.M, 65535*64, pl.kernel))
			}
			threads := 256
			if pl.kernel == "k_gemm_bf16" {
				threads = 128
			}
			return b.launch(pl.kernel, gx, gy, 1, threads, 0, args...)
		}
		var ws dptr
		if pl.splits > 1 {
			var err error
			if ws, err = b.scratch(int64(pl.splits) * int64(a.M) * int64(a.N) * 4); err != nil {
				return err
			}
		}
		if err := b.launch(pl.kernel, pl.tiles, 1, pl.splits, pl.threads, tcSmem, intArg(a.M), intArg(a.N), intArg(a.K),
			f32Arg(a.Alpha), f32Arg(a.Beta), ap, as, bp, bs, cp, cs, cdt, intArg(pl.kchunk), ptrArg(ws)); err != nil {
			return err
		}
		if pl.splits == 1 {
			return nil
		}
		return b.launch("k_gemm_splitk_reduce", b.gridFor(int64(a.M)*int64(a.N), 256), 1, 1, 256, 0,
			intArg(a.M), intArg(a.N), intArg(pl.splits), ptrArg(ws), f32Arg(a.Alpha), f32Arg(a.Beta), cp, cs, cdt)
	})
}
