#!/usr/bin/env bash
# scripts/bench.sh: the speed programme's numbers, as one table.
#
# Instruction counts under valgrind --tool=callgrind (stable from run to
# run, unlike wall time) for each function's cold start and warm work,
# against the stand-ins and moto; process CPU per warm repetition and peak
# memory from a native run; each function's zipped size from `sam build`;
# then the criterion benches. docs/performance.md explains each row.
#
#   scripts/bench.sh            everything (the first run builds for minutes)
#   scripts/bench.sh --no-criterion --no-sizes   the table of counts only
#
# A warm repetition is counted as (run with 1 + K repetitions - run with 1)
# / K: start-up, connection set-up and the first poll's discovery cancel
# out. Profiles stay in target/bench/callgrind/ for callgrind_annotate.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

criterion=1 sizes=1
for arg in "$@"; do
  case "$arg" in
    --no-criterion) criterion=0 ;;
    --no-sizes) sizes=0 ;;
    *) echo "usage: scripts/bench.sh [--no-criterion] [--no-sizes]" >&2; exit 2 ;;
  esac
done

ensure_python_tools
if ! command -v valgrind >/dev/null; then
  echo "==> installing valgrind (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq valgrind >/dev/null; fi
fi
export_fake_aws_credentials

echo "==> cargo build --profile profiling -p bench (release code, with symbols)"
cargo build --profile profiling --locked -p bench 2>&1 | tail -n 1
BENCH="$REPO_ROOT/target/profiling/bench"
OUT="$REPO_ROOT/target/bench"
rm -rf "$OUT" && mkdir -p "$OUT/callgrind"

WORLD_PID="" PROXY_PID=""
cleanup() {
  stop_pid "$WORLD_PID"
  stop_pid "$PROXY_PID"
  stop_pid "${MOTO_PID:-}"
}
trap cleanup EXIT

start_moto "$OUT/moto.log" >/dev/null
AWS_ENDPOINT_URL="$MOTO_ENDPOINT" "$BENCH" world "$OUT/world.env" 2>"$OUT/world.log" &
WORLD_PID=$!
for _ in $(seq 1 300); do
  [ -s "$OUT/world.env" ] && break
  kill -0 "$WORLD_PID" 2>/dev/null || { cat "$OUT/world.log" >&2; exit 1; }
  sleep 0.2
done
set -a; source "$OUT/world.env"; set +a

"$VENV/bin/python" scripts/bench/tls_proxy.py "$OUT/tls" "${MOTO_ENDPOINT#http://}" >"$OUT/tls.port" 2>"$OUT/tls.log" &
PROXY_PID=$!
for _ in $(seq 1 100); do [ -s "$OUT/tls.port" ] && break; sleep 0.1; done
TLS_ENDPOINT="https://localhost:$(cat "$OUT/tls.port")"

# What every function gets, as in Lambda, where no CA variables are set
# (a developer machine often sets SSL_CERT_DIR and SSL_CERT_FILE).
UNSET=(-u SSL_CERT_DIR -u SSL_CERT_FILE)
COMMON=(AWS_ENDPOINT_URL="$MOTO_ENDPOINT" AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO
  AWS_LAMBDA_FUNCTION_NAME=bench BENCH_FIXTURES="$REPO_ROOT/fixtures" POLL_INTERVAL_SECONDS=10)
# One root, like the five Amazon roots the functions trust in Lambda
# (shared/src/aws); the system store's cost is a row of its own.
TLS=(AWS_ENDPOINT_URL="$TLS_ENDPOINT" SSL_CERT_FILE="$OUT/tls/ca.pem")
connect() { # queues
  local instance="BENCH_CONNECT_$1_INSTANCE" endpoint="BENCH_CONNECT_$1_ENDPOINT"
  echo "SNAPSHOT_TABLE=$BENCH_POLL_TABLE SNAPSHOT_STREAM=$BENCH_STREAM CONNECT_INSTANCE_ID=${!instance}
    AWS_ENDPOINT_URL_CONNECT=${!endpoint} CONNECT_METRICS_RATE=1000 CONNECT_METRICS_BURST=1000
    CONNECT_OTHER_RATE=1000 CONNECT_OTHER_BURST=1000"
}
# Level events on (the default bus, on moto) with a hold of one cycle: the
# first cycle, the baseline, builds each level event of this first deploy
# once, so a warm repetition shows what every later cycle costs (it sends
# what is still pending and builds nothing).
symbee() {
  echo "SNAPSHOT_TABLE=$BENCH_POLL_TABLE SNAPSHOT_STREAM=$BENCH_STREAM SYMBEE_BASE_URL=$BENCH_SYMBEE_URL
    SYMBEE_COMPANY_CODE=bench SYMBEE_ENVIRONMENT=prod SYMBEE_SECRETS_REGION=$AWS_REGION
    SYMBEE_API_KEY_SECRET_ID=$BENCH_SYMBEE_SECRET LEVEL_HOLD_CYCLES=1"
}
reader() { # queues
  local table="BENCH_TABLE_$1"
  echo "SNAPSHOT_TABLE=${!table} BENCH_QUEUES=$1"
}

