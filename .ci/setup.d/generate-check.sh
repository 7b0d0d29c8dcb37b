#!/usr/bin/env bash
# Fails when the committed yaegi symbol files under stdlib/ are stale:
# regenerates them (yaegi extract, run with `go run` at the version pinned in
# go.mod, so nothing needs installing) and checks that nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
go generate ./stdlib/...
if ! git diff --quiet -- stdlib/ || [ -n "$(git ls-files --others --exclude-standard -- stdlib/)" ]; then
  echo "stdlib/: generated symbol files are stale; run 'go generate ./stdlib/...' and commit:" >&2
  git status --short -- stdlib/ >&2
  git diff --stat -- stdlib/ >&2
  exit 1
fi
echo "stdlib/: generated symbol files are up to date"
