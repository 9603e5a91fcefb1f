//! Bytes per marked block at 1M, 10M and 100M blocks, for the README.
//!
//! `cargo run --release -p tdibt-core --example memory`

#[path = "../benches/support.rs"]
mod support;

use std::time::Instant;

use tdibt_core::checkpoint::Checkpoint;
use tdibt_core::{Catalog, Cut, Engine};

fn main() {
    println!(
        "| workload | blocks | heap (MiB) | bytes/block | checkpoint (MiB) | checkpoint save (s) | mark rate (M/s) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let dir = std::env::temp_dir().join(format!("tdibt-memory-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for n in [1_000_000u64, 10_000_000, 100_000_000] {
        for (name, ids) in [
            ("sequential", support::sequential(n)),
            ("random", support::random(n)),
        ] {
            let mut e = Engine::new();
            let start = Instant::now();
            let mut batch = Vec::with_capacity(1 << 16);
            for chunk in ids.chunks(1 << 16) {
                batch.clear();
                batch.extend_from_slice(chunk);
                batch.sort_unstable();
                e.mark_writes(batch.iter().copied());
            }
            let rate = n as f64 / start.elapsed().as_secs_f64() / 1e6;
            drop(ids);
            e.optimize();
            let heap = e.heap_bytes();
            let mut cp = Checkpoint {
                engine: e,
                catalog: Catalog::new(),
                cut: Cut::default(),
                written_at_unix_ms: 0,
                backups: Default::default(),
            };
            let size = cp.encode(0).len();
            let start = Instant::now();
            if let Err(e) = cp.save(&dir.join("checkpoint.tdibt"), 0) {
                eprintln!("save failed: {e}");
            }
            let save = start.elapsed().as_secs_f64();
            println!(
                "| {name} | {n} | {:.1} | {:.2} | {:.1} | {save:.3} | {rate:.1} |",
                heap as f64 / 1048576.0,
                heap as f64 / n as f64,
                size as f64 / 1048576.0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
