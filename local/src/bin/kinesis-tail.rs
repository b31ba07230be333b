//! `kinesis-tail`: prints QUEUE_STATS records as they arrive on the stream,
//! one line a record (`--json` for the whole record, pretty).
//!
//! Reads `SNAPSHOT_STREAM` (default `queue-stats-local`) on the endpoint
//! in `AWS_ENDPOINT_URL` (`scripts/tail.sh` finds the local run's).
//! `--from-start` reads what is already there; `--max N` stops after N.

use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let from_start = args.iter().any(|a| a == "--from-start");
    let max: Option<usize> = args
        .iter()
        .position(|a| a == "--max")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let stream = std::env::var("SNAPSHOT_STREAM").unwrap_or_else(|_| "queue-stats-local".into());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_kinesis::Client::new(&sdk);
    let kind = if from_start {
        ShardIteratorType::TrimHorizon
    } else {
        ShardIteratorType::Latest
    };
    let mut iterators = Vec::new();
    for shard in client
        .list_shards()
        .stream_name(&stream)
        .send()
        .await?
        .shards()
    {
        let iterator = client
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(kind.clone())
            .send()
            .await?
            .shard_iterator
            .unwrap_or_default();
        iterators.push(iterator);
    }
    eprintln!(
        "tailing {stream} ({} shards); Ctrl-C to stop",
        iterators.len()
    );
    let mut printed = 0;
    loop {
        for iterator in &mut iterators {
            let page = client
                .get_records()
                .shard_iterator(iterator.as_str())
                .send()
                .await?;
            for record in page.records() {
                let value: serde_json::Value = match serde_json::from_slice(record.data().as_ref())
                {
                    Ok(value) => value,
                    Err(_) => continue, // not ours: the interaction event feed may share the stream
                };
                if value["eventType"] != "QUEUE_STATS" {
                    continue;
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&value)?);
                } else {
                    let q = &value["queue"];
                    println!(
                        "{} {:<7} {:<40} inQueue={:<4} oldest={:<5}s available={:<3} staffed={:<3}{}",
                        value["eventTimestamp"].as_str().unwrap_or(""),
                        value["source"].as_str().unwrap_or(""),
                        q["queueName"].as_str().unwrap_or(""),
                        q["itemsInQueue"],
                        q["oldestItem"],
                        q["agentsAvailable"],
                        q["agentsStaffed"],
                        if q["stale"] == true { " STALE" } else { "" },
                    );
                }
                printed += 1;
                if max.is_some_and(|m| printed >= m) {
                    return Ok(());
                }
            }
            if let Some(next) = page.next_shard_iterator() {
                *iterator = next.to_owned();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
