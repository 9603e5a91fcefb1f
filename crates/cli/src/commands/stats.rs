//! `tdibt stats`: the engine's state from the checkpoint in the persistence folder, and
//! capture's figures when a monitor has written them.

use serde::Serialize;
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::engine::EngineCounters;
use tdibt_core::StateCounts;

use crate::cli::Cli;
use crate::exit::{CliError, CliResult, Exit};
use crate::output;
use crate::settings;

#[derive(Serialize)]
struct Stats {
    checkpoint: String,
    written_at_unix_ms: i64,
    checkpoint_age_seconds: f64,
    blocks: StateCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen_backup: Option<StateCounts>,
    tables: usize,
    live_tables: usize,
    databases: Vec<String>,
    heap_bytes: u64,
    memory_limit_bytes: u64,
    engine: EngineCounters,
    cut: tdibt_core::Cut,
    /// What the last monitor run reported (capture-stats.json), if any ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<tdibt_capture::stats::CaptureStats>,
}

pub fn run(cli: &Cli) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let path = checkpoint_path(&config.bitmap_engine.persistence_path);
    let checkpoint = Checkpoint::load(&path).map_err(|e| CliError::new(Exit::Checkpoint, e))?;
    let now_ms = tdibt_core::clock::now_unix_ms();
    let engine = &checkpoint.engine;
    let stats = Stats {
        checkpoint: path.display().to_string(),
        written_at_unix_ms: checkpoint.written_at_unix_ms,
        checkpoint_age_seconds: (now_ms - checkpoint.written_at_unix_ms).max(0) as f64 / 1000.0,
        blocks: engine.counts(),
        frozen_backup: engine.frozen_counts(),
        tables: checkpoint.catalog.len(),
        live_tables: checkpoint.catalog.live_tables(),
        databases: checkpoint
            .catalog
            .databases()
            .map(|d| d.name.clone())
            .collect(),
        heap_bytes: engine.heap_bytes(),
        memory_limit_bytes: config.memory_limit_bytes(),
        engine: engine.counters(),
        cut: checkpoint.cut.clone(),
        capture: read_capture_stats(&config.bitmap_engine.persistence_path),
    };
    if cli.json {
        return output::print_json(&stats);
    }
    print_human(&stats);
    Ok(())
}

/// The monitor's figures; a missing or unreadable file just means no monitor ran yet.
fn read_capture_stats(dir: &std::path::Path) -> Option<tdibt_capture::stats::CaptureStats> {
    let bytes = std::fs::read(dir.join(tdibt_capture::STATS_FILE)).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("ignoring unreadable {}: {e}", tdibt_capture::STATS_FILE);
            None
        }
    }
}

fn print_human(s: &Stats) {
    println!(
        "checkpoint      {} ({:.1} s old)",
        s.checkpoint, s.checkpoint_age_seconds
    );
    println!("databases       {}", s.databases.join(", "));
    println!(
        "tables          {} live, {} ever seen",
        s.live_tables, s.tables
    );
    let b = &s.blocks;
    println!(
        "blocks          NEW {}  DIRTY {}  DELETED {}  (tables with changes: {})",
        b.new, b.dirty, b.deleted, b.tables_with_changes
    );
    println!(
        "backup chain    {} blocks, {} unchanged since",
        b.present, b.present_clean
    );
    if let Some(f) = &s.frozen_backup {
        println!(
            "backup running  frozen NEW {}  DIRTY {}  DELETED {}",
            f.new, f.dirty, f.deleted
        );
    }
    println!(
        "memory          {} bytes of {} allowed; {} table(s) coarsened to stay under it",
        s.heap_bytes, s.memory_limit_bytes, s.engine.coarsened_tables
    );
    println!("events applied  {}", s.engine.events_applied);
    if !s.cut.vgroups.is_empty() {
        let offsets: Vec<String> = s
            .cut
            .vgroups
            .iter()
            .map(|(vg, off)| format!("vg{vg}={off}"))
            .collect();
        println!("cut             {}", offsets.join(" "));
    }
    if let Some(c) = &s.capture {
        println!(
            "capture         {} events ({:.0}/s), {} block marks ({:.0}/s), {} rows; {} checkpoints, {} resyncs, {} reconnects",
            c.events, c.events_per_second, c.blocks_marked, c.blocks_marked_per_second, c.rows,
            c.checkpoints, c.resyncs, c.reconnects
        );
        println!(
            "latency         p50 {:.0} us, p99 {:.0} us, max {:.0} us (message arrival to marks)",
            c.latency.p50_us, c.latency.p99_us, c.latency.max_us
        );
        for v in &c.vgroups {
            let wal = match &v.wal {
                Some(w) => format!(
                    "; WAL +{} bytes, {} file events, lastVer {}",
                    w.bytes_written,
                    w.events,
                    w.last_version
                        .map_or_else(|| "?".to_string(), |x| x.to_string())
                ),
                None => String::new(),
            };
            println!(
                "vgroup {:<8} position {} committed {} end {} lag {}{wal}",
                v.vgroup_id, v.position, v.committed, v.end, v.lag
            );
        }
    }
}
