//! The backup crate's integration tests, one test binary: each module is one area, against
//! the stand-in.
#![allow(clippy::unwrap_used)]

mod support;

mod chain;
mod damage_and_crashes;
mod defects;
mod fidelity;
