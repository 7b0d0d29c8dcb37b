#!/usr/bin/env bash
# Builds, on this (CPU) machine, what bench/gpu/run.sh runs on a GPU machine:
#   bench/out/gpu/cuda.test      the gpu/cuda conformance + benchmark test binary
#   bench/out/gpu/gpumodel.test  netssmlib/gpumodel's tests (model parity on the GPU)
#   bench/out/gpu/netssm         the cuda-tagged netssm (gpu -check, bench)
# All are x86-64 Linux cgo binaries that need only glibc (libcuda is loaded
# at run time). Needs cuda.h: /opt/netssm-cuda/include, fetched by
# .ci/setup.d/cuda.sh when missing (or set CUDA_INCLUDE). Stripped (-s -w:
# stack traces still work) so that bench/out stays well under the device
# tool's 64 MiB carry limit.
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
rm -f "$out/cuda.test" "$out/gpumodel.test" "$out/netssm"
export CGO_ENABLED=1 CGO_CFLAGS="-I$inc" CGO_LDFLAGS=""
go test -c -tags cuda -ldflags="-s -w" -o "$out/cuda.test" ./gpu/cuda
# go test -c writes nothing for a package without test files.
go test -c -tags cuda -ldflags="-s -w" -o "$out/gpumodel.test" ./netssmlib/gpumodel
[ -x "$out/gpumodel.test" ] || echo "build.sh: netssmlib/gpumodel has no tests yet: run.sh will skip that step"
go build -tags cuda -ldflags="-s -w" -o "$out/netssm" ./cmd/netssm
# A binary that links libcuda would not start where the driver is missing.
if command -v readelf >/dev/null; then
  for f in "$out"/cuda.test "$out"/gpumodel.test "$out"/netssm; do
    [ -e "$f" ] || continue
    if readelf -d "$f" | grep -q 'NEEDED.*libcuda'; then
      echo "build.sh: $f links libcuda" >&2
      exit 1
    fi
  done
fi
ls -la "$out"
echo "build.sh: done; run on a GPU machine: bash bench/gpu/run.sh (carry bench/out)"
