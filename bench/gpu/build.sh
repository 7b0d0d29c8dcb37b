#!/usr/bin/env bash
# Builds, on this (CPU) machine, what bench/gpu/run.sh runs on a GPU machine:
#   bench/out/gpu/cuda.test  the gpu/cuda conformance + benchmark test binary
#   bench/out/gpu/netssm     the cuda-tagged netssm
# Both are x86-64 Linux cgo binaries that need only glibc (libcuda is loaded
# at run time). Needs cuda.h: /opt/netssm-cuda/include, fetched by
# .ci/setup.d/cuda.sh when missing (or set CUDA_INCLUDE).
set -euo pipefail
cd "$(dirname "$0")/../.."
inc=${CUDA_INCLUDE:-/opt/netssm-cuda/include}
if [ ! -s "$inc/cuda.h" ]; then
  echo "build.sh: $inc/cuda.h missing; running .ci/setup.d/cuda.sh to fetch it"
  bash .ci/setup.d/cuda.sh
fi
# The PTX must match the kernel sources (go generate ./gpu/cuda/kernels).
go test -count=1 ./gpu/cuda/kernels
out=bench/out/gpu
mkdir -p "$out"
export CGO_ENABLED=1 CGO_CFLAGS="-I$inc" CGO_LDFLAGS=""
go test -c -tags cuda -o "$out/cuda.test" ./gpu/cuda
go build -tags cuda -o "$out/netssm" ./cmd/netssm
# A binary that links libcuda would not start where the driver is missing.
if command -v readelf >/dev/null && readelf -d "$out/cuda.test" | grep -q 'NEEDED.*libcuda'; then
  echo "build.sh: $out/cuda.test links libcuda" >&2
  exit 1
fi
ls -la "$out"
echo "build.sh: done; run on a GPU machine: bash bench/gpu/run.sh (carry bench/out)"
