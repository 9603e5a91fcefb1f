//! Live detection latency, end to end (a documented command, not a test):
//!
//! ```sh
//! cargo run --release -p tdibt-capture --example detect_latency
//! TDIBT_BENCH_SECONDS=30 TDIBT_BENCH_RATE=100 cargo run --release -p tdibt-capture --example detect_latency
//! ```
//!
//! A monitor runs as `tdibt monitor` does (default poll wait, checkpoints on) against the
//! in-process TDengine stand-in, while a writer inserts one row at a time at a steady
//! `TDIBT_BENCH_RATE` writes per second (default 100) for `TDIBT_BENCH_SECONDS` (default 20)
//! into 10 tables over 4 vgroups. Each sample is from the moment the writer's INSERT
//! returned to the moment the monitor had that row's block marked in its engine: the
//! poll's wait on the server, the message's fetches, the queue and the applier are all
//! inside it. A row marked before its INSERT's reply reached the writer counts as 0.
//! `TDIBT_BENCH_POLL_MS` overrides the poll's server-side wait (default 500 ms).
//!
//! On the stand-in a waiting poll looks for new messages every 20 ms (`RECHECK` in
//! `crates/standin/src/tmq.rs`), where taosd answers a waiting poll when the write lands;
//! with the default wait the figures are therefore bounded below by that re-check, and a
//! short wait (`TDIBT_BENCH_POLL_MS=1`) shows tdibt's own share.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use taos::*;
use taos_standin::StandinServer;
use tdibt_capture::{init, run_monitor, MonitorOptions};
use tdibt_core::config::Config;
use tokio::sync::{mpsc, watch};

const BASE: i64 = 1_767_225_600_000;
const TABLES: i64 = 10;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let k = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[k]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = env("TDIBT_BENCH_SECONDS", 20);
    let rate = env("TDIBT_BENCH_RATE", 100).max(1);
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    taos.exec("CREATE DATABASE lat VGROUPS 4").await.unwrap();
    taos.exec("CREATE STABLE lat.m (ts TIMESTAMP, v INT) TAGS (g INT)")
        .await
        .unwrap();
    for t in 0..TABLES {
        taos.exec(format!("CREATE TABLE lat.t{t} USING lat.m TAGS ({t})"))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.host = "127.0.0.1".into();
    config.database.port = standin.addr().port();
    config.database.name = Some("lat".into());
    config.bitmap_engine.persistence_path = dir.path().to_path_buf();
    init(&config).await.unwrap();

    let (observer, mut marked) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let mut options = MonitorOptions {
        observer: Some(observer),
        ..MonitorOptions::default()
    };
    if let Some(ms) = std::env::var("TDIBT_BENCH_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.poll_timeout = Duration::from_millis(ms);
    }
    let poll_wait = options.poll_timeout;
    let monitor = tokio::spawn(async move { run_monitor(&config, options, stop_rx).await });
    // Let the monitor subscribe and reach the end of the (empty) log.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let writes = seconds * rate;
    let mut returned: HashMap<i64, Instant> = HashMap::with_capacity(writes as usize);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    for i in 0..writes as i64 {
        tick.tick().await;
        taos.exec(format!(
            "INSERT INTO lat.t{} VALUES ({}, {i})",
            i % TABLES,
            BASE + i
        ))
        .await
        .unwrap();
        returned.insert(BASE + i, Instant::now());
    }
    let wrote_in = started.elapsed().as_secs_f64();
    // Wait until every row is marked (or give up after 30 s and say so).
    let mut latencies_us = Vec::with_capacity(writes as usize);
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies_us.len() < writes as usize {
        let Ok(Some(m)) = tokio::time::timeout_at(deadline.into(), marked.recv()).await else {
            break;
        };
        for (_, ts) in m.rows {
            if let Some(at) = returned.get(&ts) {
                let us = m.marked_at.saturating_duration_since(*at).as_secs_f64() * 1e6;
                latencies_us.push(us);
            }
        }
    }
    stop.send(true).unwrap();
    let report = monitor.await.unwrap().unwrap();
    latencies_us.sort_by(f64::total_cmp);
    println!(
        "wrote {writes} single-row INSERTs at {rate}/s in {wrote_in:.1} s; monitor poll wait \
         {poll_wait:?} (server-side), {} messages, {} checkpoints",
        report.stats.messages, report.stats.checkpoints
    );
    if latencies_us.len() < writes as usize {
        println!(
            "only {} of {writes} rows were marked within 30 s",
            latencies_us.len()
        );
    }
    if latencies_us.is_empty() {
        return;
    }
    println!(
        "write returned -> block marked: p50 {:.0} us, p99 {:.0} us, max {:.0} us ({} samples)",
        percentile(&latencies_us, 0.5),
        percentile(&latencies_us, 0.99),
        percentile(&latencies_us, 1.0),
        latencies_us.len()
    );
    standin.shutdown().await;
}
