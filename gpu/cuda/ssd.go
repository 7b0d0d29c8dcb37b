//go:build cuda || cudaemu

package cuda

import (
	"context"
	"errors"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// ssdGeom is the launch shape of the sequential kernel k_ssd_fwd (see
// ssd.cu; Backend.SequentialScan): NS lanes share one p and split its N
// states; a block covers PB values of p.
type ssdGeom struct{ NS, PB, nper, block, pblocks, TS int }

// fwdSmem is k_ssd_fwd's dynamic shared memory: a tile of TS steps of B, C
// (N each), x (PB) and dt.
func (g ssdGeom) fwdSmem(N int) int { return g.TS * (2*N + g.PB + 1) * 4 }

func ssdGeometry(P, N int) (ssdGeom, error) {
	if P > 256 {
		return ssdGeom{}, notImpl("ssd", fmt.Sprintf("HeadDim %d > 256", P))
	}
	ns := 32
	for ns > N {
		ns /= 2
	}
	g := ssdGeom{NS: ns, nper: (N + ns - 1) / ns}
	if g.nper > ssdMaxS {
		return ssdGeom{}, notImpl("ssd", fmt.Sprintf("State %d > %d", N, ssdMaxS*32))
	}
	g.PB = min(P, max(1, 256/ns))
	g.block = (g.PB*ns + 31) / 32 * 32
	g.pblocks = (P + g.PB - 1) / g.PB
	// stage up to 32 steps, within 40 KiB of shared memory
	g.TS = max(1, min(32, 40<<10/4/(2*N+g.PB+1)))
	return g, nil
}

// The chunked (matmul-form) kernels of ssd.cu: blocks of ssdThreads threads
// compute 64x64 output tiles. Their shared memory is all dynamic (ldmatrix
// reads it): ssdSmemFixed floats of operand tiles, the L x L tile and
// reduction scratch (SSD_SMEM_FIXED in ssd.cu), then three per-step arrays
// of ChunkSize floats (dt, cum, a factor); ssdMaxChunk keeps that within the
// 48 KiB a block gets without opting in.
const (
	ssdTile      = 64
	ssdThreads   = 128
	ssdMaxChunk  = 1024
	ssdMaxZ      = 65535                                  // grid z = Batch * chunks
	ssdSmemFixed = 2*ssdTile*33 + ssdTile*65 + ssdThreads // floats
	ssdGKL       = 72                                     // SSD_GKL
)

// ssdSmem is the dynamic shared memory of a chunked tile kernel, in bytes
// (the per-step arrays rounded up to 16 bytes).
func ssdSmem(chunk int) int { return (ssdSmemFixed + (3*chunk+3)&^3) * 4 }

// ssdKeepMaxChunk: up to this ChunkSize, k_ssd_bwd's DB and DC roles with
// bf16 operands keep their G tiles (nS of 64 x ssdGKL bf16) in shared memory
// for the n-strips: 114 KiB in all at 512 (73 KiB at 256), within what an
// sm_80 block may opt into (163 KiB; sm_90: 227 KiB). Longer chunks (and
// fp32 operands) add each G tile's products to dB/dC directly instead.
const ssdKeepMaxChunk = 512

// ssdBwdPlan is k_ssd_bwd's keep argument and dynamic shared memory.
func ssdBwdPlan(chunk, nS int, bf uint64) (keep uint64, smem int) {
	if bf != intArg(1) || chunk > ssdKeepMaxChunk {
		return intArg(0), ssdSmem(chunk)
	}
	return intArg(1), ssdSmem(chunk) + nS*ssdTile*ssdGKL*2
}

// ssdPlan is the chunked scan's shape and scratch layout (in floats).
type ssdPlan struct {
	nc                 int   // chunks per sequence
	nS, nP, nN         int   // 64-row tiles of a chunk, 64-wide strips of P and N
	states             int64 // Hin (and dHend): Batch*nc*Heads*HeadDim*State
	perChunk           int64 // logdec (and dlast): Batch*nc*Heads
	cb                 int64 // C B^T per chunk and group: Batch*nc*Groups*LL*LL, LL = min(ChunkSize, Seq)
	rows, rowsH, rowsG int64 // Batch*Seq, *Heads, *Groups*State
}

// ssdTensorCores is the kernels' bf argument: 1 (bf16 mma.sync) when every
// matrix operand of the pass is bf16 (x, B, C; and dy for the backward), as
// mamba-ssm's dots take the operands' dtype; any fp32 operand keeps the whole
// pass in fp32 FMAs.
func ssdTensorCores(a *gpu.SSDArgs, backward bool) uint64 {
	ms := []gpu.Mat{a.X, a.B, a.C}
	if backward {
		ms = append(ms, a.DY)
	}
	for _, m := range ms {
		if m.Buf.DType() != gpu.BF16 {
			return intArg(0)
		}
	}
	return intArg(1)
}

func newSSDPlan(a *gpu.SSDArgs) (ssdPlan, error) {
	if a.ChunkSize > ssdMaxChunk {
		return ssdPlan{}, notImpl("ssd", fmt.Sprintf("ChunkSize %d > %d", a.ChunkSize, ssdMaxChunk))
	}
	nc := (a.Seq + a.ChunkSize - 1) / a.ChunkSize
	if int64(a.Batch)*int64(nc) > ssdMaxZ {
		return ssdPlan{}, notImpl("ssd", fmt.Sprintf("Batch %d * chunks %d > %d (grid z); use a larger ChunkSize", a.Batch, nc, ssdMaxZ))
	}
	p := ssdPlan{nc: nc, nS: (min(a.ChunkSize, a.Seq) + ssdTile - 1) / ssdTile,
		nP: (a.HeadDim + ssdTile - 1) / ssdTile, nN: (a.State + ssdTile - 1) / ssdTile}
	p.perChunk = int64(a.Batch) * int64(nc) * int64(a.Heads)
	p.states = p.perChunk * int64(a.HeadDim) * int64(a.State)
	ll := int64(min(a.ChunkSize, a.Seq))
	p.cb = int64(a.Batch) * int64(nc) * int64(a.Groups) * ll * ll
	p.rows = int64(a.Batch) * int64(a.Seq)
	p.rowsH = p.rows * int64(a.Heads)
	p.rowsG = p.rows * int64(a.Groups) * int64(a.State)
	return p, nil
}

// scratch is the fp32 element count of the scan's scratch: forward Hin,
// logdec and C B^T (cb); backward also dHend, dlast and the accumulators ddt_direct, da,
// off, V (rows*Heads each), dB, dC (rows*Groups*State each), dA, dD (Heads).
func (p ssdPlan) scratch(a *gpu.SSDArgs, backward bool) int64 {
	n := p.states + p.perChunk + p.cb
	if backward {
		n += p.states + p.perChunk + 4*p.rowsH + 2*p.rowsG + 2*int64(a.Heads)
	}
	return n
}

// SSDScratchBytes is the device scratch the scan (backward: its backward)
// takes for a, so that a memory plan can count it: 4 bytes per element of
// the chunk-entering states [Batch, chunks, Heads, HeadDim, State] (twice in
// the backward: states and their gradients), C B^T per chunk and group
// [Batch, chunks, Groups, L, L] with L = min(ChunkSize, Seq), plus per-row
// accumulators. For NetSSM's layer (24 heads of 64, d_state 128, one group,
// chunk 256) at 8,192 tokens: 34 MB forward, 70 MB backward; at 100,000
// tokens 0.41 GB and 0.86 GB.
// The scratch is one grow-only arena shared by all ops, reused per layer.
// Only the shape fields of a are read (no buffers are needed).
func SSDScratchBytes(a *gpu.SSDArgs, backward bool) (int64, error) {
	for _, d := range []struct {
		n string
		v int
	}{{"Batch", a.Batch}, {"Seq", a.Seq}, {"Heads", a.Heads}, {"HeadDim", a.HeadDim}, {"Groups", a.Groups}, {"State", a.State}, {"ChunkSize", a.ChunkSize}} {
		if d.v <= 0 {
			return 0, fmt.Errorf("ssd: %s %d must be positive", d.n, d.v)
		}
	}
	p, err := newSSDPlan(a)
	if err != nil {
		return 0, err
	}
	return 4 * p.scratch(a, backward), nil
}

type ssdOperands struct {
	x, xs, xdt, dt, dts, dtdt, bm, bs, bdt, cm, cs, cdt uint64
}

func (b *Backend) ssdOps(a *gpu.SSDArgs) ssdOperands {
	var o ssdOperands
	o.x, o.xs, o.xdt = b.mat(a.X)
	o.dt, o.dts, o.dtdt = b.mat(a.DT)
	o.bm, o.bs, o.bdt = b.mat(a.B)
	o.cm, o.cs, o.cdt = b.mat(a.C)
	return o
}

// SSD implements gpu.Ops.
func (b *Backend) SSD(ctx context.Context, a *gpu.SSDArgs) error {
	if err := begin(ctx, a.Validate(false), b.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D, a.Y.Buf, a.FinalState)); err != nil {
		return err
	}
	if b.SequentialScan {
		return b.ssdSequential(a)
	}
	p, err := newSSDPlan(a)
	if err != nil {
		return err
	}
	for _, k := range ssdChunkedFwd {
		if why := b.usableKernel(k); why != "" {
			return b.ssdFallback(a, k)
		}
	}
	err = b.ssdChunked(a, p)
	if errors.Is(err, ErrKernelUnfit) {
		var le *LaunchError
		errors.As(err, &le)
		b.markUnusable(err)
		return b.ssdFallback(a, le.Kernel)
	}
	return err
}

