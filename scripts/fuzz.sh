#!/usr/bin/env bash
# Fuzzes every parser of outside input (Symbee and 8x8 responses, the 8x8
# token, Clarity's pushes and SignalR frames, API requests, API Gateway events, contact-flow events) for a
# bounded time each: see fuzz/src/main.rs. A panic fails the run and leaves
# its input in target/fuzz/crashes/.
#
#   scripts/fuzz.sh                 8 seconds a target (as in CI)
#   FUZZ_SECONDS=600 scripts/fuzz.sh symbee-response   longer, one target
#
# With no target named, the targets are split across FUZZ_JOBS processes
# (default: one per core), each fuzzing its share one after the other.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
build_binaries
SECONDS_EACH="${FUZZ_SECONDS:-8}"
if [ "$#" -gt 0 ]; then
  exec target/debug/fuzz --seconds "$SECONDS_EACH" "$@"
fi

JOBS="${FUZZ_JOBS:-$(nproc)}"
mapfile -t TARGETS < <(target/debug/fuzz --list)
mkdir -p target/fuzz
pids=()
for ((job = 0; job < JOBS; job++)); do
  share=()
  for ((i = job; i < ${#TARGETS[@]}; i += JOBS)); do
    share+=("${TARGETS[$i]}")
  done
  [ "${#share[@]}" -gt 0 ] || continue
  target/debug/fuzz --seconds "$SECONDS_EACH" "${share[@]}" > "target/fuzz/job-$job.log" 2>&1 &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
cat target/fuzz/job-*.log
exit "$status"
