//! What the backup crate's integration tests share: a stand-in with a capturing database, a
//! repository, a random workload, and snapshots of a database to compare row by row.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use taos::{AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder};
use taos_standin::{RunningStandin, StandinServer};
use tdibt_backup::{run_backup, BackupOptions, BackupReport, NoProgress, Pick};
use tdibt_core::config::Config;
use tdibt_repository::{LocalStore, Repository};
use tdibt_tdengine::ConnectionSettings;

pub const HOUR_MS: i64 = 3_600_000;
pub const BASE: i64 = 1_700_000_000_000 / HOUR_MS * HOUR_MS;
pub const WINDOWS: i64 = 24;

pub struct Setup {
    pub standin: RunningStandin,
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub taos: Taos,
    pub repo: Repository,
}

impl Setup {
    /// Database `db` with super table `meters` and `tables` children, a normal table `n0`,
    /// some rows in each, capture initialised, and an empty repository.
    pub async fn new(tables: usize) -> Setup {
        let standin = StandinServer::builder().start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.database.host = "127.0.0.1".into();
        config.database.port = standin.addr().port();
        config.database.name = Some("db".into());
        config.bitmap_engine.persistence_path = dir.path().join("cache");
        config.backup.output_path = dir.path().join("repo");
        let taos = TaosBuilder::from_dsn(standin.dsn())
            .unwrap()
            .build()
            .await
            .unwrap();
        exec(&taos, "CREATE DATABASE db VGROUPS 2").await;
        exec(
            &taos,
            "CREATE STABLE db.meters (ts TIMESTAMP, v INT, s VARCHAR(16)) TAGS (g INT, loc NCHAR(8))",
        )
        .await;
        for t in 0..tables {
            exec(
                &taos,
                &format!("CREATE TABLE db.d{t} USING db.meters TAGS ({t}, 'l{t}')"),
            )
            .await;
        }
        exec(&taos, "CREATE TABLE db.n0 (ts TIMESTAMP, x DOUBLE, b BOOL)").await;
        tdibt_capture::init(&config).await.unwrap();
        let repo =
            Repository::init(Box::new(LocalStore::new(&config.backup.output_path)), 0).unwrap();
        Setup {
            standin,
            dir,
            config,
            taos,
            repo,
        }
    }

    pub fn settings(&self) -> ConnectionSettings {
        ConnectionSettings::from_config(&self.config.database)
    }

    pub async fn backup(&self, full: bool) -> BackupReport {
        self.backup_with(BackupOptions {
            full,
            jobs: 3,
            ..BackupOptions::default()
        })
        .await
    }

    /// Drains the change feed into the engine, as `tdibt backup` does first.
    pub async fn drain(&self) {
        let (_keep, never) = tokio::sync::watch::channel(false);
        let options = tdibt_capture::MonitorOptions {
            once: true,
            ..tdibt_capture::MonitorOptions::default()
        };
        tdibt_capture::run_monitor(&self.config, options, never)
            .await
            .unwrap();
    }

    pub async fn backup_with(&self, options: BackupOptions) -> BackupReport {
        run_backup(&self.config, &self.repo, &options, &NoProgress)
            .await
            .unwrap()
    }
}

pub fn since(id: &tdibt_repository::BackupId) -> Pick {
    Pick::Backup(id.clone())
}

pub async fn exec(taos: &Taos, sql: &str) {
    taos.exec(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A seeded stream of realistic changes: rows in order and late, upserts of existing
/// timestamps, range deletes, dropped, recreated and new tables.
pub struct Workload {
    rng: StdRng,
    pub live: Vec<String>,
    next_table: usize,
}

impl Workload {
    pub fn new(seed: u64, tables: usize) -> Self {
        Workload {
            rng: StdRng::seed_from_u64(seed),
            live: (0..tables).map(|t| format!("d{t}")).collect(),
            next_table: tables,
        }
    }

    fn ts(&mut self) -> i64 {
        // Few distinct offsets per window, so later rows often overwrite earlier ones.
        BASE + self.rng.random_range(0..WINDOWS) * HOUR_MS + self.rng.random_range(0..40) * 60_000
    }

    fn rows(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                let ts = self.ts();
                let v = self.rng.random_range(-1000..1000);
                let s = if self.rng.random_bool(0.2) {
                    "NULL".to_string()
                } else {
                    format!("'s{}'", self.rng.random_range(0..100))
                };
                format!("({ts}, {v}, {s})")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Inserts into every live table (the first backup's data).
    pub async fn fill(&mut self, taos: &Taos, rows_per_table: usize) {
        for t in self.live.clone() {
            let rows = self.rows(rows_per_table);
            exec(taos, &format!("INSERT INTO db.{t} VALUES {rows}")).await;
        }
        let n0: Vec<String> = (0..rows_per_table)
            .map(|i| {
                format!(
                    "({}, {}, {})",
                    self.ts(),
                    i as f64 / 3.0,
                    self.rng.random_bool(0.5)
                )
            })
            .collect();
        exec(taos, &format!("INSERT INTO db.n0 VALUES {}", n0.join(" "))).await;
    }

    /// One round of changes between two backups.
    pub async fn round(&mut self, taos: &Taos) {
        for _ in 0..12 {
            let t = self.pick();
            let n = self.rng.random_range(1..6);
            let rows = self.rows(n);
            exec(taos, &format!("INSERT INTO db.{t} VALUES {rows}")).await;
        }
        for _ in 0..2 {
            let t = self.pick();
            let a = self.ts();
            let b =
                a + self.rng.random_range(0..3) * HOUR_MS + self.rng.random_range(0..30) * 60_000;
            exec(
                taos,
                &format!("DELETE FROM db.{t} WHERE ts >= {a} AND ts <= {b}"),
            )
            .await;
        }
        match self.rng.random_range(0..4) {
            0 => {
                // A new table, auto-created by its first insert.
                let t = format!("d{}", self.next_table);
                self.next_table += 1;
                let rows = self.rows(8);
                exec(
                    taos,
                    &format!(
                        "INSERT INTO db.{t} USING db.meters TAGS ({}, 'new') VALUES {rows}",
                        self.next_table
                    ),
                )
                .await;
                self.live.push(t);
            }
            1 if self.live.len() > 3 => {
                let i = self.rng.random_range(0..self.live.len());
                let t = self.live.remove(i);
                exec(taos, &format!("DROP TABLE db.{t}")).await;
            }
            2 => {
                // Dropped and created again under the same name, with other tags and rows.
                let t = self.pick();
                exec(taos, &format!("DROP TABLE db.{t}")).await;
                let rows = self.rows(5);
                exec(
                    taos,
                    &format!("INSERT INTO db.{t} USING db.meters TAGS (-1, 'again') VALUES {rows}"),
                )
                .await;
            }
            _ => {
                let rows: Vec<String> = (0..3)
                    .map(|_| format!("({}, {}, NULL)", self.ts(), self.rng.random_range(0..9)))
                    .collect();
                exec(
                    taos,
                    &format!("INSERT INTO db.n0 VALUES {}", rows.join(" ")),
                )
                .await;
            }
        }
    }

    fn pick(&mut self) -> String {
        let i = self.rng.random_range(0..self.live.len());
        self.live[i].clone()
    }
}

pub use tdibt_testkit::db::snapshot;

/// Copies a folder tree (a repository, to damage the copy).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
