//! `tdibt merge` and `tdibt prune`.

use tdibt_backup::maintain::{merge, prune};
use tdibt_backup::{parse_pick, pick_backup};

use crate::cli::{Cli, MergeArgs, PruneArgs};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::{output, settings};

pub fn run_merge(cli: &Cli, args: &MergeArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let repo = super::repo::open(cli)?;
    let pick = parse_pick(&args.backup)
        .map_err(|e| CliError::new(ExitCode::Usage, anyhow::anyhow!("--backup: {e}")))?;
    let manifest =
        pick_backup(&repo, config.database.name.as_deref(), &pick)?.ok_or_else(|| {
            CliError::new(
                ExitCode::Repository,
                anyhow::anyhow!("there is no backup to merge in {}", repo.describe()),
            )
        })?;
    let report = merge(&repo, &manifest.id)?;
    if cli.json {
        return output::print_json(&report);
    }
    println!(
        "merged the chain of {} ({} backups) into synthetic full backup {}: {} block(s), {} row(s), nothing copied",
        report.merged_from,
        report.chain.len(),
        report.backup,
        report.blocks,
        report.rows
    );
    Ok(())
}

pub fn run_prune(cli: &Cli, args: &PruneArgs) -> CliResult {
    let repo = super::repo::open(cli)?;
    let report = prune(&repo, args.keep_last, args.dry_run)?;
    if cli.json {
        return output::print_json(&report);
    }
    for id in &report.deleted {
        println!(
            "{} {id}",
            if report.dry_run {
                "would delete"
            } else {
                "deleted"
            }
        );
    }
    println!(
        "kept {} backup(s), {} {} backup(s) and {} pack(s)",
        report.kept.len(),
        if report.dry_run {
            "would delete"
        } else {
            "deleted"
        },
        report.deleted.len(),
        report.packs_deleted
    );
    Ok(())
}
