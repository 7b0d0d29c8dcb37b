#!/usr/bin/env bash
# CI step for the CUDA backend (gpu/cuda, build tag cuda). CI has no GPU, so
# this only keeps the GPU code from rotting:
#   1. fetch cuda.h (that file only) from Debian's non-free nvidia-cuda-dev
#      into /opt/netssm-cuda (cached across runs);
#   2. vet the cuda build and compile the GPU test binaries (gpu/cuda's
#      conformance suite, netssmlib/gpumodel's model checks);
#   3. check that the cuda build starts on this driver-less machine: the
#      no-driver test, and `netssm gpu` working on the CPU and failing
#      cleanly for -device cuda;
#   4. run the conformance suite and the model, training and generation
#      tests on the CUDA backend with its kernels
#      compiled for the CPU (build tag cudaemu, g++): the kernels' indexing
#      and the Go side's launches are tested without a GPU.
# No libcuda stub is needed: the cuda build never links libcuda (-lcuda is
# satisfied by the empty gpu/cuda/nolib/libcuda.a and loader.c defines every
# driver symbol, so a symbol missing from drvsyms.h fails these links).
# Needs gcc and g++ (cgo); see .ci/apt-packages.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
dir=/opt/netssm-cuda
export DEBIAN_FRONTEND=noninteractive

if [ ! -s "$dir/include/cuda.h" ]; then
  if ! apt-cache show nvidia-cuda-dev >/dev/null 2>&1; then
    # nvidia-cuda-dev is in non-free: add contrib/non-free next to the
    # configured main archive (same mirror, same suites).
    . /etc/os-release
    uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
    [ -n "$uri" ] || uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    cat >/etc/apt/sources.list.d/netssm-cuda.sources <<SRC
Types: deb
URIs: $uri
Suites: ${VERSION_CODENAME:-bookworm} ${VERSION_CODENAME:-bookworm}-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq nvidia-cuda-dev)
  deb=$(ls "$tmp"/nvidia-cuda-dev_*.deb)
  echo "cuda.sh: downloaded $(du -h "$deb" | cut -f1) in $(($(date +%s) - t0))s"
  # cuda.h is within the first 100 MB of the 2.8 GB data archive:
  # --occurrence makes tar stop there (dpkg-deb then dies of SIGPIPE, hence
  # the || true and the install below, which fails if the file is missing).
  (dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --occurrence ./usr/include/cuda.h) 2>/dev/null || true
  mkdir -p "$dir/include"
  install -m 644 "$tmp/usr/include/cuda.h" "$dir/include/cuda.h"
  rm -f "$deb"
fi
echo "cuda.sh: headers ready in $(($(date +%s) - t0))s"

export CGO_ENABLED=1 CGO_CFLAGS="-I$dir/include" CGO_LDFLAGS=""
# 2.
go vet -tags cuda ./gpu/... ./netssmlib/... ./cmd/...
# Compile the GPU test binaries (the conformance suite and the model's
# checks) into a temporary directory: never `-o /dev/null`, which as root
# has in some Go versions replaced the device with the binary.
bins=$(mktemp -d)
go test -c -tags cuda -o "$bins/cuda.test" ./gpu/cuda
go test -c -tags cuda -o "$bins/gpumodel.test" ./netssmlib/gpumodel
rm -rf "$bins"
echo "cuda.sh: vet and compile done in $(($(date +%s) - t0))s"

# 3.
go test -tags cuda -count=1 -run '^TestNoDriver$' ./gpu/cuda
out=$(mktemp -d)
go build -tags cuda -o "$out/netssm" ./cmd/netssm
"$out/netssm" gpu -device cpu -check >/dev/null
if msg=$("$out/netssm" gpu -device cuda 2>&1); then
  echo "cuda.sh: netssm gpu -device cuda succeeded on a machine without a GPU" >&2
  exit 1
fi
echo "$msg" | grep -q "no device" || { echo "cuda.sh: unexpected error: $msg" >&2; exit 1; }
rm -rf "$out"
echo "cuda.sh: driver-less start checked in $(($(date +%s) - t0))s"

# 4. (no cuda.h needed)
go vet -tags cudaemu ./gpu/... ./netssmlib/...
go test -tags cudaemu -count=1 ./gpu/cuda ./netssmlib/gpumodel ./netssmlib/train ./netssmlib/generate
echo "cuda.sh: ok in $(($(date +%s) - t0))s"
