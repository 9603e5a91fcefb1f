//! Backup benchmark on the TDengine stand-in, everything measured side by side in one run:
//!
//! 1. load: `TABLES` tables x `ROWS_PER_TABLE` rows (one row every 10 s, so each table spans
//!    about a day of one-hour blocks), captured into the engine;
//! 2. baseline: the full backup's range reads through the connector, rows discarded;
//! 3. full backup;
//! 4. 1% of the blocks changed (one upserted row each), captured;
//! 5. incremental backup;
//! 6. restore of the incremental (its chain: full + incremental) into a new database.
//!
//! Capture (draining the change feed) is timed on its own: in production the monitor runs
//! all along, and a backup finds the feed drained.
//!
//! `cargo run --release -p tdibt-backup --example backup_bench [-- TABLES ROWS_PER_TABLE JOBS]`
//! (defaults 1000 10000 2: ten million rows).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use taos::{AsyncFetchable, AsyncQueryable, AsyncTBuilder, TaosBuilder};
use taos_standin::StandinServer;
use tdibt_backup::{run_backup, run_restore, BackupOptions, NoProgress, RestoreOptions};
use tdibt_core::config::Config;
use tdibt_repository::{LocalStore, Repository};
use tdibt_tdengine::ConnectionSettings;

const STEP_MS: i64 = 10_000;
const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00Z
const HOUR_MS: i64 = 3_600_000;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // Phase timings of each backup at info level: BENCH_LOG=info.
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let tables = arg(1, 1000);
    let rows_per_table = arg(2, 10_000);
    let jobs = arg(3, 2);
    let standin = StandinServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.host = "127.0.0.1".into();
    config.database.port = standin.addr().port();
    config.database.name = Some("bench".into());
    config.bitmap_engine.persistence_path = dir.path().join("cache");
    config.backup.output_path = dir.path().join("repo");
    let settings = ConnectionSettings::from_config(&config.database);
    let dsn = standin.dsn();
    let taos = TaosBuilder::from_dsn(&dsn).unwrap().build().await.unwrap();
    taos.exec("CREATE DATABASE bench VGROUPS 4").await.unwrap();
    taos.exec("CREATE STABLE bench.meters (ts TIMESTAMP, current FLOAT, voltage INT, phase FLOAT) TAGS (groupid INT, location VARCHAR(24))")
        .await
        .unwrap();
    for t in 0..tables {
        taos.exec(format!(
            "CREATE TABLE bench.d{t} USING bench.meters TAGS ({}, 'site{}')",
            t % 10,
            t % 50
        ))
        .await
        .unwrap();
    }
    tdibt_capture::init(&config).await.unwrap();

    let t = Instant::now();
    load(&dsn, tables, rows_per_table).await;
    let total_rows = (tables * rows_per_table) as u64;
    report("load", t.elapsed(), total_rows, "rows inserted");
    let t = Instant::now();
    drain(&config).await;
    report("capture (drain)", t.elapsed(), total_rows, "rows captured");

    let baseline = bare_read(&settings, tables, jobs).await;
    report(
        "baseline: bare range reads",
        baseline.0,
        baseline.1,
        "rows read and discarded",
    );

    let repo = Repository::init(Box::new(LocalStore::new(&config.backup.output_path)), 0).unwrap();
    let options = BackupOptions {
        jobs,
        drain: false,
        ..BackupOptions::default()
    };
    let full = run_backup(
        &config,
        &repo,
        &BackupOptions {
            full: true,
            ..options.clone()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    report(
        "full backup",
        Duration::from_secs_f64(full.seconds),
        full.stats.rows,
        "rows backed up",
    );
    println!(
        "    {} blocks, {} raw bytes, {} stored bytes",
        full.stats.blocks, full.stats.raw_bytes, full.stats.stored_bytes
    );

    // 1% of the blocks get one upserted row each.
    let windows_per_table = (rows_per_table as i64 * STEP_MS + HOUR_MS - 1) / HOUR_MS;
    let blocks = full.stats.blocks as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let changed = change_blocks(&taos, &mut rng, tables, windows_per_table, blocks / 100).await;
    let t = Instant::now();
    drain(&config).await;
    report(
        "capture (drain) of the changes",
        t.elapsed(),
        changed as u64,
        "rows captured",
    );
    // A fresh handle, as a new `tdibt backup` process has: nothing cached.
    let repo = Repository::open(Box::new(LocalStore::new(&config.backup.output_path))).unwrap();
    let incremental = run_backup(&config, &repo, &options, &NoProgress)
        .await
        .unwrap();
    report(
        "incremental backup (1% of blocks)",
        Duration::from_secs_f64(incremental.seconds),
        incremental.stats.rows,
        "rows backed up",
    );
    println!(
        "    {} blocks, {} raw bytes, {} stored bytes",
        incremental.stats.blocks, incremental.stats.raw_bytes, incremental.stats.stored_bytes
    );

    let restore = run_restore(
        &repo,
        &settings,
        &RestoreOptions {
            backup: incremental.backup.clone(),
            target_db: Some("restored".into()),
            jobs,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(restore.is_ok(), "{:?}", restore.differences);
    report(
        "restore (full + incremental)",
        Duration::from_secs_f64(restore.seconds),
        restore.rows,
        "rows restored",
    );

    // Production: a monitor runs all along, and `tdibt backup` asks it (over its socket, as
    // the CLI does): no drain, the parent's manifest already in the monitor's memory, its
    // connections open.
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn({
        let config = config.clone();
        async move {
            let options = tdibt_backup::ServeOptions {
                jobs,
                ..Default::default()
            };
            tdibt_backup::serve_monitor(&config, options, stop_rx).await
        }
    });
    let socket = tdibt_backup::live::socket_path(&config.bitmap_engine.persistence_path);
    while !socket.exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ask = BackupOptions {
        jobs,
        ..BackupOptions::default()
    };
    // Each size is asked for ROUNDS times and the median reported (with the spread): one
    // backup of a few milliseconds moves by tens of percent on a shared machine.
    const ROUNDS: usize = 5;
    let mut through = Vec::new();
    for (what, n) in [
        ("1% of blocks", blocks / 100),
        ("0.01% of blocks", (blocks / 10_000).max(3)),
    ] {
        let mut walls = Vec::new();
        for round in 0..ROUNDS {
            // Asked of an idle monitor, as backups minutes apart are: the previous backup's
            // fold (a cut of its own, after its asker had the answer) is done.
            tokio::time::sleep(Duration::from_millis(300)).await;
            change_blocks(&taos, &mut rng, tables, windows_per_table, n).await;
            let t = Instant::now();
            let r = tdibt_backup::backup(&config, &repo, &ask, &NoProgress)
                .await
                .unwrap();
            let wall = t.elapsed().as_secs_f64();
            let p = &r.timings;
            println!(
                "incremental through the running monitor ({what}, round {}): {:.3} s as `tdibt backup` waits ({:.3} s in the monitor), {} blocks, {} stored bytes",
                round + 1, wall, r.seconds, r.stats.blocks, r.stats.stored_bytes
            );
            println!(
                "    phases: begin (cut) {:.4} s, DDL {:.4} s, blocks {:.4} s, manifest {:.4} s, fold (cut) {:.4} s",
                p.begin, p.ddl, p.blocks, p.manifest, p.fold
            );
            walls.push((wall, r.stats.stored_bytes));
        }
        walls.sort_by(|a, b| a.0.total_cmp(&b.0));
        through.push((what, walls));
    }
    let _ = stop.send(true);
    serving.await.unwrap().unwrap();

    println!();
    for (what, walls) in &through {
        let (median, bytes) = walls[walls.len() / 2];
        let (fastest, slowest) = (walls[0].0, walls[walls.len() - 1].0);
        println!(
            "through the monitor, {what}: median {median:.3} s of {} rounds ({fastest:.3}-{slowest:.3} s): {:.1}x faster than the full ({:.1}x-{:.1}x), {:.1}x smaller",
            walls.len(),
            full.seconds / median,
            full.seconds / slowest,
            full.seconds / fastest,
            full.stats.stored_bytes as f64 / bytes.max(1) as f64
        );
    }
    println!(
        "full backup throughput / bare reads: {:.2}",
        baseline.0.as_secs_f64() / full.seconds
    );
    println!(
        "incremental vs full: {:.1}x faster, {:.1}x smaller (stored bytes)",
        full.seconds / incremental.seconds,
        full.stats.stored_bytes as f64 / incremental.stats.stored_bytes.max(1) as f64
    );
    println!(
        "restore: {:.0} rows/s",
        restore.rows as f64 / restore.seconds
    );
}

/// Upserts one row in each of `n` distinct random blocks; returns `n`.
async fn change_blocks(
    taos: &taos::Taos,
    rng: &mut rand::rngs::StdRng,
    tables: usize,
    windows_per_table: i64,
    n: usize,
) -> usize {
    let mut chosen = BTreeSet::new();
    while chosen.len() < n {
        chosen.insert((
            rng.random_range(0..tables),
            rng.random_range(0..windows_per_table),
        ));
    }
    for (t, w) in &chosen {
        let ts = BASE + w * HOUR_MS + rng.random_range(0..360) * STEP_MS;
        taos.exec(format!(
            "INSERT INTO bench.d{t} VALUES ({ts}, 9.5, 999, 0.5)"
        ))
        .await
        .unwrap();
    }
    n
}

fn report(what: &str, took: Duration, rows: u64, unit: &str) {
    println!(
        "{what:<36} {:>8.2} s  {rows} {unit} ({:.0}/s)",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64().max(1e-9)
    );
}

async fn drain(config: &Config) {
    let (_keep, never) = tokio::sync::watch::channel(false);
    let options = tdibt_capture::MonitorOptions {
        once: true,
        ..tdibt_capture::MonitorOptions::default()
    };
    tdibt_capture::run_monitor(config, options, never)
        .await
        .unwrap();
}

/// Inserts every table's rows from four connections, 10 tables x 500 rows per statement.
async fn load(dsn: &str, tables: usize, rows_per_table: usize) {
    let queue = Arc::new(Mutex::new((0..tables).step_by(10).collect::<VecDeque<_>>()));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let queue = Arc::clone(&queue);
        let dsn = dsn.to_string();
        tasks.push(tokio::spawn(async move {
            let taos = TaosBuilder::from_dsn(&dsn).unwrap().build().await.unwrap();
            loop {
                let Some(first) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                for chunk in (0..rows_per_table).step_by(500) {
                    let mut sql = String::from("INSERT INTO");
                    for t in first..(first + 10).min(tables) {
                        sql.push_str(&format!(" bench.d{t} VALUES"));
                        for r in chunk..(chunk + 500).min(rows_per_table) {
                            let ts = BASE + r as i64 * STEP_MS;
                            // Values differ per table and row (a multiplicative hash), so no
                            // two blocks are alike and deduplication does not flatter the sizes.
                            let h = ((t * 1_000_003 + r) as u64)
                                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                                >> 40;
                            sql.push_str(&format!(
                                " ({ts}, {}.{}, {}, 0.{})",
                                h % 20,
                                h % 1000,
                                200 + h % 40,
                                h % 97
                            ));
                        }
                    }
                    taos.exec(&sql).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// What a full backup reads (one range query per table), read with `jobs` connections and
/// thrown away: the connector's own cost, the baseline for backup throughput.
async fn bare_read(settings: &ConnectionSettings, tables: usize, jobs: usize) -> (Duration, u64) {
    let t = Instant::now();
    let queue = Arc::new(Mutex::new((0..tables).collect::<VecDeque<_>>()));
    let mut tasks = Vec::new();
    for _ in 0..jobs {
        let queue = Arc::clone(&queue);
        let settings = settings.clone();
        tasks.push(tokio::spawn(async move {
            let conn = tdibt_tdengine::Connection::open(&settings).await.unwrap();
            let mut rows = 0u64;
            loop {
                let Some(table) = queue.lock().unwrap().pop_front() else {
                    return rows;
                };
                let sql = format!("SELECT * FROM `bench`.`d{table}`");
                let mut rs = conn.taos().query(&sql).await.unwrap();
                let mut blocks = rs.blocks();
                use taos::TryStreamExt;
                while let Some(block) = blocks.try_next().await.unwrap() {
                    rows += block.nrows() as u64;
                }
            }
        }));
    }
    let mut rows = 0;
    for t in tasks {
        rows += t.await.unwrap();
    }
    (t.elapsed(), rows)
}
