//! Repository errors; each names the file, pack, block or backup concerned.

use std::io;

use crate::ids::{BackupId, BlockHash, PackId};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{where_}: {source}")]
    Io {
        where_: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{0} is not a tdibt repository (no tdibt-repository.json); create one there with \
         `tdibt repo init --output {0}` (`tdibt backup` creates it when the folder is missing or empty)"
    )]
    NotARepository(String),
    #[error("{0} is already a tdibt repository")]
    AlreadyARepository(String),
    #[error(
        "{0} is not empty and not a tdibt repository: refusing to initialise it (tdibt does not \
         mix its files with others); give a new or empty folder, e.g. `tdibt repo init --output {0}/tdibt`"
    )]
    NotEmpty(String),
    #[error("{path}: repository format version {found}, this tdibt reads up to {supported}")]
    FutureVersion {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("{path}: corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("not a valid {what} name: {name:?}")]
    BadName { what: &'static str, name: String },
    #[error("pack {pack} is missing (needed by block {block})")]
    MissingPack { pack: PackId, block: BlockHash },
    #[error("block {block} in pack {pack}: {reason}")]
    BadBlock {
        block: BlockHash,
        pack: PackId,
        reason: String,
    },
    #[error("backup {0} does not exist")]
    NoSuchBackup(BackupId),
    #[error("broken chain at backup {backup}: {reason}")]
    BrokenChain { backup: BackupId, reason: String },
    #[error(
        "the repository is locked by {operation} (host {host}, pid {pid}, started {age_seconds} s ago{stale}); \
         if that process is gone, run `tdibt repo unlock`"
    )]
    Locked {
        operation: String,
        host: String,
        pid: u32,
        age_seconds: i64,
        stale: &'static str,
    },
}

impl RepoError {
    pub(crate) fn io(where_: impl Into<String>, source: io::Error) -> Self {
        RepoError::Io {
            where_: where_.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<String>, reason: impl Into<String>) -> Self {
        RepoError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type RepoResult<T> = Result<T, RepoError>;
