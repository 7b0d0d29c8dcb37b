#!/usr/bin/env bash
# Installs HuggingFace tokenizers (Rust, through its Node binding, prebuilt
# for linux-x64) from its lock file; netssmlib/tokenizer's TestAgainstHF
# compares our encoder and decoder with it.
set -euo pipefail
cd "$(dirname "$0")/../../testdata/tokenizer/js"
npm ci --no-audit --no-fund --loglevel=error
