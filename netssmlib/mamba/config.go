package mamba

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/netssm/netssm/netssmlib/checkpoint"
)

// SSMConfig is the ssm_cfg object of config.json: the keyword arguments of
// mamba-ssm's Mamba2 constructor. Absent keys take mamba-ssm's defaults.
type SSMConfig struct {
	Layer          string     `json:"layer"`
	DState         int        `json:"d_state"`
	DConv          int        `json:"d_conv"`
	Expand         int        `json:"expand"`
	HeadDim        int        `json:"headdim"`
	NGroups        int        `json:"ngroups"`
	ChunkSize      int        `json:"chunk_size"`
	AInitRange     [2]float64 `json:"A_init_range"`
	DtMin          float64    `json:"dt_min"`
	DtMax          float64    `json:"dt_max"`
	DtInitFloor    float64    `json:"dt_init_floor"`
	ConvBias       bool       `json:"conv_bias"`
	Bias           bool       `json:"bias"`
	DHasHdim       bool       `json:"D_has_hdim"`
	RMSNorm        bool       `json:"rmsnorm"`
	NormBeforeGate bool       `json:"norm_before_gate"`
}

// Config is NetSSM's config.json (mamba-ssm's MambaConfig).
type Config struct {
	DModel               int            `json:"d_model"`
	DIntermediate        int            `json:"d_intermediate"`
	NLayer               int            `json:"n_layer"`
	VocabSize            int            `json:"vocab_size"`
	SSMCfg               SSMConfig      `json:"ssm_cfg"`
	AttnLayerIdx         []int          `json:"attn_layer_idx"`
	AttnCfg              map[string]any `json:"attn_cfg"`
	RMSNorm              bool           `json:"rms_norm"`
	ResidualInFP32       bool           `json:"residual_in_fp32"`
	FusedAddNorm         bool           `json:"fused_add_norm"`
	PadVocabSizeMultiple int            `json:"pad_vocab_size_multiple"`
	TieEmbeddings        bool           `json:"tie_embeddings"`
}

// DefaultSSMConfig is mamba-ssm's Mamba2 defaults.
func DefaultSSMConfig() SSMConfig {
	return SSMConfig{
		Layer: "Mamba2", DState: 128, DConv: 4, Expand: 2, HeadDim: 64, NGroups: 1,
		ChunkSize: 256, AInitRange: [2]float64{1, 16}, DtMin: 0.001, DtMax: 0.1,
		DtInitFloor: 1e-4, ConvBias: true, Bias: false, DHasHdim: false, RMSNorm: true,
		NormBeforeGate: false,
	}
}

// DefaultConfig is NetSSM's model: d_model 768, 24 Mamba2 layers, vocabulary
// padded to a multiple of 16, tied embeddings. VocabSize is 0: set it from
// the tokenizer (New refuses a config without one).
func DefaultConfig() Config {
	return Config{
		DModel: 768, DIntermediate: 0, NLayer: 24, VocabSize: 0,
		SSMCfg: DefaultSSMConfig(), AttnLayerIdx: []int{}, AttnCfg: map[string]any{},
		RMSNorm: true, ResidualInFP32: true, FusedAddNorm: true,
		PadVocabSizeMultiple: 16, TieEmbeddings: true,
	}
}

// PaddedVocab is the vocabulary size rounded up to PadVocabSizeMultiple, the
// number of embedding rows and logits per position.
func (c Config) PaddedVocab() int {
	v, m := c.VocabSize, c.PadVocabSizeMultiple
	if m > 1 && v%m != 0 {
		v += m - v%m
	}
	return v
}

// DInner is expand*d_model, the width of the SSM.
func (c Config) DInner() int { return c.SSMCfg.Expand * c.DModel }

// NHeads is d_inner / headdim.
func (c Config) NHeads() int {
	if c.SSMCfg.HeadDim == 0 {
		return 0
	}
	return c.DInner() / c.SSMCfg.HeadDim
}

// ConvDim is the number of channels of the depthwise convolution: x, B, C.
func (c Config) ConvDim() int { return c.DInner() + 2*c.SSMCfg.NGroups*c.SSMCfg.DState }

// DInProj is the output width of in_proj: z, x, B, C, dt.
func (c Config) DInProj() int { return 2*c.DInner() + 2*c.SSMCfg.NGroups*c.SSMCfg.DState + c.NHeads() }

