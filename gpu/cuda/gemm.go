//go:build cuda || cudaemu

package cuda

import (
	"context"
	"errors"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// Tile and launch constants of the default tensor-core GEMM variant
// (128x128s3w8, the k_gemm_tc_* kernels) and of split-K.
const (
	tcBM, tcBN, tcBK = 128, 128, 32
	tcSmem           = 3 * 2 * tcBM * tcBK * 2 // 3 stages of A and B tiles, 48 KiB
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

// GemmVariant is one tensor-core GEMM kernel family of gemm.cu (four
// kernels, one per transpose combination): block tile BM x BN, K step BK,
// a pipeline of Stages cp.async stages, Warps warps of 64 x WarpN each.
type GemmVariant struct {
	Name        string // e.g. "128x128s3w8": tile, stages, warps
	BM, BN      int    // block tile
	BK          int    // K step
	Stages      int    // cp.async pipeline depth
	Warps       int    // warps per block; each computes a 64 x WarpN tile
	WarpN       int
	BlocksPerSM int // the kernels' __launch_bounds__ minimum
	prefix      string
}

// SmemBytes is the dynamic shared memory a block uses (the pipeline's
// stages; the epilogue reuses it).
func (v GemmVariant) SmemBytes() int { return v.Stages * (v.BM + v.BN) * v.BK * 2 }

// Kernel is the kernel's name for a transpose combination.
func (v GemmVariant) Kernel(transA, transB bool) string {
	return v.prefix + layout(transA) + layout(transB)
}

// tcVariants lists the TC_KERNELS instantiations of gemm.cu; the first is
// the default (the heuristic's choice when not tuning).
var tcVariants = []GemmVariant{
	{Name: "128x128s3w8", BM: 128, BN: 128, BK: 32, Stages: 3, Warps: 8, WarpN: 32, BlocksPerSM: 2, prefix: "k_gemm_tc_"},
	{Name: "128x128s3w4", BM: 128, BN: 128, BK: 32, Stages: 3, Warps: 4, WarpN: 64, BlocksPerSM: 2, prefix: "k_gemm_tc4_"},
	{Name: "128x128s4w8", BM: 128, BN: 128, BK: 32, Stages: 4, Warps: 8, WarpN: 32, BlocksPerSM: 2, prefix: "k_gemm_tc_s4_"},
	{Name: "128x128s4w4", BM: 128, BN: 128, BK: 32, Stages: 4, Warps: 4, WarpN: 64, BlocksPerSM: 2, prefix: "k_gemm_tc4_s4_"},
	{Name: "128x128k64s3w4", BM: 128, BN: 128, BK: 64, Stages: 3, Warps: 4, WarpN: 64, BlocksPerSM: 2, prefix: "k_gemm_tc4_k64_"},
	{Name: "128x256s3w8", BM: 128, BN: 256, BK: 32, Stages: 3, Warps: 8, WarpN: 64, BlocksPerSM: 1, prefix: "k_gemm_tc_128x256_"},
	{Name: "256x128s3w8", BM: 256, BN: 128, BK: 32, Stages: 3, Warps: 8, WarpN: 64, BlocksPerSM: 1, prefix: "k_gemm_tc_256x128_"},
}

// GemmVariants returns the tensor-core GEMM variants, the default first;
// Backend.GemmKernel takes their names.
func GemmVariants() []GemmVariant { return append([]GemmVariant(nil), tcVariants...) }

// gemmPlan is how Gemm runs one call.
type gemmPlan struct {
	kernel  string // k_gemm_tc*, k_gemm_bf16, k_gemm_f32 or k_gemv_tb
	variant int    // index into tcVariants (tensor-core path)
	threads int    // block size (tensor-core path)
	smem    int    // dynamic shared memory (tensor-core path)
	tiles   int    // output tiles (tensor-core path)
	splits  int    // K splits (tensor-core path; 1 = none)
	kchunk  int    // K per split, a multiple of the variant's K step
	tune    bool   // no choice cached for this key yet: Gemm tunes (tensor-core path)
	key     gemmKey
}

// tcAligned reports whether every row of a bf16 view starts 16-byte
// aligned, as cp.async's 16-byte copies need.
func tcAligned(b *Backend, m gpu.Mat) bool {
	p, _, _ := b.mat(m)
	return p%16 == 0 && m.Stride%8 == 0
}

// forcedVariant is the variant GemmKernel or GemmWarps asks for (-1: none).
func (b *Backend) forcedVariant() (int, error) {
	w := -1
	switch b.GemmWarps {
	case 0:
	case 8:
		w = 0
	case 4:
		w = 1
	default:
		return 0, fmt.Errorf("cuda: gemm: Backend.GemmWarps is %d, want 4 or 8 (or 0 for the default)", b.GemmWarps)
	}
	if b.GemmKernel == "" {
		return w, nil
	}
	for i, v := range tcVariants {
		if v.Name == b.GemmKernel {
			if w >= 0 && w != i {
				return 0, fmt.Errorf("cuda: gemm: Backend.GemmKernel %q and Backend.GemmWarps %d disagree", b.GemmKernel, b.GemmWarps)
			}
			return i, nil
		}
	}
	names := make([]string, len(tcVariants))
	for i, v := range tcVariants {
		names[i] = v.Name
	}
	return 0, fmt.Errorf("cuda: gemm: Backend.GemmKernel %q is not a variant (want one of %v, or \"\")", b.GemmKernel, names)
}

// planGemm picks the kernel: the GEMV for a few rows times a weight stored
// [N, K] (decode), the tensor-core kernel for bf16 operands whose rows are
// 16-byte aligned, the plain bf16 tensor-core kernel for other bf16
// operands, the SIMT kernel for f32. On the tensor-core path the variant
// and K splits are, in order: the forced variant (GemmKernel, GemmWarps)
// with the split heuristic; the tuned choice cached for the call's key;
// the default variant with the split heuristic, marked for tuning when
// tuning is on (Gemm then decides whether it can tune now).
func (b *Backend) planGemm(a *gpu.GemmArgs) (gemmPlan, error) {
	forced, err := b.forcedVariant()
	if err != nil {
		return gemmPlan{}, err
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
	if forced >= 0 {
		return b.tcPlan(a, forced, 0), nil
	}
	key := b.gemmKeyOf(a)
	if c, ok := b.gemmChoices[key]; ok {
		return b.tcPlan(a, c.variant, c.splits), nil
	}
	pl := b.tcPlan(a, 0, 0)
	pl.tune, pl.key = b.tuneWanted(), key
	return pl, nil
}

// tcPlan is the plan of variant vi with the given K splits (0: the split
// heuristic for that variant). A split count is reduced where K is too
// short for it (below tcSplitFromK: none).
func (b *Backend) tcPlan(a *gpu.GemmArgs, vi, splits int) gemmPlan {
	v := tcVariants[vi]
	tiles := ((a.M + v.BM - 1) / v.BM) * ((a.N + v.BN - 1) / v.BN)
	if splits <= 0 {
		splits = splitK(tiles, a.K, b.sms*v.BlocksPerSM)
	}
	if a.K < tcSplitFromK {
		splits = 1
	}
	splits = max(1, min(splits, tcMaxSplits, a.K/tcMinSplitK))
	ktiles := (a.K + v.BK - 1) / v.BK
	kchunk := (ktiles + splits - 1) / splits * v.BK
	splits = (a.K + kchunk - 1) / kchunk
	return gemmPlan{kernel: v.Kernel(a.TransA, a.TransB), variant: vi, threads: v.Warps * 32, smem: v.SmemBytes(),
		tiles: tiles, splits: splits, kchunk: kchunk}
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
// k_gemm_tc* kernels, variant per GemmKernel/GemmWarps or the autotuner,
// when the rows of A and B are 16-byte aligned, which the model's
// activations and weights are; k_gemm_bf16 otherwise), f32 on the SIMT
// kernel, and the GEMV for decode.
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
			return b.runSIMT(a, pl.kernel)
		}
		if pl.tune {
			var err error
			if pl, err = b.tuneGemm(a, pl, cp, cs); err != nil {
				return err
			}
		}
		return b.runTCFallback(a, pl, cp, cs)
	})
}

