package gpu

import (
	"fmt"
	"math"
)

func sqrt(x float64) float64 { return math.Sqrt(x) }

// checkMat checks that m covers rows x cols elements inside its buffer and
// has one of the allowed dtypes.
func checkMat(op, name string, m Mat, rows, cols int, dts ...DType) error {
	if m.Buf == nil {
		return fmt.Errorf("%s: %s: nil buffer", op, name)
	}
	if err := checkDType(op, name, m.Buf, dts...); err != nil {
		return err
	}
	if rows < 0 || cols < 0 || m.Off < 0 {
		return fmt.Errorf("%s: %s: negative shape or offset (%dx%d at %d)", op, name, rows, cols, m.Off)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if rows > 1 && m.Stride < cols {
		return fmt.Errorf("%s: %s: row stride %d < %d columns", op, name, m.Stride, cols)
	}
	end := m.Off + (rows-1)*m.Stride + cols
	if end > m.Buf.Len() {
		return fmt.Errorf("%s: %s: view of %dx%d at offset %d stride %d needs %d elements, buffer has %d",
			op, name, rows, cols, m.Off, m.Stride, end, m.Buf.Len())
	}
	return nil
}

// checkVec checks that b holds at least n elements of an allowed dtype.
func checkVec(op, name string, b Buffer, n int, dts ...DType) error {
	if b == nil {
		return fmt.Errorf("%s: %s: nil buffer", op, name)
	}
	if err := checkDType(op, name, b, dts...); err != nil {
		return err
	}
	if b.Len() < n {
		return fmt.Errorf("%s: %s: needs %d elements, buffer has %d", op, name, n, b.Len())
	}
	return nil
}

func checkDType(op, name string, b Buffer, dts ...DType) error {
	if len(dts) == 0 {
		return nil
	}
	for _, d := range dts {
		if b.DType() == d {
			return nil
		}
	}
	return fmt.Errorf("%s: %s: dtype %v, want one of %v", op, name, b.DType(), dts)
}

func checkPos(op string, kv ...any) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1].(int); v <= 0 {
			return fmt.Errorf("%s: %s must be > 0, got %d", op, kv[i], v)
		}
	}
	return nil
}

var floats = []DType{F32, BF16}

// EmbeddingArgs: Out[r,:] = Table[IDs[r],:] for r < Rows.
// Backward: DTable[IDs[r],:] += DOut[r,:].
// IDs outside [0, vocab) give zero rows forward and no gradient; the CPU
// backend reports them as an error.
type EmbeddingArgs struct {
	Rows, Dim int
	IDs       Buffer // I32 [Rows]
	Table     Buffer // F32|BF16 [vocab*Dim]
	Out       Mat    // F32|BF16 [Rows, Dim]
	DOut      Mat    // backward input [Rows, Dim]
	DTable    Buffer // F32 [vocab*Dim], accumulated
}

// Vocab is the number of rows of the table.
func (a *EmbeddingArgs) Vocab(table Buffer) int {
	if a.Dim <= 0 || table == nil {
		return 0
	}
	return table.Len() / a.Dim
}

// Validate checks the forward (backward=false) or backward arguments.
func (a *EmbeddingArgs) Validate(backward bool) error {
	const op = "embedding"
	if err := checkPos(op, "Rows", a.Rows, "Dim", a.Dim); err != nil {
		return err
	}
	if err := checkVec(op, "IDs", a.IDs, a.Rows, I32); err != nil {
		return err
	}
	if backward {
		if err := checkVec(op, "DTable", a.DTable, a.Dim, F32); err != nil {
			return err
		}
		return checkMat(op, "DOut", a.DOut, a.Rows, a.Dim, floats...)
	}
	if err := checkVec(op, "Table", a.Table, a.Dim, floats...); err != nil {
		return err
	}
	return checkMat(op, "Out", a.Out, a.Rows, a.Dim, floats...)
}

// AddRMSNormArgs is mamba-ssm's fused add + RMSNorm (residual_in_fp32):
//
//	r = X + Residual            (Residual may be nil: r = X)
//	ResidualOut = r             (F32)
//	Rstd[i] = 1/sqrt(mean(r[i,:]^2) + Eps)
//	Out = r * Rstd * Weight
//
// Backward, with DResidualOut the gradient reaching ResidualOut from later
// blocks (nil = none):
//
//	g = DOut*Weight; rh = r*Rstd
//	DX = Rstd*(g - rh*mean(g*rh)) + DResidualOut   (also the gradient of Residual)
//	DXCopy = DX as stored, in DXCopy's dtype       (optional: a second copy,
//	                                                 e.g. the bf16 one a GEMM reads)
//	DWeight += sum_rows DOut*rh
type AddRMSNormArgs struct {
	Rows, Dim   int
	Eps         float32
	X           Mat    // F32|BF16 [Rows, Dim]
	Residual    *Mat   // optional F32|BF16 [Rows, Dim]
	Weight      Buffer // F32|BF16 [Dim]
	Out         Mat    // F32|BF16 [Rows, Dim]
	ResidualOut Mat    // F32 [Rows, Dim]
	Rstd        Buffer // F32 [Rows]

	DOut         Mat    // backward input
	DResidualOut *Mat   // optional backward input, F32|BF16
	DX           Mat    // F32|BF16 [Rows, Dim]
	DXCopy       *Mat   // optional F32|BF16 [Rows, Dim]: DX again, rounded to its dtype
	DWeight      Buffer // F32 [Dim], accumulated
}

