//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strings"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

// GEMM autotuning. Which tensor-core variant (GemmVariants) and how many K
// splits is fastest depends on the GPU and the shape, and nobody can time
// kernels before the GPU session runs, so the backend times them itself:
// the first aligned bf16 GEMM of each problem key (transposes, C's dtype,
// beta zero or not, M, N and K rounded up to quarter-octave buckets, and
// whether C allows vector stores) runs every candidate on the call's own
// operands, a warm-up and gemmTuneReps timed repetitions between two CUDA
// events, and caches the fastest; later calls with that key launch it
// directly. Candidates: every variant, each with no split and, where the
// split heuristic splits K (K >= tcSplitFromK, too few tiles for the
// device), with the heuristic's split count and twice that. Each GEMM still
// runs exactly once into the caller's C after the choice, so the result is
// what that kernel computes (deterministic, split-K's fixed-order
// reduction included). The candidates write into the caller's C, with the
// call's alpha and beta; with Beta == 0 the final run overwrites it, with
// Beta != 0 C (the span of rows it covers) is first copied to the host and
// copied back after the timings, before the final run, so the caller's C
// is accumulated into exactly once and no device memory is added.
//
// Tuning never runs while the stream is being captured into a CUDA graph
// (the decode graph; checked with cuStreamIsCapturing): such a call takes a
// cached choice if there is one and otherwise the default (128x128s3w8
// with the split heuristic) without caching it.

const (
	gemmTuneWarmup = 1
	gemmTuneReps   = 5
)

// gemmTuning is embedded in Backend.
type gemmTuning struct {
	// GemmKernel forces one tensor-core variant, by name (GemmVariants,
	// e.g. "128x256s3w8"), for every aligned bf16 GEMM, with the split
	// heuristic, and disables tuning. "" (the default) leaves the choice
	// to the autotuner or, when it is off, to the default variant.
	GemmKernel string

	// GemmTune enables autotuning. Open sets it unless the environment has
	// NETSSM_GEMM_TUNE=0; the emulator starts with it off (its device
	// cannot time kernels; tests give it a stub timer). NETSSM_GEMM_TUNE=0
	// disables tuning even when GemmTune is set.
	GemmTune bool

	gemmChoices map[gemmKey]*gemmChoice
	gemmOrder   []gemmKey // tuning order, for GemmChoices
}

// kernelTimer is a device that can time queued work (CUDA events).
type kernelTimer interface {
	// timeRuns runs f warmup times, then reps times between two timing
	// events, waits, and returns the microseconds per run.
	timeRuns(warmup, reps int, f func() error) (float64, error)
}

// captureReporter is a device that can tell whether its stream is being
// captured into a CUDA graph.
type captureReporter interface {
	capturing() (bool, error)
}

// gemmTuneEnv reports whether NETSSM_GEMM_TUNE allows tuning (anything but
// "0").
func gemmTuneEnv() bool { return os.Getenv("NETSSM_GEMM_TUNE") != "0" }

// tuneWanted reports whether a GEMM without a cached choice should be tuned.
func (b *Backend) tuneWanted() bool {
	if !b.GemmTune || !gemmTuneEnv() {
		return false
	}
	_, ok := b.dev.(kernelTimer)
	return ok
}

// gemmKey is what a tuned choice is cached under.
type gemmKey struct {
	ta, tb  bool
	cdt     gpu.DType
	beta    bool // Beta != 0: the epilogue reads C
	m, n, k int  // gemmBucket of M, N, K
	cvec    bool // C's stride and pointer allow the epilogue's vector stores
}

func (k gemmKey) String() string {
	beta := 0
	if k.beta {
		beta = 1
	}
	vec := ""
	if !k.cvec {
		vec = " C-unaligned"
	}
	return fmt.Sprintf("%s%s bf16->%v beta=%d M<=%d N<=%d K<=%d%s", layout(k.ta), layout(k.tb), k.cdt, beta, k.m, k.n, k.k, vec)
}

// gemmBucket rounds x up to a quarter-octave bucket (x itself up to 16;
// above, the next multiple of 2^e with x in (4*2^e, 8*2^e]): shapes within
// about 25% share a tuned choice.
func gemmBucket(x int) int {
	if x <= 16 {
		return x
	}
	step := 1 << (bits.Len(uint(x-1)) - 3)
	return (x + step - 1) / step * step
}

