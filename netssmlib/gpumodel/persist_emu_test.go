//go:build cudaemu && !cuda

package gpumodel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/netssmlib/gpumodel"
)

// TestPersistentDecodeEmulated: the persistent kernel (one cooperative
// launch per token, every block of the emulated grid live at once) gives
// exactly the fused path's logits and states (the same per-block code),
// whatever the number of co-resident blocks (1: every phase on one block;
// 3: uneven grid-stride; 8: some blocks idle in the small phases).
func TestPersistentDecodeEmulated(t *testing.T) {
	for _, n := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("blocks%d", n), func(t *testing.T) {
			checkPersistent(t, func() gpu.Backend {
				be := cuda.OpenEmulator()
				if err := be.SetEmulatedCoResident(n); err != nil {
					t.Fatal(err)
				}
				return be
			}, true)
		})
	}
}

// brokenPersist is the emulator with a persistent decode that fails to
// launch (fail) or computes something else (each launch runs the step
// twice).
type brokenPersist struct {
	*cuda.Backend
	fail bool
}

type failingGraph struct{ gpu.Graph }

func (failingGraph) Launch() error { return errors.New("launch refused (test)") }

func (b brokenPersist) RecordPersistent(record func() error) (gpu.Graph, error) {
	if b.fail {
		gr, err := b.Backend.RecordPersistent(record)
		if err != nil {
			return nil, err
		}
		return failingGraph{gr}, nil
	}
	return b.Backend.RecordPersistent(func() error {
		if err := record(); err != nil {
			return err
		}
		return record()
	})
}

// TestPersistentDecodeFallbackEmulated: when the persistent kernel cannot
// launch, or disagrees with the fused path, the decoder says why and steps
// on the fused path, with the same logits as a decoder that never tried.
func TestPersistentDecodeFallbackEmulated(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(variants[0])
	V := cfg.PaddedVocab()
	for _, fail := range []bool{true, false} {
		be := brokenPersist{cuda.OpenEmulator(), fail}
		m := newMamba(t, cfg, 72, gpu.F32)
		g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: gpu.F32})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := g.NewDecoder(1, false)
		if err != nil {
			t.Fatal(err)
		}
		pd, err := g.NewDecoderOptions(1, gpumodel.DecoderOptions{Persistent: true, Graph: true})
		if err != nil {
			t.Fatal(err)
		}
		want, got := make([]float32, V), make([]float32, V)
		next := []int32{5}
		for s := 0; s < 3; s++ {
			if err := ref.Step(ctx, next, want); err != nil {
				t.Fatal(err)
			}
			if err := pd.Step(ctx, next, got); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("fail=%v step %d: logits[%d] = %g after the fallback, fused %g", fail, s, i, got[i], want[i])
				}
			}
			next[0] = int32(argmax(want))
		}
		perr := pd.PersistentErr()
		wantMsg := map[bool]string{true: "launch refused", false: "disagrees"}[fail]
		wantPath := "graph" // the fused path the decoder was asked for
		if pd.GraphErr() != nil {
			wantPath = "ops" // the emulator captures no graphs
		}
		if pd.UsingPersistent() || perr == nil || !strings.Contains(perr.Error(), wantMsg) || pd.Path() != wantPath {
			t.Errorf("fail=%v: path %s, persistent error %v; want path %s and an error containing %q", fail, pd.Path(), perr, wantPath, wantMsg)
		}
		t.Logf("fail=%v: %v", fail, perr)
		pd.Close()
		ref.Close()
		g.Close()
		be.Close()
	}
}
