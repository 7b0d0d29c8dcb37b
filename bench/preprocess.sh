#!/usr/bin/env bash
# Speed and peak memory of `netssm preprocess` against the NetSSM-equivalent
# baseline (sequential gopacket.NewPacket decoding, what NetSSM's
# preprocessor does) on the same ~50 MB directory, same machine, same run.
#
#   bench/preprocess.sh [DIR] [TOTAL_MB]     (default /tmp/netssm-bench, 50)
#
# Needs /usr/bin/time (Debian package "time") and python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/netssm-bench}
mb=${2:-50}
bin=$(mktemp -d)/netssm
trap 'rm -rf "$(dirname "$bin")" /tmp/netssm-bench-out.*.jsonl' EXIT
(cd "$root" && CGO_ENABLED=0 go build -o "$bin" ./cmd/netssm)
[ -d "$dir" ] || python3 "$root/bench/mkbenchdir.py" "$dir" "$mb"
bytes=$(find "$dir" -type f \( -name '*.pcap' -o -name '*.pcapng' \) -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "input: $dir, $(find "$dir" -type f | wc -l) captures, $((bytes / 1000000)) MB, $(nproc) CPUs"

measure() { # name, command...
  local name=$1; shift
  local log
  log=$(mktemp)
  /usr/bin/time -v "$@" 2>"$log" >/dev/null || { cat "$log"; exit 1; }
  local wall rss cpu
  cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$log")
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident' "$log" | awk '{print $NF}')
  awk -v n="$name" -v w="$wall" -v c="$cpu" -v r="$rss" -v b="$bytes" 'BEGIN { printf "%-28s %6.2f s wall %8.1f MB/s | %6.2f s CPU %7.1f MB per CPU-s | peak RSS %6.1f MiB\n", n, w, b/1e6/w, c, b/1e6/c, r/1024 }'
  rm -f "$log"
}

measure "netssm preprocess" "$bin" preprocess -in-dir "$dir" -label bench -out /tmp/netssm-bench-out.fast.jsonl -progress never
measure "netssm -workers 1" "$bin" preprocess -in-dir "$dir" -label bench -out /tmp/netssm-bench-out.w1.jsonl -progress never -workers 1
measure "NetSSM-equivalent baseline" "$bin" _preprocess-reference -in-dir "$dir" -label bench -out /tmp/netssm-bench-out.ref.jsonl
cmp /tmp/netssm-bench-out.fast.jsonl /tmp/netssm-bench-out.ref.jsonl && echo "outputs identical ($(stat -c %s /tmp/netssm-bench-out.fast.jsonl) bytes)"
cmp -s /tmp/netssm-bench-out.fast.jsonl /tmp/netssm-bench-out.w1.jsonl || { echo "-workers 1 output differs"; exit 1; }
