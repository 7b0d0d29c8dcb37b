#!/usr/bin/env bash
# Records the small loopback captures the convert and fidelity tests use.
# Needs root, tcpdump, editcap (wireshark-common), curl and python3.
# Traffic: HTTP over IPv4 and IPv6 (python http.server + curl), and UDP
# request/response pairs with payloads of 0..40 bytes (short ones exercise
# NetSSM's short-UDP-payload quirk). Ports are fixed and filtered so that
# other traffic on lo is not recorded.
#   loopback.pcap        Ethernet (lo), snaplen 256
#   loopback-sll2.pcap   the same traffic type on "any" (Linux cooked v2)
#   loopback.pcapng      loopback.pcap converted by editcap
set -euo pipefail
cd "$(dirname "$0")"
HTTP=18731 UDP=18732
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/www"
head -c 3000 /dev/zero | tr '\0' a >"$work/www/small.txt"
head -c 200000 /dev/zero | tr '\0' b >"$work/www/big.txt"
python3 -m http.server --bind :: --directory "$work/www" $HTTP >/dev/null 2>&1 &
cat >"$work/udp.py" <<'PY'
import socket, sys
port = int(sys.argv[2])
if sys.argv[1] == "server":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d[::-1] + b"!", a)
else:
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(2)
    for n in (0, 1, 5, 11, 12, 13, 40):
        c.sendto(bytes(range(65, 65 + n)), ("127.0.0.1", port))
        c.recvfrom(2048)
PY
python3 "$work/udp.py" server $UDP &
sleep 2

traffic() {
  for i in 1 2 3; do
    curl -sS --retry 3 --retry-connrefused -o /dev/null "http://127.0.0.1:$HTTP/small.txt"
    curl -sS --retry 3 --retry-connrefused -o /dev/null "http://[::1]:$HTTP/big.txt"
  done
  python3 "$work/udp.py" client $UDP
  curl -sS --retry 3 --retry-connrefused -o /dev/null "http://[::1]:$HTTP/small.txt"
  curl -sS --retry 3 --retry-connrefused -o /dev/null "http://127.0.0.1:$HTTP/big.txt"
  sleep 1
}

capture() { # capture OUT tcpdump-args...
  local out=$1; shift
  tcpdump -q -U -s 256 "$@" -w "$work/cap.pcap" "port $HTTP or port $UDP" 2>/dev/null &
  local pid=$!
  sleep 1
  traffic
  kill -INT $pid; wait $pid || true
  mv "$work/cap.pcap" "$out"
}

capture loopback.pcap -i lo
capture loopback-sll2.pcap -i any -y LINUX_SLL2
editcap -F pcapng loopback.pcap loopback.pcapng
ls -l loopback.pcap loopback-sll2.pcap loopback.pcapng
