//! tdibt's core engine: the block model, the table catalog, the change bitmaps and their
//! crash-safe checkpoint, and the configuration. No I/O to TDengine happens here; the
//! TDengine access layer and the backup repository build on these types.
#![forbid(unsafe_code)]

pub mod block;
pub mod config;
pub mod durable;

pub use block::{
    BlockId, BlockModelError, BlockSpan, BlockState, Precision, TableId, TsRange, Window,
};