func (b *Backend) gemmKeyOf(a *gpu.GemmArgs) gemmKey {
	cp, cs, _ := b.mat(a.C)
	align := uint64(16)
	if a.C.Buf.DType() == gpu.BF16 {
		align = 8
	}
	return gemmKey{ta: a.TransA, tb: a.TransB, cdt: a.C.Buf.DType(), beta: a.Beta != 0,
		m: gemmBucket(a.M), n: gemmBucket(a.N), k: gemmBucket(a.K), cvec: int64(cs)%4 == 0 && cp%align == 0}
}

// gemmChoice is a tuned key's winner and what was measured.
type gemmChoice struct {
	variant, splits int
	cands           []GemmCandidate
}

// GemmCandidate is one kernel timed by the autotuner.
type GemmCandidate struct {
	Variant string  // GemmVariant.Name
	Splits  int     // K splits (1: none)
	Micros  float64 // time per call, µs (0 when Err is set)
	Err     string  // why it could not run, if it could not
}

func candName(variant string, splits int) string {
	if splits > 1 {
		return fmt.Sprintf("%s/split%d", variant, splits)
	}
	return variant
}

func (c GemmCandidate) String() string {
	if c.Err != "" {
		return candName(c.Variant, c.Splits) + " failed: " + c.Err
	}
	return fmt.Sprintf("%s %.1fus", candName(c.Variant, c.Splits), c.Micros)
}

// GemmChoice is the autotuner's decision for one problem key.
type GemmChoice struct {
	Key     string // transposes, dtypes, beta, M/N/K buckets
	Variant string // the winner
	Splits  int
	// Candidates in the order timed; the first is the default (what runs
	// without tuning: 128x128s3w8 with the split heuristic).
	Candidates []GemmCandidate
}

func (c GemmChoice) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "gemm %s: %s", c.Key, candName(c.Variant, c.Splits))
	for _, w := range c.Candidates {
		if w.Variant == c.Variant && w.Splits == c.Splits && w.Err == "" {
			fmt.Fprintf(&s, " %.1fus", w.Micros)
			if d := c.Candidates[0]; d.Err == "" && d.Micros > 0 {
				fmt.Fprintf(&s, " (default %.1fus, %.2fx)", d.Micros, d.Micros/w.Micros)
			}
		}
	}
	s.WriteString(" <-")
	for i, w := range c.Candidates {
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString(" " + w.String())
	}
	return s.String()
}

// GemmChoices returns the autotuner's choices so far, in tuning order.
func (b *Backend) GemmChoices() []GemmChoice {
	out := make([]GemmChoice, 0, len(b.gemmOrder))
	for _, k := range b.gemmOrder {
		c := b.gemmChoices[k]
		out = append(out, GemmChoice{Key: k.String(), Variant: tcVariants[c.variant].Name, Splits: c.splits,
			Candidates: append([]GemmCandidate(nil), c.cands...)})
	}
	return out
}

// GemmReport is GemmChoices as text, one line per key (empty when nothing
// was tuned), for logs and `netssm bench`.
func (b *Backend) GemmReport() string {
	var s strings.Builder
	for _, c := range b.GemmChoices() {
		s.WriteString(c.String())
		s.WriteByte('\n')
	}
	return s.String()
}

