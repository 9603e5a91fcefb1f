//! `tdibt blocks`, `tdibt taosdump-script`, `tdibt verify-taosdump`, `tdibt taosdump-apply`:
//! tdibt beside taosdump (the work is in the tdibt-taosdump crate).

use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser;
use clap::Args;
use tdibt_core::config::Config;
use tdibt_taosdump::engine::TaosdumpSettings;
use tdibt_taosdump::script::{self, ScriptOptions};
use tdibt_taosdump::source;
use tdibt_taosdump::{BlocksDoc, TaosdumpError};
use tdibt_tdengine::{Connection, ConnectionSettings};

use crate::cli::Cli;
use crate::exit::{CliError, CliResult, Exit};
use crate::{output, settings};

#[derive(Debug, Args)]
pub struct BlocksArgs {
    /// Count changes from this backup (an id, or a date: the newest backup finished at or
    /// before it) instead of the change engine's last backup.
    #[arg(long, value_name = "ID|DATE")]
    pub since: Option<String>,
    /// Where the plan goes (`--output` is tdibt's global repository flag, hence `--to`).
    #[arg(
        long = "to",
        default_value = "incremental_blocks.json",
        value_name = "FILE"
    )]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScriptArgs {
    /// Count changes from this backup (id or date) instead of the engine's last backup.
    #[arg(long, value_name = "ID|DATE")]
    pub since: Option<String>,
    /// The backup script; restore_script.sh is written beside it (`--output` is tdibt's
    /// global repository flag, hence `--to`).
    #[arg(long = "to", default_value = "backup_script.sh", value_name = "FILE")]
    pub output: PathBuf,
    /// The folder the backup script dumps into when run without one.
    #[arg(long, default_value = "taosdump-incremental", value_name = "DIR")]
    pub dump_dir: String,
    #[command(flatten)]
    pub taosdump: TaosdumpArgs,
}

/// How taosdump is called, by the scripts and by `backup --engine taosdump`.
#[derive(Clone, Debug, Args)]
pub struct TaosdumpArgs {
    /// taosdump's -P (default: taosdump's own for its driver).
    #[arg(long, value_name = "PORT")]
    pub taosdump_port: Option<u16>,
    /// taosdump's -Z (e.g. WebSocket, Native).
    #[arg(long, value_name = "DRIVER")]
    pub taosdump_driver: Option<String>,
    /// taosdump's -c: its configuration folder.
    #[arg(long, value_name = "DIR")]
    pub taosdump_config_dir: Option<String>,
    /// taosdump's -T.
    #[arg(long, value_name = "N")]
    pub taosdump_threads: Option<u16>,
    /// taosdump's -d: null, deflate, snappy or lzma.
    #[arg(long, value_name = "CODEC", value_parser = ["null", "deflate", "snappy", "lzma"])]
    pub taosdump_codec: Option<String>,
    /// Bytes of table names one taosdump call may carry.
    #[arg(long, default_value_t = 128 * 1024, value_parser = clap::value_parser!(u32).range(1024..=1_048_576).map(|v| v as usize))]
    pub arg_budget: usize,
}

impl TaosdumpArgs {
    /// The options for `config`'s server (host and user from it).
    pub fn script_options(&self, config: &Config) -> ScriptOptions {
        self.settings().script_options(config)
    }

