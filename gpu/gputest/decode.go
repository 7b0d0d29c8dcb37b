package gputest

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
)

// Decoder runs a Model's weights one token at a time for Batch sequences
// with the recurrent state (conv state and SSD state per layer): the
// generation path.
type Decoder struct {
	m     *Model
	Batch int
	ids   gpu.Buffer // I32 [Batch]
	h     gpu.Buffer
	res   gpu.Buffer // F32 [Batch, Dm], updated in place layer by layer
	u, zx gpu.Buffer
	xbc   gpu.Buffer
	y, g  gpu.Buffer
	rstd  gpu.Buffer
	grstd gpu.Buffer
	conv  []gpu.Buffer // per layer F32 [Batch, convDim, Conv]
	ssd   []gpu.Buffer // per layer F32 [Batch, heads, HeadDim, State]
	fin   gpu.Buffer
	fres  gpu.Buffer
	frstd gpu.Buffer
	// Logits is F32 [Batch, V] after Step.
	Logits gpu.Buffer
	// Unfused makes Step use the unfused ops even when the backend
	// implements gpu.FusedDecoder (for comparing the two paths).
	Unfused bool
}

// NewDecoder allocates the decode buffers and zero states for batch sequences.
func NewDecoder(m *Model, batch int) (*Decoder, error) {
	c, B := m.cfg, batch
	al := &allocator{be: m.be}
	d := &Decoder{m: m, Batch: B}
	d.ids = al.buf(gpu.I32, B)
	d.h, d.res, d.u = al.buf(m.dt, B*c.Dm), al.buf(gpu.F32, B*c.Dm), al.buf(m.dt, B*c.Dm)
	d.zx, d.xbc = al.buf(m.dt, B*c.inProj()), al.buf(m.dt, B*c.convDim())
	d.y, d.g = al.buf(m.dt, B*c.Inner), al.buf(m.dt, B*c.Inner)
	d.rstd, d.grstd = al.buf(gpu.F32, B), al.buf(gpu.F32, B*c.Groups)
	for range m.layers {
		d.conv = append(d.conv, al.buf(gpu.F32, B*c.convDim()*c.Conv))
		d.ssd = append(d.ssd, al.buf(gpu.F32, B*c.Inner*c.State))
	}
	d.fin, d.fres, d.frstd = al.buf(m.dt, B*c.Dm), al.buf(gpu.F32, B*c.Dm), al.buf(gpu.F32, B)
	d.Logits = al.buf(gpu.F32, B*c.V)
	return d, al.err
}

// SetTokens writes the next input token of each sequence.
func (d *Decoder) SetTokens(ids []int32) error {
	if len(ids) != d.Batch {
		return fmt.Errorf("decoder: %d tokens for batch %d", len(ids), d.Batch)
	}
	return d.m.be.WriteInt32(d.ids, 0, ids)
}

