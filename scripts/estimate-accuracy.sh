#!/usr/bin/env bash
# The wait estimator's accuracy on the simulated floor: five seeds, sixty
# queues, four simulated hours at each load, scored against every answered
# contact's true wait. Prints the table docs/estimated-wait.md quotes.
# Deterministic: the same code gives the same table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
cargo test --quiet --locked -p queue-stats --test e2e estimated_wait::report -- --ignored --nocapture 2>/dev/null \
  | grep '^|'
