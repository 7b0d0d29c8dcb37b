package train_test

import (
	"context"
	"fmt"
	"os"

	"github.com/netssm/netssm/netssmlib/mamba"
	"github.com/netssm/netssm/netssmlib/train"
)

// Train a small model on in-memory examples, logging through a callback
// (what a notebook cell does to plot the loss live).
func ExampleTrain() {
	cfg, _ := mamba.ParseConfig([]byte(`{"d_model": 32, "n_layer": 1, "vocab_size": 16,
		"ssm_cfg": {"layer": "Mamba2", "d_state": 8, "headdim": 16}, "pad_vocab_size_multiple": 8}`))
	m, _ := mamba.New(cfg, 1)
	var data train.Examples
	for i := range 4 {
		ids := make([]int32, 20)
		for j := range ids {
			ids[j] = int32((i + j) % 10)
		}
		data = append(data, train.Example{InputIDs: ids})
	}
	out, _ := os.MkdirTemp("", "netssm-example")
	defer os.RemoveAll(out)
	res, err := train.Train(context.Background(), m, data, train.Options{
		OutputDir: out, NumEpochs: 2, BatchSize: 2, LoggingSteps: 2,
		OnLog: func(e train.Event) { fmt.Printf("step %d/%d\n", e.Step, e.TotalSteps) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = os.Stat(res.FinalDir)
	fmt.Println("final folder written:", err == nil)
	// Output:
	// step 2/4
	// step 4/4
	// final folder written: true
}
