#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer `npm run fuzz` drives) into a git-ignored virtualenv, .tools/fuzz-venv.
# Pinned, so a run on another machine fuzzes with the same checks; skipped when that version is already there, so it
# is cheap to run before every fuzz run. Needs python3 with the venv module and the PyPI registry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FUZZ_VENV:-$ROOT/.tools/fuzz-venv}"
SCHEMATHESIS_VERSION="4.32.5"

log() { printf '[fuzz-tools] %s\n' "$*" >&2; }

# The newest Python at hand: CPython 3.11's ast module can fail under threads ("AST constructor recursion depth
# mismatch", seen with schemathesis --workers 2 on 3.11.7), which would turn into a fuzz run error.
# pyenv's shims only answer for the selected version, so its installed versions are asked directly.
PYENV_PYTHONS=""
if command -v pyenv >/dev/null 2>&1; then
  PYENV_PYTHONS="$(ls -d "$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV | tr '\n' ' ')"
fi
PYTHON=""
# shellcheck disable=SC2086 # a list of paths without spaces
for candidate in python3.13 python3.12 $PYENV_PYTHONS python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import venv' >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
done
if [ -z "$PYTHON" ]; then
  log "python3 (with venv) is needed for the fuzz run (schemathesis)"
  exit 1
fi
WANT_PYTHON="$("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')"
HAVE_PYTHON="$("$VENV/bin/python" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))' 2>/dev/null || true)"
if [ "$HAVE_PYTHON" = "$WANT_PYTHON" ] && [ -x "$VENV/bin/schemathesis" ] \
  && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  exit 0
fi
log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV with Python $WANT_PYTHON (once)"
# A venv on another Python, or half made by an interrupted install (no pip), is made again.
if [ "$HAVE_PYTHON" != "$WANT_PYTHON" ] || [ ! -x "$VENV/bin/pip" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
"$VENV/bin/schemathesis" --version >&2