// Step queues one decode step: the tokens set by SetTokens in, Logits out.
// It issues only device work (no host synchronisation), so a CUDA backend
// can capture it into a graph. On a backend with gpu.FusedDecoder (unless
// Unfused is set) a layer is three fused ops instead of six.
func (d *Decoder) Step(ctx context.Context) error {
	if fd, ok := d.m.be.(gpu.FusedDecoder); ok && !d.Unfused {
		return d.stepFused(ctx, fd)
	}
	m, be, c, B := d.m, d.m.be, d.m.cfg, d.Batch
	D, I, CD, IP, H, GN := c.Dm, c.Inner, c.convDim(), c.inProj(), c.heads(), c.Groups*c.State
	if err := be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: B, Dim: D, IDs: d.ids, Table: m.emb.work, Out: gpu.Dense(d.h, D)}); err != nil {
		return err
	}
	res := gpu.Dense(d.res, D)
	for l, L := range m.layers {
		na := &gpu.AddRMSNormArgs{Rows: B, Dim: D, Eps: 1e-5, X: gpu.Dense(d.h, D), Weight: L.norm.w, Out: gpu.Dense(d.u, D),
			ResidualOut: res, Rstd: d.rstd}
		if l > 0 {
			na.Residual = &res // in place: r_l = h_{l-1} + r_{l-1}
		}
		if err := errs(
			func() error { return be.AddRMSNorm(ctx, na) },
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: B, N: IP, K: D, Alpha: 1, A: gpu.Dense(d.u, D), B: gpu.Dense(L.in.work, D), C: gpu.Dense(d.zx, IP)})
			},
			func() error {
				return be.Conv1dStep(ctx, &gpu.Conv1dStepArgs{Batch: B, Channels: CD, Width: c.Conv, SiLU: true, X: gpu.Cols(d.zx, IP, I),
					State: d.conv[l], Weight: L.convW.w, Bias: L.convB.w, Out: gpu.Dense(d.xbc, CD)})
			},
			func() error {
				return be.SSDStep(ctx, &gpu.SSDStepArgs{Batch: B, Heads: H, HeadDim: c.HeadDim, Groups: c.Groups, StateDim: c.State,
					X: gpu.Cols(d.xbc, CD, 0), B: gpu.Cols(d.xbc, CD, I), C: gpu.Cols(d.xbc, CD, I+GN), DT: gpu.Cols(d.zx, IP, IP-H),
					DTBias: L.dtBias.w, ALog: L.aLog.w, D: L.d.w, Y: gpu.Dense(d.y, I), State: d.ssd[l]})
			},
			func() error {
				return be.GatedRMSNorm(ctx, &gpu.GatedRMSNormArgs{Rows: B, Dim: I, GroupSize: I / c.Groups, Eps: 1e-5, X: gpu.Dense(d.y, I),
					Z: gpu.Cols(d.zx, IP, 0), Weight: L.gnorm.w, Out: gpu.Dense(d.g, I), Rstd: d.grstd})
			},
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: B, N: D, K: I, Alpha: 1, A: gpu.Dense(d.g, I), B: gpu.Dense(L.out.work, I), C: gpu.Dense(d.h, D)})
			},
		); err != nil {
			return fmt.Errorf("decode layer %d: %w", l, err)
		}
	}
	return errs(
		func() error {
			return be.AddRMSNorm(ctx, &gpu.AddRMSNormArgs{Rows: B, Dim: D, Eps: 1e-5, X: gpu.Dense(d.h, D), Residual: &res,
				Weight: m.normF.w, Out: gpu.Dense(d.fin, D), ResidualOut: gpu.Dense(d.fres, D), Rstd: d.frstd})
		},
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: B, N: c.V, K: D, Alpha: 1, A: gpu.Dense(d.fin, D), B: gpu.Dense(m.emb.work, D), C: gpu.Dense(d.Logits, c.V)})
		},
	)
}

// stepFused is Step with the fused ops: the embedding goes straight into
// the fp32 residual stream, DecodeInProj normalises it and runs in_proj and
// the conv step, DecodeMixer the scan step, DecodeOutProj the gated norm and
// out_proj and adds the layer's output into the residual; the final norm and
// the tied LM head are one more DecodeInProj. Per token: 2 + 3*Layers
// launches.
func (d *Decoder) stepFused(ctx context.Context, fd gpu.FusedDecoder) error {
	m, be, c, B := d.m, d.m.be, d.m.cfg, d.Batch
	D, I, CD, IP, H, GN := c.Dm, c.Inner, c.convDim(), c.inProj(), c.heads(), c.Groups*c.State
	res := gpu.Dense(d.res, D)
	if err := be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: B, Dim: D, IDs: d.ids, Table: m.emb.work, Out: res}); err != nil {
		return err
	}
	for l, L := range m.layers {
		if err := errs(
			func() error {
				return fd.DecodeInProj(ctx, &gpu.DecodeInProjArgs{Rows: B, Dim: D, N: IP, Eps: 1e-5, X: res, NormWeight: L.norm.w,
					W: gpu.Dense(L.in.work, D), Out: gpu.Dense(d.zx, IP),
					ConvDim: CD, ConvOff: I, ConvWidth: c.Conv, ConvSiLU: true, ConvState: d.conv[l], ConvWeight: L.convW.w,
					ConvBias: L.convB.w, ConvOut: gpu.Dense(d.xbc, CD)})
			},
			func() error {
				return fd.DecodeMixer(ctx, &gpu.DecodeMixerArgs{Batch: B, Heads: H, HeadDim: c.HeadDim, Groups: c.Groups, StateDim: c.State,
					X: gpu.Cols(d.xbc, CD, 0), B: gpu.Cols(d.xbc, CD, I), C: gpu.Cols(d.xbc, CD, I+GN), DT: gpu.Cols(d.zx, IP, IP-H),
					DTBias: L.dtBias.w, ALog: L.aLog.w, D: L.d.w, Y: gpu.Dense(d.y, I), State: d.ssd[l]})
			},
			func() error {
				return fd.DecodeOutProj(ctx, &gpu.DecodeOutProjArgs{Rows: B, Dim: I, N: D, GroupSize: I / c.Groups, Eps: 1e-5,
					Y: gpu.Dense(d.y, I), Z: gpu.Cols(d.zx, IP, 0), NormWeight: L.gnorm.w, W: gpu.Dense(L.out.work, I),
					Out: gpu.Dense(d.h, D), Residual: &res})
			},
		); err != nil {
			return fmt.Errorf("decode layer %d: %w", l, err)
		}
	}
	return fd.DecodeInProj(ctx, &gpu.DecodeInProjArgs{Rows: B, Dim: D, N: c.V, Eps: 1e-5, X: res, NormWeight: m.normF.w,
		W: gpu.Dense(m.emb.work, D), Out: gpu.Dense(d.Logits, c.V)})
}

