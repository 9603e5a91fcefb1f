//! tdibt's core engine: the block model, the table catalog, the change bitmaps and their
//! crash-safe checkpoint, and the configuration. No I/O to TDengine happens here; the
//! TDengine access layer and the backup repository build on these types.
#![forbid(unsafe_code)]

pub mod block;
pub mod blockset;
pub mod catalog;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod cut;
pub mod durable;
pub mod engine;
pub mod error_class;
pub mod owner;

pub use block::{
    BlockId, BlockModelError, BlockSpan, BlockState, Precision, TableId, TsRange, Window,
};
pub use blockset::BlockSet;
pub use catalog::{Catalog, CatalogError};
pub use checkpoint::{BackupLink, Checkpoint, CheckpointError};
pub use cut::Cut;
pub use engine::{runs_of, ChangeKind, Engine, StateCounts, WindowRun};
pub use error_class::ErrorClass;
pub use owner::{OwnerError, OwnerLock};
