//! The C test program (`tests/c/cycle.c`), compiled with the system C compiler against the
//! built library and the checked-in header, runs the whole cycle against the stand-in: init,
//! monitoring, rows written through the official connector, backups, a taosdump script,
//! verify, stats, stop, cleanup, and every misuse. Under valgrind when it is installed
//! (`.ci/run` installs it; with `CI` set its absence fails the test): no definite leak and
//! no invalid access may be reported.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use taos::{AsyncFetchable, AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder};
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

/// The folder cargo put `libtdibt.so` in (this test's executable is in its `deps`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        if dir.join("libtdibt.so").exists() {
            return dir.to_path_buf();
        }
    }
    panic!("libtdibt.so not found beside {}", exe.display());
}

fn compile(out: &Path) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = library_dir();
    let exe = out.join("cycle");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .arg("-std=c99")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-g")
        .arg(crate_dir.join("tests/c/cycle.c"))
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-L")
        .arg(&lib)
        .arg("-ltdibt")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success(), "the C test program does not compile");
    exe
}

fn valgrind() -> Option<PathBuf> {
    let out = Command::new("valgrind").arg("--version").output().ok()?;
    out.status.success().then(|| PathBuf::from("valgrind"))
}

async fn exec(taos: &Taos, sql: &str) {
    taos.exec(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One row in block (`table`, `window`) with value `v`.
async fn row(taos: &Taos, table: usize, window: i64, minute: i64, v: i64) {
    exec(
        taos,
        &format!(
            "INSERT INTO db.c{table} USING db.meters TAGS ({table}) VALUES ({}, {v})",
            BASE + window * HOUR_MS + minute * 60_000
        ),
    )
    .await;
}

/// Every row of `db`, per table, read with `SELECT *` through the official connector.
async fn rows(taos: &Taos, db: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for t in 0..5 {
        let mut rs = taos
            .query(format!("SELECT * FROM {db}.c{t}"))
            .await
            .unwrap();
        let r = rs.to_records().await.unwrap();
        out.push((
            format!("c{t}"),
            r.iter().map(|x| format!("{x:?}")).collect(),
        ));
    }
    out
}

/// Waits until the monitor's checkpoint holds `new` NEW blocks and its figures count
/// `backups` backups (the C program's stats read both files, which the monitor writes as it
/// goes).
fn wait_for_monitor(cache: &Path, new: u64, backups: u64) {
    let started = Instant::now();
    loop {
        let counted = std::fs::read(cache.join(tdibt_capture::STATS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<tdibt_capture::stats::CaptureStats>(&b).ok())
            .map(|s| s.backups.succeeded);
        if let Ok(cp) = Checkpoint::load(&checkpoint_path(cache)) {
            if cp.engine.counts().new == new && counted == Some(backups) {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never captured"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_program_runs_the_whole_cycle() {
    let standin = taos_standin::StandinServer::builder()
        .start()
        .await
        .unwrap();
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    exec(&taos, "CREATE DATABASE db VGROUPS 2").await;
    exec(
        &taos,
        "CREATE STABLE db.meters (ts TIMESTAMP, v INT) TAGS (g INT)",
    )
    .await;
    // 5 tables x 3 hour blocks.
    for t in 0..5 {
        for w in 0..3 {
            row(&taos, t, w, 10, (t * 10) as i64 + w).await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let repo = dir.path().join("repo");
    let config = dir.path().join("tdibt.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "database": {"host": "127.0.0.1", "port": standin.addr().port(), "name": "db"},
            "bitmap_engine": {"persistence_path": cache},
            "backup": {"output_path": dir.path().join("unused")},
            "monitoring": {"checkpoint_interval_ms": 20}
        })
        .to_string(),
    )
    .unwrap();
    let exe = compile(dir.path());
    let script = dir.path().join("backup_script.sh");
    let args = [
        config.to_str().unwrap(),
        repo.to_str().unwrap(),
        script.to_str().unwrap(),
        "db",
    ];
    let mut command = match valgrind() {
        Some(v) => {
            let mut c = Command::new(v);
            c.args([
                "--quiet",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite",
            ])
            .arg(&exe);
            c
        }
        // CI installs valgrind (`.ci/run`): there, running without it would hide what this
        // test is for.
        None if std::env::var_os("CI").is_some() => panic!("CI is set but valgrind is missing"),
        None => {
            eprintln!("valgrind is not installed: the C program runs without it");
            Command::new(&exe)
        }
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stats = None;
    let mut done = None;
    let mut after_incremental = Vec::new();
    while let Some(line) = rx.recv().await {
        match line.as_str() {
            "READY write" => {
                // Between the full and the incremental: an upsert (DIRTY), a new block.
                row(&taos, 0, 0, 10, 999).await;
                row(&taos, 1, 5, 0, 1).await;
                after_incremental = rows(&taos, "db").await;
                writeln!(stdin, "go").unwrap();
            }
            "READY write-more" => {
                // After the incremental: two NEW blocks the stats must count.
                row(&taos, 2, 7, 0, 2).await;
                row(&taos, 3, 8, 0, 3).await;
                wait_for_monitor(&cache, 2, 2);
                writeln!(stdin, "go").unwrap();
            }
            l if l.starts_with("STATS ") => stats = Some(l.to_string()),
            l if l.starts_with("DONE ") => done = Some(l.to_string()),
            other => panic!("unexpected output: {other}"),
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(done.as_deref(), Some("DONE failures=0"));
    assert!(
        status.success(),
        "exit {status:?} (99: valgrind found an error)"
    );
    let stats = stats.expect("the program printed its stats");
    let field = |name: &str| -> i64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("version"), 1, "{stats}");
    assert_eq!(field("new"), 2, "{stats}");
    assert_eq!(field("dirty"), 0, "{stats}");
    assert_eq!(field("deleted"), 0, "{stats}");
    // 15 blocks of the full and the one the incremental added.
    assert_eq!(field("present"), 16, "{stats}");
    assert_eq!(field("tables"), 5, "{stats}");
    assert_eq!(field("live"), 5, "{stats}");
    assert_eq!(field("succeeded"), 2, "{stats}");
    assert_eq!(field("failed"), 0, "{stats}");
    assert_eq!(field("monitoring"), 1, "{stats}");
    assert!(field("last_backup") > 0, "{stats}");
    assert!(field("events") >= 4, "{stats}");
    assert!(field("rows") >= 4, "{stats}");

    // The script names the two changed blocks' tables.
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("c2") && text.contains("c3"), "{text}");
    assert!(dir.path().join("restore_script.sh").exists());

    // The incremental restores the source as it was when it was taken, row by row.
    let repository =
        tdibt_repository::Repository::open(tdibt_repository::store::for_location(&repo).unwrap())
            .unwrap();
    let newest = tdibt_backup::pick_backup(&repository, Some("db"), &tdibt_backup::Pick::Latest)
        .unwrap()
        .unwrap();
    let settings = tdibt_tdengine::ConnectionSettings::from_config(
        &tdibt_core::config::Config::load(&config).unwrap().database,
    );
    let restored = tdibt_backup::run_restore(
        &repository,
        &settings,
        &tdibt_backup::RestoreOptions {
            backup: newest.id.clone(),
            target_db: Some("r".into()),
            jobs: 2,
        },
        &tdibt_backup::NoProgress,
    )
    .await
    .unwrap();
    assert!(restored.is_ok(), "{:?}", restored.differences);
    assert_eq!(rows(&taos, "r").await, after_incremental);
    standin.shutdown().await;
}