    /// How `backup --engine taosdump` calls taosdump (`$TAOSDUMP`, as in the scripts, or
    /// `taosdump` on `PATH`): what travels with the backup, to a running monitor too.
    pub fn settings(&self) -> TaosdumpSettings {
        TaosdumpSettings {
            program: std::env::var("TAOSDUMP").unwrap_or_else(|_| "taosdump".into()),
            port: self.taosdump_port,
            driver: self.taosdump_driver.clone(),
            config_dir: self.taosdump_config_dir.clone(),
            threads: self.taosdump_threads,
            codec: self.taosdump_codec.clone(),
            arg_budget: self.arg_budget,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyTaosdumpArgs {
    /// The folder backup_script.sh dumped into.
    pub dir: PathBuf,
    /// The plan the dump was made from.
    #[arg(long, value_name = "FILE")]
    pub blocks: PathBuf,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Compare each range's row count with the live database.
    #[arg(long)]
    pub against: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The folder backup_script.sh dumped into.
    pub dir: PathBuf,
    /// The plan the dump was made from.
    #[arg(long, value_name = "FILE")]
    pub blocks: PathBuf,
    /// Apply to this database instead of the plan's.
    #[arg(long, value_name = "NAME")]
    pub target_db: Option<String>,
}

pub fn td(e: TaosdumpError) -> CliError {
    CliError::new(e.class().into(), e)
}

fn write(path: &Path, bytes: &[u8]) -> CliResult {
    tdibt_core::durable::write_atomic(path, bytes).map_err(|e| {
        CliError::new(
            Exit::Failure,
            anyhow::anyhow!("cannot write {}: {e}", path.display()),
        )
    })
}

/// The plan now (see [`source::plan_now`]).
fn plan(cli: &Cli, since: Option<&str>) -> CliResult<BlocksDoc> {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let since = since
        .map(|s| {
            tdibt_backup::parse_pick(s)
                .map_err(|e| CliError::new(Exit::Usage, anyhow::anyhow!("--since: {e}")))
        })
        .transpose()?;
    super::runtime()?
        .block_on(source::plan_now(&config, since))
        .map_err(td)
}

pub fn blocks(cli: &Cli, args: &BlocksArgs) -> CliResult {
    let doc = plan(cli, args.since.as_deref())?;
    write(&args.output, &doc.to_json())?;
    if cli.json {
        return output::print_json(&doc.counts);
    }
    let c = &doc.counts;
    println!(
        "{}: {} table(s), {} range(s) ({} new, {} dirty block(s)), {} deleted range(s), {} dropped table(s), {} schema change(s) -> {}",
        doc.since.description,
        c.tables,
        c.ranges,
        c.new_blocks,
        c.dirty_blocks,
        c.deleted_ranges,
        c.dropped_tables,
        c.schema_changes,
        args.output.display()
    );
    Ok(())
}

pub fn taosdump_script(cli: &Cli, args: &ScriptArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let doc = plan(cli, args.since.as_deref())?;
    let options = ScriptOptions {
        default_dir: args.dump_dir.clone(),
        tdibt: std::env::current_exe()
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .unwrap_or_else(|| "tdibt".into()),
        ..args.taosdump.script_options(&config)
    };
    let written = script::write_scripts(&doc, &options, &args.output).map_err(td)?;
    if cli.json {
        return output::print_json(&serde_json::json!({
            "backup_script": written.backup,
            "restore_script": written.restore,
            "calls": written.calls,
            "counts": doc.counts,
        }));
    }
    println!(
        "{}: {} taosdump call(s) for {} range(s) of {} table(s) -> {} and {}",
        doc.since.description,
        written.calls,
        doc.counts.ranges,
        doc.counts.tables,
        written.backup.display(),
        written.restore.display()
    );
    Ok(())
}

pub fn verify_taosdump(cli: &Cli, args: &VerifyTaosdumpArgs) -> CliResult {
    let doc = BlocksDoc::read(&args.blocks).map_err(td)?;
    let mut report = tdibt_taosdump::verify::check_dump(&args.dir, &doc).map_err(td)?;
    if args.against {
        let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
        let settings = ConnectionSettings::from_config(&config.database);
        super::runtime()?.block_on(async {
            let conn = Connection::open(&settings).await?;
            tdibt_taosdump::verify::compare_live(&conn, &mut report)
                .await
                .map_err(td)
        })?;
    }
    if let Some(path) = &args.report {
        let bytes =
            serde_json::to_vec_pretty(&report).map_err(|e| CliError::new(Exit::Failure, e))?;
        write(path, &bytes)?;
    }
    if cli.json {
        output::print_json(&report)?;
    } else {
        println!(
            "{}: {} call(s), {} Avro file(s), {} row(s), {} range(s), {} empty, {} problem(s){}",
            args.dir.display(),
            report.calls,
            report.avro_files,
            report.rows,
            report.ranges.len(),
            report.empty_ranges.len(),
            report.problems.len(),
            if report.against {
                " (counts compared with the database)"
            } else {
                ""
            }
        );
        for e in &report.empty_ranges {
            println!("EMPTY {e}");
        }
        for p in &report.problems {
            println!("PROBLEM {p}");
        }
    }
    if !report.ok {
        return Err(CliError::new(
            Exit::Verification,
            anyhow::anyhow!("verify-taosdump found {} problem(s)", report.problems.len()),
        ));
    }
    Ok(())
}

pub fn taosdump_apply(cli: &Cli, args: &ApplyArgs) -> CliResult {
    let doc = BlocksDoc::read(&args.blocks).map_err(td)?;
    if !args.dir.is_dir() {
        return Err(CliError::new(
            Exit::Failure,
            anyhow::anyhow!(
                "{} is not a folder written by backup_script.sh",
                args.dir.display()
            ),
        ));
    }
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let settings = ConnectionSettings::from_config(&config.database);
    let report = super::runtime()?.block_on(async {
        let conn = Connection::open(&settings).await?;
        tdibt_taosdump::apply::apply(&conn, &doc, args.target_db.as_deref())
            .await
            .map_err(td)
    })?;
    if cli.json {
        return output::print_json(&report);
    }
    println!(
        "{}: {} table(s) dropped, {} range(s) emptied, {} table(s) not there yet",
        report.database, report.dropped_tables, report.ranges_deleted, report.tables_absent
    );
    for c in &report.schema_changes_not_applied {
        eprintln!("warning: recorded schema change of {c} is not applied by taosdump's import; apply it by hand");
    }
    Ok(())
}
