//! `tdibt demo`: tdibt end to end on a machine with no TDengine. Starts the TDengine
//! stand-in (test equipment) in-process, writes a realistic workload (many tables, late rows,
//! upserts, deletes, a drop), runs `init` and `monitor --once` and checks that the engine
//! holds exactly the blocks the workload changed; then a full backup, more changes, an
//! incremental backup, a restore into a new database, a verify, and a row-by-row
//! comparison of the restored database with the source.

use std::collections::BTreeSet;
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use taos_standin::StandinServer;
use tdibt_capture::{init, run_monitor, MonitorOptions};
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::config::Config;
use tdibt_core::{BlockSpan, ChangeKind, Precision, TsRange};
use tdibt_tdengine::{Connection, ConnectionSettings};
use tokio::sync::watch;

use tdibt_backup::{
    run_backup, run_restore, run_verify, serve_monitor, Against, BackupOptions, NoProgress,
    RestoreOptions, ServeOptions, VerifyOptions,
};
use tdibt_repository::{LocalStore, Repository};

use crate::cli::Cli;
use crate::exit::{CliError, CliResult, Exit};
use crate::output;
use crate::progress::bytes;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Tables to write to.
    #[arg(long, default_value_t = 1000)]
    pub tables: u32,
    /// Rows to write.
    #[arg(long, default_value_t = 200_000)]
    pub rows: u64,
    /// Folder for the demo's checkpoint (default: a temporary folder, removed after).
    #[arg(long)]
    pub workdir: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
struct Step {
    step: &'static str,
    seconds: f64,
    detail: String,
}

#[derive(Serialize)]
struct DemoReport {
    steps: Vec<Step>,
    rows_written: u64,
    blocks_changed_by_workload: usize,
    blocks_marked_by_tdibt: usize,
    exact: bool,
    full_backup: BackupFigures,
    incremental_backup: BackupFigures,
    /// Incremental over full, in stored bytes and in seconds.
    incremental_to_full_bytes: f64,
    incremental_to_full_seconds: f64,
    restore_rows_per_second: f64,
    verify_ok: bool,
    tables_compared: usize,
    restored_equals_source: bool,
    new: u64,
    deleted: u64,
    rows_per_second_captured: f64,
    detection_latency_p99_us: f64,
}

#[derive(Serialize)]
struct BackupFigures {
    id: String,
    seconds: f64,
    blocks: u64,
    rows: u64,
    raw_bytes: u64,
    stored_bytes: u64,
}

impl BackupFigures {
    fn of(r: &tdibt_backup::BackupReport) -> Self {
        BackupFigures {
            id: r.backup.to_string(),
            seconds: r.seconds,
            blocks: r.stats.blocks,
            rows: r.stats.rows,
            raw_bytes: r.stats.raw_bytes,
            stored_bytes: r.stats.stored_bytes,
        }
    }
}

const HOUR_MS: i64 = 3_600_000;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

