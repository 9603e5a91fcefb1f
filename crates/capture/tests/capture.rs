//! Capture against the TDengine stand-in through the official connector: every kind of
//! change lands in the engine as docs/DESIGN.md says, and a random workload's marks equal a model.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use taos::{AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder};
use taos_standin::{RunningStandin, StandinServer};
use tdibt_capture::{init, run_monitor, MonitorOptions};
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::config::Config;
use tdibt_core::{BlockId, BlockSpan, BlockState, ChangeKind, Precision, Window};
use tdibt_testkit::Rng;
use tokio::sync::watch;

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_700_000_000_000 / HOUR_MS * HOUR_MS; // a whole hour

fn config(standin: &RunningStandin, dir: &Path, db: &str) -> Config {
    let mut c = Config::default();
    c.database.host = "127.0.0.1".into();
    c.database.port = standin.addr().port();
    c.database.name = Some(db.into());
    c.bitmap_engine.persistence_path = dir.to_path_buf();
    c.monitoring.checkpoint_interval_ms = 50;
    c
}

/// A stand-in with database `db` (`vgroups` vgroups, super table `meters`), a config for it
/// (adjusted by `adjust`) in a fresh persistence folder, and `tdibt init` done.
async fn standin_with_meters(
    vgroups: u32,
    adjust: impl FnOnce(&mut Config),
) -> (RunningStandin, tempfile::TempDir, Config, Taos) {
    let standin = StandinServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&standin, dir.path(), "db");
    adjust(&mut config);
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    exec(&taos, &format!("CREATE DATABASE db VGROUPS {vgroups}")).await;
    exec(
        &taos,
        "CREATE STABLE db.meters (ts TIMESTAMP, v INT) TAGS (g INT)",
    )
    .await;
    init(&config).await.unwrap();
    (standin, dir, config, taos)
}

