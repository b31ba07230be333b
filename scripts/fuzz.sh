#!/usr/bin/env bash
# Fuzzes every parser of outside input (Symbee and 8x8 responses, the 8x8
# token, Clarity's pushes and SignalR frames, API requests, API Gateway events, contact-flow events) for a
# bounded time each: see fuzz/src/main.rs. A panic fails the run and leaves
# its input in target/fuzz/crashes/.
#
#   scripts/fuzz.sh                 8 seconds a target (as in CI)
#   FUZZ_SECONDS=600 scripts/fuzz.sh symbee-response   longer, one target
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
cargo build --quiet --locked -p fuzz
target/debug/fuzz --seconds "${FUZZ_SECONDS:-8}" "$@"
