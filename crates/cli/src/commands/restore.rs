//! `tdibt restore`: a backup of the repository into a database.

use tdibt_backup::{run_restore, Pick, RestoreOptions};
use tdibt_tdengine::ConnectionSettings;

use crate::cli::{Cli, RestoreArgs};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::{self, Reporter};
use crate::{output, settings};

pub fn run(cli: &Cli, args: &RestoreArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let (config, pick) = super::repo::with_backup_arg(config, args.backup.as_deref())?;
    let pick = match &args.at {
        // clap keeps --at and --backup apart.
        None => pick,
        Some(date) => {
            let at = tdibt_backup::pick::parse_date(date).ok_or_else(|| {
                CliError::new(Exit::Usage, anyhow::anyhow!("--at: {date:?} is not a date"))
            })?;
            Pick::AtOrBefore(at)
        }
    };
    let repo = super::repo::open_at(&config)?;
    let manifest = super::repo::pick_manifest(&config, &repo, &pick, "to restore")?;
    let options = RestoreOptions {
        backup: manifest.id.clone(),
        target_db: args.target_db.clone(),
        jobs: args.jobs,
    };
    let settings = ConnectionSettings::from_config(&config.database);
    let reporter = Reporter::new(cli.quiet, cli.json);
    if manifest.engine == tdibt_repository::Engine::Taosdump {
        return through_taosdump(cli, args, &config, &repo, &options, &reporter);
    }
    let report = super::runtime()?.block_on(run_restore(&repo, &settings, &options, &reporter))?;
    if cli.json {
        output::print_json(&report)?;
    } else {
        println!(
            "restored backup {} ({} backup(s) in its chain) into {}: {} table(s), {} block(s), {} row(s), {} in {:.2} s",
            report.backup,
            report.chain.len(),
            report.target_db,
            report.tables,
            report.blocks,
            report.rows,
            progress::bytes(report.bytes),
            report.seconds
        );
        if !report.tables_not_in_backup.is_empty() {
            println!(
                "{} table(s) of {} are not in the backup and were left as they are",
                report.tables_not_in_backup.len(),
                report.target_db
            );
        }
        println!(
            "checked against the backup: {} window(s), {} row(s)",
            report.windows_checked, report.rows_checked
        );
        for d in &report.differences {
            match d.window {
                Some(w) => println!("DIFFERENCE {} window {w}: {}", d.table, d.what),
                None => println!("DIFFERENCE {}: {}", d.table, d.what),
            }
        }
    }
    if !report.is_ok() {
        return Err(CliError::new(
            Exit::Verification,
            anyhow::anyhow!(
                "the restored database differs from the backup in {} place(s) (listed above)",
                report.differences.len()
            ),
        ));
    }
    Ok(())
}

/// A chain `backup --engine taosdump` stored: restored through `taosdump -i`.
fn through_taosdump(
    cli: &Cli,
    args: &RestoreArgs,
    config: &tdibt_core::config::Config,
    repo: &tdibt_repository::Repository,
    options: &RestoreOptions,
    reporter: &Reporter,
) -> CliResult {
    let settings = ConnectionSettings::from_config(&config.database);
    let engine = args.taosdump.settings().engine(config, 1);
    let report = super::runtime()?
        .block_on(tdibt_taosdump::engine::restore(
            repo,
            &options.backup,
            &settings,
            &engine,
            options.target_db.as_deref(),
            reporter,
        ))
        .map_err(super::taosdump::td)?;
    if cli.json {
        return output::print_json(&report);
    }
    println!(
        "restored backup {} ({} backup(s) in its chain) into {} through taosdump: {} folder(s) imported, {} table(s) dropped, {} range(s) emptied first, {:.2} s",
        options.backup,
        report.chain.len(),
        report.database,
        report.folders_imported,
        report.dropped_tables,
        report.ranges_deleted,
        report.seconds
    );
    for c in &report.schema_changes_not_applied {
        eprintln!("warning: recorded schema change of {c} is not applied by taosdump's import; apply it by hand");
    }
    Ok(())
}
