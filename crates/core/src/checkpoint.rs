//! The checkpoint: engine, catalog and cut in one file, written atomically.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic    8 bytes  "TDIBTCKP"
//! version  u32      FORMAT_VERSION
//! body_len u64      bytes of body
//! checksum 32 bytes BLAKE3 of body
//! body:
//!   meta_len u32, meta JSON (written_at, cut, catalog, engine counters, frozen flag)
//!   bitmaps, each as u64 length + portable 64-bit Roaring: present, new, dirty, deleted,
//!   then frozen new, dirty, deleted when a generation is frozen
//! ```
//!
//! Loading checks everything and never writes: a bad checkpoint is reported, not replaced.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::blockset::BlockSet;
use crate::catalog::Catalog;
use crate::cut::Cut;
use crate::durable;
use crate::engine::{Engine, EngineCounters, Generation};

const MAGIC: &[u8; 8] = b"TDIBTCKP";
/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// The file name of the checkpoint inside the persistence folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.tdibt";

/// Why a checkpoint could not be written or read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("no checkpoint at {0} (run `tdibt init` first)")]
    Missing(PathBuf),
    #[error("cannot read checkpoint {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write checkpoint {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a tdibt checkpoint (bad magic)")]
    NotACheckpoint { path: PathBuf },
    #[error(
        "checkpoint {path} has format version {found}; this tdibt reads version {supported}: \
         upgrade tdibt"
    )]
    FutureVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("checkpoint {path} is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("checkpoint {path} is corrupt: checksum mismatch")]
    ChecksumMismatch { path: PathBuf },
    #[error("checkpoint {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// Everything capture must not lose.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    pub engine: Engine,
    pub catalog: Catalog,
    pub cut: Cut,
    /// Unix milliseconds when it was written.
    pub written_at_unix_ms: i64,
    /// Which backup the engine's changes are counted from.
    pub backups: BackupLink,
}

/// Ties the engine to a backup repository: its generations are changes since `last`, and
/// `in_progress` names the backup a frozen generation belongs to, so that a backup
/// interrupted after its manifest was written is recognised as finished, and one
/// interrupted before resumes under the same id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupLink {
    /// The repository's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The newest backup whose changes are folded into `present`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// The backup the frozen generation is being written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// For `in_progress`: whether it is a full backup.
    #[serde(default)]
    pub in_progress_full: bool,
}

/// What `Meta` is written from, borrowed (no copy of the catalog per checkpoint).
#[derive(Serialize)]
struct MetaRef<'a> {
    written_at_unix_ms: i64,
    cut: &'a Cut,
    catalog: &'a Catalog,
    counters: EngineCounters,
    frozen: bool,
    backups: &'a BackupLink,
}

#[derive(Deserialize)]
struct Meta {
    written_at_unix_ms: i64,
    cut: Cut,
    catalog: Catalog,
    counters: EngineCounters,
    frozen: bool,
    #[serde(default)]
    backups: BackupLink,
}

/// The checkpoint's path inside a persistence folder.
pub fn checkpoint_path(persistence_dir: &Path) -> PathBuf {
    persistence_dir.join(CHECKPOINT_FILE)
}

