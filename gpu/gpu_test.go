package gpu_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
)

func TestBF16Bits(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{1 + 1.0/256, 0x3f80},        // tie: rounds to even
		{1 + 3.0/256, 0x3f82},        // tie: rounds to even (up)
		{1 + 1.0/256 + 1e-7, 0x3f81}, // above the tie
		{float32(math.Inf(1)), 0x7f80},
		{3.4e38, 0x7f80}, // overflows to +Inf, as PyTorch
	} {
		if got := gpu.BF16Bits(c.in); got != c.want {
			t.Errorf("BF16Bits(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if v := gpu.FromBF16Bits(gpu.BF16Bits(float32(math.NaN()))); !math.IsNaN(float64(v)) {
		t.Errorf("NaN became %v", v)
	}
}

func TestOpenUnknown(t *testing.T) {
	_, err := gpu.Open("cuda")
	if err == nil {
		t.Skip("a cuda backend is registered in this build")
	}
	if !errors.Is(err, gpu.ErrUnknownBackend) || !strings.Contains(err.Error(), "cuda build tag") {
		t.Fatalf("Open(cuda) = %v, want ErrUnknownBackend with a hint", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	gpu.Register("test-dup", func() (gpu.Backend, error) { return nil, gpu.ErrNoDevice })
	defer func() {
		if recover() == nil {
			t.Fatal("second Register did not panic")
		}
	}()
	gpu.Register("test-dup", func() (gpu.Backend, error) { return nil, gpu.ErrNoDevice })
}

func TestDTypes(t *testing.T) {
	if gpu.F32.Size() != 4 || gpu.BF16.Size() != 2 || gpu.I32.Size() != 4 || gpu.DType(9).Size() != 0 {
		t.Fatal("dtype sizes")
	}
	if !gpu.BF16.IsFloat() || gpu.I32.IsFloat() {
		t.Fatal("IsFloat")
	}
}