// Validate checks the forward or backward arguments.
func (a *AddRMSNormArgs) Validate(backward bool) error {
	const op = "add_rmsnorm"
	if err := checkPos(op, "Rows", a.Rows, "Dim", a.Dim); err != nil {
		return err
	}
	if !(a.Eps > 0) {
		return fmt.Errorf("%s: Eps must be > 0, got %v", op, a.Eps)
	}
	if err := checkVec(op, "Weight", a.Weight, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "ResidualOut", a.ResidualOut, a.Rows, a.Dim, F32); err != nil {
		return err
	}
	if err := checkVec(op, "Rstd", a.Rstd, a.Rows, F32); err != nil {
		return err
	}
	if backward {
		if err := checkMat(op, "DOut", a.DOut, a.Rows, a.Dim, floats...); err != nil {
			return err
		}
		if a.DResidualOut != nil {
			if err := checkMat(op, "DResidualOut", *a.DResidualOut, a.Rows, a.Dim, floats...); err != nil {
				return err
			}
		}
		if err := checkMat(op, "DX", a.DX, a.Rows, a.Dim, floats...); err != nil {
			return err
		}
		if a.DXCopy != nil {
			if err := checkMat(op, "DXCopy", *a.DXCopy, a.Rows, a.Dim, floats...); err != nil {
				return err
			}
		}
		return checkVec(op, "DWeight", a.DWeight, a.Dim, F32)
	}
	if err := checkMat(op, "X", a.X, a.Rows, a.Dim, floats...); err != nil {
		return err
	}
	if a.Residual != nil {
		if err := checkMat(op, "Residual", *a.Residual, a.Rows, a.Dim, floats...); err != nil {
			return err
		}
	}
	return checkMat(op, "Out", a.Out, a.Rows, a.Dim, floats...)
}

// GemmArgs: C = Alpha * op(A) * op(B) + Beta * C, row-major, with
// op(A) [M,K] (A stored [K,M] when TransA) and op(B) [K,N] (B stored [N,K]
// when TransB). A and B are both F32 or both BF16 (bf16 products accumulate
// in fp32); C is F32 or BF16. With Beta == 0, C is not read (NaNs in it do
// not propagate).
//
// Mamba2 uses: a linear layer y = x W^T (TransB), its input gradient
// dx = dy W (no transpose) and its weight gradient dW += dy^T x (TransA,
// Beta 1); the tied LM head is logits = h E^T with the same three forms.
type GemmArgs struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A, B, C        Mat
}

// Validate checks the arguments.
func (a *GemmArgs) Validate() error {
	const op = "gemm"
	if err := checkPos(op, "M", a.M, "N", a.N, "K", a.K); err != nil {
		return err
	}
	ar, ac := a.M, a.K
	if a.TransA {
		ar, ac = a.K, a.M
	}
	br, bc := a.K, a.N
	if a.TransB {
		br, bc = a.N, a.K
	}
	if err := checkMat(op, "A", a.A, ar, ac, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "B", a.B, br, bc, a.A.Buf.DType()); err != nil {
		return err
	}
	return checkMat(op, "C", a.C, a.M, a.N, floats...)
}

// Conv1dArgs is mamba-ssm's depthwise causal conv1d (causal_conv1d_fn) over
// sequences of Seq rows, Batch sequences stacked row-wise, with optional SiLU:
//
//	pre[b,t,c] = Bias[c] + sum_k Weight[c,k] * X[b, t-(Width-1)+k, c]  (X = 0 before t=0)
//	Out = SiLU ? silu(pre) : pre
//
// Backward: DX, DWeight (+=), DBias (+=) from DOut; X is read again.
type Conv1dArgs struct {
	Batch, Seq, Channels, Width int
	SiLU                        bool
	X                           Mat    // F32|BF16 [Batch*Seq, Channels]
	Weight                      Buffer // F32|BF16 [Channels*Width] (PyTorch [C,1,W])
	Bias                        Buffer // optional F32|BF16 [Channels]
	Out                         Mat    // F32|BF16 [Batch*Seq, Channels]

	DOut    Mat    // backward input
	DX      Mat    // F32|BF16
	DWeight Buffer // F32 [Channels*Width], accumulated
	DBias   Buffer // F32 [Channels], accumulated (ignored when Bias is nil)
}

