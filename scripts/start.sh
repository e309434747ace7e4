#!/usr/bin/env bash
# `npm start`: installs what is missing (npm packages, Temporal binaries), then runs the embedded service.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/ensure-deps.sh
exec node --import tsx scripts/start.ts "$@"
