//! Packs: many blocks in one file, each compressed on its own so that one block can be read
//! without its neighbours, with an index at the end.
//!
//! ```text
//! block bytes, back to back (zstd frames or raw)
//! index    JSON array of PackEntry
//! u32      index length, little-endian
//! 8 bytes  "TDIBTPK1"
//! ```
//! A pack's name is the BLAKE3 of the whole file, so a pack that reads back under its name
//! is the pack that was written.

use serde::{Deserialize, Serialize};

use crate::error::{RepoError, RepoResult};
use crate::ids::{BlockHash, PackId};

const PACK_MAGIC: &[u8; 8] = b"TDIBTPK1";

/// Where a stored block is and how to read it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// BLAKE3 of the block's raw (uncompressed) bytes: its identity.
    pub hash: BlockHash,
    pub pack: PackId,
    pub offset: u64,
    /// Bytes as stored in the pack.
    pub length: u32,
    pub raw_length: u32,
    pub compressed: bool,
}

/// One block in a pack's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    pub hash: BlockHash,
    pub offset: u64,
    pub length: u32,
    pub raw_length: u32,
    pub compressed: bool,
}

/// Compression of stored blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    pub enabled: bool,
    /// zstd level, 1..=22.
    pub level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            enabled: true,
            level: 3,
        }
    }
}

