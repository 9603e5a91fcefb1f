//! One module per subcommand; each drives the library crates and prints.

pub mod config_check;
pub mod stats;
