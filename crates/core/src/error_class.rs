//! The families tdibt's errors fall into, as the CLI's exit codes and the C API's return
//! codes group them. Each library classifies its own errors, so an error that crosses a
//! process boundary (a backup the running monitor took for `tdibt backup`) keeps its family.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorClass {
    /// Anything not covered below (I/O, a pipeline that stopped).
    Failure,
    /// The configuration file or an override is invalid.
    Config,
    /// The checkpoint (the change engine's folder) is missing, corrupt, unreadable or in use.
    Checkpoint,
    /// TDengine is unreachable, refused the login, or lacks the database.
    TDengine,
    /// The repository is missing, locked or damaged, or lacks the backup asked for.
    Repository,
    /// Verification found problems.
    Verification,
}
