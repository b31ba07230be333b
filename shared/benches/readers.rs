//! The CPU cost of answering readers, store latency excluded:
//! `GET /v1/snapshot` built from the stored shards (gzip: a copy of the
//! stored blocks; plain: inflate them), and one contact-flow or
//! `GET /v1/queues/{id}` lookup (inflate and parse one shard, find the
//! queue). `scripts/bench.sh` counts instructions for the whole request,
//! store calls included.
//!
//! `cargo bench -p queue-stats --bench readers`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use queue_stats::api::stored::StoredAnswer;
use queue_stats::model::queue_key;
use queue_stats::source::symbee::wire::parse_response;
use queue_stats::store::SnapshotSummary;
use queue_stats::store::layout::{encode_shards, shard_of};
use std::hint::black_box;

fn readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("readers");
    for n in [1_000usize, 10_000] {
        let body = serde_json::to_vec(&standins::symbee::synthetic_queues(n)).unwrap();
        let mut queues = parse_response(&body).unwrap();
        queue_stats::model::sort_canonical(&mut queues);
        let shards = encode_shards(&queues);
        let summary = SnapshotSummary {
            snapshot_id: "0193a4b2-7c1e-7000-8000-000000000000".into(),
            observed_at: chrono::Utc::now(),
            sources: vec![],
            queue_count: n,
            shards: shards.iter().map(|s| s.shard).collect(),
        };

        group.bench_with_input(
            BenchmarkId::new("snapshot_gzip", n),
            &shards,
            |b, shards| {
                b.iter(|| {
                    StoredAnswer::new(black_box(&summary), shards.clone())
                        .gzip()
                        .len()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("snapshot_plain", n),
            &shards,
            |b, shards| {
                b.iter(|| {
                    StoredAnswer::new(black_box(&summary), shards.clone())
                        .plain()
                        .unwrap()
                        .len()
                })
            },
        );
        let wanted = format!("skill-queue-{:05}", n / 2);
        group.bench_with_input(BenchmarkId::new("one_queue", n), &shards, |b, shards| {
            b.iter(|| {
                let shard = shard_of(black_box(&wanted));
                shards
                    .iter()
                    .find(|s| s.shard == shard)
                    .unwrap()
                    .decode()
                    .unwrap()
                    .into_iter()
                    .find(|q| queue_key(&q.queue_id) == queue_key(&wanted))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
