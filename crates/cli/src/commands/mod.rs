//! One module per subcommand; each drives the library crates and prints.

pub mod backup;
pub mod config_check;
#[cfg(feature = "demo")]
pub mod demo;
pub mod init;
pub mod maintain;
pub mod monitor;
pub mod repo;
pub mod restore;
pub mod stats;
pub mod taosdump;
pub mod verify;

use crate::exit::{CliError, CliResult, Exit};

/// A multi-threaded runtime for the commands that talk to TDengine.
pub fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Failure, e))
}
