package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/netssmlib/checkpoint"
)

// closeParams fails unless every weight of a is within tol (relative to the
// largest magnitude of its tensor) of b's.
func closeParams(t *testing.T, what string, a, b [][]float32, tol float64) {
	t.Helper()
	for i := range a {
		scale := 1e-3
		for _, v := range b[i] {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j := range a[i] {
			if d := math.Abs(float64(a[i][j]) - float64(b[i][j])); !(d <= tol*scale) {
				t.Fatalf("%s: parameter %d[%d]: %v vs %v (|diff| %.3g > %.3g)", what, i, j, a[i][j], b[i][j], d, tol*scale)
			}
		}
	}
}

func closeLosses(t *testing.T, what string, got, want []float64, rtol float64) {
	t.Helper()
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%s: %d losses vs %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= rtol*math.Abs(want[i])) {
			t.Errorf("%s: step %d loss %.6f, want %.6f (rtol %g)", what, i+1, got[i], want[i], rtol)
		}
	}
}

// deviceOpts is a run with two micro-batches of two sequences per step (the
// gradient scaling across sequences and micro-batches), clipping at 1 and
// weight decay, 4 steps over 2 epochs of tinyData.
func deviceOpts(t *testing.T) Options {
	return Options{OutputDir: t.TempDir(), NumEpochs: 2, BatchSize: 2, GradAccum: 2, SaveSteps: 100, LoggingSteps: 1,
		LearningRate: 1e-2, WeightDecay: 0.1, Seed: 5}
}

// TestDeviceTrainingMatchesCPU trains the same model from the same
// initialisation on the pure-Go path and on the reference backend (f32):
// the loss curves, gradient norms and final weights agree.
func TestDeviceTrainingMatchesCPU(t *testing.T) {
	data := tinyData()
	type run struct {
		losses, norms []float64
		params        [][]float32
	}
	train := func(dev gpu.Backend) run {
		var r run
		o := deviceOpts(t)
		o.Device = dev
		o.OnLog = func(e Event) { r.losses, r.norms = append(r.losses, e.Loss), append(r.norms, e.GradNorm) }
		m := tinyModel(t, 16, 1)
		res, err := Train(context.Background(), m, data, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Steps != 4 {
			t.Fatalf("%d steps, want 4", res.Steps)
		}
		r.params = paramsOf(m) // Train leaves the trained weights in m
		return r
	}
	host, dev := train(nil), train(cpu.New())
	closeLosses(t, "loss", dev.losses, host.losses, 1e-5)
	closeLosses(t, "grad norm", dev.norms, host.norms, 1e-4)
	if !(host.losses[3] < host.losses[0]) {
		t.Errorf("loss did not fall: %v", host.losses)
	}
	closeParams(t, "trained weights", dev.params, host.params, 1e-4)
	init := paramsOf(tinyModel(t, 16, 1))
	moved := false
	for i := range init {
		for j := range init[i] {
			moved = moved || init[i][j] != dev.params[i][j]
		}
	}
	if !moved {
		t.Error("the device run left the host model's weights as initialised")
	}
}

// TestDeviceCheckpointsResumeAcrossPaths stops a run after 3 of 4 steps on
// one path and finishes it on the other, both ways: the checkpoint files
// are the same format, and the result matches an uninterrupted CPU run.
func TestDeviceCheckpointsResumeAcrossPaths(t *testing.T) {
	data := tinyData()
	ref := tinyModel(t, 16, 1)
	var refLosses []float64
	o := deviceOpts(t)
	o.OnLog = func(e Event) { refLosses = append(refLosses, e.Loss) }
	if _, err := Train(context.Background(), ref, data, o); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		first, second gpu.Backend
		dtype         checkpoint.DType
	}{
		{"device then cpu", cpu.New(), nil, checkpoint.F32},
		{"cpu then device", nil, cpu.New(), checkpoint.F32},
		{"device then device, bf16 files", cpu.New(), cpu.New(), checkpoint.BF16},
	} {
		t.Run(c.name, func(t *testing.T) {
			var losses []float64
			o := deviceOpts(t)
			o.DType = c.dtype
			o.OnLog = func(e Event) { losses = append(losses, e.Loss) }
			o.Device, o.StopAfter = c.first, 3
			res, err := Train(context.Background(), tinyModel(t, 16, 1), data, o)
			if err != nil || res.Steps != 3 {
				t.Fatalf("first part: %v (%+v)", err, res)
			}
			cps, _ := checkpoint.ListCheckpoints(o.OutputDir)
			if len(cps) != 1 || cps[0].Step != 3 {
				t.Fatalf("checkpoints %+v, want checkpoint-3", cps)
			}
			// The run's files: AdamW's moments and step count were saved.
			st, err := checkpoint.ReadSafetensors(filepath.Join(cps[0].Path, OptimizerStateName))
			if err != nil {
				t.Fatal(err)
			}
			nonzero := false
			for _, v := range st["exp_avg_sq.backbone.embedding.weight"].Data {
				nonzero = nonzero || v != 0
			}
			if !nonzero {
				t.Error("the checkpoint's second moments are all zero")
			}
			if _, ok := st["master.backbone.embedding.weight"]; ok != (c.dtype == checkpoint.BF16) {
				t.Errorf("master weights saved: %v, dtype %s", ok, c.dtype)
			}
			o.Device, o.StopAfter = c.second, 0
			m := tinyModel(t, 16, 99) // overwritten by the checkpoint
			res, err = Train(context.Background(), m, data, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed != 3 || res.Steps != 4 {
				t.Errorf("resumed at %d, ended at %d", res.Resumed, res.Steps)
			}
			if c.dtype == checkpoint.F32 {
				closeLosses(t, "loss", losses, refLosses, 1e-5)
				closeParams(t, "final weights", paramsOf(m), paramsOf(ref), 1e-4)
			} else if len(losses) != 4 {
				t.Errorf("losses %v", losses)
			}
		})
	}
}

func TestDeviceDType(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want gpu.DType
	}{
		{Options{}, gpu.F32},
		{Options{DType: checkpoint.F32}, gpu.F32},
		{Options{DType: checkpoint.BF16}, gpu.BF16},
		{Options{DType: checkpoint.F32, EmulateBF16: true}, gpu.BF16},
	} {
		if got := DeviceDType(c.o); got != c.want {
			t.Errorf("%+v: %v, want %v", c.o, got, c.want)
		}
	}
}
