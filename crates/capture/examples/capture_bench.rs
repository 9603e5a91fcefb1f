//! Capture benchmark on the in-process TDengine stand-in (a documented command, not a test):
//!
//! ```sh
//! cargo run --release -p tdibt-capture --example capture_bench
//! TDIBT_BENCH_ROWS=200000 cargo run --release -p tdibt-capture --example capture_bench
//! ```
//!
//! 1. Writes `TDIBT_BENCH_ROWS` rows (default 1,000,000) over 1,000 tables, 4 vgroups, each
//!    table's rows spread over 100 one-hour windows.
//! 2. Baseline: the stand-in's own TMQ delivery rate — a plain connector consumer that polls
//!    every message, fetches its blocks and reads each row's timestamp, then discards them
//!    (connect, subscribe, drain and one commit, timed as the monitor run is).
//! 3. Capture: `run_monitor --once` over the same log (fresh group): rows and blocks per
//!    second, and the ratio to the baseline (1.0 means capture is no slower than delivery).
//! 4. Live: a long-running monitor while a writer inserts 10 rows into 10 tables every
//!    2 ms for 5 s; detection latency p50/p99 from the monitor's own figures (from a message's
//!    arrival, i.e. the poll's return, to its marks being in the engine; this includes
//!    fetching the message's data blocks from the server).
//!    `TDIBT_BENCH_CP_MS` overrides `monitoring.checkpoint_interval_ms` for this phase.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use taos::*;
use taos_standin::StandinServer;
use tdibt_capture::{init, run_monitor, MonitorOptions};
use tdibt_core::config::Config;
use tokio::sync::watch;

const TABLES: usize = 1_000;
const WINDOWS_PER_TABLE: i64 = 100;
const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

fn config(port: u16, dir: &std::path::Path, group: &str) -> Config {
    let mut c = Config::default();
    c.database.host = "127.0.0.1".into();
    c.database.port = port;
    c.database.name = Some("bench".into());
    c.bitmap_engine.persistence_path = dir.to_path_buf();
    c.monitoring.group_id = group.into();
    c
}

