# Shared shell helpers for scripts/test.sh and scripts/local.sh.
# Sourced, not run. Everything installs into ignored folders of the repo.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

# Installs moto server (and anything else named) into the repo's venv.
ensure_python_tools() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import moto" 2>/dev/null; then
    echo "==> installing moto server into .venv (once)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
  fi
}

# Installs the deployment tools (SAM CLI, cargo-lambda, zig) into the venv.
ensure_deploy_tools() {
  if [ ! -x "$VENV/bin/sam" ] || [ ! -x "$VENV/bin/cargo-lambda" ] || ! "$VENV/bin/python" -c "import ziglang" 2>/dev/null; then
    echo "==> installing aws-sam-cli, cargo-lambda and ziglang into .venv (once)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli cargo-lambda ziglang
  fi
}

# Every binary of the workspace (functions, local run, fuzzer, tools) in
# one build. Building a subset (-p) resolves features differently (axum's
# server side, say) and so compiles the SDK crates a second time; with the
# whole workspace every script shares one build.
#
# Tests unify their dev-dependencies' features into the shared crates, so
# a build of the binaries alone resolves other features and compiles part
# of the dependency tree a second time. Where the tests are built too
# (scripts/test.sh, CI: QS_BUILD_WITH_TESTS=1) binaries and tests are one
# build, and every later script finds it done; a user's first local run
# builds the binaries alone, which is quicker.
build_binaries() {
  if [ "${QS_BUILD_WITH_TESTS:-0}" = 1 ]; then
    # Every target, so that with lint_in_build the lints cover what
    # `cargo clippy --all-targets` covers (benches and examples too).
    cargo build --quiet --locked --workspace --all-targets
  else
    cargo build --quiet --locked --workspace --bins
  fi
}

# Runs the workspace's tests (arguments: which to leave out, as
# "module::" prefixes, then `--` and filters for the runner) with
# cargo-nextest where the machine has it (.config/nextest.toml: four at a
# time, the long ones first), or `cargo test`; both build nothing the one
# build did not. Prints the runner's output.
run_tests() {
  local skips=() skip
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    skips+=("$1")
    shift
  done
  [ "${1:-}" = "--" ] && shift
  if cargo nextest --version >/dev/null 2>&1; then
    local filter="all()"
    for skip in "${skips[@]}"; do
      filter="$filter - test(/^${skip}/)"
    done
    cargo nextest run --workspace --locked --no-tests=warn -E "$filter" "$@"
  else
    local args=()
    for skip in "${skips[@]}"; do
      args+=(--skip "$skip")
    done
    cargo test --workspace --locked "$@" -- "${args[@]}"
  fi
}

# Clippy during the build instead of beside it: the workspace's crates are
# compiled by clippy-driver (what `cargo clippy` itself sets up, but for a
# real build rather than a check), with every warning an error. The same
# lints as `cargo clippy --all-targets -- -D warnings`, without checking
# every dependency a second time in check mode (minutes on two cores).
# Export it before the first build of a run and keep it for every cargo
# command after: the wrapper is part of the workspace crates' fingerprint.
lint_in_build() {
  rustup component add clippy >/dev/null 2>&1 || true
  RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)"
  if [ -z "$RUSTC_WORKSPACE_WRAPPER" ]; then
    echo "clippy-driver not found: install the clippy component (rustup component add clippy)" >&2
    exit 1
  fi
  export RUSTC_WORKSPACE_WRAPPER
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
}

# Prints a free loopback TCP port.
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts moto server on a free loopback port; sets MOTO_PID and MOTO_ENDPOINT.
# scripts/moto_server.py is moto with Kinesis retention and DynamoDB TTL
# (EMULATOR_STREAM_RETENTION_SECONDS, EMULATOR_TTL_SWEEP_SECONDS; off unless set).
start_moto() {
  local port log
  port="$(free_port)"
  log="${1:-$REPO_ROOT/target/moto.log}"
  mkdir -p "$(dirname "$log")"
  "$VENV/bin/python" "$REPO_ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  MOTO_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/')" 2>/dev/null; then
      echo "==> moto server up at $MOTO_ENDPOINT (pid $MOTO_PID)"
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto server exited; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "moto server did not answer at $MOTO_ENDPOINT within 20 s" >&2
  return 1
}

stop_pid() {
  local pid="$1"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}

# Credentials moto accepts; never real ones.
export_fake_aws_credentials() {
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
  export AWS_EC2_METADATA_DISABLED=true
}

# Installs dynalite and kinesalite (npm) into .emulators/ (once): a second,
# independent DynamoDB and Kinesis for the end-to-end tests.
ensure_node_emulators() {
  if [ ! -x "$REPO_ROOT/.emulators/node_modules/.bin/dynalite" ] || [ ! -x "$REPO_ROOT/.emulators/node_modules/.bin/kinesalite" ]; then
    echo "==> installing dynalite and kinesalite into .emulators (once)"
    mkdir -p "$REPO_ROOT/.emulators"
    npm install --silent --no-audit --no-fund --prefix "$REPO_ROOT/.emulators" dynalite@4 kinesalite@3 >/dev/null
  fi
}

# Debian's Chromium for the browser tests (apt, once). Playwright's own
# browser download cannot work in a closed network; this package can.
ensure_chromium() {
  if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "==> installing Debian's chromium (apt, once)"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
}

# playwright-core (npm, pinned by tests/browser/package-lock.json): drives
# that Chromium; it downloads no browser of its own.
ensure_browser_tools() {
  if [ ! -f "$REPO_ROOT/tests/browser/node_modules/playwright-core/package.json" ]; then
    echo "==> installing playwright-core into tests/browser (npm ci, once)"
    (cd "$REPO_ROOT/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund >/dev/null)
  fi
}

# Starts `scripts/local.sh` in the background (extra environment from the
# caller) with its output in LOG; once its API listens, sets LOCAL_PID and
# LOCAL_URL (the gateway's base URL). Exits if the run dies first.
start_local_run() { # log
  local log="$1"
  LOCAL_API_PORT=0 bash "$REPO_ROOT/scripts/local.sh" >"$log" 2>&1 &
  LOCAL_PID=$!
  for _ in $(seq 1 600); do
    grep -q '^  API ' "$log" 2>/dev/null && break
    kill -0 "$LOCAL_PID" 2>/dev/null || { tail -n 40 "$log"; exit 1; }
    sleep 0.5
  done
  LOCAL_URL=$(grep -m1 '^  API ' "$log" | awk '{print $2}' | sed 's#/v1/snapshot##')
}

# The MCP checks' clients (scripts/mcp-check.sh): the Python SDK into
# .venv and the conformance suite into tests/mcp, each pinned, once.
ensure_mcp_tools() {
  if ! "$VENV/bin/python" -c "import mcp" 2>/dev/null; then
    echo "==> installing the MCP Python SDK into .venv (once)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'mcp==2.3.0'
  fi
  if [ ! -f "$REPO_ROOT/tests/mcp/node_modules/@modelcontextprotocol/conformance/package.json" ]; then
    echo "==> installing the MCP conformance suite into tests/mcp (npm ci, once)"
    (cd "$REPO_ROOT/tests/mcp" && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
}

# Starts one of them on a free port, in memory, creating tables and streams
# at once; prints its endpoint and pid ("http://127.0.0.1:PORT PID").
start_node_emulator() { # name log args...
  local name="$1" log="$2" port; shift 2
  port="$(free_port)"
  "$REPO_ROOT/.emulators/node_modules/.bin/$name" --port "$port" "$@" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      echo "http://127.0.0.1:$port $pid"
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2
  cat "$log" >&2
  return 1
}
