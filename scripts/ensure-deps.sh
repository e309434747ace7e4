#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than the lockfile, then the Temporal binaries.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
fi
bash scripts/install-temporal-tools.sh
