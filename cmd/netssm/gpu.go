package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"

	"github.com/netssm/netssm/gpu"
	_ "github.com/netssm/netssm/gpu/cpu" // the reference backend, always present
	"github.com/netssm/netssm/gpu/gputest"
)

func init() {
	register(&command{
		name:    "gpu",
		summary: "list compute backends, open one and optionally self-check it against the CPU",
		run:     runGPU,
	})
}

func runGPU(ctx context.Context, args []string) error {
	fs := newFlagSet("gpu", "[-device cpu|cuda] [-check]")
	device := fs.String("device", "cuda", "backend to open: "+fmt.Sprint(gpu.Backends()))
	check := fs.Bool("check", false, "run a bf16 GEMM, an SSD scan and its backward on the device and compare with the CPU reference")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	fmt.Printf("backends compiled in: %v\n", gpu.Backends())
	be, err := gpu.Open(*device)
	if err != nil {
		if errors.Is(err, gpu.ErrUnknownBackend) {
			return fmt.Errorf("-device %s: %w", *device, err)
		}
		return err
	}
	defer be.Close()
	fmt.Printf("%s: %s\n", be.Name(), be.DeviceName())
	if !*check {
		return nil
	}
	kr, hasReport := be.(kernelReporter)
	if hasReport {
		fmt.Print(kr.KernelReport())
	}
	ref, err := gpu.Open("cpu")
	if err != nil {
		return err
	}
	err = selfCheck(ctx, be, ref)
	if hasReport {
		for _, f := range kr.Fallbacks() {
			fmt.Println("after the checks:", f)
		}
	}
	return err
}

// kernelReporter is a backend that reports its kernels' attributes and the
// fallbacks it took (gpu/cuda: Backend.KernelReport, Backend.Fallbacks).
type kernelReporter interface {
	KernelReport() string
	Fallbacks() []string
}

// selfCheck runs a few ops on be and ref with the same inputs and reports
// the agreement (the full suite is gputest, run by bench/gpu/run.sh).
func selfCheck(ctx context.Context, be, ref gpu.Backend) error {
	r := rand.New(rand.NewSource(1))
	type pair [2]gpu.Buffer
	mk := func(dt gpu.DType, n int, scale float64) (pair, error) {
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(r.NormFloat64() * scale)
		}
		var p pair
		for i, b := range []gpu.Backend{ref, be} {
			buf, err := b.Alloc(dt, n)
			if err != nil {
				return p, err
			}
			if err := b.Write(buf, 0, data); err != nil {
				return p, err
			}
			p[i] = buf
		}
		return p, nil
	}
	const M, N, K = 96, 160, 112
	const T, H, P, G, S = 50, 4, 16, 1, 32
	var failed bool
	get := func(dt gpu.DType, n int, scale float64) pair {
		p, err := mk(dt, n, scale)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
		}
		return p
	}
	a, b, c := get(gpu.BF16, M*K, 1), get(gpu.BF16, N*K, 1), get(gpu.F32, M*N, 0)
	x, dt, bm, cm := get(gpu.F32, T*H*P, 1), get(gpu.F32, T*H, 1), get(gpu.F32, T*G*S, 1), get(gpu.F32, T*G*S, 1)
	dtb, alog, d, y := get(gpu.F32, H, 1), get(gpu.F32, H, 0.5), get(gpu.F32, H, 1), get(gpu.F32, T*H*P, 0)
	dy, dx := get(gpu.F32, T*H*P, 1), get(gpu.F32, T*H*P, 0)
	ddt, db, dc := get(gpu.F32, T*H, 0), get(gpu.F32, T*G*S, 0), get(gpu.F32, T*G*S, 0)
	ddtb, dal, dd := get(gpu.F32, H, 0), get(gpu.F32, H, 0), get(gpu.F32, H, 0)
	if failed {
		return errors.New("gpu -check: allocating test buffers failed")
	}
	for i, bk := range []gpu.Backend{ref, be} {
		if err := bk.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: M, N: N, K: K, Alpha: 1, A: gpu.Dense(a[i], K), B: gpu.Dense(b[i], K), C: gpu.Dense(c[i], N)}); err != nil {
			return fmt.Errorf("%s: gemm: %w", bk.Name(), err)
		}
		sa := &gpu.SSDArgs{Batch: 1, Seq: T, Heads: H, HeadDim: P, Groups: G, State: S, ChunkSize: 16,
			X: gpu.Dense(x[i], H*P), DT: gpu.Dense(dt[i], H), B: gpu.Dense(bm[i], G*S), C: gpu.Dense(cm[i], G*S),
			DTBias: dtb[i], ALog: alog[i], D: d[i], Y: gpu.Dense(y[i], H*P),
			DY: gpu.Dense(dy[i], H*P), DX: gpu.Dense(dx[i], H*P), DDT: gpu.Dense(ddt[i], H), DB: gpu.Dense(db[i], G*S),
			DC: gpu.Dense(dc[i], G*S), DDTBias: ddtb[i], DALog: dal[i], DD: dd[i]}
		if err := bk.SSD(ctx, sa); err != nil {
			return fmt.Errorf("%s: ssd: %w", bk.Name(), err)
		}
		if err := bk.SSDBackward(ctx, sa); err != nil {
			return fmt.Errorf("%s: ssd backward: %w", bk.Name(), err)
		}
		if err := bk.Sync(ctx); err != nil {
			return err
		}
	}
	bad := 0
	for _, c := range []struct {
		name string
		p    pair
		tol  gputest.Tol
	}{{"gemm bf16", c, gputest.TolBF16}, {"ssd y", y, gputest.TolScan}, {"ssd dx", dx, gputest.TolScan},
		{"ssd ddt", ddt, gputest.TolScan}, {"ssd dB", db, gputest.TolScan}, {"ssd dC", dc, gputest.TolScan}} {
		want := make([]float32, c.p[0].Len())
		got := make([]float32, len(want))
		if err := ref.Read(want, c.p[0], 0); err != nil {
			return err
		}
		if err := be.Read(got, c.p[1], 0); err != nil {
			return err
		}
		if err := gputest.Compare(got, want, c.tol); err != nil {
			fmt.Printf("%-10s FAIL %v\n", c.name, err)
			bad++
		} else {
			fmt.Printf("%-10s ok\n", c.name)
		}
	}
	if bad > 0 {
		return fmt.Errorf("gpu -check: %d of 6 checks failed on %s", bad, be.DeviceName())
	}
	return nil
}