// Validate checks the forward or backward arguments.
func (a *Conv1dArgs) Validate(backward bool) error {
	const op = "conv1d"
	if err := checkPos(op, "Batch", a.Batch, "Seq", a.Seq, "Channels", a.Channels, "Width", a.Width); err != nil {
		return err
	}
	rows := a.Batch * a.Seq
	if err := checkMat(op, "X", a.X, rows, a.Channels, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "Weight", a.Weight, a.Channels*a.Width, floats...); err != nil {
		return err
	}
	if a.Bias != nil {
		if err := checkVec(op, "Bias", a.Bias, a.Channels, floats...); err != nil {
			return err
		}
	}
	if backward {
		if err := checkMat(op, "DOut", a.DOut, rows, a.Channels, floats...); err != nil {
			return err
		}
		if err := checkMat(op, "DX", a.DX, rows, a.Channels, floats...); err != nil {
			return err
		}
		if err := checkVec(op, "DWeight", a.DWeight, a.Channels*a.Width, F32); err != nil {
			return err
		}
		if a.Bias != nil {
			return checkVec(op, "DBias", a.DBias, a.Channels, F32)
		}
		return nil
	}
	return checkMat(op, "Out", a.Out, rows, a.Channels, floats...)
}

// Conv1dStepArgs is one decode step of the conv (causal_conv1d_update):
// State [Batch, Channels, Width] holds the last Width inputs; it is shifted
// left by one, X appended, and Out = act(Bias + sum_k Weight[c,k]*State[b,c,k]).
type Conv1dStepArgs struct {
	Batch, Channels, Width int
	SiLU                   bool
	X                      Mat    // [Batch, Channels]
	State                  Buffer // F32 [Batch*Channels*Width], updated in place
	Weight                 Buffer // [Channels*Width]
	Bias                   Buffer // optional [Channels]
	Out                    Mat    // [Batch, Channels]
}

// Validate checks the arguments.
func (a *Conv1dStepArgs) Validate() error {
	const op = "conv1d_step"
	if err := checkPos(op, "Batch", a.Batch, "Channels", a.Channels, "Width", a.Width); err != nil {
		return err
	}
	if err := checkMat(op, "X", a.X, a.Batch, a.Channels, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "State", a.State, a.Batch*a.Channels*a.Width, F32); err != nil {
		return err
	}
	if err := checkVec(op, "Weight", a.Weight, a.Channels*a.Width, floats...); err != nil {
		return err
	}
	if a.Bias != nil {
		if err := checkVec(op, "Bias", a.Bias, a.Channels, floats...); err != nil {
			return err
		}
	}
	return checkMat(op, "Out", a.Out, a.Batch, a.Channels, floats...)
}

// SSDArgs is the Mamba2 SSD scan (mamba_chunk_scan_combined with
// dt_softplus=True, no z, no initial state), per sequence b and head h with
// group g = h / (Heads/Groups):
//
//	dt_t = softplus(DT[t,h] + DTBias[h]);  A = -exp(ALog[h])
//	H_t = exp(dt_t*A) H_{t-1} + dt_t * x_t B_t^T     (H: [HeadDim, State], H_{-1} = 0)
//	Y[t, h*P+p] = sum_n H_t[p,n] C_t[n] + D[h] x_t[p]
//
// computed in chunks of ChunkSize steps (exactly equal to the recurrence up to
// rounding). FinalState, when set, receives H at the last step
// [Batch, Heads, HeadDim, State].
//
// Backward (recomputes the states) gives DX, DDT (gradient of the raw DT,
// i.e. before bias and softplus), DB, DC (overwritten; heads sharing a group
// are summed), and accumulates DDTBias, DALog, DD.
type SSDArgs struct {
	Batch, Seq, Heads, HeadDim, Groups, State, ChunkSize int

	X      Mat    // F32|BF16 [Batch*Seq, Heads*HeadDim]
	DT     Mat    // F32|BF16 [Batch*Seq, Heads]
	DTBias Buffer // F32 [Heads]
	ALog   Buffer // F32 [Heads]
	B, C   Mat    // F32|BF16 [Batch*Seq, Groups*State]
	D      Buffer // F32 [Heads]
	Y      Mat    // F32|BF16 [Batch*Seq, Heads*HeadDim]

	FinalState Buffer // optional F32 [Batch*Heads*HeadDim*State]

	DY             Mat    // backward input
	DX, DDT        Mat    // F32|BF16
	DB, DC         Mat    // F32|BF16
	DDTBias, DALog Buffer // F32 [Heads], accumulated
	DD             Buffer // F32 [Heads], accumulated
}

