//! The command line: global options, configuration overrides and subcommands.

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

/// tdibt: incremental backup for TDengine 3.x.
///
/// Exit codes: 0 success; 1 the operation failed; 2 bad command line; 3 invalid
/// configuration; 4 checkpoint missing, corrupt, unreadable or in use; 5 TDengine
/// unreachable, login refused, database missing or refusing; 6 repository missing, locked,
/// damaged, or without the backup asked for; 7 verification found problems (verify, or the
/// check at the end of a restore).
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
    /// backup.output_path: the repository (`--output` is the same flag)
    #[arg(
        long,
        visible_alias = "output",
        global = true,
        env = "TDIBT_OUTPUT_PATH",
        value_name = "DIR"
    )]
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
    #[command(visible_alias = "start-monitoring")]
    Monitor(MonitorArgs),
    /// Show the change engine's state from its checkpoint: blocks per state, tables,
    /// memory and checkpoint age, and capture's figures when a monitor has run.
    Stats,
    /// The backup repository (at backup.output_path).
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Take a backup: incremental on the newest backup by default (what changed since),
    /// full with --full or when the repository has none yet. Drains the change feed first;
    /// an interrupted backup is resumed by the next run. A missing or empty output folder
    /// becomes a new repository.
    #[command(visible_alias = "backup-incremental")]
    Backup(BackupArgs),
    /// Restore a backup (its whole chain, merged) into a database, then compare every window
    /// written with the backup (rows and values; exit 7 on a difference).
    Restore(RestoreArgs),
    /// Check the repository (manifests, chain links, packs; --read-data re-hashes every
    /// block), and with --against compare a backup with a live database window by window.
    #[command(visible_alias = "verify-backup")]
    Verify(VerifyArgs),
    /// List the backups in the repository.
    List,
    /// Show one backup's manifest.
    Show {
        /// The backup id (see `tdibt list`).
        id: String,
    },
    /// Write a synthetic full backup from a backup's chain (no data copied), so the older
    /// backups of the chain can be pruned.
    Merge(MergeArgs),
    /// Delete all but the newest backups (and everything their chains need), then the
    /// packs nothing refers to.
    Prune(PruneArgs),
    /// Run tdibt end to end on the built-in TDengine stand-in (no TDengine needed):
    /// workload, capture, full backup, changes, incremental backup, restore into a new
    /// database, verify, and a row-by-row comparison.
    #[cfg(feature = "demo")]
    Demo(crate::commands::demo::DemoArgs),
    /// Write the plan of what changed (per table: ranges to read, deleted ranges, drops,
    /// schema changes, the cut) as incremental_blocks.json, for taosdump and other tools.
    Blocks(crate::commands::taosdump::BlocksArgs),
    /// Write backup_script.sh (taosdump calls covering exactly what changed, then
    /// verify-taosdump) and restore_script.sh beside it.
    #[command(visible_alias = "generate-taosdump-script")]
    TaosdumpScript(crate::commands::taosdump::ScriptArgs),
    /// Check what backup_script.sh's taosdump calls wrote against the plan.
    VerifyTaosdump(crate::commands::taosdump::VerifyTaosdumpArgs),
    /// Before `taosdump -i` (restore_script.sh runs it): drop the dropped tables, delete
    /// the deleted ranges and empty every range about to be imported.
    TaosdumpApply(crate::commands::taosdump::ApplyArgs),
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create an empty repository at backup.output_path (an empty or missing folder).
    Init,
    /// Remove the repository's writer lock, left by a backup, merge or prune that was
    /// killed. Refused while its holder may be running (same host and its process alive, or
    /// another host) unless `--force`.
    Unlock {
        /// Remove it even though its holder may still be running.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// A full backup, whatever the repository holds.
    #[arg(long, conflicts_with = "since")]
    pub full: bool,
    /// Build on this backup instead of the newest: a backup id, or a date (`2026-11-24`,
    /// `2026-11-24T10:00:00Z`) meaning the newest backup finished at or before it.
    #[arg(long, value_name = "ID|DATE")]
    pub since: Option<String>,
    /// Range reads (or taosdump calls) running at once, each on its own connection.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64).map(|v| v as usize))]
    pub jobs: usize,
    /// What stores the rows: tdibt's own range reads, or taosdump (one call per group of
    /// tables sharing a changed range, its output checked as verify-taosdump does and
    /// stored in the repository; taosdump from $TAOSDUMP or PATH). A chain keeps one engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Tdibt)]
    pub engine: EngineArg,
    #[command(flatten)]
    pub taosdump: crate::commands::taosdump::TaosdumpArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    Tdibt,
    Taosdump,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// `latest` (the default), a backup id, a repository (its newest backup) or a backup's
    /// manifest file (`REPOSITORY/manifests/ID.json`).
    #[arg(long, value_name = "ID|latest|PATH", conflicts_with = "at")]
    pub backup: Option<String>,
    /// The newest backup finished at or before this date or time.
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// Restore into this database (created if missing) instead of the backed-up one.
    #[arg(long, value_name = "NAME")]
    pub target_db: Option<String>,
    /// Tables restored at once, each on its own connection.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64).map(|v| v as usize))]
    pub jobs: usize,
    /// How taosdump is called when the backup was stored by taosdump (`backup --engine
    /// taosdump`): its chain is restored through `taosdump -i`.
    #[command(flatten)]
    pub taosdump: crate::commands::taosdump::TaosdumpArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Read every block back and check its BLAKE3 hash.
    #[arg(long)]
    pub read_data: bool,
    /// Compare a backup (--backup, default the newest) with the configured database.
    #[arg(long)]
    pub against: bool,
    /// Compare with this database instead (implies --against), e.g. a restored copy.
    #[arg(long, value_name = "NAME")]
    pub against_db: Option<String>,
    /// The backup to compare: `latest` or an id; or a path: a repository (checked, its
    /// newest backup compared) or a backup's manifest file (`REPOSITORY/manifests/ID.json`).
    #[arg(long, value_name = "ID|latest|PATH")]
    pub backup: Option<String>,
    /// Also write the full report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Tables compared at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64).map(|v| v as usize))]
    pub jobs: usize,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The backup whose chain is merged: `latest` or an id.
    #[arg(long, default_value = "latest", value_name = "ID|latest")]
    pub backup: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// How many of the newest backups of each database to keep.
    #[arg(long, value_name = "N")]
    pub keep_last: usize,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Drain what is pending, checkpoint, commit and exit.
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics (text format) on this address, e.g. 127.0.0.1:9184.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Take a backup (incremental; a full when the repository has none of the database)
    /// this often when anything changed, none when nothing did: `15m`, `1h`, `1day`.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, conflicts_with = "once")]
    pub backup_every: Option<std::time::Duration>,
    /// Take a backup as soon as this many blocks changed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "once")]
    pub backup_after_blocks: Option<u64>,
    /// Range reads running at once in an automatic backup.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64).map(|v| v as usize))]
    pub jobs: usize,
}

/// A backup interval: a duration of at least one second.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("{text:?}: at least 1s"));
    }
    Ok(d)
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and show the effective settings (password hidden).
    Check {
        /// The file to check.
        file: PathBuf,
    },
}
