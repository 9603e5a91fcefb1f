//! `tdibt init`.

use crate::cli::Cli;
use crate::exit::CliResult;
use crate::{output, settings};

pub fn run(cli: &Cli) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let report = super::runtime()?.block_on(tdibt_capture::init(&config))?;
    if cli.json {
        return output::print_json(&report);
    }
    println!(
        "{} {} (TDengine {}): precision {}, {} vgroup(s), {} super table(s), {} table(s)",
        if report.created {
            "initialised"
        } else {
            "updated"
        },
        report.database,
        report.server_version,
        report.precision,
        report.vgroups.len(),
        report.super_tables,
        report.tables
    );
    println!("topic        {}", report.topic);
    println!("checkpoint   {}", report.checkpoint.display());
    Ok(())
}
