#!/usr/bin/env bash
# The local pipeline at 2,000 queues under cycling faults and reader load
# (local/src/bin/soak.rs), then the proof, from what it recorded:
#   - every cycle's records are in Kinesis exactly once per (snapshot, queue);
#   - no reader saw time go back, a snapshot missing queues, or a 5xx other
#     than a declared, retryable unavailability;
#   - no process's memory grew;
#   - every level change reached the bus exactly once: per queue and per
#     source, each event leaves from the state the last one reached (none
#     lost, none twice), no event id twice, and the bus holds exactly what
#     the cycles say they sent; no outage made a per-queue event.
#
#   scripts/soak.sh              30 minutes (SOAK_MINUTES to change)
#   SOAK_MINUTES=3 scripts/soak.sh   as CI runs it
# The results table is target/soak/summary.md (docs/reliability.md keeps one).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_python_tools
build_binaries
export_fake_aws_credentials
mkdir -p target/soak
MOTO_PID=""
trap 'stop_pid "$MOTO_PID"' EXIT
# The consumer reads the stream as it fills (every half second), so moto
# may drop records after a minute.
EMULATOR_STREAM_RETENTION_SECONDS=60 EMULATOR_TTL_SWEEP_SECONDS=60 start_moto target/soak/moto.log
export MOTO_ENDPOINT MOTO_PID
SOAK_PROXY_PORT="$(free_port)"
export SOAK_PROXY_PORT AWS_ENDPOINT_URL="http://127.0.0.1:$SOAK_PROXY_PORT"
export SOAK_MINUTES="${SOAK_MINUTES:-30}" SIM_QUEUES="${SIM_QUEUES:-2000}"
export POLL_INTERVAL_SECONDS="${POLL_INTERVAL_SECONDS:-5}" LOCAL_POLLER_TIMEOUT_SECONDS=30
export SIM_KEY_ROTATION_SECONDS="${SIM_KEY_ROTATION_SECONDS:-90}" HISTORY_RETENTION_HOURS=1
export LOCAL_API_PORT=0 SNAPSHOT_TABLE=queue-stats-soak SNAPSHOT_STREAM=queue-stats-soak
# Its checks count each poll's records, every queue once a cycle; interim
# snapshots from contact events stream the moved queues only, and are
# proven by the contact-event tests and bench instead.
export SIM_CONTACT_EVENTS=false
export RUST_LOG="${RUST_LOG:-info}"

echo "==> soak: $SIM_QUEUES queues for $SOAK_MINUTES min (log: target/soak/run.log)"
target/debug/soak > target/soak/run.log 2>&1 || { tail -n 40 target/soak/run.log; exit 1; }

"$VENV/bin/python" - target/soak/run.log target/soak/report.json target/soak/summary.md <<'PY'
import json, statistics, sys
log_path, report_path, summary_path = sys.argv[1:4]
report = json.load(open(report_path))
cycles = []
for line in open(log_path):
    line = line.strip()
    if line.startswith("{") and '"message":"poll cycle' in line:
        try:
            cycles.append(json.loads(line))
        except ValueError:
            pass
snapshots = report["records"]["snapshots"]
failures = []
duplicates = sum(s["duplicates"] for s in snapshots.values())
if duplicates:
    failures.append(f"{duplicates} duplicate records")
missing = 0
for cycle in cycles:
    got = snapshots.get(cycle["snapshotId"], {}).get("queues", 0)
    if got != cycle["recordsSent"]:
        missing += 1
        failures.append(f"snapshot {cycle['snapshotId']}: {got} records in Kinesis, cycle sent {cycle['recordsSent']}")
unknown = set(snapshots) - {c["snapshotId"] for c in cycles}
if unknown:
    failures.append(f"{len(unknown)} snapshots in Kinesis without a cycle line")
problems = [p for r in report["readers"] for p in r["problems"]]
failures += problems[:10]
statuses = {}
for r in report["readers"]:
    for status, n in r["statuses"].items():
        statuses[status] = statuses.get(status, 0) + n
