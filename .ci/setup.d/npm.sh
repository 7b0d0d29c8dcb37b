#!/usr/bin/env bash
# Installs the Node test client of the kernel server (@jupyterlab/services
# with ws) from its lock file; used by kernel/server's jsclient tests.
set -euo pipefail
cd "$(dirname "$0")/../../kernel/server/testdata/js"
npm ci --no-audit --no-fund --loglevel=error