// Greedy returns the argmax token of each sequence's logits (lowest id on ties).
func (d *Decoder) Greedy() ([]int32, error) {
	V := d.m.cfg.V
	lg := make([]float32, d.Batch*V)
	if err := d.m.be.Read(lg, d.Logits, 0); err != nil {
		return nil, err
	}
	out := make([]int32, d.Batch)
	for b := range out {
		best := 0
		for v := 1; v < V; v++ {
			if lg[b*V+v] > lg[b*V+best] {
				best = v
			}
		}
		out[b] = int32(best)
	}
	return out, nil
}

// TestGenerate decodes greedily from the same untrained model on the
// reference and on dut (batch 3, different prompts) and requires the same
// tokens and close logits; on dut it also requires the decode path's logits
// to match a full forward pass over the generated sequence.
func TestGenerate(t *testing.T, dut gpu.Backend) {
	const steps, batch = 16, 3
	ctx := context.Background()
	r := rand.New(rand.NewSource(90))
	prompt := make([]int32, batch)
	for i := range prompt {
		prompt[i] = int32(r.Intn(tiny.V))
	}
	init := modelInit(tiny, 91)
	var toks [2][][]int32
	var logits [2][]float32
	for s, be := range []gpu.Backend{cpu.New(), dut} {
		m, err := newModel(be, tiny, steps, gpu.F32, init)
		if err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		d, err := NewDecoder(m, batch)
		if err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		cur := prompt
		toks[s] = append(toks[s], cur)
		for i := 0; i < steps; i++ {
			if err := d.SetTokens(cur); err != nil {
				t.Fatal(err)
			}
			if err := d.Step(ctx); err != nil {
				t.Fatalf("%s: step %d: %v", be.Name(), i, err)
			}
			if cur, err = d.Greedy(); err != nil {
				t.Fatal(err)
			}
			toks[s] = append(toks[s], cur)
			lg := make([]float32, batch*tiny.V)
			if err := be.Read(lg, d.Logits, 0); err != nil {
				t.Fatal(err)
			}
			logits[s] = append(logits[s], lg...)
		}
	}
	for i := range toks[0] {
		for b := range toks[0][i] {
			if toks[0][i][b] != toks[1][i][b] {
				t.Fatalf("sequence %d step %d: token %d on %s, %d on the reference", b, i, toks[1][i][b], dut.Name(), toks[0][i][b])
			}
		}
	}
	if err := Compare(logits[1], logits[0], TolScan); err != nil {
		t.Errorf("decode logits: %v", err)
	}
	// The decode path must agree with the training path (chunked scan over
	// the whole sequence): the mean cross-entropy of sequence 0's decode
	// logits against its next tokens equals TrainStep's loss, which is
	// computed before the weights are updated.
	seq := column(toks[1], 0)
	var want float64
	for i := 0; i < steps; i++ {
		lg := logits[1][(i*batch)*tiny.V : (i*batch+1)*tiny.V]
		mx := lg[0]
		for _, v := range lg {
			mx = max(mx, v)
		}
		var se float64
		for _, v := range lg {
			se += math.Exp(float64(v - mx))
		}
		want += float64(mx) + math.Log(se) - float64(lg[seq[i+1]])
	}
	want /= steps
	m, err := newModel(dut, tiny, steps, gpu.F32, init)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.TrainStep(ctx, seq, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-4*want {
		t.Errorf("training-path loss %v, decode-path loss %v on %s", got, want, dut.Name())
	}
	t.Logf("greedy tokens of sequence 0: %v; loss %v", seq, got)
}

func column(t [][]int32, b int) []int32 {
	out := make([]int32, len(t))
	for i := range t {
		out[i] = t[i][b]
	}
	return out
}

// BenchDecodeUnfused is BenchDecode with Decoder.Unfused set: the six-op
// layer even on a backend with gpu.FusedDecoder, for comparing the two
// paths (BenchDecode itself takes the fused path there).
func BenchDecodeUnfused(b *testing.B, be gpu.Backend, cfg Config, batch int, dt gpu.DType, capture func(step func() error) (func() error, error)) {
	benchDecode(b, be, cfg, batch, dt, capture, true)
}
