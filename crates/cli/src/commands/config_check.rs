//! `tdibt config check FILE`: validate a configuration file.

use std::path::Path;

use serde_json::json;

use crate::cli::Cli;
use crate::exit::CliResult;
use crate::output;
use crate::settings;

pub fn run(cli: &Cli, file: &Path) -> CliResult {
    // The file is checked as it would be used: with this invocation's overrides on top.
    let config = settings::effective_config(Some(file), &cli.overrides)?;
    let warnings = config.warnings();
    if cli.json {
        return output::print_json(
            &json!({"valid": true, "file": file, "warnings": warnings, "config": config}),
        );
    }
    println!("{}: valid", file.display());
    for w in &warnings {
        println!("  warning        {w}");
    }
    let db = &config.database;
    println!(
        "  database       {}@{}:{} / {}",
        db.user,
        db.host,
        db.port,
        db.name.as_deref().unwrap_or("(not set)")
    );
    println!("  password       {}", db.password);
    let engine = &config.bitmap_engine;
    println!("  persistence    {}", engine.persistence_path.display());
    println!("  block span     {}", engine.block_span);
    println!("  memory limit   {} MiB", engine.memory_limit_mb);
    println!("  backups        {}", config.backup.output_path.display());
    Ok(())
}
