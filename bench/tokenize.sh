#!/usr/bin/env bash
# Throughput of `netssm tokenize` on a synthetic JSONL shaped like
# `netssm preprocess` output (samples of 200 packets x 128 decimal bytes,
# 60 random header bytes then zero padding). Prints wall and CPU time; the
# per-core figure is JSONL MB / (user + sys seconds).
#   bench/tokenize.sh [MB of JSONL, default 100] [workers, default 1]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}
workers=${2:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/netssm" ./cmd/netssm
samples=$(( mb * 1000000 / 72000 + 1 ))
awk -v n="$samples" 'BEGIN {
  srand(1)
  for (s = 0; s < n; s++) {
    printf "{\"Data\":\"<|netflix|>"
    for (p = 0; p < 200; p++) {
      if (p > 0) printf " <|pkt|>"
      for (k = 0; k < 128; k++) printf " %d", (k < 60 ? int(rand() * 256) : 0)
    }
    printf "\",\"Hash\":\"%064d\",\"Filename\":\"x%d.pcap\",\"OrigLen\":200}\n", s, s
  }
}' > "$tmp/in.jsonl"
"$tmp/netssm" tokenizer -special-tokens netflix -out "$tmp/tok" 2>/dev/null
size=$(stat -c %s "$tmp/in.jsonl")
/usr/bin/time -f "%e %U %S %M" -o "$tmp/time" \
  "$tmp/netssm" tokenize -tokenizer "$tmp/tok" -data-path "$tmp/in.jsonl" -out-path "$tmp/ds" -workers "$workers"
read -r wall user sys rss < "$tmp/time"
awk -v b="$size" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v k="$workers" 'BEGIN {
  printf "%.1f MB JSONL, workers %d: %.2fs wall (%.0f MB/s), %.2fs CPU (%.0f MB/s per core), peak RSS %.0f MiB\n",
    b/1e6, k, w, b/1e6/w, u+s, b/1e6/(u+s), r/1024 }'
