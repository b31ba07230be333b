//! Prints what one snapshot of N Symbee-like queues costs in DynamoDB item
//! bytes and write units, the numbers behind docs/dynamodb-layout.md.
//!
//! `cargo run --release -p queue-stats --example storage_sizes -- 1000`

use queue_stats::model::{
    Counters, DeliveryProvider, OpenClosedState, QueueStats, SourceName, TaskType,
};
use queue_stats::store::layout::encode_shards;

fn queue(i: usize) -> QueueStats {
    let mut queue = QueueStats::new(
        SourceName::Symbee,
        format!("skill-queue-{i:05}"),
        format!("Skill Queue {i}"),
        DeliveryProvider::Symbee,
        TaskType::RoutedEmail,
        OpenClosedState::OperatingHoursOpen,
    );
    let n = |m: usize| Some((i * 7919 % m) as u64);
    queue.counters = Counters {
        agents_staffed: n(60),
        agents_available: n(9),
        agents_working: n(30),
        agents_in_wrap: n(5),
        agents_in_error: n(2),
        agents_unavailable: n(8),
        items_in_queue: n(80),
        items_scheduled: n(3),
        items_being_delivered: n(4),
        oldest_item: n(900),
        estimated_wait_time: n(600),
        estimated_wait_source: Some(queue_stats::model::EstimateSource::Model),
    };
    queue
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let queues: Vec<QueueStats> = (0..count).map(queue).collect();
    let raw: usize = queues
        .iter()
        .map(|q| serde_json::to_vec(q).unwrap().len())
        .sum();
    let shards = encode_shards(&queues);
    let bodies: Vec<usize> = shards.iter().map(|s| s.body.block.len()).collect();
    // Item overhead: key and attribute names and small attributes, ~150 bytes.
    let wru: usize = bodies.iter().map(|b| (b + 150).div_ceil(1024)).sum();
    println!("queues: {count}");
    println!("raw JSON: {raw} bytes ({} per queue)", raw / count.max(1));
    println!(
        "compressed shard bodies: total {} bytes, largest {} bytes",
        bodies.iter().sum::<usize>(),
        bodies.iter().max().unwrap()
    );
    // A strongly consistent read is one unit per started 4 KB of each item.
    let rru: usize = bodies.iter().map(|b| (b + 150).div_ceil(4096)).sum();
    println!(
        "write units per poll: shard items {wru}, head 1 (a transaction of the same items: {})",
        2 * (wru + 1)
    );
    println!(
        "read units per whole snapshot: head 1 + shards {rru} (TransactGetItems of the same items: {})",
        2 * (rru + 1)
    );
}
