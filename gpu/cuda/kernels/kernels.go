// Package kernels holds the CUDA C sources of the gpu/cuda backend and the
// PTX compiled from them, embedded for loading with cuModuleLoadData. It is
// pure Go (no cgo), so the default build can check that the committed PTX
// matches the sources (TestPTXUpToDate) without nvcc.
//
// Regenerate after editing a .cu or .cuh file:
//
//	go generate ./gpu/cuda/kernels
//
// which needs nvcc 11.8 (Debian non-free nvidia-cuda-toolkit) and gcc-11.
// The PTX targets compute_80 (PTX ISA 7.8); the driver JIT-compiles it for the
// actual GPU (sm_80 and later: A100, H100, H200).
package kernels

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:generate ./gen.sh

//go:embed *.ptx
var ptx embed.FS

//go:embed *.cu *.cuh
var sources embed.FS

// Module is one PTX module: its name (the .cu file's base name) and text.
type Module struct {
	Name string
	PTX  string
}

// Modules returns the embedded PTX modules, sorted by name.
func Modules() []Module {
	names, _ := fs.Glob(ptx, "*.ptx")
	sort.Strings(names)
	mods := make([]Module, 0, len(names))
	for _, n := range names {
		b, _ := ptx.ReadFile(n)
		mods = append(mods, Module{Name: strings.TrimSuffix(n, ".ptx"), PTX: string(b)})
	}
	return mods
}

// SourceFS is the embedded kernel sources (.cu, .cuh).
func SourceFS() fs.FS { return sources }

// StampPrefix starts the first line of every generated PTX file.
const StampPrefix = "// netssm-source-sha256: "
