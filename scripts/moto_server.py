"""moto server, as the tests, the local run and the soak start it.

Two things real AWS does that moto does not, so a local run can last a day:

- Kinesis keeps records for its retention period, then drops them. moto
  keeps every record, and finds a shard's newest sequence number by listing
  all of them, so each PutRecords gets slower as the stream grows (the local
  run's cycle went from 85 ms to seconds in 13 minutes). Here the newest and
  oldest sequence numbers are found in constant time, and with
  EMULATOR_STREAM_RETENTION_SECONDS set, records older than that are
  dropped as new ones arrive.
- DynamoDB deletes items whose TTL attribute has passed. moto never does.
  With EMULATOR_TTL_SWEEP_SECONDS set, a sweeper deletes them that often,
  in tables whose TTL is enabled.

Everything else is moto as it ships: `python moto_server.py -H 127.0.0.1 -p PORT`.
"""

import os
import sys
import threading
import time

from moto.dynamodb.models import dynamodb_backends
from moto.kinesis import models as kinesis
from moto.server import main


def newest(shard) -> int:
    return next(reversed(shard.records)) if shard.records else 0


def oldest(shard) -> int:
    return next(iter(shard.records)) if shard.records else 0


kinesis.Shard.get_max_sequence_number = newest
kinesis.Shard.get_min_sequence_number = oldest

RETENTION = float(os.environ.get("EMULATOR_STREAM_RETENTION_SECONDS", "0") or 0)
SWEEP = float(os.environ.get("EMULATOR_TTL_SWEEP_SECONDS", "0") or 0)

if RETENTION > 0:
    put_record = kinesis.Shard.put_record

    def put_and_expire(shard, *args, **kwargs):
        sequence = put_record(shard, *args, **kwargs)
        cutoff = time.time() - RETENTION
        while shard.records:
            first = next(iter(shard.records))
            if shard.records[first].created_at >= cutoff:
                break
            shard.records.pop(first, None)
        return sequence

    kinesis.Shard.put_record = put_and_expire


def expired(item, attribute: str, now: float) -> bool:
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return False
    try:
        return float(value.value) < now
    except ValueError:
        return False


def sweep_once() -> int:
    """Deletes expired items from every TTL-enabled table; returns how many."""
    now = time.time()
    deleted = 0
    for regions in list(dynamodb_backends.values()):
        for backend in list(regions.values()):
            for table in list(backend.tables.values()):
                ttl = getattr(table, "ttl", {}) or {}
                attribute = ttl.get("AttributeName")
                if ttl.get("TimeToLiveStatus") != "ENABLED" or not attribute:
                    continue
                for hash_key, by_range in list(table.items.items()):
                    if not isinstance(by_range, dict):
                        if expired(by_range, attribute, now):
                            table.items.pop(hash_key, None)
                            deleted += 1
                        continue
                    for range_key, item in list(by_range.items()):
                        if expired(item, attribute, now):
                            by_range.pop(range_key, None)
                            deleted += 1
    return deleted


def sweeper() -> None:
    while True:
        time.sleep(SWEEP)
        try:
            sweep_once()
        except RuntimeError:
            # A request changed a table mid-sweep: the next sweep gets it.
            pass


if SWEEP > 0:
    threading.Thread(target=sweeper, name="ttl-sweeper", daemon=True).start()

if __name__ == "__main__":
    main(sys.argv[1:])
