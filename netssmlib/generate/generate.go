package generate

import (
	"context"
	"errors"
	"fmt"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// Request describes a batched generation.
type Request struct {
	// Prompts holds one prompt per trace (at least one token each); all
	// are generated together as the rows of one recurrent state.
	Prompts [][]int32
	// MaxTokens is the number of new tokens per trace (NetSSM's genlen).
	// With MaxPackets set it only caps runaway rows (0: no cap).
	MaxTokens int
	// MaxPackets > 0 stops a trace after it has generated that many
	// packet separators (<|pkt|> tokens), i.e. packets (NetSSM's
	// gen_len_pkts mode).
	MaxPackets int
	// EOS stops a trace when sampled (-1: never). It is kept in the output.
	EOS int32
	// Pkt is the <|pkt|> id (needed for MaxPackets and OnPacket; -1: none).
	Pkt int32
	// Vocab is the number of real tokens (the tokenizer's size); logits of
	// the model's padding rows are never sampled. 0: the config's
	// vocab_size.
	Vocab int
	// Special, if set, reports tokens to leave out of OnPacket's packets
	// (the tokenizer's IsSpecial: label tokens).
	Special func(id int32) bool
	// Options are the sampling options.
	Options Options
	// OnToken, if set, is called for every generated token.
	OnToken func(row int, tok int32)
	// OnPacket, if set, is called when a trace finishes a packet: pkt holds
	// the tokens since the previous <|pkt|> (special tokens left out).
	// The slice is only valid during the call.
	OnPacket func(row int, pkt []int32)
	// Device, if set, runs the model there (netssmlib/gpumodel: the
	// prompts through the chunked forward pass, then one decode step per
	// token for all rows, replayed as a CUDA graph where the backend can);
	// sampling stays on the host. nil: the pure-Go model. The caller owns
	// the backend.
	Device gpu.Backend
	// DeviceDType is the device's compute dtype: gpu.BF16 (0: the default)
	// or gpu.F32.
	DeviceDType gpu.DType
}

// decoder is what generation needs from a model: a batch of recurrent
// states, filled row by row from prompts, then stepped one token per row.
type decoder interface {
	prefill(ctx context.Context, row int, prompt []int32) ([]float32, error)
	step(ctx context.Context, next []int32, logits []float32) error
	close() error
}

// hostDecoder is the pure-Go model's step mode.
type hostDecoder struct {
	m  *mamba.Model
	st *mamba.State
}

func (d hostDecoder) prefill(ctx context.Context, row int, prompt []int32) ([]float32, error) {
	return d.m.Prefill(ctx, d.st, row, prompt)
}
func (d hostDecoder) step(_ context.Context, next []int32, logits []float32) error {
	return d.m.Step(d.st, next, logits)
}
func (d hostDecoder) close() error { return nil }

// deviceDecoder is gpumodel's decoder and the device copy of the weights.
type deviceDecoder struct {
	g *gpumodel.Model
	d *gpumodel.Decoder
}

func newDeviceDecoder(ctx context.Context, be gpu.Backend, dt gpu.DType, m *mamba.Model, batch int) (*deviceDecoder, error) {
	if dt == 0 {
		dt = gpu.BF16
	}
	if dt != gpu.BF16 && dt != gpu.F32 {
		return nil, fmt.Errorf("generate: device dtype %v: want bf16 or f32", dt)
	}
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt})
	if err != nil {
		return nil, fmt.Errorf("generate: putting the model on %s (%s): %w", be.Name(), be.DeviceName(), err)
	}
	d, err := g.NewDecoder(batch, true)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("generate: a decoder for %d rows on %s: %w", batch, be.Name(), err)
	}
	return &deviceDecoder{g, d}, nil
}

func (d *deviceDecoder) prefill(ctx context.Context, row int, prompt []int32) ([]float32, error) {
	return d.d.Prefill(ctx, row, prompt)
}
func (d *deviceDecoder) step(ctx context.Context, next []int32, logits []float32) error {
	return d.d.Step(ctx, next, logits)
}
func (d *deviceDecoder) close() error { return errors.Join(d.d.Close(), d.g.Close()) }