/// A pack being filled.
#[derive(Default)]
pub struct PackBuilder {
    body: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl PackBuilder {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len_bytes(&self) -> usize {
        self.body.len()
    }

    /// Appends a block; it is stored compressed only when that makes it smaller.
    pub fn add(&mut self, raw: &[u8], compression: Compression) -> RepoResult<PackEntry> {
        let hash = BlockHash::of(raw);
        let raw_length = u32::try_from(raw.len())
            .map_err(|_| RepoError::corrupt(format!("block {hash}"), "larger than 4 GiB"))?;
        let packed = if compression.enabled {
            zstd::bulk::compress(raw, compression.level)
                .ok()
                .filter(|c| c.len() < raw.len())
        } else {
            None
        };
        let (bytes, compressed) = match &packed {
            Some(c) => (c.as_slice(), true),
            None => (raw, false),
        };
        let entry = PackEntry {
            hash,
            offset: self.body.len() as u64,
            length: bytes.len() as u32,
            raw_length,
            compressed,
        };
        self.body.extend_from_slice(bytes);
        self.entries.push(entry);
        Ok(entry)
    }

    /// The finished file, its id, and the references to its blocks.
    pub fn finish(mut self) -> (PackId, Vec<u8>, Vec<BlockRef>) {
        // Serialising plain data into a Vec cannot fail.
        let index = serde_json::to_vec(&self.entries).unwrap_or_default();
        self.body.extend_from_slice(&index);
        self.body
            .extend_from_slice(&(index.len() as u32).to_le_bytes());
        self.body.extend_from_slice(PACK_MAGIC);
        let id = PackId::of(&self.body);
        let refs = self
            .entries
            .iter()
            .map(|e| BlockRef {
                hash: e.hash,
                pack: id,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
                compressed: e.compressed,
            })
            .collect();
        (id, self.body, refs)
    }
}

/// Reads a whole pack's index, checking the pack against its name.
pub fn read_index(id: PackId, bytes: &[u8]) -> RepoResult<Vec<PackEntry>> {
    let bad = |reason: &str| RepoError::corrupt(format!("pack {id}"), reason);
    if PackId::of(bytes) != id {
        return Err(bad("its content does not hash to its name"));
    }
    let n = bytes.len();
    if n < 12 || &bytes[n - 8..] != PACK_MAGIC {
        return Err(bad("no pack trailer"));
    }
    let len =
        u32::from_le_bytes([bytes[n - 12], bytes[n - 11], bytes[n - 10], bytes[n - 9]]) as usize;
    let start = (n - 12)
        .checked_sub(len)
        .ok_or_else(|| bad("index longer than the pack"))?;
    serde_json::from_slice(&bytes[start..n - 12]).map_err(|e| bad(&format!("index: {e}")))
}

/// Turns a block's stored bytes back into its raw bytes, checking its hash.
pub fn unpack_block(r: &BlockRef, stored: &[u8]) -> RepoResult<Vec<u8>> {
    let bad = |reason: String| RepoError::BadBlock {
        block: r.hash,
        pack: r.pack,
        reason,
    };
    let raw = if r.compressed {
        zstd::bulk::decompress(stored, r.raw_length as usize)
            .map_err(|e| bad(format!("cannot decompress: {e}")))?
    } else {
        stored.to_vec()
    };
    if raw.len() != r.raw_length as usize || BlockHash::of(&raw) != r.hash {
        return Err(bad("content does not match its checksum".into()));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_compressed_or_not() {
        let mut b = PackBuilder::default();
        let compressible = vec![7u8; 10_000];
        let random: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        b.add(&compressible, Compression::default()).unwrap();
        b.add(&random, Compression::default()).unwrap();
        b.add(
            &compressible,
            Compression {
                enabled: false,
                level: 3,
            },
        )
        .unwrap();
        let (id, bytes, refs) = b.finish();
        assert!(refs[0].compressed && refs[0].length < 100);
        assert!(!refs[1].compressed, "incompressible stays raw");
        assert!(!refs[2].compressed);
        let index = read_index(id, &bytes).unwrap();
        assert_eq!(index.len(), 3);
        for (r, raw) in refs.iter().zip([&compressible, &random, &compressible]) {
            let stored = &bytes[r.offset as usize..r.offset as usize + r.length as usize];
            assert_eq!(&unpack_block(r, stored).unwrap(), raw);
        }
    }

    #[test]
    fn damage_is_detected_and_named() {
        let mut b = PackBuilder::default();
        b.add(&[1u8; 500], Compression::default()).unwrap();
        let (id, mut bytes, refs) = b.finish();
        bytes[0] ^= 1;
        assert!(read_index(id, &bytes)
            .unwrap_err()
            .to_string()
            .contains(&id.to_hex()));
        let stored = &bytes[..refs[0].length as usize];
        let err = unpack_block(&refs[0], stored).unwrap_err().to_string();
        assert!(err.contains(&refs[0].hash.to_hex()), "{err}");
    }

    /// A pack read back from storage: whatever its bytes (under a name that matches them,
    /// the only way past the hash check), reading its index and its blocks answers with
    /// data or an error, never a panic; and a block comes back only if it is the block.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use tdibt_testkit::mutated;

        fn sample() -> (Vec<u8>, Vec<BlockRef>, Vec<Vec<u8>>) {
            let mut b = PackBuilder::default();
            let blocks = vec![
                vec![7u8; 3000],
                (0..300u32).map(|i| (i * 7) as u8).collect(),
            ];
            for raw in &blocks {
                b.add(raw, Compression::default()).unwrap();
            }
            let (_, bytes, refs) = b.finish();
            (bytes, refs, blocks)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn mutated_packs(bytes in mutated(sample().0)) {
                let id = PackId::of(&bytes);
                let _ = read_index(id, &bytes);
                let (_, refs, blocks) = sample();
                for (r, raw) in refs.iter().zip(&blocks) {
                    let start = (r.offset as usize).min(bytes.len());
                    let end = (start + r.length as usize).min(bytes.len());
                    if let Ok(back) = unpack_block(r, &bytes[start..end]) {
                        prop_assert_eq!(&back, raw);
                    }
                }
            }

            #[test]
            fn arbitrary_packs(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = read_index(PackId::of(&bytes), &bytes);
            }

            #[test]
            fn any_stored_bytes_under_a_ref(
                stored in proptest::collection::vec(any::<u8>(), 0..256),
                raw_length in 0u32..100_000,
                compressed in any::<bool>(),
            ) {
                let (_, refs, _) = sample();
                let r = BlockRef { raw_length, compressed, ..refs[0] };
                prop_assert!(unpack_block(&r, &stored).is_err());
            }
        }
    }
}
