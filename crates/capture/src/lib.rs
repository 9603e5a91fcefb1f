//! tdibt's event interceptor: subscribes to a TDengine database's changes and keeps the
//! bitmap engine in step with them, durably (checkpoint first, then commit offsets).
#![forbid(unsafe_code)]

pub mod stats;
