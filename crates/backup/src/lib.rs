//! tdibt's backup coordinator: turns the engine's marks into backups in a repository, and
//! backups back into databases.
//!
//! - [`backup`]: drain the change feed, freeze a generation, read what it marks (one range
//!   query per run of windows), store the raw blocks, write the manifest last, fold.
//! - [`restore`]: a backup's chain, merged, into a database: DDL, then per window delete
//!   and write the stored blocks.
//! - [`verify`]: the repository's own check, and a comparison with a live database.
//! - [`maintain`]: synthetic fulls (`merge`) and pruning.
#![forbid(unsafe_code)]

mod ask;
pub mod backup;
pub mod ddl;
pub mod error;
pub mod live;
mod location;
pub mod maintain;
pub mod pick;
pub mod plan;
mod pool;
pub mod progress;
pub mod restore;
mod schema;
mod stored;
pub mod verify;

pub use ask::{backup, backup_with};
pub use backup::{
    run_backup, run_backup_with, BackupOptions, BackupReport, StoreEngine, Tdibt, Timings,
};
pub use error::{BackupError, BackupResult};
pub use live::{serve_monitor, ServeOptions};
pub use location::{open_or_create, open_or_create_in};
pub use pick::{parse_pick, pick_backup, Pick};
pub use pool::Connections;
pub use progress::{NoProgress, Progress, ProgressSink};
pub use restore::{run_restore, RestoreOptions, RestoreReport};
pub use verify::{run_verify, Against, VerifyOptions, VerifyReport};