async fn exec(taos: &Taos, sql: &str) {
    taos.exec(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn monitor_once(config: &Config) -> Checkpoint {
    let (_tx, rx) = watch::channel(false);
    let options = MonitorOptions {
        once: true,
        ..MonitorOptions::default()
    };
    run_monitor(config, options, rx).await.unwrap();
    Checkpoint::load(&checkpoint_path(&config.bitmap_engine.persistence_path)).unwrap()
}

fn state(cp: &Checkpoint, table: &str, ts: i64) -> BlockState {
    let id = cp
        .catalog
        .id_of("db", table)
        .unwrap_or_else(|| panic!("{table} not in catalog"));
    let span = BlockSpan::one_hour(Precision::Millis);
    cp.engine.state(BlockId::new(id, span.window_of(ts)))
}

/// Marks a chain "backed up": fold everything now marked into present.
fn pretend_backup(cp: &mut Checkpoint, config: &Config) {
    cp.engine.freeze().unwrap();
    cp.engine.fold_frozen().unwrap();
    cp.save(&checkpoint_path(&config.bitmap_engine.persistence_path), 0)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_is_captured() {
    let standin = StandinServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&standin, dir.path(), "db");
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    exec(&taos, "CREATE DATABASE db VGROUPS 4").await;
    exec(
        &taos,
        "CREATE STABLE db.meters (ts TIMESTAMP, v INT) TAGS (g INT)",
    )
    .await;
    exec(&taos, "CREATE TABLE db.d0 USING db.meters TAGS (0)").await;
    exec(&taos, "CREATE TABLE db.n0 (ts TIMESTAMP, v INT)").await;
    let report = init(&config).await.unwrap();
    assert!(report.created);
    assert_eq!(report.vgroups.len(), 4);
    assert_eq!(report.tables, 2);
    // Running init again changes nothing and is fine.
    assert!(!init(&config).await.unwrap().created);

    let year_ms = 365 * 24 * HOUR_MS;
    // In order, out of order, a year late; several tables and windows in one INSERT.
    exec(
        &taos,
        &format!(
            "INSERT INTO db.d0 VALUES ({}, 1) ({}, 2) db.n0 VALUES ({}, 3) ({}, 4)",
            BASE + 10,
            BASE + 2 * HOUR_MS,
            BASE - year_ms,
            BASE + 5 * HOUR_MS
        ),
    )
    .await;
    // Auto-create and a new normal table.
    exec(
        &taos,
        &format!(
            "INSERT INTO db.d1 USING db.meters TAGS (1) VALUES ({}, 5)",
            BASE + 7 * HOUR_MS
        ),
    )
    .await;
    exec(&taos, "CREATE TABLE db.n1 (ts TIMESTAMP, v INT)").await;
    exec(&taos, &format!("INSERT INTO db.n1 VALUES ({}, 6)", BASE)).await;
    exec(&taos, "ALTER TABLE db.n1 ADD COLUMN w INT").await;
    let mut cp = monitor_once(&config).await;
    assert_eq!(state(&cp, "d0", BASE), BlockState::New);
    assert_eq!(state(&cp, "d0", BASE + 2 * HOUR_MS), BlockState::New);
    assert_eq!(state(&cp, "d0", BASE + HOUR_MS), BlockState::Clean);
    assert_eq!(state(&cp, "n0", BASE - year_ms), BlockState::New);
    assert_eq!(state(&cp, "n0", BASE + 5 * HOUR_MS), BlockState::New);
    assert_eq!(state(&cp, "d1", BASE + 7 * HOUR_MS), BlockState::New);
    assert_eq!(state(&cp, "n1", BASE), BlockState::New);
    let n1 = cp.catalog.id_of("db", "n1").unwrap();
    assert!(
        cp.catalog.table(n1).unwrap().last_alter.is_some(),
        "ALTER recorded"
    );
    assert_eq!(
        cp.catalog
            .table(cp.catalog.id_of("db", "d1").unwrap())
            .unwrap()
            .super_table
            .as_deref(),
        Some("meters")
    );
    assert_eq!(cp.engine.counts().new, 6);

    // Now the chain holds them; upserts, deletes and a drop follow.
    pretend_backup(&mut cp, &config);
    exec(
        &taos,
        &format!("INSERT INTO db.d0 VALUES ({}, 100)", BASE + 10),
    )
    .await; // upsert
    exec(
        &taos,
        &format!(
            "DELETE FROM db.n0 WHERE ts >= {} AND ts <= {}",
            BASE + 5 * HOUR_MS,
            BASE + 6 * HOUR_MS - 1
        ),
    )
    .await; // whole window
    exec(
        &taos,
        &format!(
            "DELETE FROM db.d0 WHERE ts >= {} AND ts <= {}",
            BASE + 2 * HOUR_MS,
            BASE + 2 * HOUR_MS + 5
        ),
    )
    .await; // part
    exec(&taos, "DROP TABLE db.d1").await;
    exec(
        &taos,
        &format!(
            "DELETE FROM db.meters WHERE ts >= {} AND ts <= {}",
            BASE - 10 * HOUR_MS,
            BASE - 9 * HOUR_MS
        ),
    )
    .await; // stable, nothing there
    let cp = monitor_once(&config).await;
    assert_eq!(state(&cp, "d0", BASE), BlockState::Dirty, "upsert");
    assert_eq!(
        state(&cp, "n0", BASE + 5 * HOUR_MS),
        BlockState::Deleted,
        "whole-window delete"
    );
    assert_eq!(
        state(&cp, "d0", BASE + 2 * HOUR_MS),
        BlockState::Dirty,
        "partial delete"
    );
    assert_eq!(
        state(&cp, "d1", BASE + 7 * HOUR_MS),
        BlockState::Deleted,
        "drop"
    );
    assert_eq!(state(&cp, "n0", BASE - year_ms), BlockState::Clean);
    assert!(
        cp.catalog
            .table(cp.catalog.id_of("db", "d1").unwrap())
            .unwrap()
            .dropped
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(tdibt_capture::STATS_FILE)).unwrap())
            .unwrap();
    assert_eq!(stats["vgroups"].as_array().unwrap().len(), 4);
    assert!(stats["vgroups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["lag"] == 0));
    standin.shutdown().await;
}

/// Expected states with an empty chain: writes make NEW, whole-window deletes CLEAN, partial
/// ones change nothing.
#[derive(Default)]
struct Model {
    blocks: BTreeMap<(String, i32), BlockState>,
}

impl Model {
    fn write(&mut self, table: &str, ts: i64) {
        self.blocks.insert(
            (table.into(), ts.div_euclid(HOUR_MS) as i32),
            BlockState::New,
        );
    }
    fn delete(&mut self, table: &str, lo: i64, hi: i64) {
        let span = BlockSpan::one_hour(Precision::Millis);
        let (a, b) = span.windows_of(tdibt_core::TsRange::new(lo, hi));
        for w in a.0..=b.0 {
            if span.covers_window(tdibt_core::TsRange::new(lo, hi), Window(w)) {
                self.blocks.remove(&(table.into(), w));
            }
        }
    }
}

/// Writes a random workload: inserts across tables and windows (late rows, upserts), deletes.
async fn random_workload(taos: &Taos, model: &mut Model, rng: &mut Rng, tables: u64, rows: u64) {
    let mut written = 0;
    while written < rows {
        let mut sql = String::from("INSERT INTO");
        for _ in 0..1 + rng.below(4) {
            let t = format!("t{}", rng.below(tables));
            sql.push_str(&format!(" db.{t} USING db.meters TAGS (1) VALUES"));
            for _ in 0..1 + rng.below(200) {
                // Mostly recent, some very late (up to ~a year back), some upserts of old ts.
                let back = match rng.below(10) {
                    0 => rng.below(8_760) as i64 * HOUR_MS,
                    1..=2 => rng.below(48) as i64 * HOUR_MS,
                    _ => rng.below(3) as i64 * HOUR_MS,
                };
                let ts = BASE - back + rng.below(HOUR_MS as u64) as i64 / 1000 * 1000;
                sql.push_str(&format!(" ({ts}, {})", rng.below(1000)));
                model.write(&t, ts);
                written += 1;
            }
        }
        exec(taos, &sql).await;
        if rng.below(20) == 0 {
            let t = format!("t{}", rng.below(tables));
            let lo = BASE - rng.below(72) as i64 * HOUR_MS - rng.below(HOUR_MS as u64) as i64;
            let hi = lo + rng.below(5 * HOUR_MS as u64) as i64;
            if model.blocks.keys().any(|(n, _)| n == &t) {
                exec(
                    taos,
                    &format!("DELETE FROM db.{t} WHERE ts >= {lo} AND ts <= {hi}"),
                )
                .await;
                model.delete(&t, lo, hi);
            }
        }
    }
}

fn engine_blocks(cp: &Checkpoint) -> BTreeMap<(String, i32), BlockState> {
    let mut out = BTreeMap::new();
    for kind in ChangeKind::ALL {
        for b in cp.engine.blocks(kind) {
            let name = cp.catalog.table(b.table()).unwrap().name.clone();
            out.insert((name, b.window().0), BlockState::from(kind));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_workload_matches_the_model() {
    let (standin, _dir, config, taos) = standin_with_meters(4, |_| {}).await;
    let mut model = Model::default();
    let mut rng = Rng::new(0x5EED_1234_ABCD_0001);
    let started = std::time::Instant::now();
    random_workload(&taos, &mut model, &mut rng, 200, 100_000).await;
    eprintln!("workload written in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let cp = monitor_once(&config).await;
    eprintln!("captured in {:?}", started.elapsed());
    let got = engine_blocks(&cp);
    assert_eq!(got.len(), model.blocks.len());
    assert!(got == model.blocks, "engine and model differ");
    standin.shutdown().await;
}

/// Back-pressure: a one-message queue and a checkpoint every few events make the poller wait
/// on the engine and the checkpoint writer all the time; nothing may be lost for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_message_buffer_slows_polling_and_loses_nothing() {
    let (standin, dir, config, taos) = standin_with_meters(2, |c| {
        c.monitoring.event_buffer_size = 1;
        c.monitoring.checkpoint_events = 7;
        c.monitoring.checkpoint_interval_ms = 1;
    })
    .await;
    let mut model = Model::default();
    let mut rng = Rng::new(0xBAC4_9E55_0000_0007);
    random_workload(&taos, &mut model, &mut rng, 50, 20_000).await;
    let (_tx, rx) = watch::channel(false);
    let options = MonitorOptions {
        once: true,
        ..MonitorOptions::default()
    };
    let report = run_monitor(&config, options, rx).await.unwrap();
    // Cuts that come while a checkpoint is being written are coalesced into the next one,
    // so how many are written depends on the disk; several must have been.
    assert!(
        report.stats.checkpoints > 2,
        "checkpoints: {}",
        report.stats.checkpoints
    );
    let cp = Checkpoint::load(&checkpoint_path(dir.path())).unwrap();
    let got = engine_blocks(&cp);
    assert!(got == model.blocks, "engine and model differ");
    standin.shutdown().await;
}

/// Issue 16.2: a normal table created under the name of a dropped child table is no longer
/// that super table's child, so a later DROP STABLE of the old super table leaves it live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_table_recreated_under_a_child_name_survives_drop_stable() {
    let (standin, _dir, config, taos) = standin_with_meters(1, |_| {}).await;
    exec(&taos, "CREATE TABLE db.d1 USING db.meters TAGS (1)").await;
    exec(&taos, &format!("INSERT INTO db.d1 VALUES ({BASE}, 1)")).await;
    exec(&taos, "DROP TABLE db.d1").await;
    exec(&taos, "CREATE TABLE db.d1 (ts TIMESTAMP, v INT)").await;
    exec(
        &taos,
        &format!("INSERT INTO db.d1 VALUES ({}, 2)", BASE + HOUR_MS),
    )
    .await;
    exec(&taos, "DROP STABLE db.meters").await;
    let cp = monitor_once(&config).await;
    let d1 = cp
        .catalog
        .table(cp.catalog.id_of("db", "d1").unwrap())
        .unwrap();
    assert!(!d1.dropped, "the normal table d1 was marked dropped");
    assert_eq!(d1.super_table, None);
    assert_eq!(state(&cp, "d1", BASE + HOUR_MS), BlockState::New);
    standin.shutdown().await;
}

/// Waits (without a time limit on the machine's speed: a generous deadline only so a broken
/// build fails instead of hanging) until the checkpoint satisfies `done`.
async fn until_checkpoint(config: &Config, what: &str, done: impl Fn(&Checkpoint) -> bool) {
    let path = checkpoint_path(&config.bitmap_engine.persistence_path);
    for _ in 0..2400 {
        if let Ok(cp) = Checkpoint::load(&path) {
            if done(&cp) {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the checkpoint never showed {what}");
}

/// Issue 16.8: a running monitor cut off for longer than the WAL is kept finds the gap when
/// it reconnects (not only at its first connection), and the resync re-reads the server's
/// table list: a table created during the gap joins the catalog wholly marked, a table
/// dropped during it is marked dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wal_gap_while_disconnected_is_found_at_reconnect_and_resynced() {
    let data = tempfile::tempdir().unwrap();
    let standin = StandinServer::builder()
        .data_dir(data.path())
        .start()
        .await
        .unwrap();
    let addr = standin.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&standin, dir.path(), "db");
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    exec(&taos, "CREATE DATABASE db VGROUPS 1").await;
    exec(&taos, "CREATE TABLE db.kept (ts TIMESTAMP, v INT)").await;
    exec(&taos, "CREATE TABLE db.gone (ts TIMESTAMP, v INT)").await;
    init(&config).await.unwrap();
    exec(
        &taos,
        &format!("INSERT INTO db.kept VALUES ({BASE}, 1) db.gone VALUES ({BASE}, 1)"),
    )
    .await;

    let (stop, rx) = watch::channel(false);
    let options = MonitorOptions {
        poll_timeout: std::time::Duration::from_millis(50),
        ..MonitorOptions::default()
    };
    let monitor = {
        let config = config.clone();
        tokio::spawn(async move { run_monitor(&config, options, rx).await })
    };
    until_checkpoint(&config, "the first writes", |cp| {
        cp.catalog.id_of("db", "gone").is_some() && state(cp, "gone", BASE) == BlockState::New
    })
    .await;
    drop(taos);
    standin.shutdown().await;

    // While the monitor is cut off: tables come and go, and the WAL forgets it all.
    let standin = StandinServer::builder()
        .data_dir(data.path())
        .listen(&addr)
        .start()
        .await
        .unwrap();
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    exec(&taos, "CREATE TABLE db.born (ts TIMESTAMP, v INT)").await;
    exec(&taos, &format!("INSERT INTO db.born VALUES ({BASE}, 1)")).await;
    exec(&taos, "DROP TABLE db.gone").await;
    let (vgroup, end) = wal_end(&standin).await;
    standin.engine().expire_wal("db", vgroup, end).unwrap();

    until_checkpoint(&config, "the resync", |cp| {
        cp.catalog.id_of("db", "born").is_some()
    })
    .await;
    stop.send(true).unwrap();
    let report = monitor.await.unwrap().unwrap();
    assert!(report.stats.resyncs >= 1, "no resync counted");
    let cp = Checkpoint::load(&checkpoint_path(dir.path())).unwrap();
    assert_eq!(state(&cp, "born", BASE), BlockState::New);
    assert_eq!(state(&cp, "born", BASE + 99 * HOUR_MS), BlockState::New);
    assert_eq!(state(&cp, "kept", BASE + 99 * HOUR_MS), BlockState::New);
    let gone = cp
        .catalog
        .table(cp.catalog.id_of("db", "gone").unwrap())
        .unwrap();
    assert!(gone.dropped, "a table dropped during the gap is still live");
    standin.shutdown().await;
}

/// The single vgroup of `db` and its WAL's end, read by a consumer of another group.
async fn wal_end(standin: &RunningStandin) -> (i32, i64) {
    use tdibt_tdengine::{ChangeFeed, ConnectionSettings, FeedSettings, StartFrom};
    let db = tdibt_core::config::DatabaseConfig {
        host: "127.0.0.1".into(),
        port: standin.addr().port(),
        ..Default::default()
    };
    let mut probe = ChangeFeed::subscribe(
        &ConnectionSettings::from_config(&db),
        &FeedSettings {
            topic: "tdibt_db".into(),
            group_id: "probe".into(),
            client_id: "probe".into(),
            start_from: StartFrom::Earliest,
        },
    )
    .await
    .unwrap();
    let a = probe.assignment().await.unwrap();
    probe.close().await;
    (a[0].vgroup_id, a[0].end)
}
