//! Capture's errors, each naming what failed.

use tdibt_core::catalog::CatalogError;
use tdibt_core::checkpoint::CheckpointError;
use tdibt_core::config::ConfigError;
use tdibt_tdengine::TdError;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    TDengine(#[from] TdError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("table catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error("database {0:?} is not in the checkpoint's catalog (run `tdibt init`)")]
    UnknownDatabase(String),
    #[error(
        "database {database:?} keeps no WAL for TMQ (WAL_RETENTION_PERIOD 0): run \
         `ALTER DATABASE {database} WAL_RETENTION_PERIOD 86400` (seconds) first"
    )]
    NoWalRetention { database: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    WalWatch(#[from] crate::wal_watch::WalWatchError),
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsListen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Owner(#[from] tdibt_core::OwnerError),
    #[error("the capture pipeline stopped unexpectedly: {0}")]
    Pipeline(String),
}

impl CaptureError {
    /// The error's family (exit code, C API return code).
    pub fn class(&self) -> tdibt_core::ErrorClass {
        use tdibt_core::ErrorClass as C;
        match self {
            CaptureError::Config(_) | CaptureError::WalWatch(_) => C::Config,
            CaptureError::Checkpoint(_) => C::Checkpoint,
            CaptureError::TDengine(_)
            | CaptureError::NoWalRetention { .. }
            | CaptureError::UnknownDatabase(_) => C::TDengine,
            _ => C::Failure,
        }
    }
}
