package gpumodel

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// prefillHook lets Prefill take each layer's final SSM state and conv input.
type prefillHook struct {
	finalState gpu.Buffer                  // F32 [H*P*N]: SSDArgs.FinalState
	after      func(l int, la lacts) error // called after layer l's forward
}

func errs(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// bias is the conv bias buffer, or a nil interface without conv bias.
func bias(p *param) gpu.Buffer {
	if p == nil {
		return nil
	}
	return p.w
}

func grad(p *param) gpu.Buffer {
	if p == nil {
		return nil
	}
	return p.g
}

// normArgs is layer l's add+RMSNorm: r_l = h + r_{l-1} (layer 0: the
// embedding), u = RMSNorm(r_l) * w. In inference the residual is updated in
// place in slot 0.
func (g *Model) normArgs(x *acts, l, T int) *gpu.AddRMSNormArgs {
	D := g.d.D
	la := x.view(l)
	a := &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: g.eps, X: gpu.Dense(x.h, D), Weight: g.layers[l].norm.w,
		Out: gpu.Dense(la.u, D), ResidualOut: gpu.Dense(la.res, D), Rstd: la.rstd}
	if l > 0 {
		prev := gpu.Dense(x.view(l-1).res, D)
		a.Residual = &prev
	}
	return a
}

func (g *Model) convArgs(x *acts, l, T int) *gpu.Conv1dArgs {
	d, L, la := g.d, g.layers[l], x.view(l)
	return &gpu.Conv1dArgs{Batch: 1, Seq: T, Channels: d.CD, Width: d.K, SiLU: true, X: gpu.Cols(la.zx, d.DP, d.DI),
		Weight: L.convW.w, Bias: bias(L.convB), Out: gpu.Dense(la.xbc, d.CD),
		DOut: gpu.Dense(x.dxbc, d.CD), DX: gpu.Cols(x.dzx, d.DP, d.DI), DWeight: grad(L.convW), DBias: grad(L.convB)}
}

func (g *Model) ssdArgs(x *acts, l, T int) *gpu.SSDArgs {
	d, L, la := g.d, g.layers[l], x.view(l)
	GN := d.G * d.N
	return &gpu.SSDArgs{Batch: 1, Seq: T, Heads: d.H, HeadDim: d.P, Groups: d.G, State: d.N, ChunkSize: d.Q,
		X: gpu.Cols(la.xbc, d.CD, 0), B: gpu.Cols(la.xbc, d.CD, d.DI), C: gpu.Cols(la.xbc, d.CD, d.DI+GN),
		DT: gpu.Cols(la.zx, d.DP, d.DI+d.CD), DTBias: L.dtBias.w, ALog: L.aLog.w, D: L.dd.w, Y: gpu.Dense(la.y, d.DI),
		DY: gpu.Dense(x.dy, d.DI), DX: gpu.Cols(x.dxbc, d.CD, 0), DB: gpu.Cols(x.dxbc, d.CD, d.DI), DC: gpu.Cols(x.dxbc, d.CD, d.DI+GN),
		DDT: gpu.Cols(x.dzx, d.DP, d.DI+d.CD), DDTBias: grad(L.dtBias), DALog: grad(L.aLog), DD: grad(L.dd)}
}

func (g *Model) gnormArgs(x *acts, l, T int) *gpu.GatedRMSNormArgs {
	d, L, la := g.d, g.layers[l], x.view(l)
	return &gpu.GatedRMSNormArgs{Rows: T, Dim: d.DI, GroupSize: d.DI / d.G, Eps: g.eps, X: gpu.Dense(la.y, d.DI), Z: gpu.Cols(la.zx, d.DP, 0),
		Weight: L.gnorm.w, Out: gpu.Dense(la.g, d.DI), Rstd: la.grstd,
		DOut: gpu.Dense(x.dg, d.DI), DX: gpu.Dense(x.dy, d.DI), DZ: gpu.Cols(x.dzx, d.DP, 0), DWeight: grad(L.gnorm)}
}

// mixer runs layer l's conv, scan and gated norm from its in_proj output
// (the part of the forward pass that backward recomputes).
func (g *Model) mixer(ctx context.Context, x *acts, l, T int, finalState gpu.Buffer) error {
	sa := g.ssdArgs(x, l, T)
	sa.FinalState = finalState
	return errs(
		func() error { return g.be.Conv1d(ctx, g.convArgs(x, l, T)) },
		func() error { return g.be.SSD(ctx, sa) },
		func() error { return g.be.GatedRMSNorm(ctx, g.gnormArgs(x, l, T)) },
	)
}

