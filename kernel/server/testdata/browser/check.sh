#!/usr/bin/env bash
# Manual browser check (not run by CI: it needs Debian's chromium): a real
# Notebook 6 page, served by Debian's jupyter-notebook in --gateway-url mode
# in front of `netssm kernel`, opens a notebook of Go cells, runs them all
# (custom.js presses "Run All" once the kernel is ready) and is captured
# as a screenshot.
# usage: kernel/server/testdata/browser/check.sh OUT.png
set -euo pipefail
out=$(realpath -m "${1:-netssm-notebook.png}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
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
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

(cd "$root" && go build -o "$work/netssm" ./cmd/netssm)
gport=$(free_port)
"$work/netssm" kernel -port "$gport" -token GWTOKEN >"$work/netssm.log" 2>&1 &
pids+=($!)

mkdir -p "$work/nb" "$work/cfg/custom"
cp "$here/custom.js" "$work/cfg/custom/custom.js"
cp "$here/demo.ipynb" "$work/nb/demo.ipynb"
nport=$(free_port)
HOME=$work JUPYTER_CONFIG_DIR=$work/cfg JUPYTER_RUNTIME_DIR=$work/rt JUPYTER_DATA_DIR=$work/data \
  jupyter-notebook --no-browser --allow-root --ip=127.0.0.1 --port="$nport" --NotebookApp.port_retries=0 \
  --NotebookApp.token=NBTOKEN --notebook-dir="$work/nb" \
  --gateway-url="http://127.0.0.1:$gport" --GatewayClient.auth_token=GWTOKEN >"$work/notebook.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/api/status?token=NBTOKEN" >/dev/null && break; sleep 0.3; done

chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --disable-quic --user-data-dir="$work/chrome" --window-size=1200,900 \
  --virtual-time-budget=20000 --screenshot="$out" \
  "http://127.0.0.1:$nport/notebooks/demo.ipynb?token=NBTOKEN" 2>"$work/chrome.log" || true
echo "screenshot: $out"
grep -h "Kernel started\|kernel_info\|ERROR\|WARNING" "$work/notebook.log" "$work/netssm.log" | head -20 || true
