//! `tdibt merge` and `tdibt prune`.

use tdibt_backup::maintain::{merge, prune};

use crate::cli::{Cli, MergeArgs, PruneArgs};
use crate::exit::CliResult;
use crate::{output, settings};

pub fn run_merge(cli: &Cli, args: &MergeArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let repo = super::repo::open(cli)?;
    let manifest = super::repo::pick(&config, &repo, Some(&args.backup), "to merge")?;
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