// forward runs the network on ids, leaving the logits in x.logits and, in
// training, the per-layer activations in x; in training it also computes the
// per-position losses against x.labels with dlogits (scaled later) in place.
// With labels (training) the ids and labels go to the device in one copy
// (on CUDA each copy from the host waits for the stream), x.labels then
// being the view of tok after the ids.
func (g *Model) forward(ctx context.Context, x *acts, ids, labels []int32, hook *prefillHook) error {
	be, d, T := g.be, g.d, len(ids)
	if labels == nil {
		if err := be.WriteInt32(x.ids, 0, ids); err != nil {
			return err
		}
	} else {
		lv, err := gpu.Slice(x.tok, T, T)
		if err != nil {
			return fmt.Errorf("gpumodel: labels: %w", err)
		}
		both := make([]int32, 2*T)
		copy(both, ids)
		copy(both[T:], labels)
		if err := be.WriteInt32(x.tok, 0, both); err != nil {
			return err
		}
		x.labels = lv
	}
	if err := be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: T, Dim: d.D, IDs: x.ids, Table: g.emb.w, Out: gpu.Dense(x.h, d.D)}); err != nil {
		return fmt.Errorf("gpumodel: embedding: %w", err)
	}
	for l := range g.layers {
		L, la := g.layers[l], x.view(l)
		var fs gpu.Buffer
		if hook != nil {
			fs = hook.finalState
		}
		if err := errs(
			func() error { return be.AddRMSNorm(ctx, g.normArgs(x, l, T)) },
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: T, N: d.DP, K: d.D, Alpha: 1,
					A: gpu.Dense(la.u, d.D), B: gpu.Dense(L.in.work, d.D), C: gpu.Dense(la.zx, d.DP)})
			},
			func() error { return g.mixer(ctx, x, l, T, fs) },
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: T, N: d.D, K: d.DI, Alpha: 1,
					A: gpu.Dense(la.g, d.DI), B: gpu.Dense(L.out.work, d.DI), C: gpu.Dense(x.h, d.D)})
			},
		); err != nil {
			return fmt.Errorf("gpumodel: layer %d forward: %w", l, err)
		}
		if hook != nil && hook.after != nil {
			if err := hook.after(l, la); err != nil {
				return err
			}
		}
	}
	if err := errs(
		func() error { return be.AddRMSNorm(ctx, g.finalNormArgs(x, T)) },
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: T, N: d.V, K: d.D, Alpha: 1,
				A: gpu.Dense(x.fin, d.D), B: gpu.Dense(g.head.work, d.D), C: gpu.Dense(x.logits, d.V)})
		},
	); err != nil {
		return fmt.Errorf("gpumodel: head forward: %w", err)
	}
	return nil
}

func (g *Model) finalNormArgs(x *acts, T int) *gpu.AddRMSNormArgs {
	D := g.d.D
	last := gpu.Dense(x.view(g.d.L-1).res, D)
	return &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: g.eps, X: gpu.Dense(x.h, D), Residual: &last, Weight: g.normF.w,
		Out: gpu.Dense(x.fin, D), ResidualOut: gpu.Dense(x.finRes, D), Rstd: x.finRstd,
		DOut: gpu.Dense(x.dnorm, D), DX: gpu.Dense(x.carry, D), DXCopy: carryCopy(x, D), DWeight: g.normF.g}
}

// carryCopy is where a norm backward writes the bf16 copy of the residual
// gradient that the next layer's out_proj GEMMs read (nil in f32 mode).
func carryCopy(x *acts, D int) *gpu.Mat {
	if x.carryW == nil {
		return nil
	}
	m := gpu.Dense(x.carryW, D)
	return &m
}