# Instructions of one probe run: callgrind's total for the whole process.
instructions() { # name scenario reps env...
  local name="$1" scenario="$2" reps="$3"; shift 3
  local file="$OUT/callgrind/$name.$reps.out"
  env "${UNSET[@]}" "${COMMON[@]}" "$@" valgrind --tool=callgrind --callgrind-out-file="$file" \
    "$BENCH" probe "$scenario" "$reps" >"$OUT/$name.$reps.stdout" 2>"$OUT/$name.$reps.stderr" || {
      echo "probe $name failed:" >&2; tail -n 20 "$OUT/$name.$reps.stderr" >&2; exit 1; }
  grep -E '^(summary|totals):' "$file" | tail -n 1 | awk '{print $2}'
}

# Process CPU per warm repetition and peak memory, natively.
native() { # name scenario reps env...
  local name="$1" scenario="$2" reps="$3"; shift 3
  env "${UNSET[@]}" "${COMMON[@]}" "$@" "$BENCH" probe "$scenario" "$reps" \
    >"$OUT/$name.native.stdout" 2>"$OUT/$name.native.stderr" || {
      echo "probe $name failed:" >&2; tail -n 20 "$OUT/$name.native.stderr" >&2; exit 1; }
  grep -o 'warm_cpu_ms=[^ ]*\|peak_rss_mb=[^ ]*' "$OUT/$name.native.stderr" | cut -d= -f2 | paste -sd' '
}

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s |' "$@")"); printf '  %-44s %14s %10s %8s   %s\n' "$@"; }
millions() { awk -v n="$1" 'BEGIN { printf "%.2f M", n / 1e6 }'; }

echo "==> counting (callgrind; a few minutes)"
printf '  %-44s %14s %10s %8s   %s\n' "what" "instructions" "CPU ms" "peak MB" "target"

for fn in poller api contact-flow; do
  case "$fn" in
    poller) env_fn=$(connect 100) ;;
    *) env_fn=$(reader 100) ;;
  esac
  # shellcheck disable=SC2086
  count=$(instructions "init-$fn" "init-$fn" 1 "${TLS[@]}" $env_fn)
  # shellcheck disable=SC2086
  read -r _ mem < <(native "init-$fn" "init-$fn" 1 "${TLS[@]}" $env_fn)
  row "cold init, $fn (TLS handshake on the path)" "$(millions "$count")" "-" "$mem" "<= 20 M"
done
# shellcheck disable=SC2046
count=$(instructions "init-api-system-roots" "init-api" 1 AWS_ENDPOINT_URL="$TLS_ENDPOINT" SSL_CERT_FILE="$OUT/tls/bundle.pem" $(reader 100))
row "cold init, api, trusting the whole system store" "$(millions "$count")" "-" "-" "(for comparison)"

warm() { # label scenario k target native_reps env...
  local label="$1" scenario="$2" k="$3" target="$4" native_reps="$5"; shift 5
  local name; name=$(echo "$label" | tr -c 'a-zA-Z0-9\n' '-')
  local one many cpu mem
  one=$(instructions "$name" "$scenario" 1 "$@")
  many=$(instructions "$name" "$scenario" $((k + 1)) "$@")
  read -r cpu mem < <(native "$name" "$scenario" "$native_reps" "$@")
  row "$label" "$(millions $(((many - one) / k)))" "$cpu" "$mem" "$target"
  # Where a warm repetition's instructions go, by crate.
  "$VENV/bin/python" scripts/bench/profile_diff.py "$OUT/callgrind/$name.1.out" \
    "$OUT/callgrind/$name.$((k + 1)).out" "$k" 6 "$label" >>"$OUT/profiles.txt" || true
}

# shellcheck disable=SC2046
{
warm "warm poll, Connect 100 queues" poll 3 "<= 12 M" 20 $(connect 100)
warm "warm poll, Connect 1,000 queues (channels)" poll 2 "<= 40 ms CPU" 10 $(connect 1000)
warm "warm poll, Symbee 10,000 queues" poll 1 "<= 64 MB" 5 $(symbee)
warm "GET /v1/snapshot gzip, 100, unchanged" snapshot-gzip 20 "<= 2 M" 200 $(reader 100)
warm "GET /v1/snapshot gzip, 100, new snapshot" snapshot-new 20 "<= 2 M" 200 $(reader 100)
warm "GET /v1/snapshot plain, 100, unchanged" snapshot-plain 20 "" 200 $(reader 100)
warm "GET /v1/snapshot gzip, 10,000, new snapshot" snapshot-new 5 "<= 64 MB" 50 $(reader 10000)
warm "GET /v1/queues/{id}, 100" queue 20 "<= 1 M" 200 $(reader 100)
warm "GET /v1/queues/{id}, 10,000" queue 10 "" 100 $(reader 10000)
warm "contact flow, 100" contact-flow 20 "<= 1 M" 200 $(reader 100)
warm "contact flow, 10,000" contact-flow 10 "" 100 $(reader 10000)
}

