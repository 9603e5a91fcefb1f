//! tdibt's event interceptor: subscribes to a TDengine database's changes and keeps the
//! bitmap engine in step with them, durably (checkpoint first, then commit offsets).
#![forbid(unsafe_code)]

pub mod apply;
pub mod error;
pub mod handle;
pub mod init;
pub mod metrics;
pub mod monitor;
pub mod poller;
pub mod stats;
pub mod wal_watch;

pub use error::CaptureError;
pub use handle::{MonitorHandle, OwnerRequests};
pub use init::{init, InitReport};
pub use monitor::{
    drain, run_monitor, run_monitor_with, MarkedMessage, MonitorOptions, MonitorReport, STATS_FILE,
};
