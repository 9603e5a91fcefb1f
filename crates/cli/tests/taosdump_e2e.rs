//! End to end with a taosdump double (issue 18): a workload of late rows, upserts, a delete
//! and a drop on the stand-in → `tdibt blocks` → `tdibt taosdump-script` → the backup script
//! run with the double on PATH → verify-taosdump passes (and `--against` the live database);
//! with one table's range dropped by the double, `verify-taosdump --against` fails naming
//! that table and range; a base dump plus `restore_script.sh` bring a fresh stand-in to the
//! source's state, compared row by row and tag by tag through the super table.
//!
//! No libtest harness (`harness = false`): this binary is also the double. Run under the
//! name `taosdump` (a symbolic link on PATH) it acts as taosdump (see `taosdump_double`).
#![allow(clippy::unwrap_used)]

mod support;
mod taosdump_double;
mod taosdump_engine;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use taos::{AsyncFetchable, AsyncQueryable, Taos};

use support::{connect, standin_with_db, tdibt};

pub const HOUR_MS: i64 = 3_600_000;
pub const BASE: i64 = 1_767_225_600_000;

fn main() {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    if Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "taosdump")
    {
        std::process::exit(taosdump_double::main(args.collect()));
    }
    // `cargo test -- --list` and filters: each test runs unless filtered out.
    let rest: Vec<String> = args.collect();
    const TESTS: [&str; 2] = [
        "taosdump_script_end_to_end",
        "backup_engine_taosdump_end_to_end",
    ];
    if rest.iter().any(|a| a == "--list") {
        for t in TESTS {
            println!("{t}: test");
        }
        return;
    }
    let filters: Vec<&String> = rest.iter().filter(|a| !a.starts_with('-')).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for t in TESTS {
        if !filters.is_empty() && !filters.iter().any(|f| t.contains(f.as_str())) {
            continue;
        }
        match t {
            "taosdump_script_end_to_end" => runtime.block_on(end_to_end()),
            _ => runtime.block_on(taosdump_engine::engine_end_to_end()),
        }
        println!("test {t} ... ok");
    }
}

fn write_config(dir: &Path, name: &str, port: u16) -> PathBuf {
    support::write_config_as(
        dir,
        name,
        port,
        serde_json::json!({
            "bitmap_engine": {"persistence_path": dir.join(format!("{name}.cache"))},
            "backup": {"output_path": dir.join(format!("{name}.repo"))}
        }),
    )
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "exit {:?}: {text}", out.status.code());
    text
}

async fn exec(taos: &Taos, sql: &str) {
    taos.exec(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Every row of the super table with its table's name and tag: the comparison's read
/// path (the double dumps and imports per table, with `SELECT *`, `ins_tags`).
async fn contents(taos: &Taos) -> Vec<String> {
    let mut rs = taos
        .query("SELECT tbname, g, ts, v FROM db.meters")
        .await
        .unwrap();
    let rows = rs.to_records().await.unwrap();
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    // Sorted here: the order is by table name, then timestamp (the first two are fixed
    // width in this test: `d<N>` and the tag).
    out.sort();
    out
}

/// A folder holding `taosdump`: a link to this very binary.
fn double_on_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), bin.join("taosdump")).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `sh SCRIPT DIR` with the double on PATH and tdibt configured by `config`.
fn run_script(script: &Path, dir: &Path, path: &str, config: &Path, drop: Option<&str>) -> Output {
    let mut c = Command::new("sh");
    c.arg(script)
        .arg(dir)
        .env("PATH", path)
        .env("TDIBT", env!("CARGO_BIN_EXE_tdibt"))
        .env("TDIBT_CONFIG", config)
        .env("TDIBT_TAOSDUMP_PASSWORD", "taosdata")
        .env_remove("TDIBT_PERSISTENCE_PATH")
        .env_remove("TAOSDUMP");
    match drop {
        Some(t) => c.env("TAOSDUMP_DOUBLE_DROP_TABLE", t),
        None => c.env_remove("TAOSDUMP_DOUBLE_DROP_TABLE"),
    };
    c.output().unwrap()
}

