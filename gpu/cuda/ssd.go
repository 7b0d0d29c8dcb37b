//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// ssdGeom is the launch shape of the scan kernels (see ssd.cu): NS lanes
// share one p and split its N states; a block covers PB values of p.
type ssdGeom struct{ NS, PB, nper, block, pblocks, TS int }

// fwdSmem is the forward kernels' dynamic shared memory: a tile of TS steps
// of B, C (N each), x (PB) and dt.
func (g ssdGeom) fwdSmem(N int) int { return g.TS * (2*N + g.PB + 1) * 4 }

// bwdTS and bwdSmem: the backward's tile of B, C, dB, dC (N each), x, dy
// (PB each), dt, ddt; at least the 2N+PB floats of its sequential pass 1.
func (g ssdGeom) bwdTS(N int) int { return max(1, min(32, 40<<10/4/(4*N+2*g.PB+2))) }
func (g ssdGeom) bwdSmem(N int) int {
	return max(g.bwdTS(N)*(4*N+2*g.PB+2), 2*N+g.PB) * 4
}

// ssdBwdWorkers is how many chunks of one (sequence, head, p-block) the
// chunked backward processes concurrently; its scratch grows with it
// (heads*8*(chunk+1)*P*N*4 bytes per sequence, about 1.6 GB for NetSSM's model).
const ssdBwdWorkers = 8

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

type ssdOperands struct {
	x, xs, xdt, dt, dts, dtdt, bm, bs, bdt, cm, cs, cdt, y, ys, ydt uint64
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
	g, err := ssdGeometry(a.HeadDim, a.State)
	if err != nil {
		return err
	}
	nc := (a.Seq + a.ChunkSize - 1) / a.ChunkSize
	chunked := b.chunked(a, nc)
	return b.do(func() error {
		o := b.ssdOps(a)
		yp, ys, ydt := b.mat(a.Y)
		smem := g.fwdSmem(a.State)
		if !chunked {
			return b.launch("k_ssd_fwd", g.pblocks, a.Heads, a.Batch, g.block, smem,
				o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
				b.ptr(a.D), yp, ys, ydt, b.ptr(a.FinalState),
				intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(g.PB), intArg(g.NS),
				intArg(g.TS))
		}
		sN, ldN := ssdChunkSizes(a, nc)
		base, err := b.scratch((sN + ldN) * 4)
		if err != nil {
			return err
		}
		hin := base
		if err := b.ssdChunkStates(a, g, o, nc, hin, base+dptr(sN*4), b.ptr(a.FinalState)); err != nil {
			return err
		}
		return b.launch("k_ssd_chunk_out", g.pblocks, a.Heads, a.Batch*nc, g.block, smem,
			o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
			b.ptr(a.D), yp, ys, ydt, ptrArg(hin),
			intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(g.PB), intArg(g.NS),
			intArg(a.ChunkSize), intArg(nc), intArg(g.TS))
	})
}

// chunked reports whether the scan runs chunk-parallel: the default for more
// than one chunk, unless SequentialScan is set.
func (b *Backend) chunked(a *gpu.SSDArgs, nc int) bool {
	return !b.SequentialScan && nc > 1 && a.Batch*nc <= 65535
}

// ssdChunkSizes are the element counts of the chunk states [B,nc,H,P,N] and
// log decays [B,nc,H].
func ssdChunkSizes(a *gpu.SSDArgs, nc int) (int64, int64) {
	bnh := int64(a.Batch) * int64(nc) * int64(a.Heads)
	return bnh * int64(a.HeadDim) * int64(a.State), bnh
}

// ssdChunkStates queues the first two phases of the chunk-parallel scan:
// hin receives the state entering every chunk, fstate (0: none) the final one.
func (b *Backend) ssdChunkStates(a *gpu.SSDArgs, g ssdGeom, o ssdOperands, nc int, hin, logdec dptr, fstate uint64) error {
	if err := b.launch("k_ssd_chunk_state", g.pblocks, a.Heads, a.Batch*nc, g.block, g.fwdSmem(a.State),
		o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
		ptrArg(hin), ptrArg(logdec), intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State),
		intArg(g.PB), intArg(g.NS), intArg(a.ChunkSize), intArg(nc), intArg(g.TS)); err != nil {
		return err
	}
	n := int64(a.Batch) * int64(a.Heads) * int64(a.HeadDim) * int64(a.State)
	return b.launch("k_ssd_chunk_pass", int((n+255)/256), 1, 1, 256, 0, ptrArg(hin), ptrArg(logdec), fstate,
		intArg(a.Batch), intArg(a.Heads), intArg(a.HeadDim), intArg(a.State), intArg(nc))
}