// ssdChunkedFwd are the kernels of the chunked forward.
var ssdChunkedFwd = []string{"k_ssd_chunk_state", "k_ssd_chunk_pass", "k_ssd_chunk_out"}

// ssdFallback runs the forward as the sequential scan (k_ssd_fwd) because
// the chunked kernel failed, unusable on this device. A refused launch
// wrote nothing the sequential scan does not rewrite (Y, FinalState). When
// the sequential kernel cannot take the shape or cannot launch either, the
// error names both kernels.
func (b *Backend) ssdFallback(a *gpu.SSDArgs, failed string) error {
	b.noteFallback("ssd forward: %s unusable -> sequential scan k_ssd_fwd", failed)
	if err := b.ssdSequential(a); err != nil {
		return fmt.Errorf("cuda: ssd: the chunked kernel %s cannot launch on %s (%s) and the sequential fallback failed: %w",
			failed, b.devName, b.usableKernel(failed), err)
	}
	return nil
}

// ssdChunked queues the chunked forward (the default).
func (b *Backend) ssdChunked(a *gpu.SSDArgs, p ssdPlan) error {
	return b.do(func() error {
		base, err := b.scratch(p.scratch(a, false) * 4)
		if err != nil {
			return err
		}
		hin, logdec, cb := base, base+dptr(p.states*4), base+dptr((p.states+p.perChunk)*4)
		o := b.ssdOps(a)
		bf := ssdTensorCores(a, false)
		if err := b.ssdChunkStates(a, p, o, hin, logdec, cb, b.ptr(a.FinalState), bf); err != nil {
			return err
		}
		yp, ys, ydt := b.mat(a.Y)
		return b.launch("k_ssd_chunk_out", p.nS*p.nP, a.Heads, a.Batch*p.nc, ssdThreads, ssdSmem(a.ChunkSize),
			o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
			b.ptr(a.D), yp, ys, ydt, ptrArg(hin), ptrArg(cb),
			intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(a.ChunkSize),
			intArg(p.nc), bf)
	})
}