// Validate checks the forward or backward arguments.
func (a *SSDArgs) Validate(backward bool) error {
	const op = "ssd"
	if err := checkPos(op, "Batch", a.Batch, "Seq", a.Seq, "Heads", a.Heads, "HeadDim", a.HeadDim,
		"Groups", a.Groups, "State", a.State, "ChunkSize", a.ChunkSize); err != nil {
		return err
	}
	if a.Heads%a.Groups != 0 {
		return fmt.Errorf("%s: Heads %d not a multiple of Groups %d", op, a.Heads, a.Groups)
	}
	rows, hp, gn := a.Batch*a.Seq, a.Heads*a.HeadDim, a.Groups*a.State
	for _, c := range []struct {
		n    string
		m    Mat
		cols int
	}{{"X", a.X, hp}, {"DT", a.DT, a.Heads}, {"B", a.B, gn}, {"C", a.C, gn}} {
		if err := checkMat(op, c.n, c.m, rows, c.cols, floats...); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		n string
		b Buffer
	}{{"DTBias", a.DTBias}, {"ALog", a.ALog}, {"D", a.D}} {
		if err := checkVec(op, c.n, c.b, a.Heads, F32); err != nil {
			return err
		}
	}
	if backward {
		for _, c := range []struct {
			n    string
			m    Mat
			cols int
		}{{"DY", a.DY, hp}, {"DX", a.DX, hp}, {"DDT", a.DDT, a.Heads}, {"DB", a.DB, gn}, {"DC", a.DC, gn}} {
			if err := checkMat(op, c.n, c.m, rows, c.cols, floats...); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			n string
			b Buffer
		}{{"DDTBias", a.DDTBias}, {"DALog", a.DALog}, {"DD", a.DD}} {
			if err := checkVec(op, c.n, c.b, a.Heads, F32); err != nil {
				return err
			}
		}
		return nil
	}
	if a.FinalState != nil {
		if err := checkVec(op, "FinalState", a.FinalState, a.Batch*hp*a.State, F32); err != nil {
			return err
		}
	}
	return checkMat(op, "Y", a.Y, rows, hp, floats...)
}

// SSDStepArgs is one decode step of the scan (selective_state_update) for
// Batch sequences: with dt = softplus(DT+DTBias), A = -exp(ALog),
// State = exp(dt*A)*State + dt * x B^T; Y = State C + D x.
type SSDStepArgs struct {
	Batch, Heads, HeadDim, Groups, StateDim int

	X      Mat    // [Batch, Heads*HeadDim]
	DT     Mat    // [Batch, Heads]
	DTBias Buffer // F32 [Heads]
	ALog   Buffer // F32 [Heads]
	B, C   Mat    // [Batch, Groups*StateDim]
	D      Buffer // F32 [Heads]
	Y      Mat    // [Batch, Heads*HeadDim]
	State  Buffer // F32 [Batch*Heads*HeadDim*StateDim], updated in place
}

// Validate checks the arguments.
func (a *SSDStepArgs) Validate() error { return a.validate("ssd_step") }

// validate checks the arguments, naming op in errors (DecodeMixerArgs shares it).
func (a *SSDStepArgs) validate(op string) error {
	if err := checkPos(op, "Batch", a.Batch, "Heads", a.Heads, "HeadDim", a.HeadDim, "Groups", a.Groups, "StateDim", a.StateDim); err != nil {
		return err
	}
	if a.Heads%a.Groups != 0 {
		return fmt.Errorf("%s: Heads %d not a multiple of Groups %d", op, a.Heads, a.Groups)
	}
	hp, gn := a.Heads*a.HeadDim, a.Groups*a.StateDim
	for _, c := range []struct {
		n    string
		m    Mat
		cols int
	}{{"X", a.X, hp}, {"DT", a.DT, a.Heads}, {"B", a.B, gn}, {"C", a.C, gn}, {"Y", a.Y, hp}} {
		if err := checkMat(op, c.n, c.m, a.Batch, c.cols, floats...); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		n string
		b Buffer
	}{{"DTBias", a.DTBias}, {"ALog", a.ALog}, {"D", a.D}} {
		if err := checkVec(op, c.n, c.b, a.Heads, F32); err != nil {
			return err
		}
	}
	return checkVec(op, "State", a.State, a.Batch*hp*a.StateDim, F32)
}

// GatedRMSNormArgs is mamba-ssm's RMSNormGated with norm_before_gate=False,
// per row i and group of GroupSize columns:
//
//	g = X * silu(Z)
//	Rstd[i*G+j] = 1/sqrt(mean(g[group j]^2) + Eps)
//	Out = g * Rstd * Weight
//
// Backward gives DX, DZ and accumulates DWeight.
type GatedRMSNormArgs struct {
	Rows, Dim, GroupSize int
	Eps                  float32
	X, Z                 Mat    // F32|BF16 [Rows, Dim]
	Weight               Buffer // F32|BF16 [Dim]
	Out                  Mat    // F32|BF16 [Rows, Dim]
	Rstd                 Buffer // F32 [Rows*Dim/GroupSize]

	DOut    Mat
	DX, DZ  Mat
	DWeight Buffer // F32 [Dim], accumulated
}

