//! What the binary's integration tests share: running `tdibt` as a user does, and a stand-in
//! with a database ready.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use taos::{AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder};
use taos_standin::{RunningStandin, StandinServer};

/// `tdibt --config CONFIG ARGS -q`, with no persistence override from the environment.
/// Starts `tdibt monitor ARGS` and waits until it serves backups (its socket exists in the
/// persistence folder `cache`).
#[allow(dead_code)] // each test binary uses its part of the kit
pub fn start_monitor(config: &Path, cache: &Path, args: &[&str]) -> std::process::Child {
    let socket = cache.join("monitor.sock");
    let _ = std::fs::remove_file(&socket);
    let mut all = vec!["monitor"];
    all.extend_from_slice(args);
    let mut child = tdibt(config, &all)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !socket.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the monitor exited");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// SIGTERM, then the exit status.
#[allow(dead_code)]
pub fn sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

pub fn tdibt(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tdibt"));
    c.arg("--config").arg(config).args(args).arg("-q");
    c.env_remove("TDIBT_PERSISTENCE_PATH");
    c
}

pub async fn connect(s: &RunningStandin) -> Taos {
    TaosBuilder::from_dsn(s.dsn())
        .unwrap()
        .build()
        .await
        .unwrap()
}

/// A stand-in (persisting to `data_dir` if given) holding database `db` with `vgroups`
/// vgroups and a super table `db.meters (ts, v INT) TAGS (g INT)`.
pub async fn standin_with_db(data_dir: Option<&Path>, vgroups: u32) -> (RunningStandin, Taos) {
    let mut builder = StandinServer::builder();
    if let Some(dir) = data_dir {
        builder = builder.data_dir(dir);
    }
    let standin = builder.start().await.unwrap();
    let taos = connect(&standin).await;
    taos.exec(format!("CREATE DATABASE db VGROUPS {vgroups}"))
        .await
        .unwrap();
    taos.exec("CREATE STABLE db.meters (ts TIMESTAMP, v INT) TAGS (g INT)")
        .await
        .unwrap();
    (standin, taos)
}

// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use tdibt_testkit::config::{write_config, write_config_as};
#[allow(unused_imports)]
pub use tdibt_testkit::db::{snapshot, snapshot_where};
