//! The CPU cost of one poll cycle at 1,000 and 10,000 queues, I/O excluded:
//! parsing Symbee's response, building the Kinesis records, and encoding
//! the DynamoDB shards. The design target is milliseconds at 1,000 queues,
//! growing linearly.
//!
//! `cargo bench -p queue-stats --bench cycle_cpu`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use queue_stats::model::Snapshot;
use queue_stats::sink::record::records_for;
use queue_stats::source::symbee::wire::parse_response;
use queue_stats::store::layout::encode_shards;
use std::hint::black_box;

fn symbee_body(n: usize) -> Vec<u8> {
    serde_json::to_vec(&standins::symbee::synthetic_queues(n)).unwrap()
}

fn snapshot(body: &[u8]) -> Snapshot {
    Snapshot {
        snapshot_id: "0193a4b2-7c1e-7000-8000-000000000000".into(),
        observed_at: chrono::Utc::now(),
        sources: vec![],
        queues: parse_response(body).unwrap(),
    }
}

fn cycle_cpu(c: &mut Criterion) {
    let mut group = c.benchmark_group("cycle_cpu");
    for n in [1_000usize, 10_000] {
        let body = symbee_body(n);
        let snap = snapshot(&body);
        let tenant = queue_stats::sink::Tenant {
            company_code: "abc-gadgets".into(),
            environment: "prod".into(),
        };
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("parse_symbee", n), &body, |b, body| {
            b.iter(|| parse_response(black_box(body)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("kinesis_records", n), &snap, |b, snap| {
            b.iter(|| records_for(black_box(snap), Some(&tenant)))
        });
        group.bench_with_input(BenchmarkId::new("encode_shards", n), &snap, |b, snap| {
            b.iter(|| {
                encode_shards(&snap.queues)
                    .iter()
                    .map(|s| s.body.block.len())
                    .sum::<usize>()
            })
        });
        group.bench_with_input(BenchmarkId::new("whole_cycle", n), &body, |b, body| {
            b.iter(|| {
                let snap = snapshot(black_box(body));
                let records = records_for(&snap, Some(&tenant));
                let bytes: usize = encode_shards(&snap.queues)
                    .iter()
                    .map(|s| s.body.block.len())
                    .sum();
                (records.len(), bytes)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, cycle_cpu);
criterion_main!(benches);
