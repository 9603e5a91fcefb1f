//! What the binary's integration tests share: running `tdibt` as a user does, and a stand-in
//! with a database ready.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use taos::{AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder};
use taos_standin::{RunningStandin, StandinServer};

/// `tdibt --config CONFIG ARGS -q`, with no persistence override from the environment.
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
