// Command mambamem measures the peak resident memory of one training step
// (ForwardBackward) of a Mamba2 model at a given sequence length, to check
// that memory grows linearly with the number of tokens.
//
//	go run ./bench/mambamem -tokens 2048
//	bench/mamba-mem.sh            # 2k, 8k and 32k tokens, config (a)
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/netssm/netssm/netssmlib/mamba"
)

func main() {
	tokens := flag.Int("tokens", 2048, "sequence length")
	dModel := flag.Int("d-model", 256, "d_model")
	nLayer := flag.Int("n-layer", 4, "layers")
	dState := flag.Int("d-state", 64, "d_state")
	headDim := flag.Int("headdim", 32, "headdim")
	steps := flag.Int("steps", 2, "training steps")
	budget := flag.Int64("activation-budget", 0, "Model.ActivationBudget in bytes (0: default 1 GiB, -1: always recompute)")
	flag.Parse()

	cfg := mamba.DefaultConfig()
	cfg.DModel, cfg.NLayer, cfg.VocabSize = *dModel, *nLayer, 261
	cfg.SSMCfg.DState, cfg.SSMCfg.HeadDim = *dState, *headDim
	m, err := mamba.New(cfg, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mambamem:", err)
		os.Exit(1)
	}
	m.ActivationBudget = *budget
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]int32, *tokens+1)
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.VocabSize))
	}
	base := peakRSS()
	m.ZeroGrad()
	start := time.Now()
	for range *steps {
		if _, _, err := m.ForwardBackward(context.Background(), ids[:*tokens], ids[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "mambamem:", err)
			os.Exit(1)
		}
	}
	el := time.Since(start)
	fmt.Printf("tokens %d  params %d  peak RSS %d MiB (model weights alone: %d MiB)  %.0f tokens/s\n",
		*tokens, m.NumParams(), peakRSS()>>20, base>>20, float64(*tokens**steps)/el.Seconds())
}

// peakRSS reads VmHWM from /proc/self/status (Linux), in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return -1
}
