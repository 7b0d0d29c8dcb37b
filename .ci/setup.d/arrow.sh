#!/usr/bin/env bash
# Installs apache-arrow (JavaScript), an Arrow implementation independent of
# ours, from its lock file; netssmlib/dataset's TestArrowJSReadsOurs has it
# read the datasets we write.
set -euo pipefail
cd "$(dirname "$0")/../../testdata/dataset/js"
npm ci --no-audit --no-fund --loglevel=error
