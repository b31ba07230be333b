#!/usr/bin/env bash
# Prints the QUEUE_STATS records of a running local pipeline as they arrive.
#   scripts/tail.sh               one line a record
#   scripts/tail.sh --json        whole records, pretty
#   scripts/tail.sh --from-start  what is already on the stream, then new ones
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
if [ ! -f target/local/moto-endpoint ]; then
  echo "no local run found: start scripts/local.sh first (in another terminal)" >&2
  exit 1
fi
export_fake_aws_credentials
export AWS_ENDPOINT_URL="$(cat target/local/moto-endpoint)"
build_binaries
exec target/debug/kinesis-tail "$@"
