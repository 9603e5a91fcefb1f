//! `tdibt verify`: the repository's integrity, and optionally a live database against a
//! backup.

use tdibt_backup::{run_verify, Against, VerifyOptions};
use tdibt_tdengine::ConnectionSettings;

use crate::cli::{Cli, VerifyArgs};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::Reporter;
use crate::{output, settings};

pub fn run(cli: &Cli, args: &VerifyArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let (config, pick) = super::repo::with_backup_arg(config, args.backup.as_deref())?;
    let repo = super::repo::open_at(&config)?;
    let comparing = args.against || args.against_db.is_some();
    // A backup named without --against is still looked up, so that a wrong name is an
    // error rather than ignored; the repository check covers every backup either way.
    let manifest = if comparing || args.backup.is_some() {
        Some(super::repo::pick_manifest(
            &config,
            &repo,
            &pick,
            "to verify",
        )?)
    } else {
        None
    };
    let against = if let (true, Some(manifest)) = (comparing, &manifest) {
        Some(Against {
            settings: ConnectionSettings::from_config(&config.database),
            backup: manifest.id.clone(),
            database: args.against_db.clone(),
            jobs: args.jobs,
        })
    } else {
        None
    };
    let options = VerifyOptions {
        read_data: args.read_data,
        against,
    };
    let reporter = Reporter::new(cli.quiet, cli.json);
    let report = super::runtime()?.block_on(run_verify(&repo, &options, &reporter))?;
    if let Some(path) = &args.report {
        let bytes =
            serde_json::to_vec_pretty(&report).map_err(|e| CliError::new(Exit::Failure, e))?;
        tdibt_core::durable::write_atomic(path, &bytes).map_err(|e| {
            CliError::new(
                Exit::Failure,
                anyhow::anyhow!("cannot write the report {}: {e}", path.display()),
            )
        })?;
    }
    if cli.json {
        output::print_json(&report)?;
    } else {
        if let (false, Some(m)) = (comparing, &manifest) {
            println!("backup {} of {} is in the repository", m.id, m.database);
        }
        let r = &report.repository;
        println!(
            "repository: {} backup(s), {} block(s) listed, {} read back and re-hashed, {} problem(s)",
            r.backups,
            r.blocks_listed,
            r.blocks_read,
            r.problems.len()
        );
        for p in &r.problems {
            println!(
                "PROBLEM backup {} block {}: {}",
                p.backup
                    .as_ref()
                    .map(|b| b.to_string())
                    .unwrap_or("-".into()),
                p.block.as_deref().unwrap_or("-"),
                p.what
            );
        }
        if let Some(a) = &report.against {
            println!(
                "against {}: backup {}, {} table(s), {} window(s), {} row(s) compared, {} difference(s)",
                a.database,
                a.backup,
                a.tables,
                a.windows_compared,
                a.rows_compared,
                a.differences.len()
            );
            for d in &a.differences {
                println!(
                    "DIFFERENCE {}{} (backup {}): {}",
                    d.table,
                    d.window.map(|w| format!("@{w}")).unwrap_or_default(),
                    d.backup
                        .as_ref()
                        .map(|b| b.to_string())
                        .unwrap_or("-".into()),
                    d.what
                );
            }
        }
    }
    if !report.ok {
        return Err(CliError::new(
            Exit::Verification,
            anyhow::anyhow!("verification found problems"),
        ));
    }
    Ok(())
}
