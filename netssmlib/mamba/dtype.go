package mamba

import (
	"fmt"

	"github.com/netssm/netssm/netssmlib/checkpoint"
)

// SetComputeDType chooses the precision of the three matrix products of
// nn.Linear layers (in_proj, out_proj, lm_head): F32 (the default) or BF16,
// which emulates PyTorch's bf16 autocast on the CPU: the weights and the
// inputs of those products are rounded to bfloat16 (ties to even) and the
// products accumulate in fp32. Everything else (norms, conv, SSD, residual,
// loss) stays fp32, as in mamba-ssm's kernels; the master weights and
// gradients stay fp32.
//
// The bf16 weight copies are refreshed by Forward, ForwardBackward and
// Prefill; Step uses them as of the last of those calls (or of this one), so
// call Prefill or RefreshComputeWeights after changing weights and before
// stepping.
func (m *Model) SetComputeDType(dt checkpoint.DType) error {
	switch dt {
	case checkpoint.F32:
		m.bf16 = nil
		return nil
	case checkpoint.BF16:
		m.bf16 = map[*Param][]float32{}
		m.RefreshComputeWeights()
		return nil
	}
	return fmt.Errorf("compute dtype %q is not supported (F32 or BF16)", dt)
}

// ComputeDType reports the precision set by SetComputeDType.
func (m *Model) ComputeDType() checkpoint.DType {
	if m.bf16 != nil {
		return checkpoint.BF16
	}
	return checkpoint.F32
}

// RefreshComputeWeights re-rounds the bf16 weight copies from the fp32
// master weights (a no-op in F32).
func (m *Model) RefreshComputeWeights() {
	if m.bf16 == nil {
		return
	}
	ps := []*Param{m.lmHead}
	for i := range m.layers {
		ps = append(ps, m.layers[i].inProj, m.layers[i].outProj)
	}
	for _, p := range ps {
		c := m.bf16[p]
		if len(c) != len(p.Data) {
			c = make([]float32, len(p.Data))
			m.bf16[p] = c
		}
		parallelFor(len(c), 4096, func(_, lo, hi int) {
			for i, v := range p.Data[lo:hi] {
				c[lo+i] = roundBF16(v)
			}
		})
	}
}

// linW returns the weights a matrix product uses.
func (m *Model) linW(p *Param) []float32 {
	if m.bf16 != nil {
		if c, ok := m.bf16[p]; ok {
			return c
		}
	}
	return p.Data
}

// roundInput rounds a product's input to bf16 in place when computing in bf16.
func (m *Model) roundInput(x []float32) {
	if m.bf16 == nil {
		return
	}
	parallelFor(len(x), 4096, func(_, lo, hi int) {
		for i, v := range x[lo:hi] {
			x[lo+i] = roundBF16(v)
		}
	})
}

func roundBF16(v float32) float32 { return checkpoint.F32FromBF16(checkpoint.BF16FromF32(v)) }
