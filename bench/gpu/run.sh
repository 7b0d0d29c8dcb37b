#!/usr/bin/env bash
# Runs on the GPU machine (no Go there): the conformance suite of gpu/cuda
# against the CPU reference, `netssm gpu -check`, gpumodel's tests (the whole
# model on the GPU against the reference), the kernel benchmarks, then issue
# 5's benchmarks on NetSSM's default model (`netssm bench train|generate
# -device cuda -json`) and a table comparing them with NetSSM's numbers.
# Results go to $OUT (the device tool's folder) or bench/out/gpu/results.
# Build first with bench/gpu/build.sh and carry bench/out.
#
# Step limits add up to 500 s (device tool: timeout_s=570 leaves a minute);
# a normal run should take 2-4 minutes. FULL=1 adds the test binary's own
# decode/train benchmarks (+180 s). Exit status: 0 when every step passed.
# Without a GPU it stops at once (NETSSM_NO_GPU_OK=1 runs the steps anyway,
# each failing with its reason: how the script itself is tested).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$PWD/bench/out/gpu
OUT=${OUT:-$PWD/bench/out/gpu/results}
mkdir -p "$OUT"
for f in cuda.test netssm; do
  [ -x "$bin/$f" ] || { echo "run.sh: $bin/$f missing: run bench/gpu/build.sh first (and carry bench/out)" >&2; exit 1; }
done
if ! { [ -e /dev/nvidia0 ] || [ -n "$(ls /proc/driver/nvidia/gpus 2>/dev/null)" ]; }; then
  echo "run.sh: no NVIDIA GPU here (no /dev/nvidia0, no /proc/driver/nvidia/gpus)" >&2
  [ "${NETSSM_NO_GPU_OK:-}" = 1 ] || exit 1
fi
export NETSSM_REQUIRE_GPU=1 # a missing device fails instead of skipping
sum="$OUT/summary.txt"
: >"$sum"
failed=0
root=$PWD
dir=$root # where the next steps run (a test binary runs in its package's folder, as go test would)
# step name limit command...: output (stdout+stderr) to $OUT/name.txt.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  (cd "$dir" && timeout "$limit" "$@") >"$OUT/$name.txt" 2>&1
  local rc=$?
  [ $rc = 0 ] || failed=$((failed + 1))
  local why=""
  [ $rc = 124 ] && why=" (timed out after ${limit}s)"
  echo "$name: exit $rc in $((SECONDS - t0))s$why" | tee -a "$sum"
}
# jstep name limit command...: JSON lines to $OUT/name.jsonl, the table and
# errors to $OUT/name.txt.
jstep() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  (cd "$dir" && timeout "$limit" "$@") >"$OUT/$name.jsonl" 2>"$OUT/$name.txt"
  local rc=$?
  [ $rc = 0 ] || failed=$((failed + 1))
  local why=""
  [ $rc = 124 ] && why=" (timed out after ${limit}s; the lines before it are kept)"
  echo "$name: exit $rc in $((SECONDS - t0))s$why" | tee -a "$sum"
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; } >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt" >>"$sum"
dir=$root/gpu/cuda
step conformance 100 "$bin/cuda.test" -test.v -test.timeout 95s -test.run 'TestConformance|TestGraphReplay|TestNoDriver'
dir=$root
step check 25 "$bin/netssm" gpu -device cuda -check
grep -E '^kernels:|<- |unusable|fallback|context lost|unavailable' "$OUT/check.txt" | tee -a "$sum" # kernels near a limit, fallbacks (docs/gpu.md)
if [ -x "$bin/gpumodel.test" ]; then
  dir=$root/netssmlib/gpumodel
  step gpumodel 75 "$bin/gpumodel.test" -test.v -test.timeout 70s
  step bench-optimizer 25 "$bin/gpumodel.test" -test.run '^$' -test.bench OptimizerStep -test.benchtime 20x -test.timeout 20s
else
  echo "gpumodel: skipped (no gpumodel.test: the package had no tests when built)" | tee -a "$sum"
fi
dir=$root/gpu/cuda
step bench-kernels 60 "$bin/cuda.test" -test.run '^$' -test.bench 'Gemm|SSD|Elem' -test.benchtime 10x -test.timeout 55s
if [ "${FULL:-}" = 1 ]; then
  step bench-decode 60 "$bin/cuda.test" -test.run '^$' -test.bench 'Decode' -test.benchtime 200x -test.timeout 55s
  step bench-train-kernels 120 "$bin/cuda.test" -test.run '^$' -test.bench 'Train' -test.benchtime 3x -test.timeout 115s
fi
dir=$root
# Issue 5's benchmark: batch 1, NetSSM's default model, bf16.
jstep bench-train 130 "$bin/netssm" bench train -device cuda -dtype bf16 -tokens 2048,8192,32768,100000 -steps 5 -warmup 2 -json
jstep bench-generate 55 "$bin/netssm" bench generate -device cuda -dtype bf16 -batch 1,64 -tokens 256 -graph=both -json
# The opt-in persistent decode kernel (one cooperative launch per token),
# batch 1; the table says which path ran (it falls back to the graph path
# if its first-step check against it fails). Not fed to bench compare.
jstep bench-generate-persistent 30 "$bin/netssm" bench generate -device cuda -dtype bf16 -batch 1 -tokens 256 -decode persistent -json
grep -h -E '^(--- FAIL|FAIL|ok|PASS)|^Benchmark' "$OUT"/conformance.txt "$OUT"/gpumodel.txt "$OUT"/bench-optimizer.txt "$OUT"/bench-kernels.txt \
  "$OUT"/bench-decode.txt "$OUT"/bench-train-kernels.txt >>"$sum" 2>/dev/null
cat "$OUT"/bench-train.txt "$OUT"/bench-generate.txt "$OUT"/bench-generate-persistent.txt >>"$sum" 2>/dev/null
echo >>"$sum"
# Missed targets are reported, not counted as failed steps.
"$bin/netssm" bench compare "$OUT"/bench-train.jsonl "$OUT"/bench-generate.jsonl >"$OUT/compare.txt" 2>&1
cat "$OUT/compare.txt" >>"$sum"
echo "steps failed: $failed" >>"$sum"
cat "$sum"
[ "$failed" = 0 ]
