"""scripts/moto_server.py: Kinesis retention and DynamoDB TTL on moto, the
two things a day-long local run needs (run by scripts/test.sh)."""

import importlib.util
import os
import pathlib
import time
import unittest

os.environ["EMULATOR_STREAM_RETENTION_SECONDS"] = "60"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "moto_server.py"
spec = importlib.util.spec_from_file_location("moto_server", SCRIPT)
moto_server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(moto_server)

import boto3  # noqa: E402  (moto's dependency; after the patch, as the server)
from moto import mock_aws  # noqa: E402
from moto.kinesis.models import kinesis_backends  # noqa: E402


class Kinesis(unittest.TestCase):
    @mock_aws
    def test_records_past_the_retention_are_dropped_and_sequence_numbers_still_grow(self):
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="s", ShardCount=1)
        first = client.put_record(StreamName="s", Data=b"old", PartitionKey="q")
        shard = next(iter(kinesis_backends["123456789012"]["us-east-1"].streams["s"].shards.values()))
        # Age the first record past the retention.
        shard.records[int(first["SequenceNumber"])].created_at = time.time() - 120
        second = client.put_record(StreamName="s", Data=b"new", PartitionKey="q")
        self.assertGreater(int(second["SequenceNumber"]), int(first["SequenceNumber"]))
        self.assertEqual(len(shard.records), 1)
        self.assertEqual(moto_server.oldest(shard), int(second["SequenceNumber"]))
        self.assertEqual(moto_server.newest(shard), int(second["SequenceNumber"]))


class DynamoDbTtl(unittest.TestCase):
    @mock_aws
    def test_the_sweeper_deletes_expired_items_of_ttl_tables_only(self):
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("with-ttl", "without-ttl"):
            client.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "sk", "KeyType": "RANGE"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for sk, expires in (("past", time.time() - 10), ("future", time.time() + 3600)):
                client.put_item(TableName=name, Item={
                    "pk": {"S": "history#00"}, "sk": {"S": sk},
                    "expiresAt": {"N": str(int(expires))}})
            client.put_item(TableName=name, Item={"pk": {"S": "latest"}, "sk": {"S": "head"}})
        client.update_time_to_live(
            TableName="with-ttl",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})

        self.assertEqual(moto_server.sweep_once(), 1)

        def keys(name):
            return sorted(i["sk"]["S"] for i in client.scan(TableName=name)["Items"])
        self.assertEqual(keys("with-ttl"), ["future", "head"])
        self.assertEqual(keys("without-ttl"), ["future", "head", "past"])


if __name__ == "__main__":
    unittest.main()
