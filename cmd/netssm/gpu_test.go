package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
)

func TestGPUCheckOnCPU(t *testing.T) {
	if err := commands["gpu"].run(context.Background(), []string{"-device", "cpu", "-check"}); err != nil {
		t.Fatal(err)
	}
}

func TestGPUUnknownDevice(t *testing.T) {
	err := commands["gpu"].run(context.Background(), []string{"-device", "tpu"})
	if !errors.Is(err, gpu.ErrUnknownBackend) {
		t.Fatalf("err = %v, want ErrUnknownBackend", err)
	}
	if errors.Is(err, errUsage) {
		t.Fatal("an absent backend is not a usage error")
	}
	if got := run([]string{"gpu", "-device", "tpu"}); got != 1 {
		t.Fatalf("exit status %d, want 1", got)
	}
}

func TestGPUCudaWithoutTag(t *testing.T) {
	for _, n := range gpu.Backends() {
		if n == "cuda" {
			t.Skip("built with the cuda tag")
		}
	}
	err := commands["gpu"].run(context.Background(), []string{"-device", "cuda"})
	if err == nil || !strings.Contains(err.Error(), "without the cuda build tag") {
		t.Fatalf("err = %v, want a hint about the cuda build tag", err)
	}
}