memory_rows = []
for name, samples in report["memory"].items():
    if len(samples) < 6:
        memory_rows.append((name, "-", "-", "too few samples"))
        continue
    third = len(samples) // 3
    early, late = statistics.median(samples[third:2 * third]), statistics.median(samples[2 * third:])
    flat = late <= early * 1.3 + 16 * 1024
    # moto holds HISTORY_RETENTION_HOURS (1) of history by design: reported, not judged.
    verdict = "flat" if flat else ("grows (an hour of history, by design)" if name == "moto" else "GREW")
    memory_rows.append((name, f"{early / 1024:.0f}", f"{late / 1024:.0f}", verdict))
    if not flat and name != "moto":
        failures.append(f"{name} memory grew from {early / 1024:.0f} to {late / 1024:.0f} MB")
# Level events: what reached the bus (recorded by the fault front, in the
# order it took them) against what the cycles say they sent.
events = report.get("events", [])
ids = [e.get("eventId") for e in events]
repeated = len(ids) - len(set(ids))
if repeated:
    failures.append(f"{repeated} events reached the bus twice")
chains = {}
broken = 0
for e in events:
    if "queueId" in e:
        key, first_from = ("queue", e["source"], e["queueId"]), (None, "normal")
        if "unknown" in (e.get("from"), e.get("to")):
            failures.append(f"a per-queue event for an unknown level: {e['source']}:{e['queueId']}")
    else:
        key, first_from = ("source", e["source"]), ("ok",)
    last = chains.get(key)
    if (last is None and e.get("from") not in first_from) or (last is not None and e.get("from") != last):
        broken += 1
        if broken <= 5:
            failures.append(f"{key}: {e.get('from')} -> {e.get('to')} after {last} (a change lost or repeated)")
    chains[key] = e.get("to")
events_sent = sum(c.get("eventsSent", 0) for c in cycles)
if events_sent != len(events):
    failures.append(f"the cycles say {events_sent} events were sent; the bus took {len(events)}")
source_events = [e for e in events if "queueId" not in e]
outages = sum(1 for e in source_events if e.get("to") == "error")
if "Symbee5xx" in report["phases"] and outages == 0:
    failures.append("a Symbee outage of several cycles made no Source Status Changed event")
events_refused = sum(c.get("eventsRefused", 0) for c in cycles)
sent = sum(c["recordsSent"] for c in cycles)
failed_records = sum(c["recordsFailed"] for c in cycles)
stores = {}
for c in cycles:
    stores[c["store"]] = stores.get(c["store"], 0) + 1
lines = [
    f"Soak: {report['expectedQueues']} queues for {report['minutes']} min; phases: {', '.join(dict.fromkeys(report['phases']))}.",
    "",
    "| check | result |",
    "| --- | --- |",
    f"| poll cycles | {len(cycles)} (store: {', '.join(f'{k} {v}' for k, v in sorted(stores.items()))}) |",
    f"| records sent / reported failed | {sent} / {failed_records} |",
    f"| records in Kinesis | {report['records']['total']} |",
    f"| (snapshot, queue) pairs in Kinesis more than once | {duplicates} |",
    f"| cycles whose Kinesis count differs from what they sent | {missing} |",
    f"| faults injected by the AWS front | {report['faultsInjectedByProxy']} |",
    f"| level events on the bus / cycles' eventsSent / refused (retried) | {len(events)} / {events_sent} / {events_refused} |",
    f"| source outage events (down / up) | {outages} / {len(source_events) - outages} |",
    f"| events twice on the bus / chains broken (a change lost or repeated) | {repeated} / {broken} |",
    f"| API requests (by answer) | {sum(statuses.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}) |",
    f"| reader problems (time going back, missing queues, undeclared 5xx) | {len(problems)} |",
    "",
    "| process | RSS MB, middle third | RSS MB, last third | |",
    "| --- | --- | --- | --- |",
] + [f"| {n} | {a} | {b} | {c} |" for n, a, b, c in memory_rows]
lines += ["", "PASS" if not failures else "FAIL: " + "; ".join(failures[:10])]
open(summary_path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if failures else 0)
PY
