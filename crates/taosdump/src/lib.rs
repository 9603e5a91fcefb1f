//! tdibt beside taosdump: taosdump keeps dumping, tdibt says exactly what to dump.
//!
//! - [`blocks`]: the plan as `incremental_blocks.json` (what changed, per table and range).
//! - [`source`]: that plan from the change engine's checkpoint.
//! - [`script`]: `backup_script.sh` and `restore_script.sh` that run taosdump for it.
//! - [`verify`]: what taosdump wrote (its Avro files) against the plan.
//! - [`apply`]: the restore's drops and deletes, before `taosdump -i`.
//! - [`engine`]: `tdibt backup --engine taosdump` and the restore of what it stored.
#![forbid(unsafe_code)]

pub mod apply;
pub mod blocks;
pub mod engine;
pub mod error;
pub mod script;
pub mod source;
pub mod verify;

pub use blocks::BlocksDoc;
pub use error::{TaosdumpError, TaosdumpResult};
