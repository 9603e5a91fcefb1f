//! `tdibt init` / `tdibt monitor` as a user runs them, against the stand-in: SIGKILL at random
//! points and a server restart mid-stream lose nothing; a corrupt checkpoint stops the
//! monitor with a clear error and is left as it was.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use taos::{AsyncQueryable, Taos};
use taos_standin::StandinServer;
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::ChangeKind;

use serde_json::json;

use crate::support::{self, connect, standin_with_db, tdibt};
use tdibt_testkit::Rng;

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

fn run(config: &Path, args: &[&str]) -> Output {
    tdibt(config, args).output().unwrap()
}

async fn write_batch(taos: &Taos, rng: &mut Rng, model: &mut BTreeSet<(String, i32)>) {
    for _ in 0..20 {
        let t = format!("t{}", rng.below(30));
        let mut sql = format!("INSERT INTO db.{t} USING db.meters TAGS (1) VALUES");
        for _ in 0..1 + rng.below(50) {
            let ts = BASE - rng.below(500) as i64 * HOUR_MS + rng.below(3600) as i64;
            sql.push_str(&format!(" ({ts}, 1)"));
            model.insert((t.clone(), ts.div_euclid(HOUR_MS) as i32));
        }
        taos.exec(&sql).await.unwrap();
    }
}

fn marked(dir: &Path) -> BTreeSet<(String, i32)> {
    let cp = Checkpoint::load(&checkpoint_path(&dir.join("cache"))).unwrap();
    cp.engine
        .blocks(ChangeKind::New)
        .map(|b| {
            (
                cp.catalog.table(b.table()).unwrap().name.clone(),
                b.window().0,
            )
        })
        .collect()
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    support::write_config(
        dir,
        port,
        json!({"monitoring": {"checkpoint_interval_ms": 20, "checkpoint_events": 50}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_monitors_and_a_restarted_server_lose_nothing() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut standin, taos) = standin_with_db(Some(data.path()), 2).await;
    let addr = standin.addr();
    let config = write_config(dir.path(), addr.port());
    drop(taos);
    let out = run(&config, &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut model = BTreeSet::new();
    let mut rng = Rng::new(0xC0FF_EE00_1234_5678);
    for round in 0..12 {
        let taos = connect(&standin).await;
        write_batch(&taos, &mut rng, &mut model).await;
        let mut child = tdibt(&config, &["monitor"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        write_batch(&taos, &mut rng, &mut model).await;
        drop(taos);
        tokio::time::sleep(Duration::from_millis(30 + rng.below(400))).await;
        if round == 6 {
            // The server goes away under a running monitor and comes back on the same port.
            standin.shutdown().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            standin = StandinServer::builder()
                .data_dir(data.path())
                .listen(&addr.to_string())
                .start()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let out = run(&config, &["monitor", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = marked(dir.path());
    assert_eq!(
        got.len(),
        model.len(),
        "marked {} blocks, the workload changed {}",
        got.len(),
        model.len()
    );
    assert!(got == model);
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_checkpoint_stops_the_monitor_and_is_kept() {
    let standin = StandinServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port());
    let taos = connect(&standin).await;
    taos.exec("CREATE DATABASE db VGROUPS 1").await.unwrap();
    assert!(run(&config, &["init"]).status.success());
    let path = checkpoint_path(&dir.path().join("cache"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&config, &["monitor", "--once"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupt") && err.contains("checkpoint.tdibt"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the checkpoint was rewritten"
    );
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_names_what_is_wrong() {
    let standin = StandinServer::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port());
    // Missing database.
    let out = run(&config, &["init"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"db\" does not exist"));
    // Refused login.
    let out = tdibt(&config, &["init"])
        .env("TDIBT_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("login refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nobody listening.
    standin.shutdown().await;
    let out = run(&config, &["init"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!checkpoint_path(&dir.path().join("cache")).exists());
}
