//! A long-running `tdibt monitor` as a daemon runs: Prometheus metrics on `--metrics-listen`,
//! WAL activity from `monitoring.wal_path`, and SIGTERM draining, checkpointing and
//! committing before exit 0. The WAL folder is laid out by hand as TDengine 3 lays it out
//! (`vnode/vnode<vgId>/wal`): no TDengine runs here.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use taos::{AsyncFetchable, AsyncQueryable};
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::ChangeKind;

use serde_json::json;

use crate::support::{self, standin_with_db, tdibt};

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The metrics page, or `None` while the monitor is not serving yet.
fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text)
}

fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn write_config(dir: &Path, port: u16, wal: &Path) -> PathBuf {
    support::write_config(
        dir,
        port,
        json!({"monitoring": {"checkpoint_interval_ms": 20, "wal_check_interval_ms": 20, "wal_path": wal}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_serves_metrics_watches_the_wal_and_stops_cleanly_on_sigterm() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let mut rs = taos.query("SHOW db.VGROUPS").await.unwrap();
    let vgroups: Vec<i32> = rs
        .to_records()
        .await
        .unwrap()
        .iter()
        .map(|r| r[0].to_string().unwrap().parse().unwrap())
        .collect();
    assert_eq!(vgroups.len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("taos-data");
    for vg in &vgroups {
        let wal = data.join(format!("vnode/vnode{vg}/wal"));
        std::fs::create_dir_all(&wal).unwrap();
        std::fs::write(wal.join("00000000000000000000.log"), b"").unwrap();
    }
    let config = write_config(dir.path(), standin.addr().port(), &data);
    let out = tdibt(&config, &["init"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let child = tdibt(
        &config,
        &["monitor", "--metrics-listen", &format!("127.0.0.1:{port}")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    // Serving means started: the WAL watcher has taken its baseline (it starts first).
    let mut up = false;
    for _ in 0..400 {
        if scrape(port).is_some() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "the monitor never served metrics");

    let mut model = BTreeSet::new();
    for t in 0..10 {
        let mut sql = format!("INSERT INTO db.t{t} USING db.meters TAGS ({t}) VALUES");
        for h in 0..5 {
            let ts = BASE + (h * 7 + t) * HOUR_MS;
            sql.push_str(&format!(" ({ts}, {h})"));
            model.insert((format!("t{t}"), ts.div_euclid(HOUR_MS) as i32));
        }
        taos.exec(&sql).await.unwrap();
    }
    // The server's writes, as the WAL watcher would see them on the server's machine.
    let log = data.join(format!(
        "vnode/vnode{}/wal/00000000000000000000.log",
        vgroups[0]
    ));
    std::fs::write(&log, vec![7u8; 4096]).unwrap();

    let mut page = String::new();
    let mut ready = false;
    for _ in 0..400 {
        if let Some(p) = scrape(port) {
            page = p;
            let marked = sample(&page, "tdibt_capture_blocks_marked_total").unwrap_or(0.0);
            let wal = sample(
                &page,
                &format!("tdibt_wal_bytes_written_total{{vgroup=\"{}\"}}", vgroups[0]),
            );
            let lag: f64 = vgroups
                .iter()
                .filter_map(|vg| sample(&page, &format!("tdibt_vgroup_lag{{vgroup=\"{vg}\"}}")))
                .sum();
            if marked >= model.len() as f64 && wal == Some(4096.0) && lag == 0.0 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "metrics never showed the workload:\n{page}");
    assert!(page.starts_with("HTTP/1.1 200 OK"));
    assert_eq!(
        sample(&page, "tdibt_engine_blocks{state=\"new\"}"),
        Some(model.len() as f64)
    );
    assert_eq!(
        sample(
            &page,
            &format!("tdibt_wal_bytes_written_total{{vgroup=\"{}\"}}", vgroups[1])
        ),
        Some(0.0)
    );

    // SIGTERM: drain, checkpoint, commit, exit 0.
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cp = Checkpoint::load(&checkpoint_path(&dir.path().join("cache"))).unwrap();
    let got: BTreeSet<(String, i32)> = cp
        .engine
        .blocks(ChangeKind::New)
        .map(|b| {
            (
                cp.catalog.table(b.table()).unwrap().name.clone(),
                b.window().0,
            )
        })
        .collect();
    assert_eq!(got, model);
    // `tdibt stats` shows what the monitor left: lag and WAL activity per vgroup.
    let out = tdibt(&config, &["stats", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vgs = stats["capture"]["vgroups"].as_array().unwrap();
    assert_eq!(vgs.len(), 2, "{stats}");
    let first = vgs.iter().find(|v| v["vgroup_id"] == vgroups[0]).unwrap();
    assert_eq!(first["wal"]["bytes_written"], 4096, "{stats}");
    assert_eq!(first["lag"], 0, "{stats}");
    assert!(stats["capture"]["latency"]["samples"].as_u64().unwrap() > 0);
    // The offsets were committed: nothing is pending for the group.
    let out = tdibt(&config, &["monitor", "--once", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["messages"], 0, "{stats}");
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_wal_path_is_refused_before_anything_changes() {
    let (standin, _taos) = standin_with_db(None, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        standin.addr().port(),
        &dir.path().join("nowhere"),
    );
    assert!(tdibt(&config, &["init"]).output().unwrap().status.success());
    let cp = checkpoint_path(&dir.path().join("cache"));
    let before = std::fs::read(&cp).unwrap();
    let out = tdibt(&config, &["monitor", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("monitoring.wal_path") && err.contains("nowhere"),
        "{err}"
    );
    assert_eq!(std::fs::read(&cp).unwrap(), before);
    standin.shutdown().await;
}
