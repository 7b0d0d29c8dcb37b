package mamba

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/netssm/netssm/netssmlib/checkpoint"
)

// Param is one fp32 master weight with PyTorch's name and shape. Grad has
// the same length as Data once a backward pass (or ZeroGrad) has run; it is
// nil before, so that inference does not pay for it.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
}

// layerParams are the views of one block's parameters.
type layerParams struct {
	norm    *Param // [d_model]            backbone.layers.i.norm.weight
	dtBias  *Param // [nheads]
	aLog    *Param // [nheads]
	d       *Param // [nheads]
	inProj  *Param // [d_in_proj, d_model]
	convW   *Param // [conv_dim, 1, d_conv]
	convB   *Param // [conv_dim] (nil without conv_bias)
	normW   *Param // [d_inner]            mixer.norm.weight (gated RMSNorm)
	outProj *Param // [d_model, d_inner]
}

// Model is MambaLMHeadModel with Mamba2 mixers, batch 1 for training and
// any batch for step-mode decoding.
type Model struct {
	Config Config
	// Params in PyTorch state_dict order. With tied embeddings lm_head.weight
	// is not a separate Param (it is backbone.embedding.weight).
	Params []*Param
	// ActivationBudget is how many bytes of activations ForwardBackward may
	// keep for all layers at once; above it, each layer's forward pass is
	// recomputed during the backward pass and only layer inputs are kept.
	// 0 means 1 GiB; negative means always recompute. It takes effect when
	// the workspace is (re)allocated (see FreeWorkspace).
	ActivationBudget int64

	embed  *Param
	normF  *Param
	lmHead *Param // == embed when tied
	layers []layerParams
	byName map[string]*Param

	ws   *workspace
	bf16 map[*Param][]float32 // bf16-rounded copies of the Linear weights (SetComputeDType)
}

func newParam(name string, shape ...int) *Param {
	return &Param{Name: name, Shape: shape, Data: make([]float32, checkpoint.NumElements(shape))}
}

// alloc builds the parameter list for cfg with zero values.
func alloc(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, byName: map[string]*Param{}}
	add := func(name string, shape ...int) *Param {
		p := newParam(name, shape...)
		m.Params = append(m.Params, p)
		m.byName[name] = p
		return p
	}
	s := cfg.SSMCfg
	D, V, H := cfg.DModel, cfg.PaddedVocab(), cfg.NHeads()
	m.embed = add("backbone.embedding.weight", V, D)
	m.layers = make([]layerParams, cfg.NLayer)
	for i := range m.layers {
		pre := fmt.Sprintf("backbone.layers.%d.", i)
		l := &m.layers[i]
		l.norm = add(pre+"norm.weight", D)
		l.dtBias = add(pre+"mixer.dt_bias", H)
		l.aLog = add(pre+"mixer.A_log", H)
		l.d = add(pre+"mixer.D", H)
		l.inProj = add(pre+"mixer.in_proj.weight", cfg.DInProj(), D)
		l.convW = add(pre+"mixer.conv1d.weight", cfg.ConvDim(), 1, s.DConv)
		if s.ConvBias {
			l.convB = add(pre+"mixer.conv1d.bias", cfg.ConvDim())
		}
		l.normW = add(pre+"mixer.norm.weight", cfg.DInner())
		l.outProj = add(pre+"mixer.out_proj.weight", D, cfg.DInner())
	}
	m.normF = add("backbone.norm_f.weight", D)
	if cfg.TieEmbeddings {
		m.lmHead = m.embed
	} else {
		m.lmHead = add("lm_head.weight", V, D)
	}
	return m, nil
}

// New builds a model with mamba-ssm's initialisation, drawn from a PCG
// generator seeded with seed (the values differ from PyTorch's generator,
// the distributions do not).
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := alloc(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e657473736d))
	s := cfg.SSMCfg
	uniform := func(p []float32, bound float64) {
		for i := range p {
			p[i] = float32((rng.Float64()*2 - 1) * bound)
		}
	}
	fill := func(p []float32, v float32) {
		for i := range p {
			p[i] = v
		}
	}
	// Embedding: N(0, 0.02) (mamba-ssm's _init_weights).
	for i := range m.embed.Data {
		m.embed.Data[i] = float32(rng.NormFloat64() * 0.02)
	}
	for _, l := range m.layers {
		fill(l.norm.Data, 1)
		// nn.Linear's default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)).
		uniform(l.inProj.Data, 1/math.Sqrt(float64(cfg.DModel)))
		// nn.Conv1d's default, fan_in = in_channels/groups * kernel = d_conv.
		uniform(l.convW.Data, 1/math.Sqrt(float64(s.DConv)))
		if l.convB != nil {
			uniform(l.convB.Data, 1/math.Sqrt(float64(s.DConv)))
		}
		// dt log-uniform in [dt_min, dt_max], floored, then inverse softplus.
		for h := range l.dtBias.Data {
			dt := math.Exp(rng.Float64()*(math.Log(s.DtMax)-math.Log(s.DtMin)) + math.Log(s.DtMin))
			dt = math.Max(dt, s.DtInitFloor)
			l.dtBias.Data[h] = float32(dt + math.Log(-math.Expm1(-dt)))
		}
		for h := range l.aLog.Data {
			a := s.AInitRange[0] + rng.Float64()*(s.AInitRange[1]-s.AInitRange[0])
			l.aLog.Data[h] = float32(math.Log(a))
		}
		fill(l.d.Data, 1)
		fill(l.normW.Data, 1)
		// out_proj: kaiming_uniform(a=sqrt(5)) then / sqrt(n_residuals_per_layer * n_layer).
		uniform(l.outProj.Data, 1/math.Sqrt(float64(cfg.DInner()))/math.Sqrt(float64(cfg.NLayer)))
	}
	fill(m.normF.Data, 1)
	if !cfg.TieEmbeddings {
		uniform(m.lmHead.Data, 1/math.Sqrt(float64(cfg.DModel)))
	}
	return m, nil
}

