#!/usr/bin/env bash
# Runs on the GPU machine (no Go there): the conformance suite of gpu/cuda
# against the CPU reference, `netssm gpu -check`, then the benchmarks on
# NetSSM's default model. Results go to $OUT (the device tool's folder) or
# bench/out/gpu/results. Build first with bench/gpu/build.sh and carry
# bench/out. Step limits add up to 430 s (device tool: timeout_s=480); a
# normal run should take 2-4 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$PWD/bench/out/gpu
OUT=${OUT:-$PWD/bench/out/gpu/results}
mkdir -p "$OUT"
[ -x "$bin/cuda.test" ] || { echo "run.sh: $bin/cuda.test missing: run bench/gpu/build.sh first" >&2; exit 1; }
export NETSSM_REQUIRE_GPU=1 # a missing device fails instead of skipping
sum="$OUT/summary.txt"
: >"$sum"
step() { # name, timeout, command...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - t0))s" | tee -a "$sum"
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt" >>"$sum"
cd gpu/cuda # the test binary's package directory, as go test would run it
step conformance 150 "$bin/cuda.test" -test.v -test.timeout 145s -test.run 'TestConformance|TestGraphReplay|TestNoDriver'
step check 40 "$bin/netssm" gpu -device cuda -check
step bench-kernels 60 "$bin/cuda.test" -test.run '^$' -test.bench 'Gemm|SSD' -test.benchtime 10x -test.timeout 55s
step bench-decode 60 "$bin/cuda.test" -test.run '^$' -test.bench 'Decode' -test.benchtime 200x -test.timeout 55s
step bench-train 120 "$bin/cuda.test" -test.run '^$' -test.bench 'Train' -test.benchtime 3x -test.timeout 115s
grep -h -E '^(--- FAIL|FAIL|ok|PASS)|^Benchmark' "$OUT"/conformance.txt "$OUT"/bench-*.txt >>"$sum" 2>/dev/null
cat "$sum"
