//! The CPU cost of answering readers warm, store latency excluded:
//! `GET /v1/snapshot` (decode every shard, serialize, ETag, gzip) and one
//! contact-flow or `GET /v1/queues/{id}` lookup (decode one shard, find
//! the queue). The design target is single-digit milliseconds.
//!
//! `cargo bench -p queue-stats --bench readers`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use queue_stats::api::{HttpRequest, response::json_ok};
use queue_stats::model::Snapshot;
use queue_stats::model::queue_key;
use queue_stats::source::symbee::wire::parse_response;
use queue_stats::store::layout::{decode_body, encode_body, partition, shard_of};
use std::hint::black_box;

fn readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("readers");
    for n in [1_000usize, 10_000] {
        let body = serde_json::to_vec(&standins::symbee::synthetic_queues(n)).unwrap();
        let snapshot = Snapshot {
            snapshot_id: "0193a4b2-7c1e-7000-8000-000000000000".into(),
            observed_at: chrono::Utc::now(),
            sources: vec![],
            queues: parse_response(&body).unwrap(),
        };
        let shards: Vec<Vec<u8>> = partition(&snapshot.queues)
            .iter()
            .map(|s| encode_body(s))
            .collect();
        let gzip = HttpRequest {
            method: "GET".into(),
            raw_path: "/v1/snapshot".into(),
            headers: vec![("accept-encoding".into(), "gzip".into())],
            ..HttpRequest::default()
        };
        let plain = HttpRequest {
            headers: vec![],
            ..gzip.clone()
        };

        for (name, request) in [("snapshot_gzip", &gzip), ("snapshot_plain", &plain)] {
            group.bench_with_input(BenchmarkId::new(name, n), &shards, |b, shards| {
                b.iter(|| {
                    let mut queues = Vec::with_capacity(n);
                    for shard in shards {
                        queues.extend(decode_body(shard).unwrap());
                    }
                    let snap = Snapshot {
                        queues,
                        ..snapshot.clone()
                    };
                    json_ok(black_box(request), &snap, "private, max-age=10".into())
                        .body
                        .len()
                })
            });
        }
        let wanted = format!("skill-queue-{:05}", n / 2);
        group.bench_with_input(BenchmarkId::new("one_queue", n), &shards, |b, shards| {
            b.iter(|| {
                let shard = &shards[shard_of(black_box(&wanted)) as usize];
                decode_body(shard)
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
