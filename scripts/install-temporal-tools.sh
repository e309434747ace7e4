#!/usr/bin/env bash
# Installs the Temporal binaries the project runs against into .tools/ (git-ignored), once.
#   .tools/bin/temporal             Temporal CLI: dev server + Web UI (built from source via the Go module proxy)
#   .tools/test-server/test-server  time-skipping test server (Maven Central jars behind a wrapper)
# Machines that already have them can point TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH at their own copies.
# Every step is skipped when its result is already there, so this is cheap to run before every start and test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TEMPORAL_TOOLS_DIR:-$ROOT/.tools}"
CLI_VERSION="1.5.1"
TEST_SERVER_VERSION="1.38.0"

log() { printf '[tools] %s\n' "$*" >&2; }

install_cli() {
  if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then log "Temporal CLI from TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"; return; fi
  local bin="$TOOLS/bin/temporal"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$CLI_VERSION"; then return; fi
  if ! command -v go >/dev/null 2>&1; then
    log "no Go toolchain: the Temporal CLI will be downloaded by @temporalio/testing where the network allows"
    return
  fi
  log "building the Temporal CLI $CLI_VERSION (a few minutes, once)"
  mkdir -p "$TOOLS/bin"
  # v1.5.1's go.mod has no replace directive, so `go install` resolves it through the module proxy.
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install \
    -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=$CLI_VERSION" \
    "github.com/temporalio/cli/cmd/temporal@v$CLI_VERSION"
}

install_test_server() {
  if [ -n "${TEMPORAL_TEST_SERVER_PATH:-}" ]; then log "test server from TEMPORAL_TEST_SERVER_PATH=$TEMPORAL_TEST_SERVER_PATH"; return; fi
  local dir="$TOOLS/test-server"
  if [ -x "$dir/test-server" ] && [ -f "$dir/.version-$TEST_SERVER_VERSION" ]; then return; fi
  if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    log "no Maven/Java: the test server will be downloaded by @temporalio/testing where the network allows"
    return
  fi
  log "fetching the Temporal time-skipping test server $TEST_SERVER_VERSION from Maven Central (once)"
  rm -rf "$dir" && mkdir -p "$dir/lib"
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.referrals</groupId>
  <artifactId>temporal-test-server-deps</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>$TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  mvn -B -q -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib"
  # exec, so that stopping the test environment stops the JVM and not just this shell.
  cat >"$dir/test-server" <<'WRAPPER'
#!/usr/bin/env bash
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec java -cp "$DIR/lib/*" io.temporal.testserver.TestServer "$@"
WRAPPER
  chmod +x "$dir/test-server"
  touch "$dir/.version-$TEST_SERVER_VERSION"
}

install_test_server &
ts_pid=$!
install_cli
wait "$ts_pid"
log "Temporal tools ready in $TOOLS"
