//! Test-only helpers shared by tdibt's crates (a dev-dependency, never linked into the tool):
//! [`db::snapshot`] (a database as text, to compare a restore with its source),
//! [`config::write_config`], [`Rng`], and the byte mutators below.
//!
//! [`mutated`] turns one valid encoding into the inputs a decoder meets after a torn write, a
//! flipped bit on disk or a server answering something else: truncations, flipped bytes,
//! inserted garbage, and length or count fields overwritten with extreme values. A property
//! test runs a decoder on them and asserts it answers (an error or a value), never panics and
//! never loops: proptest reports a panic as a failure, and an endless loop as a hung test.
#![forbid(unsafe_code)]

use proptest::prelude::*;

pub mod config;
pub mod db;
mod rng;

pub use rng::Rng;

/// One change to a byte string; positions are taken modulo its length.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Keep only the first `n` bytes.
    Truncate(usize),
    /// XOR one byte with a non-zero mask.
    Flip(usize, u8),
    /// Insert bytes at a position.
    Insert(usize, Vec<u8>),
    /// Remove a run of bytes.
    Remove(usize, usize),
    /// Overwrite four bytes (a little-endian `i32`/`u32` length, count or offset) with an
    /// extreme value: 0, -1, `i32::MAX`, `i32::MIN` or a random one.
    Word32(usize, u32),
    /// Overwrite eight bytes with an extreme `u64`.
    Word64(usize, u64),
}

fn extreme_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        Just(i32::MAX as u32),
        Just(i32::MIN as u32),
        Just(1u32),
        any::<u32>(),
    ]
}

fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(i64::MAX as u64),
        Just(1u64 << 32),
        any::<u64>(),
    ]
}

/// Any one mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Remove(i, n)),
        (any::<usize>(), extreme_u32()).prop_map(|(i, v)| Mutation::Word32(i, v)),
        (any::<usize>(), extreme_u64()).prop_map(|(i, v)| Mutation::Word64(i, v)),
    ]
}

/// Applies `m` to `bytes`.
pub fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match m {
        Mutation::Truncate(n) => {
            let keep = at(*n, bytes.len() + 1);
            bytes.truncate(keep);
        }
        Mutation::Flip(i, mask) => {
            if !bytes.is_empty() {
                let i = at(*i, bytes.len());
                bytes[i] ^= mask;
            }
        }
        Mutation::Insert(i, b) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            if !bytes.is_empty() {
                let i = at(*i, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
        }
        Mutation::Word32(i, v) => overwrite(bytes, *i, &v.to_le_bytes()),
        Mutation::Word64(i, v) => overwrite(bytes, *i, &v.to_le_bytes()),
    }
}

fn overwrite(bytes: &mut [u8], i: usize, with: &[u8]) {
    if bytes.len() < with.len() {
        return;
    }
    let i = i % (bytes.len() - with.len() + 1);
    bytes[i..i + with.len()].copy_from_slice(with);
}

/// `valid` after one to four mutations.
pub fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(mutation(), 1..5).prop_map(move |ms| {
        let mut bytes = valid.clone();
        for m in &ms {
            apply(&mut bytes, m);
        }
        bytes
    })
}

/// `valid` (UTF-8 text: SQL, JSON, TOML) after one to four byte mutations; bytes that no
/// longer form UTF-8 become U+FFFD, itself a change the parser has to refuse or take.
pub fn mutated_text(valid: &str) -> impl Strategy<Value = String> {
    mutated(valid.as_bytes().to_vec()).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Every file under `dir`, at any depth (folders left out), in no particular order.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Any JSON value up to a few levels deep, shaped like the documents a reader expects:
/// object keys are drawn mostly from `keys` and strings mostly from `words`, so the
/// reader gets past its first checks, with numbers at their extremes.
pub fn any_json(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as Json;
    let word = prop_oneof![
        3 => proptest::sample::select(words).prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        extreme_u64().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        word.prop_map(Json::from),
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutation_kind_changes_or_keeps_bytes_in_range() {
        let base: Vec<u8> = (0u8..40).collect();
        let cases = [
            Mutation::Truncate(10),
            Mutation::Flip(3, 0xFF),
            Mutation::Insert(5, vec![9, 9]),
            Mutation::Remove(0, 4),
            Mutation::Word32(1, u32::MAX),
            Mutation::Word64(100, 7),
        ];
        let lens = [10, 40, 42, 36, 40, 40];
        for (m, len) in cases.iter().zip(lens) {
            let mut b = base.clone();
            apply(&mut b, m);
            assert_eq!(b.len(), len, "{m:?}");
            assert_ne!(b, base, "{m:?} changed nothing");
        }
        // On an empty input nothing panics.
        for m in &cases {
            let mut b = Vec::new();
            apply(&mut b, m);
        }
    }
}
