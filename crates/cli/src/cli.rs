//! The command line: global options, configuration overrides and subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// tdibt: incremental backup for TDengine 3.x.
///
/// Exit codes: 0 success; 1 the operation failed; 2 bad command line; 3 invalid
/// configuration; 4 checkpoint missing, corrupt or unreadable; 5 TDengine unreachable,
/// login refused, database missing or refusing.
#[derive(Debug, Parser)]
#[command(name = "tdibt", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (JSON).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "TDIBT_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// More log output (-v debug, -vv trace). Logs go to stderr.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub overrides: Overrides,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags and environment variables that override the configuration file.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Configuration overrides (flag > environment > file > default)")]
pub struct Overrides {
    /// database.host
    #[arg(long, global = true, env = "TDIBT_HOST", value_name = "HOST")]
    pub host: Option<String>,
    /// database.port (taosAdapter's WebSocket port)
    #[arg(long, global = true, env = "TDIBT_PORT", value_name = "PORT")]
    pub port: Option<u16>,
    /// database.name
    #[arg(long, global = true, env = "TDIBT_DATABASE", value_name = "NAME")]
    pub database: Option<String>,
    /// database.user
    #[arg(long, global = true, env = "TDIBT_USER", value_name = "USER")]
    pub user: Option<String>,
    /// bitmap_engine.persistence_path
    #[arg(
        long,
        global = true,
        env = "TDIBT_PERSISTENCE_PATH",
        value_name = "DIR"
    )]
    pub persistence_path: Option<PathBuf>,
    /// bitmap_engine.memory_limit_mb
    #[arg(long, global = true, env = "TDIBT_MEMORY_LIMIT_MB", value_name = "MB")]
    pub memory_limit_mb: Option<u64>,
    /// bitmap_engine.block_span (e.g. 1h, 30m, 1d)
    #[arg(long, global = true, env = "TDIBT_BLOCK_SPAN", value_name = "SPAN")]
    pub block_span: Option<String>,
    /// backup.output_path
    #[arg(long, global = true, env = "TDIBT_OUTPUT_PATH", value_name = "DIR")]
    pub output_path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Connect, check the database, create the change-feed topic, read the catalog and
    /// write the first checkpoint. Safe to run again.
    Init,
    /// Capture changes into the engine, checkpointing and committing as it goes; stops on
    /// SIGINT/SIGTERM after a last checkpoint.
    Monitor(MonitorArgs),
    /// Show the change engine's state from its checkpoint: blocks per state, tables,
    /// memory and checkpoint age, and capture's figures when a monitor has run.
    Stats,
    /// Run the capture path end to end on the built-in TDengine stand-in (no TDengine
    /// needed): workload, init, monitor, and a check that every changed block is marked.
    Demo(crate::commands::demo::DemoArgs),
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Drain what is pending, checkpoint, commit and exit.
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics (text format) on this address, e.g. 127.0.0.1:9184.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and show the effective settings (password hidden).
    Check {
        /// The file to check.
        file: PathBuf,
    },
}
