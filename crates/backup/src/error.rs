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
    /// Another backup engine (taosdump's) failed; its family and its words.
    #[error("{message}")]
    Engine {
        class: tdibt_core::ErrorClass,
        message: String,
    },
    /// A backup the running monitor took for this process failed there.
    #[error("{message}")]
    Remote {
        class: tdibt_core::ErrorClass,
        message: String,
    },
}

impl BackupError {
    /// The error's family (exit code, C API return code).
    pub fn class(&self) -> tdibt_core::ErrorClass {
        use tdibt_core::ErrorClass as C;
        match self {
            BackupError::Config(_) => C::Config,
            BackupError::TDengine(_) => C::TDengine,
            BackupError::Checkpoint(_)
            | BackupError::Owner(_)
            | BackupError::UnknownDatabase(_) => C::Checkpoint,
            BackupError::Repository(RepoError::Io { .. }) => C::Failure,
            BackupError::Repository(_) | BackupError::Refused(_) => C::Repository,
            BackupError::Capture(e) => e.class(),
            BackupError::Pipeline(_) => C::Failure,
            BackupError::Remote { class, .. } | BackupError::Engine { class, .. } => *class,
        }
    }
}

pub type BackupResult<T> = Result<T, BackupError>;
