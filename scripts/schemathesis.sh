#!/usr/bin/env bash
# Schemathesis (PyPI) against the local gateway with docs/openapi.json:
# every phase (examples, coverage, fuzzing, stateful), positive and negative
# data, every check but ignored_auth (the local gateway has no IAM; API
# Gateway does). Fails on any failure, any 5xx, or fewer than
# MIN_REQUESTS requests. Run by scripts/test.sh; on its own:
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

MAX_EXAMPLES="${1:-500}"
MIN_REQUESTS="${MIN_REQUESTS:-1000}"
ensure_python_tools
if ! "$VENV/bin/python" -c "import schemathesis" 2>/dev/null; then
  echo "==> installing schemathesis into .venv (once)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

OUT=target/schemathesis
rm -rf "$OUT" && mkdir -p "$OUT"
LOCAL_PID=""
trap 'stop_pid "$LOCAL_PID"' EXIT
# The document's limits are the defaults' (history: 24 hours).
export HISTORY_RETENTION_HOURS=24
start_local_run "$OUT/local-run.log"
URL="$LOCAL_URL"
echo "==> schemathesis against $URL (max $MAX_EXAMPLES examples per operation)"
set +e
"$VENV/bin/st" run docs/openapi.json --url "$URL" \
  --checks all --exclude-checks ignored_auth \
  --phases examples,coverage,fuzzing,stateful --mode all \
  --max-examples "$MAX_EXAMPLES" --seed 20261122 --no-color \
  --report ndjson --report-ndjson-path "$OUT/events.ndjson" >"$OUT/run.log" 2>&1
status=$?
set -e
tail -n 12 "$OUT/run.log"
"$VENV/bin/python" - "$OUT/events.ndjson" "$MIN_REQUESTS" <<'PY'
import collections, json, sys
statuses = collections.Counter()
def walk(node):
    if isinstance(node, dict):
        code = node.get("status_code")
        if isinstance(code, int):
            statuses[code] += 1
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
with open(sys.argv[1]) as events:
    for line in events:
        walk(json.loads(line))
total, errors = sum(statuses.values()), sum(n for s, n in statuses.items() if s >= 500)
print(f"schemathesis: {total} requests, {errors} 5xx, by status {dict(sorted(statuses.items()))}")
sys.exit(1 if errors or total < int(sys.argv[2]) else 0)
PY
exit "$status"