// FromStateDict builds a model from PyTorch-named tensors. Loading is
// strict: a missing, extra or mis-shaped tensor is an error naming it. With
// tied embeddings lm_head.weight may be present (it must then equal the
// embedding, as torch writes it) or absent.
func FromStateDict(cfg Config, sd checkpoint.StateDict) (*Model, error) {
	m, err := alloc(cfg)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, p := range m.Params {
		t, ok := sd[p.Name]
		if !ok {
			problems = append(problems, "missing "+p.Name)
			continue
		}
		if !slices.Equal(t.Shape, p.Shape) || len(t.Data) != len(p.Data) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, the config needs %v", p.Name, t.Shape, p.Shape))
			continue
		}
		copy(p.Data, t.Data)
	}
	for _, name := range sd.Names() {
		if _, ok := m.byName[name]; ok {
			continue
		}
		if name == "lm_head.weight" && cfg.TieEmbeddings {
			t := sd[name]
			if !slices.Equal(t.Shape, m.embed.Shape) {
				problems = append(problems, fmt.Sprintf("lm_head.weight has shape %v, the config needs %v", t.Shape, m.embed.Shape))
			} else if e, ok := sd["backbone.embedding.weight"]; ok && !slices.Equal(e.Data, t.Data) {
				problems = append(problems, "lm_head.weight differs from backbone.embedding.weight but tie_embeddings is true")
			}
			continue
		}
		problems = append(problems, "unexpected "+name)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("state dict does not match the config: %s", strings.Join(problems, "; "))
	}
	return m, nil
}

// StateDict returns the weights with PyTorch's names and shapes, stored as
// dtype (F32 or BF16; values are rounded when the file is written). With
// tied embeddings lm_head.weight is included, as torch's state_dict has it.
// The tensors share memory with the model.
func (m *Model) StateDict(dtype checkpoint.DType) checkpoint.StateDict {
	sd := make(checkpoint.StateDict, len(m.Params)+1)
	for _, p := range m.Params {
		sd[p.Name] = &checkpoint.Tensor{DType: dtype, Shape: slices.Clone(p.Shape), Data: p.Data}
	}
	if m.Config.TieEmbeddings {
		sd["lm_head.weight"] = &checkpoint.Tensor{DType: dtype, Shape: slices.Clone(m.embed.Shape), Data: m.embed.Data}
	}
	return sd
}

// Param returns the parameter with that state_dict name, or nil.
// "lm_head.weight" returns the embedding when tied.
func (m *Model) Param(name string) *Param {
	if name == "lm_head.weight" {
		return m.lmHead
	}
	return m.byName[name]
}

// NumParams is the number of distinct weights (tied ones counted once).
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += len(p.Data)
	}
	return n
}

// ZeroGrad sets every gradient to zero, allocating them on first use.
func (m *Model) ZeroGrad() {
	for _, p := range m.Params {
		if p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		} else {
			clear(p.Grad)
		}
	}
}

func (m *Model) ensureGrads() {
	for _, p := range m.Params {
		if p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		}
	}
}

// ResizeVocab grows the vocabulary to newVocab tokens for fine-tuning with a
// tokenizer that has more labels: embedding rows (and lm_head rows when not
// tied) are kept, new rows are drawn as mamba-ssm initialises them
// (N(0, 0.02) for the embedding). Shrinking is refused, since it would drop
// trained rows. Gradients are reset.
func (m *Model) ResizeVocab(newVocab int, seed uint64) error {
	if newVocab < m.Config.VocabSize {
		return fmt.Errorf("resize vocabulary from %d to %d: shrinking would drop trained embedding rows", m.Config.VocabSize, newVocab)
	}
	cfg := m.Config
	cfg.VocabSize = newVocab
	newV, oldV, D := cfg.PaddedVocab(), m.Config.PaddedVocab(), cfg.DModel
	rng := rand.New(rand.NewPCG(seed, 0x766f636162))
	grow := func(p *Param, init func() float32) {
		data := make([]float32, newV*D)
		copy(data, p.Data)
		for i := oldV * D; i < len(data); i++ {
			data[i] = init()
		}
		p.Data, p.Shape, p.Grad = data, []int{newV, D}, nil
	}
	grow(m.embed, func() float32 { return float32(rng.NormFloat64() * 0.02) })
	if !cfg.TieEmbeddings {
		b := 1 / math.Sqrt(float64(D))
		grow(m.lmHead, func() float32 { return float32((rng.Float64()*2 - 1) * b) })
	}
	m.Config = cfg
	m.ws = nil
	m.RefreshComputeWeights()
	for _, p := range m.Params {
		p.Grad = nil
	}
	return nil
}

// FreeWorkspace drops the activation buffers kept between calls (they are
// allocated again, for the sequence length at hand, on the next pass).
func (m *Model) FreeWorkspace() { m.ws = nil }