// Validate checks the forward or backward arguments.
func (a *GatedRMSNormArgs) Validate(backward bool) error {
	const op = "gated_rmsnorm"
	if err := checkPos(op, "Rows", a.Rows, "Dim", a.Dim, "GroupSize", a.GroupSize); err != nil {
		return err
	}
	if a.Dim%a.GroupSize != 0 {
		return fmt.Errorf("%s: Dim %d not a multiple of GroupSize %d", op, a.Dim, a.GroupSize)
	}
	if !(a.Eps > 0) {
		return fmt.Errorf("%s: Eps must be > 0, got %v", op, a.Eps)
	}
	if err := checkMat(op, "X", a.X, a.Rows, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "Z", a.Z, a.Rows, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "Weight", a.Weight, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "Rstd", a.Rstd, a.Rows*(a.Dim/a.GroupSize), F32); err != nil {
		return err
	}
	if backward {
		for _, c := range []struct {
			n string
			m Mat
		}{{"DOut", a.DOut}, {"DX", a.DX}, {"DZ", a.DZ}} {
			if err := checkMat(op, c.n, c.m, a.Rows, a.Dim, floats...); err != nil {
				return err
			}
		}
		return checkVec(op, "DWeight", a.DWeight, a.Dim, F32)
	}
	return checkMat(op, "Out", a.Out, a.Rows, a.Dim, floats...)
}

// IgnoreIndex is PyTorch's default ignore_index of cross_entropy.
const IgnoreIndex = -100

// CrossEntropyArgs is fused softmax cross-entropy over Vocab logits per row:
//
//	Losses[i] = logsumexp(Logits[i,:]) - Logits[i, Labels[i]]   (0 when Labels[i] == IgnoreIndex)
//	DLogits[i,:] = GradScale * (softmax(Logits[i,:]) - onehot(Labels[i]))  (0 rows when ignored)
//
// DLogits is optional (its Buf nil: forward only) and may alias Logits. For
// the mean loss over n counted rows, the caller passes GradScale = 1/n.
// Labels outside [0, Vocab) other than IgnoreIndex are treated as ignored by
// GPU backends; the CPU backend reports them.
type CrossEntropyArgs struct {
	Rows, Vocab int
	GradScale   float32
	Logits      Mat    // F32|BF16 [Rows, Vocab]
	Labels      Buffer // I32 [Rows]
	Losses      Buffer // F32 [Rows]
	DLogits     Mat    // optional F32|BF16 [Rows, Vocab]
}

// Validate checks the arguments.
func (a *CrossEntropyArgs) Validate() error {
	const op = "cross_entropy"
	if err := checkPos(op, "Rows", a.Rows, "Vocab", a.Vocab); err != nil {
		return err
	}
	if err := checkMat(op, "Logits", a.Logits, a.Rows, a.Vocab, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "Labels", a.Labels, a.Rows, I32); err != nil {
		return err
	}
	if err := checkVec(op, "Losses", a.Losses, a.Rows, F32); err != nil {
		return err
	}
	if a.DLogits.Buf != nil {
		return checkMat(op, "DLogits", a.DLogits, a.Rows, a.Vocab, floats...)
	}
	return nil
}

// AdamWArgs is one step of PyTorch's AdamW on fp32 master weights, with the
// gradient first multiplied by GradScale (gradient clipping folds in here):
//
//	g = GradScale*Grad
//	Param *= 1 - LR*WeightDecay
//	M = Beta1*M + (1-Beta1)*g;  V = Beta2*V + (1-Beta2)*g^2
//	Param -= LR * (M/(1-Beta1^Step)) / (sqrt(V/(1-Beta2^Step)) + Eps)
//
// Copy, when set, receives the updated weights in its dtype (the bf16 working
// copy of mixed-precision training).
type AdamWArgs struct {
	N, Step                int
	LR, Beta1, Beta2, Eps  float32
	WeightDecay, GradScale float32
	Param, Grad, M, V      Buffer // F32 [N]
	Copy                   Buffer // optional F32|BF16 [N]
}

// Validate checks the arguments.
func (a *AdamWArgs) Validate() error {
	const op = "adamw"
	if err := checkPos(op, "N", a.N, "Step", a.Step); err != nil {
		return err
	}
	for _, c := range []struct {
		n string
		b Buffer
	}{{"Param", a.Param}, {"Grad", a.Grad}, {"M", a.M}, {"V", a.V}} {
		if err := checkVec(op, c.n, c.b, a.N, F32); err != nil {
			return err
		}
	}
	if a.Copy != nil {
		return checkVec(op, "Copy", a.Copy, a.N, floats...)
	}
	return nil
}

// The fused decode ops (FusedDecoder). Each equals a sequence of the ops
// above on a batch of Rows sequences at one token each, with the
// intermediates they would store rounded the same way; the ops only save the
// launches and memory round trips in between. Outputs must not overlap
// inputs (Validate rejects overlapping views of one buffer).