impl Checkpoint {
    /// Serialises, stamping `written_at_unix_ms`.
    pub fn encode(&mut self, now_unix_ms: i64) -> Vec<u8> {
        self.written_at_unix_ms = now_unix_ms;
        self.engine.optimize();
        let meta = MetaRef {
            written_at_unix_ms: now_unix_ms,
            cut: &self.cut,
            catalog: &self.catalog,
            counters: self.engine.counters(),
            frozen: self.engine.is_frozen(),
            backups: &self.backups,
        };
        // Serialising plain data structures into a Vec cannot fail.
        let meta_json = serde_json::to_vec(&meta).unwrap_or_default();
        let mut body = Vec::with_capacity(meta_json.len() + 1024);
        body.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
        body.extend_from_slice(&meta_json);
        let mut sets: Vec<&BlockSet> = vec![
            self.engine.present(),
            &self.engine.current().new,
            &self.engine.current().dirty,
            &self.engine.current().deleted,
        ];
        if let Some(f) = self.engine.frozen() {
            sets.extend([&f.new, &f.dirty, &f.deleted]);
        }
        for set in sets {
            let mut bytes = Vec::new();
            // Writing into a Vec cannot fail.
            let _ = set.serialize_into(&mut bytes);
            body.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            body.extend_from_slice(&bytes);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Writes the checkpoint atomically and durably to `path`.
    pub fn save(&mut self, path: &Path, now_unix_ms: i64) -> Result<(), CheckpointError> {
        let bytes = self.encode(now_unix_ms);
        durable::write_atomic(path, &bytes).map_err(|source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and verifies a checkpoint file.
    pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CheckpointError::Missing(path.to_path_buf())
            } else {
                CheckpointError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::decode(&bytes, path)
    }

    /// Verifies and decodes checkpoint bytes; `path` is only used in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Checkpoint, CheckpointError> {
        let p = || path.to_path_buf();
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            if bytes.len() < 8 && MAGIC.starts_with(bytes) {
                return Err(CheckpointError::Truncated {
                    path: p(),
                    expected: HEADER_LEN as u64,
                    found: bytes.len() as u64,
                });
            }
            return Err(CheckpointError::NotACheckpoint { path: p() });
        }
        if bytes.len() < HEADER_LEN {
            return Err(CheckpointError::Truncated {
                path: p(),
                expected: HEADER_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if version > FORMAT_VERSION {
            return Err(CheckpointError::FutureVersion {
                path: p(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(CheckpointError::Corrupt {
                path: p(),
                reason: "format version 0".into(),
            });
        }
        let body_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
        let expected = (HEADER_LEN as u64).saturating_add(body_len);
        if (bytes.len() as u64) < expected {
            return Err(CheckpointError::Truncated {
                path: p(),
                expected,
                found: bytes.len() as u64,
            });
        }
        if (bytes.len() as u64) > expected {
            return Err(CheckpointError::Corrupt {
                path: p(),
                reason: format!(
                    "{} bytes after the end of the body",
                    bytes.len() as u64 - expected
                ),
            });
        }
        let body = &bytes[HEADER_LEN..];
        if blake3::hash(body).as_bytes() != &bytes[20..52] {
            return Err(CheckpointError::ChecksumMismatch { path: p() });
        }
        decode_body(body).map_err(|reason| CheckpointError::Corrupt { path: p(), reason })
    }
}

fn decode_body(body: &[u8]) -> Result<Checkpoint, String> {
    let mut r = Cursor::new(body);
    let meta_len = read_u32(&mut r)? as usize;
    let mut meta_json = vec![0u8; meta_len.min(body.len())];
    r.read_exact(&mut meta_json)
        .map_err(|e| format!("metadata: {e}"))?;
    let meta: Meta = serde_json::from_slice(&meta_json).map_err(|e| format!("metadata: {e}"))?;
    let mut read_set = |name: &str| -> Result<BlockSet, String> {
        let len = read_u64(&mut r)?;
        let start = r.position();
        let set = BlockSet::deserialize_from(&mut r).map_err(|e| format!("{name} bitmap: {e}"))?;
        if r.position() - start != len {
            return Err(format!("{name} bitmap length mismatch"));
        }
        Ok(set)
    };
    let present = read_set("present")?;
    let current = Generation {
        new: read_set("new")?,
        dirty: read_set("dirty")?,
        deleted: read_set("deleted")?,
    };
    let frozen = if meta.frozen {
        Some(Generation {
            new: read_set("frozen new")?,
            dirty: read_set("frozen dirty")?,
            deleted: read_set("frozen deleted")?,
        })
    } else {
        None
    };
    if (r.position() as usize) != body.len() {
        return Err("trailing bytes after the bitmaps".into());
    }
    let mut engine = Engine::from_parts(present, current, frozen, meta.counters);
    // A full backup's frozen generation judges events as if every window were present.
    engine.set_frozen_full(meta.backups.in_progress.is_some() && meta.backups.in_progress_full);
    Ok(Checkpoint {
        engine,
        catalog: meta.catalog,
        cut: meta.cut,
        written_at_unix_ms: meta.written_at_unix_ms,
        backups: meta.backups,
    })
}

fn read_u32(r: &mut Cursor<&[u8]>) -> Result<u32, String> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|e| e.to_string())?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut Cursor<&[u8]>) -> Result<u64, String> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|e| e.to_string())?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests;