/// 5 tables, a row a minute over 6 hours.
async fn load(taos: &Taos) {
    for t in 0..5 {
        for h in 0..6 {
            let rows: Vec<String> = (0..60)
                .map(|m| format!("({}, {})", BASE + h * HOUR_MS + m * 60_000, t * 1000 + m))
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
    }
}

async fn workload(taos: &Taos) {
    // Late rows in hour 2 of d0 and d1, upserts in hour 4 of d2, a delete of hour 3 of d3,
    // a drop of d4.
    for t in 0..2 {
        exec(
            taos,
            &format!(
                "INSERT INTO db.d{t} VALUES ({}, 999)",
                BASE + 2 * HOUR_MS + 30_001
            ),
        )
        .await;
    }
    for m in 0..5 {
        exec(
            taos,
            &format!(
                "INSERT INTO db.d2 VALUES ({}, -1)",
                BASE + 4 * HOUR_MS + m * 60_000
            ),
        )
        .await;
    }
    exec(
        taos,
        &format!(
            "DELETE FROM db.d3 WHERE ts >= {} AND ts <= {}",
            BASE + 3 * HOUR_MS,
            BASE + 4 * HOUR_MS - 1
        ),
    )
    .await;
    exec(taos, "DROP TABLE db.d4").await;
}

async fn end_to_end() {
    let (source, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = write_config(d, "source.json", source.addr().port());
    let path = double_on_path(d);
    load(&taos).await;
    let run = |args: &[&str]| tdibt(&config, args).output().unwrap();
    ok(&run(&["init"]));
    ok(&run(&["repo", "init"]));
    ok(&run(&["backup"]));
    // The base a restore starts from: a whole dump by the double, taken at the backup.
    let port = source.addr().port().to_string();
    let base = d.join("base");
    let out = Command::new(d.join("bin/taosdump"))
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port,
            "-o",
            base.to_str().unwrap(),
            "db",
        ])
        .output()
        .unwrap();
    ok(&out);

    double_refuses_and_reads_ranges_as_taosdump(d, &port);

    workload(&taos).await;

    // The plan and the scripts, taosdump pointed at the source.
    let script = d.join("backup_script.sh");
    ok(&run(&[
        "taosdump-script",
        "--taosdump-port",
        &port,
        "--to",
        script.to_str().unwrap(),
    ]));
    let dump = d.join("dump");
    let text = ok(&run_script(&script, &dump, &path, &config, None));
    assert!(text.contains("dump verified"), "{text}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dump.join("verification_report.json")).unwrap())
            .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["problems"].as_array().unwrap().is_empty(),
        "{report}"
    );
    // Late rows of d0/d1 (hour 2: 61 rows each) and d2's upserted hour (60 rows); d3's
    // deleted hour is recorded in the plan, not dumped.
    assert_eq!(report["rows"], 61 + 61 + 60, "{report}");
    let verify = |dir: &Path| {
        tdibt(
            &config,
            &[
                "verify-taosdump",
                dir.to_str().unwrap(),
                "--blocks",
                dir.join("incremental_blocks.json").to_str().unwrap(),
                "--against",
            ],
        )
        .output()
        .unwrap()
    };
    ok(&verify(&dump));

    // One range left out by the double: the script's own check sees an empty range only
    // (it could have been emptied since); against the live database it fails, naming it.
    let bad = d.join("dump-bad");
    let text = ok(&run_script(&script, &bad, &path, &config, Some("d1")));
    assert!(text.contains("dump verified"), "{text}");
    let out = verify(&bad);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let range = format!("{}", BASE + 2 * HOUR_MS);
    let line = text
        .lines()
        .find(|l| l.contains("d1") && (l.contains(&range) || l.contains("2026-01-01T02:00")))
        .unwrap_or_else(|| panic!("no problem names d1 and its range: {text}"));
    assert!(!line.contains("d0"), "{line}");

    // Restore into a fresh stand-in: the base, then restore_script.sh (taosdump-apply's
    // drop, delete and clearing, then `taosdump -i` of each call's folder).
    let (fresh, fresh_taos) = standin_with_db(None, 1).await;
    exec(&fresh_taos, "DROP DATABASE db").await;
    let fresh_port = fresh.addr().port().to_string();
    let fresh_config = write_config(d, "fresh.json", fresh.addr().port());
    let out = Command::new(d.join("bin/taosdump"))
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &fresh_port,
            "-p",
            "-i",
            base.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    ok(&out);
    // The same plan's scripts with taosdump pointed at the fresh server.
    let to_fresh = d.join("to-fresh");
    std::fs::create_dir_all(&to_fresh).unwrap();
    ok(&run(&[
        "taosdump-script",
        "--taosdump-port",
        &fresh_port,
        "--to",
        to_fresh.join("backup_script.sh").to_str().unwrap(),
    ]));
    let before = contents(&connect(&fresh).await).await;
    assert_ne!(
        before,
        contents(&taos).await,
        "the base alone already matches: the test proves nothing"
    );
    ok(&run_script(
        &to_fresh.join("restore_script.sh"),
        &dump,
        &path,
        &fresh_config,
        None,
    ));
    let fresh_taos = connect(&fresh).await;
    let source_rows = contents(&taos).await;
    assert_eq!(source_rows.len(), 4 * 360 + 2 - 60, "source rows");
    assert_eq!(contents(&fresh_taos).await, source_rows);
    assert_eq!(table_names(&fresh_taos).await, ["d0", "d1", "d2", "d3"]);
}

