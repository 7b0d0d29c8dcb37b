#!/usr/bin/env bash
# Latency of the native ZMQ kernel (netssm zmq-kernel) next to ipykernel,
# both launched from kernelspecs by jupyter_client:
#   bench/zmq-latency.sh [N]        (default N=200 round trips per operation)
# Needs Debian's python3-jupyter-client (and python3-ipykernel for the
# comparison). Builds netssm into a temp folder; installs nothing outside it.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/netssm" ./cmd/netssm
"$tmp/netssm" kernelspec install -prefix "$tmp/prefix" >/dev/null
export JUPYTER_PATH="$tmp/prefix/share/jupyter" JUPYTER_RUNTIME_DIR="$tmp/runtime" PYDEVD_DISABLE_FILE_VALIDATION=1
/usr/bin/python3 bench/zmq_latency.py netssm "$n" 2>/dev/null
if /usr/bin/python3 -c 'import ipykernel' 2>/dev/null; then
  /usr/bin/python3 bench/zmq_latency.py python3 "$n" 2>/dev/null
fi