# Level events: a 10,000-queue first deploy, every queue critical at once,
# on a bus that takes 50 ms a PutEvents call (the world's BusStandin), the
# announced state journalled on moto. Instructions per announced event,
# and how long the burst took to drain (DESIGN: within 60 s).
one=$(instructions announce announce 1)
many=$(instructions announce announce 2)
read -r _ mem < <(native announce announce 1)
drain=$(grep -o 'announce_drain_s=[^ ]*\|announce_cycles=[^ ]*' "$OUT/announce.native.stderr" | cut -d= -f2 | paste -sd' ')
read -r drain_s drain_cycles <<<"$drain"
row "announce 10,000 level changes (per event)" "$(awk -v n=$((many - one)) 'BEGIN { printf "%.1f k", n / 10000 / 1e3 }')" "-" "$mem" "all in <= 60 s: ${drain_s} s, ${drain_cycles} cycles"
"$VENV/bin/python" scripts/bench/profile_diff.py "$OUT/callgrind/announce.1.out" \
  "$OUT/callgrind/announce.2.out" 1 6 "announce 10,000 level changes" >>"$OUT/profiles.txt" || true

# Contact events: the poller's own work per applied event (5,000 events a
# repetition on a poll of 1,000 Connect queues, an interim snapshot built
# every 100; no AWS calls), and the lag from a contact's QUEUED event on
# the queue to the API answering with it, over 2,000 contacts of the
# simulated floor on moto (DESIGN: 95 % within 2 s).
one=$(instructions contact-events contact-events 1)
many=$(instructions contact-events contact-events 2)
read -r cpu mem < <(native contact-events contact-events 3)
row "contact events, applied (per event)" "$(awk -v n=$((many - one)) 'BEGIN { printf "%.1f k", n / 5000 / 1e3 }')" "$(awk -v c="$cpu" 'BEGIN { printf "%.3f", c / 5000 }')" "$mem" "-"
"$VENV/bin/python" scripts/bench/profile_diff.py "$OUT/callgrind/contact-events.1.out" \
  "$OUT/callgrind/contact-events.2.out" 1 6 "contact events, applied" >>"$OUT/profiles.txt" || true
echo "==> contact-event lag on the simulated floor (2,000 contacts, about 3 minutes)"
env "${UNSET[@]}" "${COMMON[@]}" "$BENCH" lag "${BENCH_LAG_CONTACTS:-2000}" >"$OUT/lag.stdout" 2>"$OUT/lag.stderr" || {
  echo "bench lag failed:" >&2; tail -n 20 "$OUT/lag.stderr" >&2; exit 1; }
lag=$(grep -o 'lag_[a-z0-9_]*=[^ ]*' "$OUT/lag.stderr" | cut -d= -f2 | paste -sd' ')
read -r lag_n lag_median lag_p95 lag_max lag_within lag_never lag_write <<<"$lag"
row "contact event on the queue to the API (lag)" "-" "-" "-" "95 % <= 2 s: median ${lag_median} ms, p95 ${lag_p95} ms, ${lag_within} % of ${lag_n} within 2 s (max ${lag_max} ms, ${lag_never} never; one interim write ${lag_write} ms)"

{
  echo "| what | instructions | CPU ms per warm repetition | peak RSS MB | target |"
  echo "| --- | --- | --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(rustc --version); $(valgrind --version)"
} >"$OUT/table.md"

if [ "$sizes" = 1 ]; then
  echo "==> zipped function sizes (sam build, arm64 release)"
  if ! ls .aws-sam/build/*/bootstrap >/dev/null 2>&1; then
    bash scripts/deploy-check.sh | grep -E 'bootstrap|skipped'
  else
    "$VENV/bin/python" - <<'PY'
import io, pathlib, zipfile
for function in ("PollerFunction", "ApiFunction", "ContactFlowFunction"):
    data = (pathlib.Path(".aws-sam/build") / function / "bootstrap").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bootstrap", data)
    print(f"  {function}: bootstrap {len(data)/1e6:.1f} MB, zipped {buffer.tell()/1e6:.1f} MB")
PY
  fi
fi

if [ "$criterion" = 1 ]; then
  echo "==> criterion benches"
  # criterion prints each benchmark's name and its time range.
  cargo bench --locked -p queue-stats 2>&1 | grep -E '^[a-z_]+/|time:' || true
fi

echo "==> where warm repetitions go (target/bench/profiles.txt)"
cat "$OUT/profiles.txt"
echo "==> table written to target/bench/table.md"
