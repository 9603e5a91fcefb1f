use std::path::PathBuf;

/// What went wrong beside taosdump; each message names the object and the next step.
#[derive(Debug, thiserror::Error)]
pub enum TaosdumpError {
    #[error(transparent)]
    Backup(#[from] tdibt_backup::BackupError),
    #[error(transparent)]
    Checkpoint(#[from] tdibt_core::CheckpointError),
    #[error(transparent)]
    Config(#[from] tdibt_core::config::ConfigError),
    #[error(transparent)]
    TDengine(#[from] tdibt_tdengine::TdError),
    #[error(transparent)]
    Capture(#[from] tdibt_capture::CaptureError),
    #[error("database {0:?} is not in the checkpoint's catalog (run `tdibt init`)")]
    UnknownDatabase(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Repository(#[from] tdibt_repository::RepoError),
    #[error("cannot run taosdump ({program}): {source}; install taosdump (taos-tools) or name it with --taosdump-program")]
    Launch {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{what} failed ({status}): {stderr}; nothing was stored, and the next run does it again"
    )]
    CallFailed {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("what taosdump wrote into {} does not hold the plan: {}; nothing was stored, and the next run dumps again", dir.display(), problems.join("; "))]
    Unverified { dir: PathBuf, problems: Vec<String> },
    #[error("{path}: {what}")]
    BadFile { path: PathBuf, what: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type TaosdumpResult<T> = Result<T, TaosdumpError>;

impl TaosdumpError {
    /// The error's family (exit code, C API return code).
    pub fn class(&self) -> tdibt_core::ErrorClass {
        use tdibt_core::ErrorClass as C;
        match self {
            TaosdumpError::Backup(e) => e.class(),
            TaosdumpError::Checkpoint(_) | TaosdumpError::UnknownDatabase(_) => C::Checkpoint,
            TaosdumpError::Config(_) => C::Config,
            TaosdumpError::TDengine(_) => C::TDengine,
            TaosdumpError::Capture(e) => e.class(),
            TaosdumpError::Repository(tdibt_repository::RepoError::Io { .. }) => C::Failure,
            TaosdumpError::Repository(_) | TaosdumpError::Refused(_) => C::Repository,
            TaosdumpError::Unverified { .. } => C::Verification,
            TaosdumpError::Launch { .. }
            | TaosdumpError::CallFailed { .. }
            | TaosdumpError::BadFile { .. }
            | TaosdumpError::Io { .. } => C::Failure,
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TaosdumpError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn bad_file(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        TaosdumpError::BadFile {
            path: path.into(),
            what: what.into(),
        }
    }
}
