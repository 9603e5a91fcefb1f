//! How long a full backup's manifest takes to write and read back, by size: the fixed cost
//! an incremental pays to find its parent and deduplicate.
//! `cargo run --release -p tdibt-repository --example manifest_size [-- BLOCKS]`
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use tdibt_repository::manifest::MANIFEST_VERSION;
use tdibt_repository::*;

fn main() {
    let blocks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(28_000);
    let pack = PackId::of(b"pack");
    let m = Manifest {
        format_version: MANIFEST_VERSION,
        id: BackupId::new(1_795_558_500_000, b"x"),
        parent: None,
        parent_manifest_blake3: None,
        kind: BackupKind::Full,
        database: "bench".into(),
        precision: "ms".into(),
        block_span: 3_600_000,
        server_version: "3.3.6.0".into(),
        cut: Default::default(),
        started_at_unix_ms: 0,
        finished_at_unix_ms: 0,
        ddl: Vec::new(),
        blocks: (0..blocks)
            .map(|i| BlockEntry {
                table: format!("d{}", i / 28),
                window: 490_896 + (i % 28) as i32,
                rows: 360,
                columns: ["ts", "current", "voltage", "phase"]
                    .map(String::from)
                    .to_vec(),
                parts: vec![BlockRef {
                    hash: BlockHash::of(&i.to_le_bytes()),
                    pack,
                    offset: i as u64 * 3000,
                    length: 3000,
                    raw_length: 7400,
                    compressed: true,
                }],
            })
            .collect(),
        tombstones: Vec::new(),
        stats: BackupStats::default(),
        merged_from: None,
        engine: Default::default(),
        files: Vec::new(),
    };
    let t = Instant::now();
    let bytes = m.encode();
    let encode = t.elapsed();
    let t = Instant::now();
    let (back, _) = Manifest::decode(&bytes, "m").unwrap();
    let decode = t.elapsed();
    assert_eq!(back.blocks.len(), blocks);
    println!(
        "{blocks} blocks: {:.1} MiB, encode {:.1} ms, decode {:.1} ms",
        bytes.len() as f64 / 1048576.0,
        encode.as_secs_f64() * 1e3,
        decode.as_secs_f64() * 1e3
    );
}
