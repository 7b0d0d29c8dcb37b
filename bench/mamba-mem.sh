#!/bin/sh
# Peak RSS of training config (a) (d_model 256, 4 layers, d_state 64,
# headdim 32) at 2k, 8k and 32k tokens. Usage: bench/mamba-mem.sh [extra flags]
set -e
cd "$(dirname "$0")/.."
go build -o /tmp/mambamem ./bench/mambamem
for n in 2048 8192 32768; do
	/tmp/mambamem -tokens "$n" -steps 1 "$@"
done
