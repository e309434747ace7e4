#!/usr/bin/env bash
# `npm test`: every set-up step, then the type check and the whole suite (unit, workflow, activity, end to end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/ensure-deps.sh
echo "[test] type check" >&2
npx tsc --noEmit -p tsconfig.json
npx vitest run "$@"