// Generate runs req on m and returns each trace's whole sequence (prompt
// and generated tokens). Cancelling ctx stops it between tokens.
func Generate(ctx context.Context, m *mamba.Model, req Request) ([][]int32, error) {
	B := len(req.Prompts)
	if B == 0 {
		return nil, errors.New("generate: no prompts")
	}
	if req.MaxTokens <= 0 && req.MaxPackets <= 0 {
		return nil, errors.New("generate: set a length in tokens or packets")
	}
	if req.MaxPackets > 0 && req.Pkt < 0 {
		return nil, errors.New("generate: a length in packets needs the <|pkt|> token id")
	}
	V := m.Config.PaddedVocab()
	vocab := req.Vocab
	if vocab <= 0 {
		vocab = m.Config.VocabSize
	}
	if vocab > V {
		return nil, fmt.Errorf("generate: the tokenizer has %d tokens but the model only %d (padded %d): wrong tokenizer for this model?", vocab, m.Config.VocabSize, V)
	}
	sampler, err := NewSampler(req.Options)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	maxNew := req.MaxTokens
	if maxNew <= 0 {
		// Packet mode without a token cap: a packet is 128 byte tokens and
		// a separator; allow eight times that before calling it runaway.
		maxNew = req.MaxPackets * 129 * 8
	}

	for r, p := range req.Prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("generate: prompt %d is empty", r)
		}
	}
	var dec decoder
	if req.Device != nil {
		d, err := newDeviceDecoder(ctx, req.Device, req.DeviceDType, m, B)
		if err != nil {
			return nil, err
		}
		defer d.close()
		dec = d
	} else {
		dec = hostDecoder{m, m.NewState(B)}
	}
	logits := make([]float32, B*V)
	seqs := make([][]int32, B)
	seen := make([][]bool, B)
	pktStart := make([]int, B)
	pkts := make([]int, B)
	done := make([]bool, B)
	for r, p := range req.Prompts {
		l, err := dec.prefill(ctx, r, p)
		if err != nil {
			return nil, fmt.Errorf("generate: prompt %d: %w", r, err)
		}
		copy(logits[r*V:(r+1)*V], l)
		seqs[r] = append(make([]int32, 0, len(p)+min(maxNew, 1<<16)), p...)
		seen[r] = make([]bool, V)
		for _, t := range p {
			if t >= 0 && int(t) < V {
				seen[r][t] = true
			}
		}
		pktStart[r] = 0 // the first packet starts after the label (a special token)
		for i := len(p) - 1; i >= 0; i-- {
			if p[i] == req.Pkt {
				pktStart[r] = i + 1
				break
			}
		}
	}
	var pkt []int32
	next := make([]int32, B)
	for n := 0; n < maxNew; n++ {
		if err := ctx.Err(); err != nil {
			return seqs, err
		}
		active := 0
		for r := range B {
			if done[r] {
				next[r] = seqs[r][len(seqs[r])-1] // fed but ignored
				continue
			}
			tok, err := sampler.Sample(logits[r*V:(r+1)*V], vocab, seen[r])
			if err != nil {
				return seqs, fmt.Errorf("generate: row %d, token %d: %w", r, n, err)
			}
			next[r] = tok
			seqs[r] = append(seqs[r], tok)
			seen[r][tok] = true
			if req.OnToken != nil {
				req.OnToken(r, tok)
			}
			if tok == req.Pkt && req.Pkt >= 0 {
				pkts[r]++
				if req.OnPacket != nil {
					pkt = pkt[:0]
					for _, t := range seqs[r][pktStart[r] : len(seqs[r])-1] {
						if !isSpecialLike(t, req) {
							pkt = append(pkt, t)
						}
					}
					req.OnPacket(r, pkt)
				}
				pktStart[r] = len(seqs[r])
				if req.MaxPackets > 0 && pkts[r] >= req.MaxPackets {
					done[r] = true
				}
			}
			if tok == req.EOS && req.EOS >= 0 {
				done[r] = true
			}
			if !done[r] {
				active++
			}
		}
		if active == 0 || n == maxNew-1 {
			break
		}
		if err := dec.step(ctx, next, logits); err != nil {
			return seqs, fmt.Errorf("generate: %w", err)
		}
	}
	return seqs, nil
}

// isSpecialLike reports whether t is one of the control tokens generation
// knows about (they are left out of packet callbacks).
func isSpecialLike(t int32, req Request) bool {
	return t == req.EOS || t == req.Pkt || (req.Special != nil && req.Special(t))
}