// gemmCandidates lists the plans to time for a: every variant with no K
// split, and with the split heuristic's count and twice that where the
// heuristic splits; the default plan first.
func (b *Backend) gemmCandidates(a *gpu.GemmArgs) []gemmPlan {
	def := b.tcPlan(a, 0, 0)
	out := []gemmPlan{def}
	seen := map[[2]int]bool{{0, def.splits}: true}
	for vi := range tcVariants {
		h := b.tcPlan(a, vi, 0)
		for _, s := range []int{1, h.splits, 2 * h.splits} {
			if s > 1 && h.splits == 1 {
				continue
			}
			p := b.tcPlan(a, vi, s)
			if !seen[[2]int{vi, p.splits}] {
				seen[[2]int{vi, p.splits}] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// candidateUnusable reports why plan c must not be timed: its kernel, or
// the split-K reduction it needs, is marked unusable ("" if neither).
func (b *Backend) candidateUnusable(c gemmPlan) string {
	if why := b.usableKernel(c.kernel); why != "" {
		return why
	}
	if c.splits > 1 {
		return b.usableKernel("k_gemm_splitk_reduce")
	}
	return ""
}

// tuneGemm times the candidates for a (C at cp with stride cs), leaving C
// as it was, caches the fastest under pl.key and returns its plan. During
// a graph capture, or on a device without a timer, it returns pl (the
// default) untimed and caches nothing. A candidate whose kernel is marked
// unusable is skipped; one the device refuses for its resources
// (ErrKernelUnfit) is marked unusable and the others still run; when none
// could run, pl comes back uncached for the caller's fallback. A sticky
// error (ErrContextLost) ends it at once. Called on the device's thread
// (inside b.do).
func (b *Backend) tuneGemm(a *gpu.GemmArgs, pl gemmPlan, cp, cs uint64) (gemmPlan, error) {
	pl.tune = false
	if cr, ok := b.dev.(captureReporter); ok {
		if capturing, err := cr.capturing(); err != nil || capturing {
			return pl, nil // an unknown capture state counts as capturing
		}
	}
	timer, ok := b.dev.(kernelTimer)
	if !ok {
		return pl, nil
	}
	ch := &gemmChoice{variant: -1}
	var saved []byte // C's rows, when the candidates accumulate into it
	if a.Beta != 0 {
		n := (int64(a.M-1)*int64(cs) + int64(a.N)) * int64(a.C.Buf.DType().Size())
		saved = make([]byte, n)
		if err := b.dev.dtoh(unsafe.Pointer(&saved[0]), dptr(cp), n); err != nil {
			return pl, fmt.Errorf("cuda: gemm: saving C before autotuning: %v", err)
		}
	}
	best := 0.0
	var firstErr error
	for _, c := range b.gemmCandidates(a) {
		cand := GemmCandidate{Variant: tcVariants[c.variant].Name, Splits: c.splits}
		if why := b.candidateUnusable(c); why != "" {
			cand.Err = "skipped: " + why
			ch.cands = append(ch.cands, cand)
			continue
		}
		us, err := timer.timeRuns(gemmTuneWarmup, gemmTuneReps, func() error { return b.runTC(a, c, cp, cs) })
		if errors.Is(err, ErrContextLost) {
			return pl, err // nothing more can run, C included
		}
		if err != nil {
			b.markUnusable(err) // a refused kernel is not tried again (launch.go)
			cand.Err = err.Error()
			if firstErr == nil && !errors.Is(err, ErrKernelUnfit) {
				firstErr = err
			}
		} else if ch.variant < 0 || us < best {
			best, ch.variant, ch.splits = us, c.variant, c.splits
		}
		cand.Micros = us
		if err != nil {
			cand.Micros = 0
		}
		ch.cands = append(ch.cands, cand)
	}
	if saved != nil {
		if err := b.dev.htod(dptr(cp), unsafe.Pointer(&saved[0]), int64(len(saved))); err != nil {
			return pl, fmt.Errorf("cuda: gemm: restoring C after autotuning: %v", err)
		}
	}
	if ch.variant < 0 {
		if firstErr != nil {
			return pl, fmt.Errorf("cuda: gemm: autotuning %v: no candidate ran: %v", pl.key, firstErr)
		}
		// Every candidate was refused for its resources: the caller's
		// fallback (runTCFallback) takes k_gemm_bf16; nothing is cached.
		return pl, nil
	}
	b.remember(pl.key, ch)
	return b.tcPlan(a, ch.variant, ch.splits), nil
}

func (b *Backend) remember(k gemmKey, c *gemmChoice) {
	if b.gemmChoices == nil {
		b.gemmChoices = map[gemmKey]*gemmChoice{}
	}
	if _, ok := b.gemmChoices[k]; !ok {
		b.gemmOrder = append(b.gemmOrder, k)
	}
	b.gemmChoices[k] = c
}
