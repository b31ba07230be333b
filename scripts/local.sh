#!/usr/bin/env bash
# Runs the whole pipeline locally: installs moto server into .venv (once),
# builds the functions, starts moto on a free loopback port, and runs
# local-run: the simulated Symbee and Connect floor, the real poller on its
# schedule, the real API behind a local gateway, the contact flow on demand.
#
#   scripts/local.sh               run until Ctrl-C
#   scripts/local.sh --cycles 3    run the poller 3 times, check everything, exit
#
# Settings are the deployment's environment variables with local defaults
# (see README): e.g. SIM_QUEUES=1000 for a bigger floor, LOCAL_API_PORT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_python_tools
echo "==> building the functions"
build_binaries

MOTO_PID="" RUN_PID=""
trap 'stop_pid "$RUN_PID"; stop_pid "$MOTO_PID"; rm -f target/local/moto-endpoint' EXIT
# A TERM to this script (schemathesis.sh and soak.sh stop it that way)
# stops local-run too, which then stops the functions it started.
trap 'exit 143' TERM
mkdir -p target/local
# A local run may last a day: the emulator drops stream records after an
# hour and deletes history items past their TTL, as AWS would (later), and
# history is kept for an hour. Memory and cycle time stay flat.
export EMULATOR_STREAM_RETENTION_SECONDS="${EMULATOR_STREAM_RETENTION_SECONDS:-3600}"
export EMULATOR_TTL_SWEEP_SECONDS="${EMULATOR_TTL_SWEEP_SECONDS:-60}"
export HISTORY_RETENTION_HOURS="${HISTORY_RETENTION_HOURS:-1}"
start_moto target/local/moto.log
echo "$MOTO_ENDPOINT" > target/local/moto-endpoint
export_fake_aws_credentials
export AWS_ENDPOINT_URL="$MOTO_ENDPOINT"
export RUST_LOG="${RUST_LOG:-info}"

target/debug/local-run "$@" &
RUN_PID=$!
wait "$RUN_PID"