// DecodeInProjArgs is RMSNorm of the residual stream, a linear layer and,
// optionally, the conv1d decode step over a column range of its output:
//
//	u   = X * Rstd * NormWeight, Rstd = 1/sqrt(mean(X^2) + Eps)   (rounded to W's dtype)
//	Out = u W^T
//	ConvOut = Conv1dStep(X: columns [ConvOff, ConvOff+ConvDim) of Out, ConvState, ConvWeight, ConvBias, ConvSiLU)
//
// i.e. AddRMSNorm{X, Residual: nil, Out: u}, Gemm{TransB, A: u, B: W, C: Out}
// and Conv1dStep in sequence. In Mamba2's decode X is the fp32 residual
// (DecodeOutProj adds each layer's output into it), W is in_proj and the
// conv runs over the xBC columns; with ConvDim 0 and W the tied embedding it
// is the final norm and LM head.
type DecodeInProjArgs struct {
	Rows, Dim, N int
	Eps          float32
	X            Mat    // F32|BF16 [Rows, Dim]
	NormWeight   Buffer // F32|BF16 [Dim]
	W            Mat    // F32|BF16 [N, Dim]
	Out          Mat    // F32|BF16 [Rows, N]

	ConvDim, ConvOff, ConvWidth int    // ConvDim 0: no conv
	ConvSiLU                    bool   // apply SiLU after the conv
	ConvState                   Buffer // F32 [Rows*ConvDim*ConvWidth], updated in place
	ConvWeight                  Buffer // F32|BF16 [ConvDim*ConvWidth]
	ConvBias                    Buffer // optional F32|BF16 [ConvDim]
	ConvOut                     Mat    // F32|BF16 [Rows, ConvDim]
}

