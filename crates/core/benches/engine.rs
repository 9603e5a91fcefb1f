//! Criterion benchmarks of the bitmap engine at 1M, 10M and 100M marked blocks.
//!
//! `cargo bench -p tdibt-core --bench engine` (all sizes: about 15 minutes on 2 cores);
//! `TDIBT_BENCH_SIZES=1000000,10000000` to pick sizes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tdibt_core::checkpoint::Checkpoint;
use tdibt_core::{BlockId, BlockSpan, Catalog, ChangeKind, Cut, Engine, TableId, TsRange};

#[path = "support.rs"]
mod support;

fn sizes() -> Vec<u64> {
    std::env::var("TDIBT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 10_000_000, 100_000_000])
}

fn engine_with(ids: &[BlockId]) -> Engine {
    let mut e = Engine::new();
    e.mark_writes(ids.iter().copied());
    e
}

/// Marking, the hot path: batches of 64k ids as capture hands them over (each batch sorted,
/// as capture sorts a message's marks).
fn bench_mark(c: &mut Criterion) {
    let mut g = c.benchmark_group("mark");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in sizes() {
        for (name, ids) in [
            ("sequential", support::sequential(n)),
            ("random", support::random(n)),
        ] {
            g.throughput(Throughput::Elements(n));
            g.bench_with_input(BenchmarkId::new(name, n), &ids, |b, ids| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut e = Engine::new();
                        let mut batch: Vec<BlockId> = Vec::with_capacity(1 << 16);
                        let start = Instant::now();
                        for chunk in ids.chunks(1 << 16) {
                            batch.clear();
                            batch.extend_from_slice(chunk);
                            batch.sort_unstable();
                            e.mark_writes(batch.iter().copied());
                        }
                        total += start.elapsed();
                        black_box(&e);
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

/// Deletes of a time range (a DELETE statement) on tables with marks, and drops.
fn bench_range_marks(c: &mut Criterion) {
    let mut g = c.benchmark_group("range_marks");
    g.sample_size(10);
    for n in sizes() {
        let mut e = engine_with(&support::sequential(n));
        e.freeze().ok();
        e.fold_frozen().ok();
        let span = BlockSpan::from_units(3_600_000).unwrap_or_else(|_| unreachable!());
        let start = 473_352i64 * 3_600_000;
        g.throughput(Throughput::Elements(1000));
        g.bench_function(
            BenchmarkId::new("delete_1000_tables_partial_range", n),
            |b| {
                b.iter(|| {
                    for t in 0..1000 {
                        e.mark_delete(
                            TableId(t),
                            TsRange::new(start + 1_800_000, start + 5 * 3_600_000),
                            span,
                        );
                    }
                })
            },
        );
        g.bench_function(BenchmarkId::new("drop_1000_tables", n), |b| {
            b.iter(|| {
                for t in 1000..2000 {
                    e.mark_drop(TableId(t));
                }
            })
        });
    }
    g.finish();
}

/// State lookups, listing, runs and counts.
fn bench_queries(c: &mut Criterion) {
    let mut g = c.benchmark_group("query");
    g.sample_size(10);
    for n in sizes() {
        let ids = support::random(n);
        let e = engine_with(&ids);
        let probes: Vec<BlockId> = ids
            .iter()
            .step_by((n / 100_000).max(1) as usize)
            .copied()
            .collect();
        g.throughput(Throughput::Elements(probes.len() as u64));
        g.bench_function(BenchmarkId::new("state", n), |b| {
            b.iter(|| {
                probes
                    .iter()
                    .filter(|id| e.state(**id) != tdibt_core::BlockState::Clean)
                    .count()
            })
        });
        g.throughput(Throughput::Elements(n));
        g.bench_function(BenchmarkId::new("list_all_new", n), |b| {
            b.iter(|| e.blocks(ChangeKind::New).count())
        });
        g.bench_function(BenchmarkId::new("runs_all_new", n), |b| {
            b.iter(|| e.runs(ChangeKind::New).count())
        });
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("counts", n), |b| b.iter(|| e.counts()));
    }
    g.finish();
}

/// Freeze + fold, the start and successful end of a backup.
fn bench_generations(c: &mut Criterion) {
    let mut g = c.benchmark_group("generation");
    g.sample_size(10);
    for n in sizes() {
        let e = engine_with(&support::random(n));
        g.throughput(Throughput::Elements(n));
        g.bench_function(BenchmarkId::new("freeze_fold", n), |b| {
            b.iter_batched(
                || e.clone(),
                |mut e| {
                    e.freeze().ok();
                    e.fold_frozen().ok();
                    e
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Checkpoint encode (with optimize), decode, and a durable save (fsync) to a temp folder.
fn bench_checkpoint(c: &mut Criterion) {
    let mut g = c.benchmark_group("checkpoint");
    g.sample_size(10);
    let dir = std::env::temp_dir().join(format!("tdibt-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for n in sizes() {
        for (name, ids) in [
            ("sequential", support::sequential(n)),
            ("random", support::random(n)),
        ] {
            let mut cp = Checkpoint {
                engine: engine_with(&ids),
                catalog: Catalog::new(),
                cut: Cut::new("bench"),
                written_at_unix_ms: 0,
                ..Default::default()
            };
            let bytes = cp.encode(1);
            g.throughput(Throughput::Elements(n));
            g.bench_function(BenchmarkId::new(format!("save_{name}"), n), |b| {
                b.iter(|| {
                    cp.save(&dir.join("checkpoint.tdibt"), 1)
                        .map_err(|e| e.to_string())
                })
            });
            g.bench_function(BenchmarkId::new(format!("load_{name}"), n), |b| {
                b.iter(|| {
                    Checkpoint::decode(&bytes, &dir)
                        .map(|c| c.written_at_unix_ms)
                        .map_err(|e| e.to_string())
                })
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    g.finish();
}

criterion_group!(
    benches,
    bench_mark,
    bench_range_marks,
    bench_queries,
    bench_generations,
    bench_checkpoint
);
criterion_main!(benches);
