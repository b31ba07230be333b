#!/usr/bin/env bash
# Sets up and runs every check: formatting, lints, unit and integration
# tests against moto server and the local stand-ins. Installs what it needs
# into .venv on first run; starts moto on a free loopback port and stops it
# on exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# One line counting the tests of these logs: cargo's, the local run's
# checks, Python's unittest and node's test runner.
count_tests() {
  local label="$1"
  shift
  awk -v label="$label" '/^test result:/ { passed += $4; failed += $6 }
       /^ *Summary \[.*tests? run:/ { for (i = 2; i <= NF; i++) {
           if ($i ~ /^passed/) passed += $(i - 1)
           if ($i ~ /^failed/) failed += $(i - 1) } }
       /^local-run:/ { passed += $2; failed += $4 }
       /^mcp-(client|conformance):/ { passed += $2; failed += $4 }
       /^Ran [0-9]+ tests? in/ { passed += $2 }
       /^# pass [0-9]+$/ { passed += $3 }
       /^# fail [0-9]+$/ { failed += $3 }
       END { printf "%s: %d passed, %d failed\n", label, passed, failed }' "$@"
}

# Each step says how far into the run it starts: where the time goes.
STARTED=$SECONDS
step() { echo "==> [+$(( (SECONDS - STARTED) / 60 ))m$(( (SECONDS - STARTED) % 60 ))s] $*"; }

ensure_python_tools
rustup component add rustfmt clippy >/dev/null 2>&1 || true

mkdir -p target
step "cargo fmt --check"
cargo fmt --all -- --check

# Clippy runs inside the one build below (lint_in_build, scripts/lib.sh):
# the same lints as `cargo clippy --all-targets -- -D warnings`.
lint_in_build

step "template property tests"
"$VENV/bin/python" -m unittest discover -s tests/template -t . 2>&1 | tee target/template-tests.log | tail -n 3
grep -q '^OK' target/template-tests.log

step "emulator tests (scripts/moto_server.py)"
"$VENV/bin/python" -m unittest discover -s tests/emulator -t . 2>&1 | tee target/emulator-tests.log | tail -n 3
grep -q '^OK' target/emulator-tests.log

MOTO_PID=""
trap 'stop_pid "$MOTO_PID"' EXIT
start_moto
export MOTO_ENDPOINT
export_fake_aws_credentials

# One build of the tests and every binary the later steps run (fuzzing,
# the local run, schemathesis, the browser tests, the soak): see
# build_binaries in scripts/lib.sh.
export QS_BUILD_WITH_TESTS=1
step "cargo build with clippy (every target, once)"
build_binaries

step "the tests (cargo nextest, or cargo test)"
mkdir -p target
set +e
run_tests -- "$@" 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run: cargo's own last line is a doc-test
# binary's, which may well have run nothing.
count_tests "tests" target/test-output.log
if [ "$status" -ne 0 ]; then
  exit "$status"
fi

# The end-to-end tests again, with DynamoDB on dynalite and Kinesis on
# kinesalite (Secrets Manager stays on moto): behaviour one emulator
# forgives cannot hide. kinesalite keeps AWS's old shard limit unless told.
# --workspace as above, so features unify as they did and nothing rebuilds.
# Left out: the suites about a source's own wire and faults (the source
# contract, 8x8, Clarity, the credentialed sources' suite, several Connect
# instances), whose store and stream writes are the same code the others
# run here; and, as before, the partial-failure and estimator suites,
# moto-specific by design.
step "end-to-end tests on dynalite and kinesalite"
ensure_node_emulators
DYNALITE_PID="" KINESALITE_PID=""
trap 'stop_pid "$MOTO_PID"; stop_pid "$DYNALITE_PID"; stop_pid "$KINESALITE_PID"' EXIT
read -r DYNALITE DYNALITE_PID < <(start_node_emulator dynalite target/dynalite.log --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
read -r KINESALITE KINESALITE_PID < <(start_node_emulator kinesalite target/kinesalite.log --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 100000)
set +e
AWS_ENDPOINT_URL="$MOTO_ENDPOINT" AWS_ENDPOINT_URL_DYNAMODB="$DYNALITE" AWS_ENDPOINT_URL_KINESIS="$KINESALITE" \
  run_tests partial_failures:: estimated_wait:: source_contract:: eight_by_eight_pipeline:: \
  clarity_pipeline:: credentialed_sources:: connect_instances:: -- --test e2e \
  2>&1 | tee target/test-output-second-emulator.log
status=${PIPESTATUS[0]}
set -e
count_tests "tests on dynalite and kinesalite" target/test-output-second-emulator.log
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
stop_pid "$DYNALITE_PID"; stop_pid "$KINESALITE_PID"


# The README's first command, bounded: the whole pipeline on the simulated
# floor, checked end to end (snapshots in DynamoDB and Kinesis, the API and
# the contact flow answering with them).
stop_pid "$MOTO_PID"
MOTO_PID=""
step "scripts/local.sh --cycles 2"
LOCAL_API_PORT=0 bash scripts/local.sh --cycles 2 > target/local-run.log 2>&1 || {
  tail -n 60 target/local-run.log
  echo "local run failed; full log in target/local-run.log"
  exit 1
}
grep -E '^(ok|FAIL)' target/local-run.log

# Outside tools, side by side, each against a local run of its own:
# schemathesis with the OpenAPI document (zero 5xx, zero non-conforming
# answers, at least 1,000 requests), the wallboard in headless Chromium,
# and /mcp with the MCP Python SDK and the MCP conformance suite; and the
# fuzzer, bounded, on the cores they leave idle. They mostly wait on their
# local runs; one after another they would add their times.
#
# TEST_SOAK_MINUTES=N (CI sets 3) adds the soak, scripts/soak.sh, bounded to
# N minutes, beside them. The fuzzer yields to all of them (nice): its
# budget is time, theirs are checks that must not starve.
step "schemathesis, the browser tests, MCP and fuzzing (scripts/schemathesis.sh, scripts/browser-test.sh, scripts/mcp-check.sh, scripts/fuzz.sh)${TEST_SOAK_MINUTES:+, the soak (scripts/soak.sh, $TEST_SOAK_MINUTES min)}"
SCHEMA_PID="" BROWSER_PID="" MCP_PID="" FUZZ_PID="" SOAK_PID=""
trap 'stop_pid "$MOTO_PID"; stop_pid "$SCHEMA_PID"; stop_pid "$BROWSER_PID"; stop_pid "$MCP_PID"; stop_pid "$FUZZ_PID"; stop_pid "$SOAK_PID"' EXIT
if [ -n "${TEST_SOAK_MINUTES:-}" ]; then
  SOAK_MINUTES="$TEST_SOAK_MINUTES" bash scripts/soak.sh > target/soak.log 2>&1 &
  SOAK_PID=$!
fi
# 180 examples an operation: about 1,300 requests (the bar is 1,000), a
# minute alone (250 made it this step's last to end, two minutes beside
# the others); scripts/schemathesis.sh on its own runs 500.
bash scripts/schemathesis.sh 180 > target/schemathesis.log 2>&1 &
SCHEMA_PID=$!
bash scripts/browser-test.sh > target/browser-tests.log 2>&1 &
BROWSER_PID=$!
bash scripts/mcp-check.sh > target/mcp-check.log 2>&1 &
MCP_PID=$!
nice -n 10 bash scripts/fuzz.sh > target/fuzz.log 2>&1 &
FUZZ_PID=$!
set +e
wait "$SCHEMA_PID"
schema_status=$?
wait "$BROWSER_PID"
browser_status=$?
wait "$MCP_PID"
mcp_status=$?
wait "$FUZZ_PID"
fuzz_status=$?
soak_status=0
if [ -n "$SOAK_PID" ]; then
  wait "$SOAK_PID"
  soak_status=$?
fi
set -e
SCHEMA_PID="" BROWSER_PID="" MCP_PID="" FUZZ_PID="" SOAK_PID=""
cat target/fuzz.log
if [ "$fuzz_status" -ne 0 ]; then
  echo "fuzzing failed; crashing inputs in target/fuzz/crashes/"
  exit 1
fi
if [ "$schema_status" -ne 0 ]; then
  tail -n 80 target/schemathesis/run.log 2>/dev/null || true
  tail -n 20 target/schemathesis.log
  echo "schemathesis failed; full log in target/schemathesis/run.log"
  exit 1
fi
tail -n 1 target/schemathesis.log
if [ "$browser_status" -ne 0 ]; then
  tail -n 80 target/browser-tests.log
  echo "browser tests failed; full log in target/browser-tests.log, screenshots in target/wallboard/"
  exit 1
fi
grep -E '^(ok|not ok) ' target/browser-tests.log
if [ "$mcp_status" -ne 0 ]; then
  tail -n 60 target/mcp-check.log
  echo "MCP checks failed; full log in target/mcp-check.log, the suite's in target/mcp/"
  exit 1
fi
grep -E '^mcp-(client|conformance):' target/mcp-check.log
if [ -n "${TEST_SOAK_MINUTES:-}" ]; then
  cat target/soak.log
  if [ "$soak_status" -ne 0 ]; then
    echo "the soak failed; its log is target/soak/run.log, its table target/soak/summary.md"
    exit 1
  fi
fi
step "done"
# One closing line for the whole run.
count_tests "tests" target/test-output.log target/test-output-second-emulator.log target/local-run.log target/template-tests.log target/emulator-tests.log target/browser-tests.log target/mcp-check.log \
  | tee target/test-summary.txt
