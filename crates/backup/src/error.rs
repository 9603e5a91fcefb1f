//! The backup coordinator's errors, each naming what failed.

use tdibt_core::checkpoint::CheckpointError;
use tdibt_core::config::ConfigError;
use tdibt_core::OwnerError;
use tdibt_repository::RepoError;
use tdibt_tdengine::TdError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    TDengine(#[from] TdError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Repository(#[from] RepoError),
    #[error(transparent)]
    Capture(#[from] tdibt_capture::CaptureError),
    #[error(transparent)]
    Owner(#[from] OwnerError),
    #[error("database {0:?} is not in the checkpoint's catalog (run `tdibt init`)")]
    UnknownDatabase(String),
    /// The request cannot be carried out as asked (wrong backup, wrong repository, ...).
    #[error("{0}")]
    Refused(String),
    #[error("the backup pipeline stopped unexpectedly: {0}")]
    Pipeline(String),
}

pub type BackupResult<T> = Result<T, BackupError>;