// ssdSequential is the forward as one sequential pass per (sequence, head,
// p-block) on fp32 CUDA cores (Backend.SequentialScan), kept to compare with.
func (b *Backend) ssdSequential(a *gpu.SSDArgs) error {
	g, err := ssdGeometry(a.HeadDim, a.State)
	if err != nil {
		return err
	}
	return b.do(func() error {
		o := b.ssdOps(a)
		yp, ys, ydt := b.mat(a.Y)
		return b.launch("k_ssd_fwd", g.pblocks, a.Heads, a.Batch, g.block, g.fwdSmem(a.State),
			o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
			b.ptr(a.D), yp, ys, ydt, b.ptr(a.FinalState),
			intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(g.PB), intArg(g.NS),
			intArg(g.TS))
	})
}

// ssdChunkStates queues the first two phases of the chunked scan: hin
// receives the state entering every chunk, logdec each chunk's cum_L, cb
// each chunk's C B^T per group (k_ssd_chunk_state's extra blocks: the
// nS(nS+1)/2 tiles on and below the diagonal spread over the heads of a
// group), fstate (0: none) the final state.
func (b *Backend) ssdChunkStates(a *gpu.SSDArgs, p ssdPlan, o ssdOperands, hin, logdec, cb dptr, fstate, bf uint64) error {
	hpg := a.Heads / a.Groups
	extra := (p.nS*(p.nS+1)/2 + hpg - 1) / hpg
	if err := b.launch("k_ssd_chunk_state", p.nP*p.nN+extra, a.Heads, a.Batch*p.nc, ssdThreads, ssdSmem(a.ChunkSize),
		o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
		ptrArg(hin), ptrArg(logdec), ptrArg(cb), intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State),
		intArg(a.ChunkSize), intArg(p.nc), bf); err != nil {
		return err
	}
	n := int64(a.Batch) * int64(a.Heads) * int64(a.HeadDim) * int64(a.State)
	return b.launch("k_ssd_chunk_pass", int((n+255)/256), 1, 1, 256, 0, ptrArg(hin), ptrArg(logdec), fstate,
		intArg(a.Batch), intArg(a.Heads), intArg(a.HeadDim), intArg(a.State), intArg(p.nc))
}

