//! tdibt's backup repository: where backups live and how they prove themselves.
//!
//! Blocks (TDengine raw-block bytes of one table's window) are stored once by content
//! (BLAKE3), compressed one by one with zstd, many to a pack named by its own hash. A backup
//! becomes visible only when its manifest is written, last and atomically; the manifest
//! ends with its own checksum and records its parent's, so a chain is checked link by link.
//! A lock keeps writers apart; a journal lets an interrupted backup resume without writing
//! again what it stored. See README.md for the format.
#![forbid(unsafe_code)]

pub mod check;
pub mod error;
pub mod handle;
pub mod ids;
pub mod known;
pub mod lock;
pub mod manifest;
#[cfg(test)]
mod never_panics;
pub mod object;
pub mod pack;
pub mod repo;
pub mod store;
mod write;

pub use error::{RepoError, RepoResult};
pub use handle::{FileKind, Handle};
pub use ids::{BackupId, BlockHash, PackId};
pub use manifest::{
    BackupKind, BackupStats, BlockEntry, ColumnDef, DdlEntry, DdlKind, Engine, Manifest, PartOf,
    StoredFile, TableSchema, Tombstone,
};
pub use object::BucketStore;
pub use pack::{BlockRef, Compression};
pub use repo::{
    merge_chain, merge_chain_with_writers, Added, BlockWriter, RepoConfig, Repository,
    ResumeJournal,
};
pub use store::{LocalStore, Store};