// Validate checks the arguments.
func (a *DecodeInProjArgs) Validate() error {
	const op = "decode_in_proj"
	if err := checkPos(op, "Rows", a.Rows, "Dim", a.Dim, "N", a.N); err != nil {
		return err
	}
	if !(a.Eps > 0) {
		return fmt.Errorf("%s: Eps must be > 0, got %v", op, a.Eps)
	}
	if err := checkMat(op, "X", a.X, a.Rows, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "NormWeight", a.NormWeight, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "W", a.W, a.N, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "Out", a.Out, a.Rows, a.N, floats...); err != nil {
		return err
	}
	if err := checkDisjoint(op, "Out", a.Out, a.Rows, a.N, "X", a.X, a.Rows, a.Dim); err != nil {
		return err
	}
	if a.ConvDim == 0 {
		return nil
	}
	if a.ConvDim < 0 || a.ConvOff < 0 || a.ConvOff+a.ConvDim > a.N {
		return fmt.Errorf("%s: conv columns [%d, %d) outside the %d output columns", op, a.ConvOff, a.ConvOff+a.ConvDim, a.N)
	}
	if err := checkPos(op, "ConvWidth", a.ConvWidth); err != nil {
		return err
	}
	if err := checkVec(op, "ConvState", a.ConvState, a.Rows*a.ConvDim*a.ConvWidth, F32); err != nil {
		return err
	}
	if err := checkVec(op, "ConvWeight", a.ConvWeight, a.ConvDim*a.ConvWidth, floats...); err != nil {
		return err
	}
	if a.ConvBias != nil {
		if err := checkVec(op, "ConvBias", a.ConvBias, a.ConvDim, floats...); err != nil {
			return err
		}
	}
	if err := checkMat(op, "ConvOut", a.ConvOut, a.Rows, a.ConvDim, floats...); err != nil {
		return err
	}
	for _, c := range []struct {
		n          string
		m          Mat
		rows, cols int
	}{{"X", a.X, a.Rows, a.Dim}, {"Out", a.Out, a.Rows, a.N}} {
		if err := checkDisjoint(op, "ConvOut", a.ConvOut, a.Rows, a.ConvDim, c.n, c.m, c.rows, c.cols); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMixerArgs is the SSD decode step (selective_state_update), exactly
// SSDStepArgs' formula: dt = softplus(DT+DTBias), A = -exp(ALog),
// State = exp(dt*A)*State + dt * x B^T; Y = State C + D x, per row and head.
// In Mamba2's decode X, B and C are column views of DecodeInProj's ConvOut
// and DT a column view of its Out.
type DecodeMixerArgs struct {
	Batch, Heads, HeadDim, Groups, StateDim int

	X      Mat    // F32|BF16 [Batch, Heads*HeadDim]
	DT     Mat    // F32|BF16 [Batch, Heads]
	DTBias Buffer // F32 [Heads]
	ALog   Buffer // F32 [Heads]
	B, C   Mat    // F32|BF16 [Batch, Groups*StateDim]
	D      Buffer // F32 [Heads]
	Y      Mat    // F32|BF16 [Batch, Heads*HeadDim]
	State  Buffer // F32 [Batch*Heads*HeadDim*StateDim], updated in place
}

// Validate checks the arguments: those of the SSD step they equal.
func (a *DecodeMixerArgs) Validate() error { return a.StepArgs().validate("decode_mixer") }

// StepArgs is the same step as the unfused op's arguments.
func (a *DecodeMixerArgs) StepArgs() *SSDStepArgs {
	return &SSDStepArgs{Batch: a.Batch, Heads: a.Heads, HeadDim: a.HeadDim, Groups: a.Groups, StateDim: a.StateDim,
		X: a.X, DT: a.DT, DTBias: a.DTBias, ALog: a.ALog, B: a.B, C: a.C, D: a.D, Y: a.Y, State: a.State}
}

// DecodeOutProjArgs is the gated RMSNorm of the mixer output, a linear
// layer and, optionally, the residual add:
//
//	g   = GatedRMSNorm(Y, Z, NormWeight, GroupSize, Eps)   (rounded to W's dtype)
//	Out = g W^T
//	Residual = Residual + Out   (F32, Out as stored, i.e. rounded to Out's dtype)
//
// i.e. GatedRMSNorm{X: Y, Z, Out: g}, Gemm{TransB, A: g, B: W, C: Out} and
// the residual half of the next AddRMSNorm. In Mamba2's decode Z is the z
// column view of in_proj's output and W is out_proj.
type DecodeOutProjArgs struct {
	Rows, Dim, N, GroupSize int
	Eps                     float32
	Y, Z                    Mat    // F32|BF16 [Rows, Dim]
	NormWeight              Buffer // F32|BF16 [Dim]
	W                       Mat    // F32|BF16 [N, Dim]
	Out                     Mat    // F32|BF16 [Rows, N]
	Residual                *Mat   // optional F32 [Rows, N], updated in place
}

// Validate checks the arguments.
func (a *DecodeOutProjArgs) Validate() error {
	const op = "decode_out_proj"
	if err := checkPos(op, "Rows", a.Rows, "Dim", a.Dim, "N", a.N, "GroupSize", a.GroupSize); err != nil {
		return err
	}
	if a.Dim%a.GroupSize != 0 {
		return fmt.Errorf("%s: Dim %d not a multiple of GroupSize %d", op, a.Dim, a.GroupSize)
	}
	if !(a.Eps > 0) {
		return fmt.Errorf("%s: Eps must be > 0, got %v", op, a.Eps)
	}
	if err := checkMat(op, "Y", a.Y, a.Rows, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "Z", a.Z, a.Rows, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkVec(op, "NormWeight", a.NormWeight, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "W", a.W, a.N, a.Dim, floats...); err != nil {
		return err
	}
	if err := checkMat(op, "Out", a.Out, a.Rows, a.N, floats...); err != nil {
		return err
	}
	for _, in := range []struct {
		n string
		m Mat
	}{{"Y", a.Y}, {"Z", a.Z}} {
		if err := checkDisjoint(op, "Out", a.Out, a.Rows, a.N, in.n, in.m, a.Rows, a.Dim); err != nil {
			return err
		}
		if a.Residual != nil {
			if err := checkDisjoint(op, "Residual", *a.Residual, a.Rows, a.N, in.n, in.m, a.Rows, a.Dim); err != nil {
				return err
			}
		}
	}
	if a.Residual != nil {
		if err := checkMat(op, "Residual", *a.Residual, a.Rows, a.N, F32); err != nil {
			return err
		}
		return checkDisjoint(op, "Residual", *a.Residual, a.Rows, a.N, "Out", a.Out, a.Rows, a.N)
	}
	return nil
}

// checkDisjoint reports an error when two views of the same buffer cover
// intersecting element spans (conservatively: first to last element): the
// fused decode ops read inputs in some blocks while others write outputs.
func checkDisjoint(op, na string, a Mat, ra, ca int, nb string, b Mat, rb, cb int) error {
	if a.Buf == nil || b.Buf == nil || ra <= 0 || ca <= 0 || rb <= 0 || cb <= 0 {
		return nil
	}
	a, b = rootView(a), rootView(b) // views of one buffer share its memory
	if a.Buf != b.Buf {
		return nil
	}
	aEnd, bEnd := a.Off+(ra-1)*a.Stride+ca, b.Off+(rb-1)*b.Stride+cb
	if a.Off < bEnd && b.Off < aEnd {
		return fmt.Errorf("%s: %s and %s overlap in the same buffer (elements [%d, %d) and [%d, %d))", op, na, nb, a.Off, aEnd, b.Off, bEnd)
	}
	return nil
}

// The flat optimizer ops (FlatOptimizer).

// GradNormOutLen is the number of F32 elements GradNormClipArgs.Out holds.
const GradNormOutLen = 4

// The elements of GradNormClipArgs.Out.
const (
	GradNormOutNorm = 0 // the norm, fp32
	GradNormOutCoef = 1 // the clip coefficient (AdamWFlatArgs.ScaleIndex)
	GradNormOutSSHi = 2 // the sum of squares as an fp32 pair (PairValue)
	GradNormOutSSLo = 3
)

// GradNormClipArgs is the global L2 norm of a flat gradient buffer and
// PyTorch's clip_grad_norm_ coefficient, computed and kept on the device:
//
//	ss = sum_{i<N} Grad[i]^2          (fp64 partials, a fixed order: deterministic)
//	norm = sqrt(ss)
//	coef = MaxNorm/(norm + 1e-6) if MaxNorm > 0 and that is < 1, else 1
//	Out = [fp32(norm), fp32(coef), ss as an fp32 pair hi, lo]
//
// The gradient is not changed: AdamWFlat multiplies it by coef as it reads
// it, which is what scaling it in place (ClipGradNorm) and then running
// AdamW with GradScale 1 computes. A NaN norm gives coef 1, as ClipGradNorm
// (no scaling). The host reads the norm back when it wants it:
// sqrt(PairValue(Out[2], Out[3])).
type GradNormClipArgs struct {
	N       int
	MaxNorm float64 // <= 0: only measure (coef 1)
	Grad    Buffer  // F32|BF16 [N]
	Out     Buffer  // F32 [GradNormOutLen]
}

// Validate checks the arguments.
func (a *GradNormClipArgs) Validate() error {
	const op = "grad_norm_clip"
	if err := checkPos(op, "N", a.N); err != nil {
		return err
	}
	if math.IsNaN(a.MaxNorm) || math.IsInf(a.MaxNorm, 0) {
		return fmt.Errorf("%s: MaxNorm must be finite, got %v", op, a.MaxNorm)
	}
	if err := checkVec(op, "Grad", a.Grad, a.N, floats...); err != nil {
		return err
	}
	return checkVec(op, "Out", a.Out, GradNormOutLen, F32)
}

// AdamWFlatArgs is AdamWArgs' step over flat buffers in one launch, the
// gradient scale read from device memory:
//
//	GradScale = Scale == nil ? 1 : Scale[ScaleIndex]   (GradNormClip's Out: ScaleIndex GradNormOutCoef)
//	Param, M, V as AdamWArgs over i < N
//	Copy[i] = Param[i] (rounded to Copy's dtype) for i < CopyN
//
// so that the parameters whose working copies a mixed-precision model keeps
// are laid out first. LR and the bias corrections (1 - Beta^Step, computed
// on the host in float64 and rounded to fp32 as AdamW does) are scalars.
type AdamWFlatArgs struct {
	N, Step               int
	LR, Beta1, Beta2, Eps float32
	WeightDecay           float32
	Scale                 Buffer // optional F32 [> ScaleIndex]
	ScaleIndex            int
	Param, Grad, M, V     Buffer // F32 [N]
	Copy                  Buffer // optional F32|BF16 [CopyN]
	CopyN                 int    // 0..N; with Copy nil it must be 0
}

// Validate checks the arguments.
func (a *AdamWFlatArgs) Validate() error {
	const op = "adamw_flat"
	if err := checkPos(op, "N", a.N, "Step", a.Step); err != nil {
		return err
	}
	for _, c := range []struct {
		n string
		b Buffer
	}{{"Param", a.Param}, {"Grad", a.Grad}, {"M", a.M}, {"V", a.V}} {
		if err := checkVec(op, c.n, c.b, a.N, F32); err != nil {
			return err
		}
	}
	if a.Scale != nil {
		if a.ScaleIndex < 0 {
			return fmt.Errorf("%s: ScaleIndex must not be negative, got %d", op, a.ScaleIndex)
		}
		if err := checkVec(op, "Scale", a.Scale, a.ScaleIndex+1, F32); err != nil {
			return err
		}
	}
	if a.CopyN < 0 || a.CopyN > a.N {
		return fmt.Errorf("%s: CopyN %d outside [0, N=%d]", op, a.CopyN, a.N)
	}
	if a.Copy == nil {
		if a.CopyN != 0 {
			return fmt.Errorf("%s: CopyN %d without a Copy buffer", op, a.CopyN)
		}
		return nil
	}
	return checkVec(op, "Copy", a.Copy, a.CopyN, floats...)
}

// AccumulateSumArgs adds a scaled sum to a device accumulator:
//
//	acc = PairValue(Out[0], Out[1]) + Scale * sum_{i<N} Src[i]     (fp64, a fixed order)
//	Out[0], Out[1] = SplitPair(acc)
//
// e.g. the summed cross-entropy of a sequence (CrossEntropyArgs.Losses)
// weighted by 1/(counted targets x micro-batches), so that a training step
// reads its loss once. Zero the accumulator with Fill.
type AccumulateSumArgs struct {
	N     int
	Scale float64
	Src   Buffer // F32|BF16 [N]
	Out   Buffer // F32 [2]
}

// Validate checks the arguments.
func (a *AccumulateSumArgs) Validate() error {
	const op = "accumulate_sum"
	if err := checkPos(op, "N", a.N); err != nil {
		return err
	}
	if math.IsNaN(a.Scale) || math.IsInf(a.Scale, 0) {
		return fmt.Errorf("%s: Scale must be finite, got %v", op, a.Scale)
	}
	if err := checkVec(op, "Src", a.Src, a.N, floats...); err != nil {
		return err
	}
	return checkVec(op, "Out", a.Out, 2, F32)
}

// rootView expresses a view of a View as a view of the View's parent.
func rootView(m Mat) Mat {
	if v, ok := m.Buf.(*View); ok {
		return Mat{Buf: v.parent, Off: m.Off + v.off, Stride: m.Stride}
	}
	return m
}