// SSDBackward implements gpu.Ops.
func (b *Backend) SSDBackward(ctx context.Context, a *gpu.SSDArgs) error {
	if err := begin(ctx, a.Validate(true), b.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D,
		a.DY.Buf, a.DX.Buf, a.DDT.Buf, a.DB.Buf, a.DC.Buf, a.DDTBias, a.DALog, a.DD)); err != nil {
		return err
	}
	g, err := ssdGeometry(a.HeadDim, a.State)
	if err != nil {
		return err
	}
	rows := int64(a.Batch) * int64(a.Seq)
	gn := int64(a.Groups) * int64(a.State)
	nc := int64((a.Seq + a.ChunkSize - 1) / a.ChunkSize)
	chunked := b.chunked(a, int(nc))
	// Chunked: W workers per (sequence, head, p-block) walk every W-th chunk
	// backwards, each from the chunk's entry state (Hin) and the gradient
	// arriving from later chunks (dHend). Sequential: one worker carries both.
	W := int64(1)
	if chunked {
		W = min(nc, ssdBwdWorkers)
	}
	blocks := int64(g.pblocks) * int64(a.Heads) * int64(a.Batch) * W
	per := int64(g.block) * int64(g.nper)
	// fp32 scratch: ddt[rows*H] dB[rows*GN] dC[rows*GN] dA[H] dD[H] | hs | ckpt, or Hin logdec dS
	accN := rows*int64(a.Heads) + 2*rows*gn + 2*int64(a.Heads)
	hsN := blocks * int64(a.ChunkSize+1) * per
	var ckN, sN, ldN int64
	if chunked {
		sN, ldN = ssdChunkSizes(a, int(nc))
	} else {
		ckN = blocks * nc * per
	}
	return b.do(func() error {
		base, err := b.scratch((accN + hsN + ckN + 2*sN + ldN) * 4)
		if err != nil {
			return err
		}
		f := func(off int64) dptr { return base + dptr(off*4) }
		ddtAcc, dBAcc := f(0), f(rows*int64(a.Heads))
		dCAcc := f(rows*int64(a.Heads) + rows*gn)
		dAAcc := f(rows*int64(a.Heads) + 2*rows*gn)
		dDAcc := dAAcc + dptr(a.Heads*4)
		hs := f(accN)
		var ck, hin, dhend uint64
		if err := b.dev.memsetD32(base, 0, accN); err != nil {
			return fmt.Errorf("cuda: ssd backward: clearing accumulators: %v", err)
		}
		o := b.ssdOps(a)
		dyp, dys, dydt := b.mat(a.DY)
		dxp, dxs, dxdt := b.mat(a.DX)
		if chunked {
			h, ld, ds := f(accN+hsN), f(accN+hsN+sN), f(accN+hsN+sN+ldN)
			if err := b.ssdChunkStates(a, g, o, int(nc), h, ld, 0); err != nil {
				return err
			}
			if err := b.launch("k_ssd_bwd_dstate", g.pblocks, a.Heads, a.Batch*int(nc), g.block, g.TS*(a.State+g.PB+1)*4,
				o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.cm, o.cs, o.cdt, dyp, dys, dydt, ptrArg(ds),
				intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.State), intArg(g.PB), intArg(g.NS),
				intArg(a.ChunkSize), intArg(int(nc)), intArg(g.TS)); err != nil {
				return err
			}
			n := int64(a.Batch) * int64(a.Heads) * int64(a.HeadDim) * int64(a.State)
			if err := b.launch("k_ssd_bwd_pass", int((n+255)/256), 1, 1, 256, 0, ptrArg(ds), ptrArg(ld),
				intArg(a.Batch), intArg(a.Heads), intArg(a.HeadDim), intArg(a.State), intArg(int(nc))); err != nil {
				return err
			}
			hin, dhend = ptrArg(h), ptrArg(ds)
		} else {
			ck = ptrArg(f(accN + hsN))
		}
		if err := b.launch("k_ssd_bwd", g.pblocks, a.Heads, a.Batch*int(W), g.block, g.bwdSmem(a.State),
			o.x, o.xs, o.xdt, o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), b.ptr(a.ALog), o.bm, o.bs, o.bdt, o.cm, o.cs, o.cdt,
			b.ptr(a.D), dyp, dys, dydt, dxp, dxs, dxdt, ptrArg(ddtAcc), ptrArg(dBAcc), ptrArg(dCAcc), ptrArg(dAAcc), ptrArg(dDAcc),
			ck, ptrArg(hs), hin, dhend, intArg(int(W)), intArg(a.Seq), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups),
			intArg(a.State), intArg(g.PB), intArg(g.NS), intArg(a.ChunkSize), intArg(g.bwdTS(a.State))); err != nil {
			return err
		}
		ddp, dds, dddt := b.mat(a.DDT)
		span := 4096
		if err := b.launch("k_ssd_bwd_dt", a.Heads, int((rows+int64(span)-1)/int64(span)), 1, 256, 0,
			ptrArg(ddtAcc), o.dt, o.dts, o.dtdt, b.ptr(a.DTBias), ddp, dds, dddt, b.ptr(a.DDTBias), i64Arg(int(rows)), intArg(a.Heads), intArg(span)); err != nil {
			return err
		}
		if err := b.launch("k_ssd_bwd_heads", (a.Heads+127)/128, 1, 1, 128, 0,
			ptrArg(dAAcc), ptrArg(dDAcc), b.ptr(a.ALog), b.ptr(a.DALog), b.ptr(a.DD), intArg(a.Heads)); err != nil {
			return err
		}
		for _, c := range []struct {
			m   gpu.Mat
			src dptr
		}{{a.DB, dBAcc}, {a.DC, dCAcc}} {
			p, s, dt := b.mat(c.m)
			if err := b.launch("k_copy2d", b.gridFor(rows*gn, 256), 1, 1, 256, 0, p, s, dt, ptrArg(c.src), i64Arg(int(rows)), intArg(int(gn))); err != nil {
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
