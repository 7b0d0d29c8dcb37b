//go:build cudaemu && !cuda

package train

import (
	"context"
	"testing"

	"github.com/netssm/netssm/gpu/cuda"
)

// TestDeviceTrainingOnEmulator trains through the CUDA backend with its
// kernels compiled for the host (CGO_ENABLED=1 go test -tags cudaemu): the
// device path's plumbing through the real kernels, resumed from a CPU
// checkpoint halfway. fp32: the losses and weights match the CPU path.
func TestDeviceTrainingOnEmulator(t *testing.T) {
	data := tinyData()
	ref := tinyModel(t, 16, 1)
	var want []float64
	o := deviceOpts(t)
	o.OnLog = func(e Event) { want = append(want, e.Loss) }
	if _, err := Train(context.Background(), ref, data, o); err != nil {
		t.Fatal(err)
	}
	var got []float64
	o = deviceOpts(t)
	o.OnLog = func(e Event) { got = append(got, e.Loss) }
	o.StopAfter = 2
	if _, err := Train(context.Background(), tinyModel(t, 16, 1), data, o); err != nil {
		t.Fatal(err)
	}
	o.StopAfter, o.Device = 0, cuda.OpenEmulator()
	defer o.Device.Close()
	m := tinyModel(t, 16, 7)
	res, err := Train(context.Background(), m, data, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 || res.Steps != 4 {
		t.Errorf("resumed at %d, ended at %d", res.Resumed, res.Steps)
	}
	closeLosses(t, "loss", got, want, 1e-5)
	closeParams(t, "weights", paramsOf(m), paramsOf(ref), 1e-4)
}
