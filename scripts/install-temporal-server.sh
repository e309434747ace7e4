#!/usr/bin/env bash
# Installs the Temporal server of the production topology (docker-compose.yml's temporalio/server:1.29.1) as local
# binaries in .tools/ (git-ignored), for the tests and the benchmark that run Temporal on PostgreSQL without Docker:
#   .tools/bin/temporal-server                    the server itself (go.temporal.io/server/cmd/server)
#   .tools/bin/temporal-sql-tool                  its schema tool (go.temporal.io/server/cmd/tools/sql)
#   .tools/temporal-schema/postgresql/v12/        the PostgreSQL schemas that ship inside the same module
# `npm test` runs it (TEMPORAL_SERVER=0 leaves it out), as does `npm run tools:server`; every step is skipped when its
# result is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TEMPORAL_TOOLS_DIR:-$ROOT/.tools}"
SERVER_VERSION="1.29.1"
MODULE="go.temporal.io/server"

log() { printf '[tools] %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain: cannot build the Temporal server $SERVER_VERSION (the tests that need it are skipped)"
  exit 1
fi

BIN="$TOOLS/bin"
SCHEMA="$TOOLS/temporal-schema/postgresql/v12"
# The schemas have no version of their own: a marker says which server version they were copied for.
MARKER="$SCHEMA/.version-$SERVER_VERSION"

has_version() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q "version $SERVER_VERSION\$"; }

if has_version "$BIN/temporal-server" && has_version "$BIN/temporal-sql-tool" && [ -f "$MARKER" ]; then
  exit 0
fi

mkdir -p "$BIN"
# Both commands live in the server module, which has no replace directives, so `go install pkg@version` resolves
# it through the module proxy; one module download serves both builds.
build() {
  local package="$1" name="$2"
  log "building $name $SERVER_VERSION (a few minutes, once)"
  local staging
  staging="$(mktemp -d)"
  GOBIN="$staging" GOFLAGS=-mod=mod go install -ldflags "-s -w" "$MODULE/$package@v$SERVER_VERSION"
  mv "$staging/$(basename "$package")" "$BIN/$name"
  rmdir "$staging"
}
has_version "$BIN/temporal-server" || build cmd/server temporal-server
has_version "$BIN/temporal-sql-tool" || build cmd/tools/sql temporal-sql-tool

# The module cache is read-only and may be cleaned at any time: copy the schemas out of it.
source_schema="$(go env GOMODCACHE)/$MODULE@v$SERVER_VERSION/schema/postgresql/v12"
rm -rf "$SCHEMA" && mkdir -p "$SCHEMA"
cp -R "$source_schema/temporal" "$source_schema/visibility" "$SCHEMA/"
chmod -R u+w "$SCHEMA"
touch "$MARKER"
log "Temporal server $SERVER_VERSION ready in $TOOLS"