// runSIMT queues k_gemm_bf16 or k_gemm_f32.
func (b *Backend) runSIMT(a *gpu.GemmArgs, kernel string) error {
	ap, as, _ := b.mat(a.A)
	bp, bs, _ := b.mat(a.B)
	cp, cs, cdt := b.mat(a.C)
	args := []uint64{boolArg(a.TransA), boolArg(a.TransB), intArg(a.M), intArg(a.N), intArg(a.K),
		f32Arg(a.Alpha), f32Arg(a.Beta), ap, as, bp, bs, cp, cs, cdt}
	gx, gy := (a.N+63)/64, (a.M+63)/64
	if gy > 65535 {
		return notImpl("gemm", fmt.Sprintf("M %d > %d on the %s kernel", a.M, 65535*64, kernel))
	}
	threads := 256
	if kernel == "k_gemm_bf16" {
		threads = 128
	}
	return b.launch(kernel, gx, gy, 1, threads, 0, args...)
}

// usablePlan replaces a tensor-core plan whose kernels are marked unusable
// (launch.go): the same variant without K splits when only the split-K
// reduction is unusable, else the default variant with the split
// heuristic, else k_gemm_bf16 (kernel "k_gemm_bf16" in the result).
func (b *Backend) usablePlan(a *gpu.GemmArgs, pl gemmPlan) gemmPlan {
	name := tcVariants[pl.variant].Name
	if b.usableKernel(pl.kernel) == "" {
		if pl.splits == 1 || b.usableKernel("k_gemm_splitk_reduce") == "" {
			return pl
		}
		b.noteFallback("gemm %s/split%d -> %s without split-K (k_gemm_splitk_reduce unusable)", name, pl.splits, name)
		return b.tcPlan(a, pl.variant, 1)
	}
	if pl.variant != 0 {
		b.noteFallback("gemm %s (%s unusable) -> %s", name, pl.kernel, tcVariants[0].Name)
		return b.usablePlan(a, b.tcPlan(a, 0, 0))
	}
	b.noteFallback("gemm %s (%s unusable) -> k_gemm_bf16", name, pl.kernel)
	return gemmPlan{kernel: "k_gemm_bf16"}
}

