#!/usr/bin/env bash
# `npm test`: every set-up step, then the type check and the whole suite (workflow, activity, API, end to end, replay).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/ensure-deps.sh
echo "[test] type check" >&2
npx tsc --noEmit -p tsconfig.json
echo "[test] lint" >&2
npx oxlint --type-aware --deny-warnings
mkdir -p .data && rm -f .data/test-results.json
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.data/test-results.json "$@" || status=$?
# One plain closing line, whatever the reporter printed above it; and the verdict from the results themselves, so
# nothing that touches the process's exit code on the way out can turn a failure green.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".data/test-results.json", "utf8"));
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  process.exit(r.success && r.numFailedTests === 0 && r.numTotalTests > 0 ? 0 : 1);
' || status=1
exit "$status"
