#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer `npm run fuzz` drives) into a git-ignored virtualenv, .tools/fuzz-venv
# (or $FUZZ_VENV, which scripts/fuzz.ts reads too). Pinned with everything it depends on (scripts/fuzz-constraints.txt),
# so a run on another machine fuzzes with the same generators and checks; skipped when the venv already holds exactly
# that, so it is cheap to run before every fuzz run. Needs python3 with the venv module and the PyPI registry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FUZZ_VENV:-$ROOT/.tools/fuzz-venv}"
SCHEMATHESIS_VERSION="4.32.5"
CONSTRAINTS="$ROOT/scripts/fuzz-constraints.txt"

log() { printf '[fuzz-tools] %s\n' "$*" >&2; }
# A failure here fails `npm test` (the fuzz pass counts as one failed test); say so, and how to skip it.
fail() {
  log "ERROR: $*"
  log "the fuzz pass cannot run without schemathesis; \`FUZZ=0 npm test\` skips it"
  exit 1
}

# The newest Python at hand: CPython 3.11's ast module can fail under threads ("AST constructor recursion depth
# mismatch", seen with schemathesis --workers 2 on 3.11.7), which would turn into a fuzz run error.
# pyenv's shims only answer for the selected version, so its installed versions are asked directly.
PYENV_PYTHONS=""
if command -v pyenv >/dev/null 2>&1; then
  PYENV_PYTHONS="$(ls -d "$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV | tr '\n' ' ')"
fi
PYTHON=""
# shellcheck disable=SC2086 # a list of paths without spaces
for candidate in python3.14 python3.13 python3.12 $PYENV_PYTHONS python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import venv' >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
done
if [ -z "$PYTHON" ]; then
  fail "python3 with the venv module is needed for the fuzz run (schemathesis); none found"
fi
WANT_PYTHON="$("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')"
HAVE_PYTHON="$("$VENV/bin/python" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))' 2>/dev/null || true)"
# What the venv was made from: the Python and the constraints, as the install left a copy of them.
STAMP="$VENV/.fuzz-constraints.txt"
if [ "$HAVE_PYTHON" = "$WANT_PYTHON" ] && [ -x "$VENV/bin/schemathesis" ] && cmp -s "$CONSTRAINTS" "$STAMP" \
  && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS_VERSION"; then
  exit 0
fi
log "installing schemathesis $SCHEMATHESIS_VERSION (dependencies as in scripts/fuzz-constraints.txt) into $VENV with Python $WANT_PYTHON (once)"
# A venv on another Python, or half made by an interrupted install (no pip), is made again.
# A venv made from other constraints is made again too, so nothing it held before is left over.
if [ "$HAVE_PYTHON" != "$WANT_PYTHON" ] || [ ! -x "$VENV/bin/pip" ] || ! cmp -s "$CONSTRAINTS" "$STAMP"; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || fail "could not make a venv in $VENV with $PYTHON"
fi
rm -f "$STAMP"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$CONSTRAINTS" "schemathesis==$SCHEMATHESIS_VERSION" >&2 \
  || fail "pip could not install schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV (no network, or no wheel for Python $WANT_PYTHON?)"
"$VENV/bin/schemathesis" --version >&2 || fail "schemathesis does not start from $VENV"
cp "$CONSTRAINTS" "$STAMP"
