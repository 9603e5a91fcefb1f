//! `tdibt backup` beside a running `tdibt monitor`, and the monitor's automatic backups
//! (issue 17): every backup restores the source as it was when the backup was asked for,
//! while rows keep arriving; SIGKILL of either process loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taos::{AsyncFetchable, AsyncQueryable, Taos};

use serde_json::json;

use crate::support::{
    self, connect, sigterm, snapshot_where, standin_with_db, start_monitor, tdibt,
};

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

fn run(config: &Path, args: &[&str]) -> Output {
    tdibt(config, args).output().unwrap()
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

async fn exec(taos: &Taos, sql: &str) {
    taos.exec(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows written, in order, by a writer that keeps inserting into `busy` while backups run:
/// `acked` counts the inserts that returned.
struct Writer {
    acked: Arc<Mutex<Vec<i64>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(taos: Taos) -> Writer {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (acked.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut i = 0i64;
            while !s.load(Ordering::Relaxed) {
                let ts = BASE + i * 1000;
                exec(
                    &taos,
                    &format!("INSERT INTO db.busy USING db.meters TAGS (99) VALUES ({ts}, {i})"),
                )
                .await;
                a.lock().unwrap().push(ts);
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Writer { acked, stop, task }
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn stop(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        Arc::try_unwrap(self.acked).unwrap().into_inner().unwrap()
    }
}

/// Timestamps of `db.busy` rows in database `db`.
async fn busy_rows(taos: &Taos, db: &str) -> Vec<i64> {
    let mut rs = taos
        .query(format!("SELECT ts FROM {db}.busy"))
        .await
        .unwrap();
    let mut ts: Vec<i64> = rs
        .to_records()
        .await
        .unwrap()
        .iter()
        .map(|r| match &r[0] {
            taos::Value::Timestamp(t) => t.as_raw_i64(),
            other => panic!("{other:?}"),
        })
        .collect();
    ts.sort_unstable();
    ts
}

/// Settled tables: written (with an upsert and a delete) before a request, not during it.
async fn settle(taos: &Taos, round: i64) {
    for t in 0..4 {
        let rows: Vec<String> = (0..12)
            .map(|i| format!("({}, {})", BASE + i * HOUR_MS / 2 + round, i * 10 + round))
            .collect();
        exec(
            taos,
            &format!(
                "INSERT INTO db.d{t} USING db.meters TAGS ({t}) VALUES {}",
                rows.join(" ")
            ),
        )
        .await;
    }
    if round > 0 {
        exec(
            taos,
            &format!(
                "DELETE FROM db.d{} WHERE ts >= {} AND ts < {}",
                round % 4,
                BASE + HOUR_MS,
                BASE + 2 * HOUR_MS
            ),
        )
        .await;
    }
}

/// Checks a restore of `backup` into `target`: the settled tables equal `settled`, and the
/// busy table holds every row acknowledged before the request (`acked_before`), and only
/// rows that were written, in order (a prefix of what the writer wrote).
async fn check_restore(
    config: &Path,
    taos: &Taos,
    backup: &str,
    target: &str,
    settled: &BTreeMap<String, Vec<String>>,
    acked_before: usize,
    written: &[i64],
) {
    ok(&run(
        config,
        &["restore", "--backup", backup, "--target-db", target],
    ));
    assert_eq!(
        &snapshot_where(taos, target, |n| n.starts_with('d')).await,
        settled,
        "backup {backup}"
    );
    let busy = busy_rows(taos, target).await;
    assert!(
        busy.len() >= acked_before,
        "backup {backup}: {} busy rows, {acked_before} acknowledged before the request",
        busy.len()
    );
    assert_eq!(busy, written[..busy.len()], "backup {backup}");
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    support::write_config(
        dir,
        port,
        json!({"monitoring": {"checkpoint_interval_ms": 50}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_asked_of_a_running_monitor_hold_everything_before_the_request() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port());
    settle(&taos, 0).await;
    ok(&run(&config, &["init"]));
    let mut monitor = start_monitor(&config, &dir.path().join("cache"), &[]);
    let writer = Writer::start(connect(&standin).await);
    let mut taken = Vec::new();
    for round in 0..3 {
        settle(&taos, round).await;
        let settled = snapshot_where(&taos, "db", |n| n.starts_with('d')).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let acked_before = writer.acked();
        let report = ok(&run(&config, &["backup", "--json"]));
        let kind = if round == 0 { "full" } else { "incremental" };
        assert_eq!(report["kind"], kind, "{report}");
        taken.push((
            report["backup"].as_str().unwrap().to_string(),
            settled,
            acked_before,
        ));
        // restore, verify and list work beside the monitor.
        ok(&run(&config, &["list", "--json"]));
    }
    assert!(monitor.try_wait().unwrap().is_none(), "the monitor stopped");
    let written = writer.stop().await;
    ok(&run(&config, &["verify", "--read-data"]));
    for (k, (id, settled, acked)) in taken.iter().enumerate() {
        let target = format!("r{k}");
        check_restore(&config, &taos, id, &target, settled, *acked, &written).await;
    }
    // The monitor kept capturing: what the writer wrote after the last backup is in the
    // next one, taken after SIGTERM (exit 0) by a standalone backup.
    assert_eq!(sigterm(&mut monitor).code(), Some(0));
    let stats = ok(&run(&config, &["stats", "--json"]));
    assert_eq!(stats["capture"]["backups"]["succeeded"], 3, "{stats}");
    let last = ok(&run(&config, &["backup", "--json"]));
    let settled = snapshot_where(&taos, "db", |n| n.starts_with('d')).await;
    check_restore(
        &config,
        &taos,
        last["backup"].as_str().unwrap(),
        "rlast",
        &settled,
        written.len(),
        &written,
    )
    .await;
    assert_eq!(busy_rows(&taos, "rlast").await, written);
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_every_takes_one_after_a_change_and_none_when_idle() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port());
    settle(&taos, 0).await;
    ok(&run(&config, &["init"]));
    let list = |config: &Path| -> Vec<serde_json::Value> {
        let out = run(config, &["list", "--json"]);
        if !out.status.success() {
            return Vec::new(); // no repository yet
        }
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    };
    let wait_for = |config: &Path, n: usize| {
        let started = Instant::now();
        loop {
            let l = list(config);
            if l.len() >= n {
                return l;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} backup(s), waiting for {n}",
                l.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut monitor = start_monitor(
        &config,
        &dir.path().join("cache"),
        &["--backup-every", "1s"],
    );
    // The initial rows are a change: a full backup into a repository created for it.
    let first = wait_for(&config, 1);
    assert_eq!(first[0]["kind"], "full", "{first:?}");
    // Idle: no more backups.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        list(&config).len(),
        1,
        "a backup was taken with nothing changed"
    );
    settle(&taos, 1).await;
    let source = snapshot_where(&taos, "db", |n| n.starts_with('d')).await;
    let both = wait_for(&config, 2);
    assert!(both.iter().any(|b| b["kind"] == "incremental"), "{both:?}");
    assert_eq!(sigterm(&mut monitor).code(), Some(0));
    ok(&run(&config, &["restore", "--target-db", "r1"]));
    assert_eq!(
        snapshot_where(&taos, "r1", |n| n.starts_with('d')).await,
        source
    );
    let stats = ok(&run(&config, &["stats", "--json"]));
    assert_eq!(stats["capture"]["backups"]["automatic"], 2, "{stats}");
    standin.shutdown().await;
}

/// SIGKILL of the monitor or of the asking `tdibt backup` at random moments; then the
/// monitor is started again and a backup asked for: every backup of the chain restores the
/// source as it was when it was asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_monitors_and_askers_lose_nothing() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port());
    settle(&taos, 0).await;
    ok(&run(&config, &["init"]));
    let mut seed = 0xC0FFEE_u64;
    let mut killed = (0, 0);
    let mut expected = BTreeMap::new();
    for round in 0..4 {
        settle(&taos, round + 1).await;
        let state = snapshot_where(&taos, "db", |n| n.starts_with('d')).await;
        let mut monitor = start_monitor(&config, &dir.path().join("cache"), &[]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut asker = tdibt(&config, &["backup"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(seed % 300)).await;
        if seed.is_multiple_of(2) {
            monitor.kill().unwrap();
            monitor.wait().unwrap();
            killed.0 += 1;
            asker.wait().unwrap();
            // A killed monitor leaves the repository's lock behind.
            let _ = run(&config, &["repo", "unlock"]);
            monitor = start_monitor(&config, &dir.path().join("cache"), &[]);
        } else if asker.try_wait().unwrap().is_none() {
            asker.kill().unwrap();
            killed.1 += 1;
        }
        asker.wait().unwrap();
        // What was started is finished (or resumed) by the next backup.
        let mut done = run(&config, &["backup", "--json"]);
        if done.status.code() == Some(6) {
            // The killed monitor's lock: stale once its process is gone.
            ok(&run(&config, &["repo", "unlock"]));
            done = run(&config, &["backup", "--json"]);
        }
        ok(&done);
        assert_eq!(sigterm(&mut monitor).code(), Some(0));
        let out = ok(&run(&config, &["list", "--json"]));
        for b in out.as_array().unwrap() {
            expected
                .entry(b["id"].as_str().unwrap().to_string())
                .or_insert_with(|| (round, seed.is_multiple_of(2), state.clone()));
        }
    }
    assert!(killed.0 + killed.1 > 0, "nothing was killed");
    ok(&run(&config, &["verify", "--read-data"]));
    for (k, (id, (round, monitor_killed, state))) in expected.iter().enumerate() {
        let target = format!("r{k}");
        ok(&run(
            &config,
            &["restore", "--backup", id, "--target-db", &target],
        ));
        assert_eq!(
            &snapshot_where(&taos, &target, |n| n.starts_with('d')).await,
            state,
            "backup {id} of round {round} (monitor killed: {monitor_killed})"
        );
    }
    standin.shutdown().await;
}
