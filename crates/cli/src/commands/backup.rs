//! `tdibt backup`: full or incremental into the repository at `backup.output_path`.

use tdibt_backup::{parse_pick, pick_backup, run_backup, BackupError, BackupOptions, Pick};
use tdibt_core::config::Config;
use tdibt_core::OwnerLock;
use tdibt_repository::Repository;
use tracing::info;

use crate::cli::{BackupArgs, Cli};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::progress::{self, Reporter};
use crate::{output, settings};

pub fn run(cli: &Cli, args: &BackupArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let since = match &args.since {
        None => Pick::Latest,
        Some(text) => parse_pick(text)
            .map_err(|e| CliError::new(ExitCode::Usage, anyhow::anyhow!("--since: {e}")))?,
    };
    // Without a checkpoint there is nothing to back up from; said before the folder's lock,
    // which needs the folder, and before a repository is created.
    let checkpoint =
        tdibt_core::checkpoint::checkpoint_path(&config.bitmap_engine.persistence_path);
    if !checkpoint.exists() {
        return Err(tdibt_core::CheckpointError::Missing(checkpoint).into());
    }
    // The change engine's folder: one monitor or backup at a time.
    let _owner = OwnerLock::acquire(&config.bitmap_engine.persistence_path, "backup")
        .map_err(|e| CliError::new(ExitCode::Checkpoint, e))?;
    let repo = super::repo::open_or_create(&config)?;
    let (full, since) = full_when_nothing_is_older(&config, &repo, args, since)?;
    let options = BackupOptions {
        full,
        since,
        jobs: args.jobs,
        ..BackupOptions::default()
    };
    let reporter = Reporter::new(cli.quiet, cli.json);
    let report = super::runtime()?.block_on(run_backup(&config, &repo, &options, &reporter))?;
    if cli.json {
        return output::print_json(&report);
    }
    println!(
        "backup {} ({:?}{}) of {}: {} read(s), {} block(s), {} row(s), {} raw, {} stored, {} tombstone(s), {:.2} s{}",
        report.backup,
        report.kind,
        report
            .parent
            .as_ref()
            .map(|p| format!(" on {p}"))
            .unwrap_or_default(),
        config.database_name()?,
        report.reads,
        report.stats.blocks,
        report.stats.rows,
        progress::bytes(report.stats.raw_bytes),
        progress::bytes(report.stats.stored_bytes),
        report.tombstones,
        report.seconds,
        if report.resumed {
            format!(" (resumed; {} read(s) already stored)", report.reads_skipped)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `--since DATE` builds on the newest backup finished by then. When the repository holds
/// backups of the database but none that old (the specification's daily
/// `--since 2024-01-01`, run again after its first backup), every change since the date is
/// only in a full backup: take one (logged) instead of refusing, so the command can be
/// repeated as written. Unchanged blocks deduplicate against the packs already stored.
fn full_when_nothing_is_older(
    config: &Config,
    repo: &Repository,
    args: &BackupArgs,
    since: Pick,
) -> CliResult<(bool, Pick)> {
    let (Pick::AtOrBefore(_), Some(date)) = (&since, &args.since) else {
        return Ok((args.full, since));
    };
    let db = config.database_name()?;
    match pick_backup(repo, Some(db), &since) {
        Err(BackupError::Refused(_)) => {
            info!(
                "no backup of {db} in {} finished at or before {date}: taking a full backup, which holds every change since then",
                repo.describe(),
            );
            Ok((true, Pick::Latest))
        }
        _ => Ok((args.full, since)),
    }
}
