package cpu_test

import (
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/gpu/gputest"
)

// The reference is written for clarity; these only show its order of
// magnitude on a small model:
//
//	go test -run '^$' -bench . -benchtime 3x ./gpu/cpu
var small = gputest.Config{V: 272, Dm: 64, Layers: 2, Inner: 128, HeadDim: 32, Groups: 1, State: 32, Conv: 4, Chunk: 64}

func BenchmarkTrainSmall256(b *testing.B) {
	gputest.BenchTrain(b, cpu.New(), small, 256, gpu.F32, nil)
}

func BenchmarkDecodeSmall(b *testing.B) {
	gputest.BenchDecode(b, cpu.New(), small, 1, gpu.F32, nil)
}