// Validate reports the first setting this implementation cannot honour.
func (c Config) Validate() error {
	s := c.SSMCfg
	switch {
	case c.DModel <= 0:
		return fmt.Errorf("d_model must be positive, got %d", c.DModel)
	case c.NLayer <= 0:
		return fmt.Errorf("n_layer must be positive, got %d", c.NLayer)
	case c.VocabSize <= 0:
		return fmt.Errorf("vocab_size must be positive, got %d (set it from the tokenizer)", c.VocabSize)
	case c.PadVocabSizeMultiple < 0:
		return fmt.Errorf("pad_vocab_size_multiple must not be negative, got %d", c.PadVocabSizeMultiple)
	case c.DIntermediate != 0:
		return fmt.Errorf("d_intermediate %d: MLP blocks are not implemented (NetSSM uses 0)", c.DIntermediate)
	case len(c.AttnLayerIdx) != 0:
		return fmt.Errorf("attn_layer_idx %v: attention layers are not implemented (NetSSM uses none)", c.AttnLayerIdx)
	case !c.RMSNorm:
		return fmt.Errorf("rms_norm false (LayerNorm) is not implemented (NetSSM uses RMSNorm)")
	case s.Layer != "Mamba2":
		return fmt.Errorf("ssm_cfg.layer %q is not implemented (only Mamba2)", s.Layer)
	case s.DState <= 0 || s.DConv <= 0 || s.Expand <= 0 || s.HeadDim <= 0 || s.NGroups <= 0 || s.ChunkSize <= 0:
		return fmt.Errorf("ssm_cfg: d_state, d_conv, expand, headdim, ngroups and chunk_size must be positive")
	case c.DInner()%s.HeadDim != 0:
		return fmt.Errorf("ssm_cfg: d_inner %d (expand*d_model) is not a multiple of headdim %d", c.DInner(), s.HeadDim)
	case c.NHeads()%s.NGroups != 0:
		return fmt.Errorf("ssm_cfg: nheads %d is not a multiple of ngroups %d", c.NHeads(), s.NGroups)
	case c.DInner()%s.NGroups != 0:
		return fmt.Errorf("ssm_cfg: d_inner %d is not a multiple of ngroups %d", c.DInner(), s.NGroups)
	case s.Bias:
		return fmt.Errorf("ssm_cfg.bias true (biased in_proj/out_proj) is not implemented (mamba-ssm's default is false)")
	case s.DHasHdim:
		return fmt.Errorf("ssm_cfg.D_has_hdim true is not implemented")
	case !s.RMSNorm:
		return fmt.Errorf("ssm_cfg.rmsnorm false is not implemented")
	case s.NormBeforeGate:
		return fmt.Errorf("ssm_cfg.norm_before_gate true is not implemented")
	case !(s.AInitRange[0] > 0 && s.AInitRange[1] >= s.AInitRange[0]):
		return fmt.Errorf("ssm_cfg.A_init_range %v must satisfy 0 < lo <= hi", s.AInitRange)
	case !(s.DtMin > 0 && s.DtMax >= s.DtMin && s.DtInitFloor >= 0):
		return fmt.Errorf("ssm_cfg: dt_min %g, dt_max %g, dt_init_floor %g are inconsistent", s.DtMin, s.DtMax, s.DtInitFloor)
	}
	return nil
}

// ssm_cfg keys that are accepted and have no effect on the math here.
var ignoredSSMKeys = map[string]bool{"use_mem_eff_path": true, "sequence_parallel": true, "process_group": true, "layer_idx": true}

// UnmarshalJSON fills absent keys with mamba-ssm's defaults and rejects keys
// that would change the model in a way this package does not implement.
func (s *SSMConfig) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		switch k {
		case "layer", "d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size", "A_init_range",
			"dt_min", "dt_max", "dt_init_floor", "conv_bias", "bias", "D_has_hdim", "rmsnorm", "norm_before_gate":
		case "conv_init":
			if string(v) != "null" {
				return fmt.Errorf("ssm_cfg.conv_init %s is not implemented (only null)", v)
			}
		case "d_ssm":
			// checked after decoding, against d_inner
		case "dt_limit":
			var lim []any
			if err := json.Unmarshal(v, &lim); err != nil || len(lim) != 2 {
				return fmt.Errorf("ssm_cfg.dt_limit %s: want [lo, hi]", v)
			}
			lo, ok := lim[0].(float64)
			hi, isStr := lim[1].(string)
			if !ok || lo != 0 || !(isStr && (hi == "inf" || hi == "Infinity")) {
				if f, isNum := lim[1].(float64); !(ok && lo == 0 && isNum && math.IsInf(f, 1)) {
					return fmt.Errorf("ssm_cfg.dt_limit %s is not implemented (only the default (0, inf))", v)
				}
			}
		default:
			if !ignoredSSMKeys[k] {
				return fmt.Errorf("ssm_cfg: unknown key %q", k)
			}
		}
	}
	type plain SSMConfig
	p := plain(DefaultSSMConfig())
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = SSMConfig(p)
	if v, ok := raw["d_ssm"]; ok && string(v) != "null" {
		return fmt.Errorf("ssm_cfg.d_ssm %s is not implemented (only null: d_ssm = d_inner)", v)
	}
	return nil
}

// ParseConfig decodes config.json content. Absent keys take mamba-ssm's
// MambaConfig defaults (d_model 2560, n_layer 64, vocab 50277, rms_norm,
// residual_in_fp32, fused_add_norm, pad 8, tied), absent ssm_cfg keys
// Mamba2's defaults.
func ParseConfig(data []byte) (Config, error) {
	c := Config{
		DModel: 2560, NLayer: 64, VocabSize: 50277, SSMCfg: DefaultSSMConfig(),
		AttnLayerIdx: []int{}, AttnCfg: map[string]any{}, RMSNorm: true, ResidualInFP32: true,
		FusedAddNorm: true, PadVocabSizeMultiple: 8, TieEmbeddings: true,
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, err
	}
	if v, ok := raw["ssm_cfg"]; !ok || string(v) == "{}" || string(v) == "null" {
		// MambaConfig's ssm_cfg default {} means Mamba1.
		return Config{}, fmt.Errorf("ssm_cfg is absent or empty, which means Mamba1 in mamba-ssm; only Mamba2 is implemented")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	if c.AttnLayerIdx == nil {
		c.AttnLayerIdx = []int{}
	}
	if c.AttnCfg == nil {
		c.AttnCfg = map[string]any{}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ReadConfig reads and validates a config.json file.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	return c, nil
}

// MarshalIndent encodes the config as NetSSM writes it (4-space indent).
func (c Config) MarshalIndent() ([]byte, error) {
	if c.AttnLayerIdx == nil {
		c.AttnLayerIdx = []int{}
	}
	if c.AttnCfg == nil {
		c.AttnCfg = map[string]any{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "    ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile writes config.json atomically.
func (c Config) WriteFile(path string) error {
	data, err := c.MarshalIndent()
	if err != nil {
		return fmt.Errorf("encode model config: %w", err)
	}
	err = checkpoint.WriteFileAtomic(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write model config %s: %w", path, err)
	}
	return nil
}