// runTCFallback runs plan pl, or what usablePlan puts in its place; a
// launch refused for its resources (ErrKernelUnfit: nothing ran, C is
// untouched) marks the kernel unusable and runs the next fallback. Any
// other error is returned as it is.
func (b *Backend) runTCFallback(a *gpu.GemmArgs, pl gemmPlan, cp, cs uint64) error {
	for {
		pl = b.usablePlan(a, pl)
		var err error
		if pl.kernel == "k_gemm_bf16" {
			err = b.runSIMT(a, pl.kernel)
		} else {
			err = b.runTC(a, pl, cp, cs)
		}
		if err == nil || !errors.Is(err, ErrKernelUnfit) || pl.kernel == "k_gemm_bf16" || !b.markUnusable(err) {
			return err
		}
	}
}

// runTC queues the tensor-core kernel of plan pl writing C at (cp, cs),
// and the split-K reduction.
func (b *Backend) runTC(a *gpu.GemmArgs, pl gemmPlan, cp, cs uint64) error {
	ap, as, _ := b.mat(a.A)
	bp, bs, _ := b.mat(a.B)
	_, _, cdt := b.mat(a.C)
	var ws dptr
	if pl.splits > 1 {
		var err error
		if ws, err = b.scratch(int64(pl.splits) * int64(a.M) * int64(a.N) * 4); err != nil {
			return err
		}
	}
	if err := b.launch(pl.kernel, pl.tiles, 1, pl.splits, pl.threads, pl.smem, intArg(a.M), intArg(a.N), intArg(a.K),
		f32Arg(a.Alpha), f32Arg(a.Beta), ap, as, bp, bs, cp, cs, cdt, intArg(pl.kchunk), ptrArg(ws)); err != nil {
		return err
	}
	if pl.splits == 1 {
		return nil
	}
	return b.launch("k_gemm_splitk_reduce", b.gridFor(int64(a.M)*int64(a.N), 256), 1, 1, 256, 0,
		intArg(a.M), intArg(a.N), intArg(pl.splits), ptrArg(ws), f32Arg(a.Alpha), f32Arg(a.Beta), cp, cs, cdt)
}
