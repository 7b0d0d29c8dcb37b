package train

import (
	"context"
	"testing"
	"time"

	"github.com/netssm/netssm/netssmlib/mamba"
)

// BenchmarkTrainSmall runs b.N optimizer steps of the config (a)
// (d_model 256, 4 layers, d_state 64, headdim 32) on 512-token sequences,
// batch 1, through Train (loop, clipping, AdamW, final save):
//
//	go test -run X -bench TrainSmall -benchtime 4x ./netssmlib/train
func BenchmarkTrainSmall(b *testing.B) {
	cfg, err := mamba.ParseConfig([]byte(`{"d_model": 256, "n_layer": 4, "vocab_size": 264,
		"ssm_cfg": {"layer": "Mamba2", "d_state": 64, "headdim": 32}, "pad_vocab_size_multiple": 16}`))
	if err != nil {
		b.Fatal(err)
	}
	m, err := mamba.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const T = 512
	data := make(Examples, b.N)
	for i := range data {
		ids := make([]int32, T)
		for j := range ids {
			ids[j] = int32((i*7 + j*13) % 256)
		}
		data[i] = Example{InputIDs: ids}
	}
	b.ResetTimer()
	start := time.Now()
	if _, err := Train(context.Background(), m, data, Options{OutputDir: b.TempDir(), SaveSteps: 1 << 30, LoggingSteps: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*T)/time.Since(start).Seconds(), "tok/s")
}
