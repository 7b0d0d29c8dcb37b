package generate

import (
	"context"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
)

// TestDeviceGenerationMatchesCPU: greedy decoding of a batch of different
// prompts on the reference backend (f32) gives the pure-Go model's tokens,
// and so does fixed-seed sampling with a packet length.
func TestDeviceGenerationMatchesCPU(t *testing.T) {
	m := tinyModel(t, 14)
	for _, c := range []struct {
		name string
		req  Request
	}{
		{"greedy", Request{Prompts: [][]int32{{3, 1, 4, 1, 5}, {9}, {2, 6}}, MaxTokens: 24, EOS: -1, Pkt: -1, Options: DefaultOptions()}},
		{"sampled", Request{Prompts: [][]int32{{13, 2}, {12}}, MaxPackets: 3, MaxTokens: 40, EOS: 0, Pkt: 11,
			Options: Options{Temperature: 0.9, TopK: 5, RepetitionPenalty: 1.2, Seed: 3}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := Generate(context.Background(), m, c.req)
			if err != nil {
				t.Fatal(err)
			}
			req := c.req
			req.Device, req.DeviceDType = cpu.New(), gpu.F32
			got, err := Generate(context.Background(), m, req)
			if err != nil {
				t.Fatal(err)
			}
			for r := range want {
				if !equal(got[r], want[r]) {
					t.Errorf("row %d: device %v\n              cpu %v", r, got[r], want[r])
				}
				if len(want[r]) <= len(c.req.Prompts[r]) {
					t.Errorf("row %d generated nothing", r)
				}
			}
		})
	}
}

func TestDeviceGenerationRejectsBadDType(t *testing.T) {
	_, err := Generate(context.Background(), tinyModel(t, 16), Request{Prompts: [][]int32{{1}}, MaxTokens: 2, EOS: -1, Pkt: -1,
		Options: DefaultOptions(), Device: cpu.New(), DeviceDType: gpu.I32})
	if err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("err = %v, want a dtype error", err)
	}
}