pub fn run(cli: &Cli, args: &DemoArgs) -> CliResult {
    let fail = |e: &dyn std::fmt::Display| CliError::new(Exit::Failure, anyhow::anyhow!("{e}"));
    let temp = tempfile::tempdir().map_err(|e| fail(&e))?;
    let dir = args
        .workdir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let report = super::runtime()?.block_on(async {
        let mut steps = Vec::new();
        let t = Instant::now();
        let standin = StandinServer::builder().start().await.map_err(|e| fail(&e))?;
        steps.push(Step { step: "start TDengine stand-in", seconds: t.elapsed().as_secs_f64(), detail: standin.addr().to_string() });

        let mut config = Config::default();
        config.database.host = "127.0.0.1".into();
        config.database.port = standin.addr().port();
        config.database.name = Some("demo".into());
        config.bitmap_engine.persistence_path = dir.clone();
        crate::logging::hide(config.database.password.expose());
        let conn = Connection::open(&ConnectionSettings::from_config(&config.database)).await?;
        for sql in [
            "CREATE DATABASE demo VGROUPS 4 WAL_RETENTION_PERIOD 86400",
            "CREATE STABLE demo.meters (ts TIMESTAMP, current FLOAT, voltage INT, phase FLOAT) TAGS (groupid INT, location BINARY(24))",
        ] {
            conn.exec(sql).await?;
        }
        let t = Instant::now();
        let r = init(&config).await?;
        steps.push(Step { step: "tdibt init", seconds: t.elapsed().as_secs_f64(), detail: format!("topic {}, {} vgroups", r.topic, r.vgroups.len()) });

        // The workload, and the blocks it changes, computed independently of tdibt.
        let t = Instant::now();
        let span = BlockSpan::one_hour(Precision::Millis);
        let now = 1_767_225_600_000i64; // 2026-01-01T00:00Z
        let mut rng = Rng(0x7D1B_7D1B_7D1B_7D1B);
        let mut changed: BTreeSet<(String, i32)> = BTreeSet::new();
        let mut written = 0u64;
        while written < args.rows {
            let table = format!("d{}", rng.below(u64::from(args.tables)));
            let mut sql = format!("INSERT INTO demo.{table} USING demo.meters TAGS ({}, 'site{}') VALUES", rng.below(10), rng.below(50));
            for _ in 0..100 {
                // Mostly the last hours; some late by days; a few a year late; upserts of
                // earlier timestamps come for free from the narrow time grid.
                let back = match rng.below(100) {
                    0 => rng.below(8_760) as i64 * HOUR_MS,
                    1..=9 => rng.below(72) as i64 * HOUR_MS,
                    _ => rng.below(4) as i64 * HOUR_MS,
                };
                let ts = now - back - (rng.below(3_600) as i64) * 1000;
                sql.push_str(&format!(" ({ts}, {}.5, {}, 0.{})", rng.below(20), 200 + rng.below(40), rng.below(99)));
                changed.insert((table.clone(), span.window_of(ts).0));
                written += 1;
            }
            conn.exec(&sql).await?;
        }
        // Deletes: whole hours of some tables (their blocks leave the change set, since
        // nothing was backed up yet) and a dropped table.
        let tables: Vec<String> = changed.iter().map(|(t, _)| t.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        for i in 0..10u32 {
            let Some(table) = tables.get(i as usize * 7 % tables.len().max(1)).cloned() else { break };
            let lo = now - (i64::from(i) + 1) * HOUR_MS;
            let range = TsRange::new(lo, lo + HOUR_MS - 1);
            conn.exec(&format!("DELETE FROM demo.{table} WHERE ts >= {} AND ts <= {}", range.start, range.end)).await?;
            changed.remove(&(table, span.window_of(lo).0));
        }
        if let Some(dropped) = tables.last() {
            conn.exec(&format!("DROP TABLE demo.{dropped}")).await?;
            changed.retain(|(t, _)| t != dropped);
        }
        steps.push(Step { step: "write workload", seconds: t.elapsed().as_secs_f64(), detail: format!("{written} rows over {} tables, 10 deletes, 1 drop", args.tables) });

        let t = Instant::now();
        let (_stop, stop_rx) = watch::channel(false);
        let monitor = run_monitor(&config, MonitorOptions { once: true, ..MonitorOptions::default() }, stop_rx).await?;
        let seconds = t.elapsed().as_secs_f64();
        steps.push(Step { step: "tdibt monitor --once", seconds, detail: format!("{} messages, {} block marks", monitor.stats.messages, monitor.stats.blocks_marked) });

        let cp = Checkpoint::load(&checkpoint_path(&dir))?;
        let mut marked: BTreeSet<(String, i32)> = BTreeSet::new();
        for b in cp.engine.blocks(ChangeKind::New).chain(cp.engine.blocks(ChangeKind::Dirty)) {
            if let Some(t) = cp.catalog.table(b.table()) {
                marked.insert((t.name.clone(), b.window().0));
            }
        }
        let counts = cp.engine.counts();

        // Backups: full, a day's worth of typical changes, incremental.
        config.backup.output_path = dir.join("repository");
        let repo = Repository::init(Box::new(LocalStore::new(&config.backup.output_path)), tdibt_core::clock::now_unix_ms())?;
        let options = BackupOptions::default();
        let full = run_backup(&config, &repo, &BackupOptions { full: true, ..options.clone() }, &NoProgress).await?;
        steps.push(Step { step: "tdibt backup --full", seconds: full.seconds, detail: format!("{} blocks, {} rows, {} stored", full.stats.blocks, full.stats.rows, bytes(full.stats.stored_bytes)) });

        // A monitor runs from here on, as in production: it captures the next changes as
        // they are written, and the incremental backup is asked of it (no drain).
        let (stop_monitor, monitor_stop) = watch::channel(false);
        let serving = tokio::spawn({
            let config = config.clone();
            async move { serve_monitor(&config, ServeOptions { jobs: 4, ..ServeOptions::default() }, monitor_stop).await }
        });
        wait_for_socket(&config.bitmap_engine.persistence_path).await?;
        let t = Instant::now();
        let changes = more_changes(&conn, &mut rng, args.tables, now).await?;
        steps.push(Step { step: "write more changes (monitor running)", seconds: t.elapsed().as_secs_f64(), detail: changes });
        // A monitor in production has long been running when a backup is asked for: wait
        // until this one has captured the changes, so the backup's time is the backup's.
        let t = Instant::now();
        wait_for_capture(&checkpoint_path(&dir)).await?;
        steps.push(Step { step: "monitor captures them", seconds: t.elapsed().as_secs_f64(), detail: "seen in its checkpoint".into() });
        let incremental = tdibt_backup::backup(&config, &repo, &options, &NoProgress).await?;
        steps.push(Step { step: "tdibt backup (asked of the running monitor)", seconds: incremental.seconds, detail: format!("incremental: {} blocks, {} rows, {} stored, {} tombstones", incremental.stats.blocks, incremental.stats.rows, bytes(incremental.stats.stored_bytes), incremental.tombstones) });
        let _ = stop_monitor.send(true);
        serving.await.map_err(|e| CliError::new(Exit::Failure, anyhow::anyhow!("monitor task: {e}")))??;

        let restore = run_restore(
            &repo,
            &ConnectionSettings::from_config(&config.database),
            &RestoreOptions { backup: incremental.backup.clone(), target_db: Some("demo_restored".into()), jobs: 4 },
            &NoProgress,
        )
        .await?;
        steps.push(Step { step: "tdibt restore", seconds: restore.seconds, detail: format!("backup {} ({} in chain) into demo_restored: {} tables, {} rows", restore.backup, restore.chain.len(), restore.tables, restore.rows) });

        let verify = run_verify(
            &repo,
            &VerifyOptions {
                read_data: true,
                against: Some(Against { settings: ConnectionSettings::from_config(&config.database), backup: incremental.backup.clone(), database: Some("demo_restored".into()), jobs: 4 }),
            },
            &NoProgress,
        )
        .await?;
        let compared = verify.against.as_ref().map(|a| a.windows_compared).unwrap_or(0);
        steps.push(Step { step: "tdibt verify --read-data --against", seconds: verify.seconds, detail: format!("{} blocks re-hashed, {compared} windows compared, {}", verify.repository.blocks_read, if verify.ok { "no problem" } else { "PROBLEMS" }) });

        let t = Instant::now();
        let (tables_compared, equal) = same_rows(&conn, "demo", "demo_restored").await?;
        steps.push(Step { step: "compare row by row", seconds: t.elapsed().as_secs_f64(), detail: format!("{tables_compared} tables: {}", if equal { "restored database equals the source" } else { "DIFFERENT" }) });
        standin.shutdown().await;
        Ok::<_, CliError>(DemoReport {
            steps,
            rows_written: written,
            blocks_changed_by_workload: changed.len(),
            blocks_marked_by_tdibt: marked.len(),
            exact: marked == changed,
            incremental_to_full_bytes: incremental.stats.stored_bytes as f64 / full.stats.stored_bytes.max(1) as f64,
            incremental_to_full_seconds: incremental.seconds / full.seconds.max(1e-9),
            full_backup: BackupFigures::of(&full),
            incremental_backup: BackupFigures::of(&incremental),
            restore_rows_per_second: restore.rows as f64 / restore.seconds.max(1e-9),
            verify_ok: verify.ok && restore.is_ok(),
            tables_compared,
            restored_equals_source: equal,
            new: counts.new,
            deleted: counts.deleted,
            rows_per_second_captured: monitor.stats.rows as f64 / seconds.max(1e-9),
            detection_latency_p99_us: monitor.stats.latency.p99_us,
        })
    })?;
    if cli.json {
        output::print_json(&report)?;
    } else {
        for s in &report.steps {
            println!("{:<36} {:>8.2} s  {}", s.step, s.seconds, s.detail);
        }
        println!(
            "blocks changed by the workload: {}; marked by tdibt: {} ({})",
            report.blocks_changed_by_workload,
            report.blocks_marked_by_tdibt,
            if report.exact {
                "exact match"
            } else {
                "MISMATCH"
            }
        );
        println!(
            "capture: {:.0} rows/s, detection latency p99 {:.0} us",
            report.rows_per_second_captured, report.detection_latency_p99_us
        );
        println!(
            "incremental (through the running monitor) vs full: {:.1}% of the bytes, {:.1}% of the time ({:.0}x faster); restore {:.0} rows/s",
            report.incremental_to_full_bytes * 100.0,
            report.incremental_to_full_seconds * 100.0,
            1.0 / report.incremental_to_full_seconds.max(1e-9),
            report.restore_rows_per_second
        );
    }
    if !report.exact {
        return Err(CliError::new(
            Exit::Failure,
            anyhow::anyhow!("the engine's marks differ from the workload's changed blocks"),
        ));
    }
    if !report.verify_ok || !report.restored_equals_source {
        return Err(CliError::new(
            Exit::Verification,
            anyhow::anyhow!("the restored database does not equal the source"),
        ));
    }
    Ok(())
}

/// A day of typical changes after the full backup: 1% of the tables get late rows into old
/// windows and upserts, one range is deleted, one table is created and one dropped.
/// Waits until the in-process monitor serves backups.
async fn wait_for_socket(dir: &std::path::Path) -> CliResult<()> {
    let socket = tdibt_backup::live::socket_path(dir);
    let started = Instant::now();
    while !socket.exists() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            return Err(CliError::new(
                Exit::Failure,
                anyhow::anyhow!("the monitor did not start serving on {}", socket.display()),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Waits until the checkpoint at `path` holds changes not yet backed up: the monitor has
/// captured what was written since the full backup's fold.
async fn wait_for_capture(path: &std::path::Path) -> CliResult<()> {
    let started = Instant::now();
    loop {
        if let Ok(cp) = Checkpoint::load(path) {
            let c = cp.engine.counts();
            if c.new + c.dirty + c.deleted > 0 {
                return Ok(());
            }
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            return Err(CliError::new(
                Exit::Failure,
                anyhow::anyhow!("the monitor captured nothing within 60 s"),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn more_changes(
    conn: &Connection,
    rng: &mut Rng,
    tables: u32,
    now: i64,
) -> CliResult<String> {
    let touched = (tables / 100).max(1);
    let mut rows = 0;
    let mut names = Vec::new();
    for i in 0..touched {
        let table = format!(
            "d{}",
            (u64::from(i) * 97 + rng.below(7)) % u64::from(tables)
        );
        names.push(table.clone());
        let mut sql = format!("INSERT INTO demo.{table} USING demo.meters TAGS (1, 'late') VALUES");
        for _ in 0..20 {
            let ts = now - (1 + rng.below(48) as i64) * HOUR_MS - (rng.below(60) as i64) * 60_000;
            sql.push_str(&format!(
                " ({ts}, {}.25, {}, 0.5)",
                rng.below(20),
                210 + rng.below(20)
            ));
            rows += 1;
        }
        conn.exec(&sql).await?;
    }
    let first = &names[0];
    conn.exec(&format!(
        "DELETE FROM demo.{first} WHERE ts >= {} AND ts <= {}",
        now - 30 * HOUR_MS,
        now - 29 * HOUR_MS
    ))
    .await?;
    conn.exec(&format!(
        "INSERT INTO demo.fresh USING demo.meters TAGS (99, 'new') VALUES ({now}, 1.0, 220, 0.1)"
    ))
    .await?;
    if let Some(last) = names.last().filter(|t| *t != first) {
        conn.exec(&format!("DROP TABLE demo.{last}")).await?;
    }
    Ok(format!(
        "{rows} late rows and upserts in {touched} tables, 1 delete, 1 new table, 1 drop"
    ))
}

/// Whether every table of `a` has the same rows in `b`, and no more tables.
async fn same_rows(conn: &Connection, a: &str, b: &str) -> CliResult<(usize, bool)> {
    let names = |db: &str| {
        format!("SELECT table_name FROM information_schema.ins_tables WHERE db_name = '{db}'")
    };
    let mut left: Vec<String> = Vec::new();
    let mut right: Vec<String> = Vec::new();
    for (db, out) in [(a, &mut left), (b, &mut right)] {
        let rows = conn.query(&names(db)).await?;
        for i in 0..rows.len() {
            out.extend(rows.text(i, "table_name")?);
        }
        out.sort();
    }
    if left != right {
        return Ok((left.len(), false));
    }
    for table in &left {
        let fetch = |db: &str| format!("SELECT * FROM `{db}`.`{table}`");
        let x = records(conn, &fetch(a)).await?;
        let y = records(conn, &fetch(b)).await?;
        if x != y {
            return Ok((left.len(), false));
        }
    }
    Ok((left.len(), true))
}

async fn records(conn: &Connection, sql: &str) -> CliResult<Vec<Vec<taos::Value>>> {
    use taos::{AsyncFetchable, AsyncQueryable};
    let mut rs = conn
        .taos()
        .query(sql)
        .await
        .map_err(|e| CliError::new(Exit::TDengine, e))?;
    rs.to_records()
        .await
        .map_err(|e| CliError::new(Exit::TDengine, e))
}
