//! Stable exit codes, and the error type that carries one to `main`.

use std::fmt;

/// The process exit codes tdibt promises (documented in the README and `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// The operation failed (I/O, or anything not covered below).
    Failure = 1,
    /// Bad command line: clap exits with it before any command runs.
    #[allow(dead_code)]
    Usage = 2,
    /// The configuration file or an override is invalid.
    Config = 3,
    /// The checkpoint is missing, corrupt or unreadable.
    Checkpoint = 4,
    /// TDengine is unreachable, refused the login, or lacks the database.
    TDengine = 5,
    /// The repository is missing, locked or damaged, or lacks the backup asked for.
    Repository = 6,
    /// Verification found problems (verify, or the check at the end of a restore).
    Verification = 7,
}

/// An error with the exit code it should end the process with.
pub struct CliError {
    pub code: Exit,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(code: Exit, error: impl Into<anyhow::Error>) -> Self {
        CliError {
            code,
            error: error.into(),
        }
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.code, self.error)
    }
}

impl From<tdibt_core::config::ConfigError> for CliError {
    fn from(e: tdibt_core::config::ConfigError) -> Self {
        CliError::new(Exit::Config, e)
    }
}

impl From<tdibt_capture::CaptureError> for CliError {
    fn from(e: tdibt_capture::CaptureError) -> Self {
        CliError::new(e.class().into(), e)
    }
}

impl From<tdibt_tdengine::TdError> for CliError {
    fn from(e: tdibt_tdengine::TdError) -> Self {
        CliError::new(Exit::TDengine, e)
    }
}

impl From<tdibt_core::CheckpointError> for CliError {
    fn from(e: tdibt_core::CheckpointError) -> Self {
        CliError::new(Exit::Checkpoint, e)
    }
}

impl From<tdibt_repository::RepoError> for CliError {
    fn from(e: tdibt_repository::RepoError) -> Self {
        use tdibt_repository::RepoError as E;
        let code = match &e {
            E::Io { .. } => Exit::Failure,
            _ => Exit::Repository,
        };
        CliError::new(code, e)
    }
}

impl From<tdibt_backup::BackupError> for CliError {
    fn from(e: tdibt_backup::BackupError) -> Self {
        CliError::new(e.class().into(), e)
    }
}

impl From<tdibt_core::ErrorClass> for Exit {
    fn from(class: tdibt_core::ErrorClass) -> Self {
        use tdibt_core::ErrorClass as C;
        match class {
            C::Failure => Exit::Failure,
            C::Config => Exit::Config,
            C::Checkpoint => Exit::Checkpoint,
            C::TDengine => Exit::TDengine,
            C::Repository => Exit::Repository,
            C::Verification => Exit::Verification,
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;