async fn write_backlog(dsn: &str, rows: usize) {
    let per_table = rows / TABLES;
    let step = (WINDOWS_PER_TABLE * HOUR_MS) / per_table.max(1) as i64;
    let mut writers = Vec::new();
    for w in 0..4 {
        let dsn = dsn.to_string();
        writers.push(tokio::spawn(async move {
            let taos = TaosBuilder::from_dsn(&dsn).unwrap().build().await.unwrap();
            for group in (w * TABLES / 4..(w + 1) * TABLES / 4).step_by(10) {
                for chunk in (0..per_table).step_by(100) {
                    let mut sql = String::from("INSERT INTO");
                    for t in group..group + 10 {
                        sql.push_str(&format!(" bench.t{t} USING bench.m TAGS ({t}) VALUES"));
                        for r in chunk..(chunk + 100).min(per_table) {
                            sql.push_str(&format!(" ({}, {r})", BASE + r as i64 * step));
                        }
                    }
                    taos.exec(&sql).await.unwrap();
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
}

/// Consumes the whole topic with a plain connector consumer; returns (rows, seconds).
async fn baseline(dsn: String) -> (usize, f64) {
    let dsn =
        format!("{dsn}?group.id=baseline&auto.offset.reset=earliest&enable.auto.commit=false");
    // Timed like the monitor run: connect and subscribe, drain, commit.
    let started = Instant::now();
    let mut c = TmqBuilder::from_dsn(&dsn).unwrap().build().await.unwrap();
    c.subscribe(["tdibt_bench"]).await.unwrap();
    let mut rows = 0usize;
    let mut checksum = 0i64;
    let mut last = None;
    // The same calls tdibt's feed makes: poll, then fetch the message's blocks.
    while let Some((offset, message)) = c.recv_timeout(Timeout::from_millis(500)).await.unwrap() {
        if let Some(data) = message.into_data() {
            while let Some(block) = data.fetch_raw_block().await.unwrap() {
                for r in 0..block.nrows() {
                    if let Some(BorrowedValue::Timestamp(ts)) = block.get_ref(r, 0) {
                        checksum = checksum.wrapping_add(ts.as_raw_i64());
                    }
                }
                rows += block.nrows();
            }
        }
        last = Some(offset);
    }
    if let Some(offset) = last {
        c.commit(offset).await.unwrap();
    }
    c.unsubscribe().await;
    // The last empty poll waited 500 ms for nothing: not delivery time.
    let secs = (started.elapsed().as_secs_f64() - 0.5).max(1e-9);
    std::hint::black_box(checksum);
    (rows, secs)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rows: usize = std::env::var("TDIBT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let standin = StandinServer::builder().start().await.unwrap();
    let dsn = standin.dsn();
    let taos = TaosBuilder::from_dsn(&dsn).unwrap().build().await.unwrap();
    taos.exec("CREATE DATABASE bench VGROUPS 4").await.unwrap();
    taos.exec("CREATE STABLE bench.m (ts TIMESTAMP, v INT) TAGS (g INT)")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(standin.addr().port(), dir.path(), "tdibt-bench");
    init(&cfg).await.unwrap();

    let t = Instant::now();
    write_backlog(&dsn, rows).await;
    println!(
        "wrote {rows} rows over {TABLES} tables in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // On a worker thread, as the monitor's poller runs (the main task's I/O wake-ups are
    // slower).
    let (base_rows, base_secs) = tokio::spawn(baseline(dsn.clone())).await.unwrap();
    let base_rate = base_rows as f64 / base_secs;
    println!("baseline  TMQ delivery (poll+fetch+read ts): {base_rows} rows in {base_secs:.2} s = {base_rate:.0} rows/s");

    let (_tx, rx) = watch::channel(false);
    let options = MonitorOptions {
        once: true,
        poll_timeout: Duration::from_millis(500),
        ..MonitorOptions::default()
    };
    let t = Instant::now();
    let report = run_monitor(&cfg, options, rx).await.unwrap();
    // `--once` ends with one empty poll of `poll_timeout`, as the baseline does.
    let secs = (t.elapsed().as_secs_f64() - 0.5).max(1e-9);
    let s = &report.stats;
    let rate = s.rows as f64 / secs;
    println!(
        "capture   monitor --once: {} rows, {} block marks, {} checkpoints in {secs:.2} s = {rate:.0} rows/s, {:.0} blocks/s",
        s.rows,
        s.blocks_marked,
        s.checkpoints,
        s.blocks_marked as f64 / secs
    );
    println!("ratio     capture / delivery = {:.2}", rate / base_rate);
    println!(
        "applier   busy {:.2} s of {secs:.2} s ({:.0} %): the rest of the time it waited for messages",
        s.apply_seconds,
        100.0 * s.apply_seconds / secs
    );
    println!(
        "backlog   detection latency (queueing included): p50 {:.0} us, p99 {:.0} us",
        s.latency.p50_us, s.latency.p99_us
    );

    // Live: a monitor that keeps up with a steady writer.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut live_cfg = cfg.clone();
    if let Some(ms) = std::env::var("TDIBT_BENCH_CP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        live_cfg.monitoring.checkpoint_interval_ms = ms;
    }
    let monitor = tokio::spawn(async move {
        run_monitor(&live_cfg, MonitorOptions::default(), stop_rx)
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut n = 0i64;
    while started.elapsed() < Duration::from_secs(5) {
        let mut sql = String::from("INSERT INTO");
        for t in 0..10 {
            let table = (n as usize * 10 + t) % TABLES;
            sql.push_str(&format!(
                " bench.t{table} VALUES ({}, {n})",
                BASE + WINDOWS_PER_TABLE * HOUR_MS + n
            ));
        }
        taos.exec(&sql).await.unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send(true).unwrap();
    let live = monitor.await.unwrap();
    let l = &live.stats.latency;
    println!(
        "live      {} inserts, {} messages: detection latency p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        n, live.stats.messages, l.p50_us, l.p99_us, l.max_us
    );
    standin.shutdown().await;
}
