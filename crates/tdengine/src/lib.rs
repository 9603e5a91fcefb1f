//! tdibt's access to TDengine, through the official `taos` connector over WebSocket
//! (taosAdapter): connections with classified errors, catalog discovery from
//! `information_schema`, the tdibt topic, the TMQ change feed as typed events (over tdibt's
//! own client of taosAdapter's `/rest/tmq` protocol, [`tmq_ws`]), and rows out and back in
//! as raw blocks (backup and restore, through the connector).
#![forbid(unsafe_code)]

pub mod block_ts;
pub mod changes;
pub mod connection;
pub mod delete_sql;
pub mod discovery;
pub mod error;
pub mod export;
pub mod feed;
pub mod reshape;
mod rows;
pub mod tmq_ws;
pub mod topic;
pub mod windows;

pub use changes::{ChangeEvent, CreatedKind};
pub use connection::{Connection, ConnectionSettings};
pub use error::{TdError, TdResult};
pub use feed::{ChangeFeed, FeedMessage, FeedSettings, StartFrom, VgroupProgress};
pub use rows::Rows;
pub use windows::{read_tables_windows, read_windows, TablesRead, WindowRows};
