//! Workloads shared by the benchmark and the memory example.

use tdibt_core::{BlockId, TableId, Window};

/// Tables the workloads spread over.
pub const TABLES: u32 = 100_000;

/// `n` block ids, sorted: each table gets `n / TABLES` consecutive windows from 2024-01-01
/// (hourly windows), as a steady writer produces.
pub fn sequential(n: u64) -> Vec<BlockId> {
    let per_table = (n / TABLES as u64).max(1) as i32;
    let base = 473_352; // 2024-01-01T00:00Z in hours since the epoch
    let mut ids = Vec::with_capacity(n as usize);
    'outer: for t in 0..TABLES {
        for w in 0..per_table {
            if ids.len() as u64 == n {
                break 'outer;
            }
            ids.push(BlockId::new(TableId(t), Window(base + w)));
        }
    }
    ids
}

/// `n` block ids at random tables and windows (ten years of hourly windows), unsorted:
/// late and scattered writes. Deterministic (xorshift) so runs compare.
pub fn random(n: u64) -> Vec<BlockId> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let r = next();
            let table = (r % TABLES as u64) as u32;
            let window = 473_352 - 87_600 + ((r >> 32) % 87_600) as i32;
            BlockId::new(TableId(table), Window(window))
        })
        .collect()
}