// SSDBackward implements gpu.Ops: the chunked backward (ssd.cu), which keeps
// only the chunk-entering states and their gradients and recomputes the rest
// per chunk. Backend.SequentialScan does not apply to it.
func (b *Backend) SSDBackward(ctx context.Context, a *gpu.SSDArgs) error {
	if err := begin(ctx, a.Validate(true), b.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D,
		a.DY.Buf, a.DX.Buf, a.DDT.Buf, a.DB.Buf, a.DC.Buf, a.DDTBias, a.DALog, a.DD)); err != nil {
		return err
	}
	p, err := newSSDPlan(a)
	if err != nil {
		return err
	}
	err = b.ssdBackward(a, p)
	if errors.Is(err, ErrKernelUnfit) {
		b.markUnusable(err)
		return fmt.Errorf("cuda: ssd backward: a kernel cannot launch on %s and the backward has no fallback kernel: %w", b.devName, err)
	}
	return err
}

// ssdBackward queues the chunked backward.
func (b *Backend) ssdBackward(a *gpu.SSDArgs, p ssdPlan) error {
	return b.do(func() error {
		base, err := b.scratch(p.scratch(a, true) * 4)
		if err != nil {
			return err
		}
		off := int64(0)
		next := func(n int64) dptr { d := base + dptr(off*4); off += n; return d }
		hin, logdec, dhend, cb := next(p.states), next(p.perChunk), next(p.states), next(p.cb)
		acc := off // accumulators from here on, cleared together
		dlast, ddtAcc, daAcc, offAcc, vAcc := next(p.perChunk), next(p.rowsH), next(p.rowsH), next(p.rowsH), next(p.rowsH)
		dBAcc, dCAcc, dAAcc, dDAcc := next(p.rowsG), next(p.rowsG), next(int64(a.Heads)), next(int64(a.Heads))
		if err := b.dev.memsetD32(dlast, 0, off-acc); err != nil {
			return fmt.Errorf("cuda: ssd backward: clearing accumulators: %v", err)
		}
		o := b.ssdOps(a)
		dyp, dys, dydt := b.mat(a.DY)
		dxp, dxs, dxdt := b.mat(a.DX)
		smem := ssdSmem(a.ChunkSize)
		bf := ssdTensorCores(a, true)
		if err := b.ssdChunkStates(a, p, o, hin, logdec, cb, 0, bf); err != nil {
			return err
		}
		if err := b.launch("k_ssd_bwd_dstate", p.nP*p.nN, a.Heads, a.Batch*p.nc, ssdThreads, smem,
			o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.cm, o.cs, o.cdt, dyp, dys, dydt, ptrArg(dhend),
			intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(a.ChunkSize),
			intArg(p.nc), bf); err != nil {
			return err
		}
		pn := a.HeadDim * a.State
		if err := b.launch("k_ssd_bwd_pass", a.Batch*a.Heads, (pn+255)/256, 1, 256, 0, ptrArg(dhend), ptrArg(logdec),
			ptrArg(hin), ptrArg(dlast), intArg(a.Heads), intArg(a.HeadDim), intArg(a.State), intArg(p.nc)); err != nil {
			return err
		}
		keep, bwdSmem := ssdBwdPlan(a.ChunkSize, p.nS, bf)
		if err := b.launch("k_ssd_bwd", p.nS*(p.nP+2), a.Heads, a.Batch*p.nc, ssdThreads, bwdSmem,
			o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
			b.ptr(a.D), dyp, dys, dydt, dxp, dxs, dxdt, ptrArg(hin), ptrArg(dhend), ptrArg(cb),
			ptrArg(ddtAcc), ptrArg(daAcc), ptrArg(offAcc), ptrArg(vAcc), ptrArg(dBAcc), ptrArg(dCAcc), ptrArg(dDAcc),
			intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(a.ChunkSize),
			intArg(p.nc), bf, keep); err != nil {
			return err
		}
		ddp, dds, dddt := b.mat(a.DDT)
		if err := b.launch("k_ssd_bwd_dt", a.Heads, a.Batch*p.nc, 1, ssdThreads, 2*a.ChunkSize*4,
			ptrArg(ddtAcc), ptrArg(daAcc), ptrArg(offAcc), ptrArg(vAcc), ptrArg(dlast), o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog),
			ddp, dds, dddt, b.ptr(a.DDTBias), ptrArg(dAAcc),
			intArg(a.Seq), intArg(a.Heads), intArg(a.ChunkSize), intArg(p.nc)); err != nil {
			return err
		}
		if err := b.launch("k_ssd_bwd_heads", (a.Heads+127)/128, 1, 1, 128, 0,
			ptrArg(dAAcc), ptrArg(dDAcc), b.ptr(a.ALog), b.ptr(a.DALog), b.ptr(a.DD), intArg(a.Heads)); err != nil {
			return err
		}
		gn := a.Groups * a.State
		for _, c := range []struct {
			m   gpu.Mat
			src dptr
		}{{a.DB, dBAcc}, {a.DC, dCAcc}} {
			mp, ms, mdt := b.mat(c.m)
			if err := b.launch("k_copy2d", b.gridFor(p.rows*int64(gn), 256), 1, 1, 256, 0, mp, ms, mdt, ptrArg(c.src),
				i64Arg(int(p.rows)), intArg(gn)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SSDStep implements gpu.Ops.
func (b *Backend) SSDStep(ctx context.Context, a *gpu.SSDStepArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D, a.Y.Buf, a.State)); err != nil {
		return err
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		dp, ds, ddt := b.mat(a.DT)
		bp, bs, bdt := b.mat(a.B)
		cp, cs, cdt := b.mat(a.C)
		yp, ys, ydt := b.mat(a.Y)
		n := a.Batch * a.Heads * a.HeadDim
		return b.launch("k_ssd_step", (n+127)/128, 1, 1, 128, 0, xp, xs, xdt, dp, ds, ddt, b.ptr(a.DTBias), b.ptr(a.ALog),
			bp, bs, bdt, cp, cs, cdt, b.ptr(a.D), yp, ys, ydt, b.ptr(a.State),
			intArg(a.Batch), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.StateDim))
	})
}

// SSDScratchBytes is the package function of that name as a method, so
// that code holding only a gpu.Backend (netssmlib/gpumodel's memory plan)
// can ask for it.
func (b *Backend) SSDScratchBytes(a *gpu.SSDArgs, backward bool) (int64, error) {
	return SSDScratchBytes(a, backward)
}