// backward back-propagates the loss of the last training forward pass.
func (g *Model) backward(ctx context.Context, x *acts, T int, gradScale float32) error {
	be, d := g.be, g.d
	var dl gpu.Buffer
	if err := errs(
		// dlogits go straight to the GEMMs' dtype: in place of the logits
		// in f32, into dlogitsW in bf16 (no Convert)
		func() error {
			dl = x.logits
			if x.dlogitsW != nil {
				dl = x.dlogitsW
			}
			return be.CrossEntropy(ctx, &gpu.CrossEntropyArgs{Rows: T, Vocab: d.V, GradScale: gradScale,
				Logits: gpu.Dense(x.logits, d.V), Labels: x.labels, Losses: x.losses, DLogits: gpu.Dense(dl, d.V)})
		},
		// LM head: dfin = dlogits·W, dW += dlogitsᵀ·fin; then the final norm.
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{M: T, N: d.D, K: d.V, Alpha: 1, A: gpu.Dense(dl, d.V), B: gpu.Dense(g.head.work, d.D), C: gpu.Dense(x.dnorm, d.D)})
		},
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransA: true, M: d.V, N: d.D, K: T, Alpha: 1, Beta: 1, A: gpu.Dense(dl, d.V), B: gpu.Dense(x.fin, d.D), C: gpu.Dense(g.head.g, d.D)})
		},
		func() error { return be.AddRMSNormBackward(ctx, g.finalNormArgs(x, T)) },
	); err != nil {
		return fmt.Errorf("gpumodel: head backward: %w", err)
	}
	for l := d.L - 1; l >= 0; l-- {
		if err := g.layerBackward(ctx, x, l, T); err != nil {
			return fmt.Errorf("gpumodel: layer %d backward: %w", l, err)
		}
		x.carry, x.next = x.next, x.carry
	}
	if err := be.EmbeddingBackward(ctx, &gpu.EmbeddingArgs{Rows: T, Dim: d.D, IDs: x.ids, DOut: gpu.Dense(x.carry, d.D), DTable: g.emb.g}); err != nil {
		return fmt.Errorf("gpumodel: embedding backward: %w", err)
	}
	return nil
}

// layerBackward takes x.carry = dL/dr_{l+1} (the gradient of the residual
// after layer l, which is also that of layer l's mixer output) and writes
// x.next = dL/dr_l, accumulating layer l's weight gradients. A layer whose
// activations were not kept first recomputes them from its residual and
// in_proj output.
func (g *Model) layerBackward(ctx context.Context, x *acts, l, T int) error {
	be, d, L, la := g.be, g.d, g.layers[l], x.view(l)
	D := d.D
	steps := []func() error{}
	if la.recompute {
		steps = append(steps,
			// r_l is kept: the norm is re-run on it alone (writing the same
			// values back), then conv, scan and gated norm.
			func() error {
				return be.AddRMSNorm(ctx, &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: g.eps, X: gpu.Dense(la.res, D), Weight: L.norm.w,
					Out: gpu.Dense(la.u, D), ResidualOut: gpu.Dense(la.res, D), Rstd: la.rstd})
			},
			func() error { return g.mixer(ctx, x, l, T, nil) },
		)
	}
	carry := gpu.Dense(x.carry, D)
	na := g.normArgs(x, l, T)
	na.DOut, na.DResidualOut, na.DX, na.DXCopy, na.DWeight = gpu.Dense(x.dnorm, D), &carry, gpu.Dense(x.next, D), carryCopy(x, D), L.norm.g
	// the bf16 copy of carry was written by the norm backward that wrote
	// carry (the final norm's, or layer l+1's)
	cw := x.carry
	if x.carryW != nil {
		cw = x.carryW
	}
	steps = append(steps,
		// out_proj: dg = carry·W, dW += carryᵀ·g.
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{M: T, N: d.DI, K: D, Alpha: 1, A: gpu.Dense(cw, D), B: gpu.Dense(L.out.work, d.DI), C: gpu.Dense(x.dg, d.DI)})
		},
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransA: true, M: D, N: d.DI, K: T, Alpha: 1, Beta: 1, A: gpu.Dense(cw, D), B: gpu.Dense(la.g, d.DI), C: gpu.Dense(L.out.g, d.DI)})
		},
		func() error { return be.GatedRMSNormBackward(ctx, g.gnormArgs(x, l, T)) },
		func() error { return be.SSDBackward(ctx, g.ssdArgs(x, l, T)) },
		func() error { return be.Conv1dBackward(ctx, g.convArgs(x, l, T)) },
		// in_proj: du = dzx·W, dW += dzxᵀ·u.
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{M: T, N: D, K: d.DP, Alpha: 1, A: gpu.Dense(x.dzx, d.DP), B: gpu.Dense(L.in.work, D), C: gpu.Dense(x.dnorm, D)})
		},
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransA: true, M: d.DP, N: D, K: T, Alpha: 1, Beta: 1, A: gpu.Dense(x.dzx, d.DP), B: gpu.Dense(la.u, D), C: gpu.Dense(L.in.g, D)})
		},
		// dr_l = norm backward + carry (r_{l+1} = h_l + r_l).
		func() error { return be.AddRMSNormBackward(ctx, na) },
	)
	return errs(steps...)
}
