//go:build cuda

package cuda_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	_ "github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/gpu/gputest"
)

// open returns the device, or skips when there is none; with
// NETSSM_REQUIRE_GPU=1 (bench/gpu/run.sh) a missing device fails instead.
func open(t testing.TB) *cuda.Backend {
	t.Helper()
	be, err := cuda.Open(0)
	if err != nil {
		if errors.Is(err, gpu.ErrNoDevice) && os.Getenv("NETSSM_REQUIRE_GPU") != "1" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func TestConformance(t *testing.T) {
	be := open(t)
	t.Logf("device: %s", be.DeviceName())
	gputest.RunAll(t, be)
	// The scan has two kernels paths (chunk-parallel by default): test the
	// sequential one too.
	t.Run("SequentialScan", func(t *testing.T) {
		be.SequentialScan = true
		defer func() { be.SequentialScan = false }()
		gputest.TestSSD(t, be)
		gputest.TestSSDStep(t, be)
		gputest.TestGenerate(t, be)
	})
}

// TestNoDriver runs this test binary again with the driver library made
// unloadable, as on a machine without the NVIDIA driver: the process must
// start (gorgonia.org/cu's init must not exit it), Open must fail with
// gpu.ErrNoDevice and a message naming the cause, and the CPU backend must
// still work. It needs no GPU and runs wherever the cuda build runs.
func TestNoDriver(t *testing.T) {
	if os.Getenv("NETSSM_NODRIVER_HELPER") == "1" {
		noDriverHelper(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoDriver$", "-test.v")
	cmd.Env = append(os.Environ(), "NETSSM_NODRIVER_HELPER=1", "NETSSM_LIBCUDA=/nonexistent/libcuda.so.1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "no-driver checks passed") {
		t.Fatalf("helper did not run its checks:\n%s", out)
	}
}

func noDriverHelper(t *testing.T) {
	_, err := cuda.Open(0)
	if !errors.Is(err, gpu.ErrNoDevice) {
		t.Fatalf("Open without a driver: %v, want gpu.ErrNoDevice", err)
	}
	if !strings.Contains(err.Error(), "NVIDIA driver") {
		t.Errorf("error does not say what is missing: %v", err)
	}
	if _, err := gpu.Open("cuda"); !errors.Is(err, gpu.ErrNoDevice) {
		t.Errorf("gpu.Open(cuda): %v, want gpu.ErrNoDevice", err)
	}
	be, err := gpu.Open("cpu")
	if err != nil {
		t.Fatalf("cpu backend: %v", err)
	}
	buf, _ := be.Alloc(gpu.F32, 3)
	if err := be.Write(buf, 0, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	ss, err := be.SumSquares(context.Background(), []gpu.Buffer{buf})
	if err != nil || ss != 14 {
		t.Fatalf("cpu sum of squares = %v, %v", ss, err)
	}
	t.Log("no-driver checks passed")
}

// TestGraphReplay captures decode-step ops into a CUDA graph and checks that
// replaying it gives the same states and outputs as launching them directly.
func TestGraphReplay(t *testing.T) {
	be := open(t)
	ctx := context.Background()
	const B, C, W, H, P, N = 2, 48, 4, 4, 8, 16
	mk := func(dt gpu.DType, n int, v float32) gpu.Buffer {
		b, err := be.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = v * float32((i*37)%11-5) / 5
		}
		if err := be.Write(b, 0, data); err != nil {
			t.Fatal(err)
		}
		return b
	}
	x, w, bias := mk(gpu.F32, B*C, 1), mk(gpu.F32, C*W, 0.5), mk(gpu.F32, C, 0.1)
	xs, dt := mk(gpu.F32, B*H*P, 1), mk(gpu.F32, B*H, 0.3)
	bm, cm := mk(gpu.F32, B*N, 1), mk(gpu.F32, B*N, 1)
	dtb, alog, d := mk(gpu.F32, H, -1), mk(gpu.F32, H, 0.5), mk(gpu.F32, H, 1)
	run := func(cs, ss, out, y gpu.Buffer) error {
		if err := be.Conv1dStep(ctx, &gpu.Conv1dStepArgs{Batch: B, Channels: C, Width: W, SiLU: true, X: gpu.Dense(x, C),
			State: cs, Weight: w, Bias: bias, Out: gpu.Dense(out, C)}); err != nil {
			return err
		}
		return be.SSDStep(ctx, &gpu.SSDStepArgs{Batch: B, Heads: H, HeadDim: P, Groups: 1, StateDim: N, X: gpu.Dense(xs, H*P),
			DT: gpu.Dense(dt, H), DTBias: dtb, ALog: alog, B: gpu.Dense(bm, N), C: gpu.Dense(cm, N), D: d, Y: gpu.Dense(y, H*P), State: ss})
	}
	var bufs [2][4]gpu.Buffer
	for i := range bufs {
		bufs[i] = [4]gpu.Buffer{mk(gpu.F32, B*C*W, 0), mk(gpu.F32, B*H*P*N, 0), mk(gpu.F32, B*C, 0), mk(gpu.F32, B*H*P, 0)}
	}
	g, err := be.Capture(func() error { return run(bufs[1][0], bufs[1][1], bufs[1][2], bufs[1][3]) })
	if err != nil {
		t.Fatal(err)
	}
	defer g.Destroy()
	for step := 0; step < 5; step++ {
		if err := run(bufs[0][0], bufs[0][1], bufs[0][2], bufs[0][3]); err != nil {
			t.Fatal(err)
		}
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	if err := be.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range bufs[0] {
		want := make([]float32, bufs[0][i].Len())
		got := make([]float32, len(want))
		be.Read(want, bufs[0][i], 0)
		be.Read(got, bufs[1][i], 0)
		if err := gputest.Compare(got, want, gputest.Tol{Atol: 0, Rtol: 0}); err != nil {
			t.Errorf("buffer %d: graph replay differs: %v", i, err)
		}
	}
}
