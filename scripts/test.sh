#!/usr/bin/env bash
# `npm test`: every set-up step, then the type check and the whole suite (workflow, activity, API, end to end, replay).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/ensure-deps.sh
echo "[test] type check" >&2
npx tsc --noEmit -p tsconfig.json
mkdir -p .data
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.data/test-results.json "$@" || status=$?
# One plain closing line, whatever the reporter printed above it.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".data/test-results.json", "utf8"));
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
