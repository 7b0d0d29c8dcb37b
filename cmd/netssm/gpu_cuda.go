//go:build cuda

package main

// The CUDA backend, in binaries built with -tags cuda. It starts without a
// GPU or driver; only opening it (-device cuda) then fails.
import _ "github.com/netssm/netssm/gpu/cuda"
