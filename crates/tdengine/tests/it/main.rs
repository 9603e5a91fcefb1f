//! The TDengine access crate's integration tests, one test binary, against the stand-in
//! through the official connector.
#![allow(clippy::unwrap_used)]

mod support;

mod export;
mod feed;
