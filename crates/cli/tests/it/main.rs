//! The `tdibt` binary's integration tests, one test binary: each module is one area, run
//! as a user runs `tdibt` (the taosdump end-to-end test is its own binary, without libtest,
//! because it also serves as the taosdump double).
#![allow(clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod backup_cli;
mod capture_crash;
mod cli;
mod demo;
mod monitor_live;
mod scenarios;
mod secrets;
mod taosdump_cli;
mod through_monitor;
