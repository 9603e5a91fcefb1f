//! `tdibt backup`: full or incremental into the repository at `backup.output_path`.

use tdibt_backup::{parse_pick, BackupOptions, Pick, StoreEngine, Tdibt};
use tdibt_repository::Engine;
use tdibt_taosdump::engine::TaosdumpStore;

use crate::cli::{BackupArgs, Cli, EngineArg};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::{self, Reporter};
use crate::{output, settings};

pub fn run(cli: &Cli, args: &BackupArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let since = match &args.since {
        None => Pick::Latest,
        Some(text) => parse_pick(text)
            .map_err(|e| CliError::new(Exit::Usage, anyhow::anyhow!("--since: {e}")))?,
    };
    // Without a checkpoint there is nothing to back up from; said before the folder's lock,
    // which needs the folder, and before a repository is created.
    let checkpoint =
        tdibt_core::checkpoint::checkpoint_path(&config.bitmap_engine.persistence_path);
    if !checkpoint.exists() {
        return Err(tdibt_core::CheckpointError::Missing(checkpoint).into());
    }
    let repo = super::repo::open_or_create(&config)?;
    let mut options = BackupOptions {
        full: args.full,
        since,
        jobs: args.jobs,
        ..BackupOptions::default()
    };
    let store: &dyn StoreEngine = match args.engine {
        EngineArg::Tdibt => &Tdibt,
        EngineArg::Taosdump => {
            options.engine = Engine::Taosdump;
            options.engine_settings = serde_json::to_value(args.taosdump.settings()).ok();
            &TaosdumpStore
        }
    };
    let reporter = Reporter::new(cli.quiet, cli.json);
    let report = super::runtime()?.block_on(tdibt_backup::backup_with(
        &config, &repo, &options, &reporter, store,
    ))?;
    if cli.json {
        return output::print_json(&report);
    }
    let reads = match args.engine {
        EngineArg::Tdibt => "read(s)",
        EngineArg::Taosdump => "taosdump call(s)",
    };
    println!(
        "backup {} ({:?}{}) of {}: {} {reads}, {} block(s), {} row(s), {} raw, {} stored, {} tombstone(s), {:.2} s{}",
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
