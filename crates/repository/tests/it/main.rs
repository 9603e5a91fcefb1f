//! The repository crate's integration tests, one test binary.
#![allow(clippy::unwrap_used)]

mod conformance;
mod repository;