/// The tables of `db`, by name.
async fn table_names(taos: &Taos) -> Vec<String> {
    let mut rs = taos
        .query("SELECT table_name FROM information_schema.ins_tables WHERE db_name = 'db' ORDER BY table_name")
        .await
        .unwrap();
    rs.to_records()
        .await
        .unwrap()
        .iter()
        .map(|r| r[0].to_string().unwrap())
        .collect()
}

/// What the double refuses, as taosdump does, and its `-S`/`-E` reading: ISO-8601 (both `:`
/// and `-`) or an epoch, both ends inclusive.
fn double_refuses_and_reads_ranges_as_taosdump(d: &Path, port: &str) {
    let double = |args: &[&str]| {
        Command::new(d.join("bin/taosdump"))
            .args(args)
            .output()
            .unwrap()
    };
    let base = d.join("base");
    let out = double(&["-P", port, "-o", base.to_str().unwrap(), "db"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{out:?}"
    );
    let out = double(&["-P", port, "-x", "db"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unrecognized option '-x'"),
        "{out:?}"
    );
    let out = double(&["-P", port]);
    assert!(!out.status.success(), "{out:?}");
    let start = BASE + 2 * HOUR_MS;
    let (s, e) = (start.to_string(), (start + 59 * 60_000).to_string());
    let iso = d.join("iso");
    let epoch = d.join("epoch");
    let iso_out = ok(&double(&[
        "-P",
        port,
        "-S",
        "2026-01-01T02:00:00.000Z",
        "-E",
        "2026-01-01T02:59:00.000Z",
        "-o",
        iso.to_str().unwrap(),
        "db",
        "d0",
    ]));
    let epoch_out = ok(&double(&[
        "-P",
        port,
        "-S",
        &s,
        "-E",
        &e,
        "-o",
        epoch.to_str().unwrap(),
        "db",
        "d0",
    ]));
    // -E names the hour's last row: inclusive, all 60 rows of the hour, the same either way.
    assert!(iso_out.contains("total 60 row(s)"), "{iso_out}");
    assert!(epoch_out.contains("total 60 row(s)"), "{epoch_out}");
}
