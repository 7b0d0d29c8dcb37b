#!/usr/bin/env bash
# Records the test captures in this folder from real loopback traffic.
# Needs root, tcpdump, dumpcap (wireshark-common), curl and python3 (any).
#
#   sudo testdata/pcap/capture.sh            # rewrites the captures here
#   OUT=/tmp/caps testdata/pcap/capture.sh   # or somewhere else
#
# Traffic: HTTP over IPv4 and IPv6 (python http.server + curl), UDP with
# payloads of 0, 1, 5, 11, 12, 40 and 300 bytes, DNS queries to a tiny
# DNS responder on port 53, TCP and UDP interleaved. Link types: Ethernet
# (lo), Linux cooked v1 and v2 (-i any), pcapng with two interfaces of
# different link types (dumpcap -i lo -i any), a snap-length-limited
# capture, and the Ethernet capture re-encapsulated as raw IP (101), IPv4
# (228) and BSD loopback (0, 108) by rewrap.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here}
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Small files to serve over HTTP.
mkdir -p "$work/www"
head -c 1500 /dev/zero | tr '\0' 'a' > "$work/www/small.txt"
head -c 6000 /dev/zero | tr '\0' 'b' > "$work/www/medium.txt"

start_servers() {
  python3 -m http.server 18080 --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & pids+=($!)
  python3 -m http.server 18081 --bind ::1 --directory "$work/www" >/dev/null 2>&1 & pids+=($!)
  python3 "$here/udpserver.py" >/dev/null 2>&1 & pids+=($!)
  sleep 1
}

traffic() {
  curl -s -o /dev/null http://127.0.0.1:18080/small.txt
  python3 "$here/udpclient.py" 127.0.0.1
  curl -s -o /dev/null "http://[::1]:18081/medium.txt"
  python3 "$here/udpclient.py" ::1
  curl -s -o /dev/null http://127.0.0.1:18080/medium.txt
  curl -s -o /dev/null "http://[::1]:18081/small.txt"
}

capture() { # name, then tcpdump/dumpcap command line
  local name=$1; shift
  "$@" >/dev/null 2>&1 & local pid=$!
  sleep 1.5
  traffic
  sleep 1
  kill -INT "$pid" 2>/dev/null || { echo "capture $name: $1 exited early" >&2; exit 1; }
  wait "$pid" || true
  echo "captured $name: $(stat -c %s "$OUT/$name") bytes"
}

start_servers
filter='host 127.0.0.1 or host ::1'
capture lo_http_udp.pcap         tcpdump -i lo -U -w "$OUT/lo_http_udp.pcap" $filter
capture lo_mixed.pcapng          dumpcap -q -i lo -f "$filter" -w "$OUT/lo_mixed.pcapng"
capture any_sll2.pcap            tcpdump -i any -U -w "$OUT/any_sll2.pcap" $filter
capture any_sll.pcap             tcpdump -i any -y LINUX_SLL -U -w "$OUT/any_sll.pcap" $filter
capture lo_snap60.pcap           tcpdump -i lo -s 60 -U -w "$OUT/lo_snap60.pcap" $filter
capture two_linktypes.pcapng     dumpcap -q -i lo -i any -f "$filter" -w "$OUT/two_linktypes.pcapng"
chmod 0644 "$OUT"/*.pcap "$OUT"/*.pcapng

# The same traffic on link types Linux cannot capture natively.
/usr/bin/python3 "$here/rewrap.py" "$OUT/lo_http_udp.pcap" "$OUT"
ls -l "$OUT"
