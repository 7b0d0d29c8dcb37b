#!/usr/bin/env bash
# Kernel latency, side by side: netssm kernel vs ipykernel behind Debian's
# jupyter-server, measured by the same client (bench/kernelrt):
#   - round trip of a trivial execute_request ("1+1") over the websocket,
#     until execute_reply and status idle (median, p90, p99);
#   - kernel start: POST /api/kernels until kernel_info_reply.
# Needs Debian's python3-jupyter-server and python3-ipykernel.
# usage: bench/kernel-latency.sh [N_ROUNDTRIPS] [N_STARTS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
STARTS=${2:-10}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/netssm" ./cmd/netssm
go build -o "$work/kernelrt" ./bench/kernelrt

# netssm kernel on a free loopback port; read URL and token from its banner.
"$work/netssm" kernel -port 0 >"$work/netssm.out" 2>"$work/netssm.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '?token=' "$work/netssm.out" 2>/dev/null && break; sleep 0.1; done
line=$(grep -m1 '?token=' "$work/netssm.out" | tr -d ' ')
nurl=${line%%/?token=*}
ntok=${line##*?token=}

# jupyter-server with Debian's ipykernel, isolated config, free port.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
jtok=bench$RANDOM$RANDOM
HOME=$work JUPYTER_CONFIG_DIR=$work/cfg JUPYTER_RUNTIME_DIR=$work/rt JUPYTER_DATA_DIR=$work/data \
  /usr/bin/python3 -m jupyter_server --no-browser --allow-root --ip=127.0.0.1 --port="$port" \
  --ServerApp.port_retries=0 --ServerApp.token="$jtok" --ServerApp.root_dir="$work" \
  >"$work/jupyter.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  curl -sf -H "Authorization: token $jtok" "http://127.0.0.1:$port/api/kernelspecs" >/dev/null 2>&1 && break
  sleep 0.2
done

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(go version | cut -d' ' -f3), N=$N starts=$STARTS"
"$work/kernelrt" -label "netssm kernel" -url "$nurl" -token "$ntok" -n "$N" -starts "$STARTS" -framing v1
"$work/kernelrt" -label "netssm kernel" -url "$nurl" -token "$ntok" -n "$N" -starts "$STARTS" -framing legacy
"$work/kernelrt" -label "ipykernel 6.17 via jupyter-server 1.23" -url "http://127.0.0.1:$port" -token "$jtok" \
  -kernel python3 -n "$N" -starts "$STARTS" -framing legacy
