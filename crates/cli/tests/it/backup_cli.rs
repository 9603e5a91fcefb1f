//! `tdibt repo/backup/restore/verify/list/show/merge/prune` as a user runs them, against the
//! stand-in; and backups killed (SIGKILL) at random points, then run again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use taos::{AsyncQueryable, Taos};

use serde_json::json;

use crate::support::{snapshot, standin_with_db, tdibt, write_config};

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

/// Rows for tables d0..d`tables`, `per_table` each over a day, values from `salt`.
async fn write(taos: &Taos, tables: usize, per_table: i64, salt: i64) {
    for t in 0..tables {
        let rows: Vec<String> = (0..per_table)
            .map(|i| {
                format!(
                    "({}, {})",
                    BASE + (i * 24 * HOUR_MS / per_table) + salt % 7,
                    i * salt + t as i64
                )
            })
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

fn ids(config: &Path) -> Vec<String> {
    let v = ok(&run(config, &["list", "--json"]));
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_commands_work_together() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port(), json!({}));
    write(&taos, 20, 48, 1).await;
    ok(&run(&config, &["init"]));

    // No repository yet: `list` names it and what to run, exit 6, nothing created. (A
    // backup creates it: tests/scenarios.rs.)
    let out = run(&config, &["list"]);
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a tdibt repository"), "{stderr}");
    assert!(stderr.contains("tdibt repo init"), "{stderr}");
    assert!(!dir.path().join("repo").exists());
    ok(&run(&config, &["repo", "init"]));
    let out = run(&config, &["repo", "init"]);
    assert_eq!(out.status.code(), Some(6), "a second init is refused");

    // Bad flags: exit 2, named.
    let out = run(&config, &["backup", "--full", "--since", "latest"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&config, &["restore", "--backup", "someday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("someday"));

    let full = ok(&run(&config, &["backup", "--json"]));
    assert_eq!(full["kind"], "full");
    assert_eq!(full["stats"]["rows"], 20 * 48);
    let before = snapshot(&taos, "db").await;
    write(&taos, 3, 5, 9).await; // upserts and new rows in 3 tables
    exec(
        &taos,
        &format!(
            "DELETE FROM db.d7 WHERE ts >= {BASE} AND ts <= {}",
            BASE + 3 * HOUR_MS
        ),
    )
    .await;
    exec(&taos, "DROP TABLE db.d19").await;
    let inc = ok(&run(&config, &["backup", "--json"]));
    assert_eq!(inc["kind"], "incremental");
    assert_eq!(inc["parent"], full["backup"]);
    assert!(inc["stats"]["rows"].as_u64().unwrap() < 20 * 48 / 2);
    let after = snapshot(&taos, "db").await;

    assert_eq!(ids(&config).len(), 2);
    let shown = ok(&run(
        &config,
        &["show", inc["backup"].as_str().unwrap(), "--json"],
    ));
    assert_eq!(shown["manifest"]["parent"], full["backup"]);

    // Restore the latest and the first into new databases; verify both against them.
    ok(&run(&config, &["restore", "--target-db", "copy", "--json"]));
    assert_eq!(snapshot(&taos, "copy").await, after);
    ok(&run(
        &config,
        &[
            "restore",
            "--backup",
            full["backup"].as_str().unwrap(),
            "--target-db",
            "old",
        ],
    ));
    assert_eq!(snapshot(&taos, "old").await, before);
    let report = dir.path().join("verification.json");
    ok(&run(
        &config,
        &[
            "verify",
            "--read-data",
            "--against-db",
            "copy",
            "--report",
            report.to_str().unwrap(),
        ],
    ));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["against"]["rows_compared"].as_u64().unwrap() > 0);
    // The old copy is not the latest backup: differences, exit 7.
    let out = run(&config, &["verify", "--against-db", "old"]);
    assert_eq!(out.status.code(), Some(7));

    // Merge, prune: one synthetic full is left, and it restores the latest state.
    ok(&run(&config, &["merge"]));
    let pruned = ok(&run(&config, &["prune", "--keep-last", "1", "--json"]));
    assert_eq!(pruned["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(ids(&config).len(), 1);
    ok(&run(&config, &["restore", "--target-db", "merged"]));
    assert_eq!(snapshot(&taos, "merged").await, after);

    // A flipped byte in a stored block: verify names the block, exit 7.
    let left = ids(&config);
    let shown = ok(&run(&config, &["show", &left[0], "--json"]));
    let part = &shown["manifest"]["blocks"][0]["parts"][0];
    let pack_hex = part["pack"].as_str().unwrap();
    let pack = sorted(tdibt_testkit::files_under(
        &dir.path().join("repo").join("packs"),
    ))
    .into_iter()
    .find(|p| p.to_string_lossy().contains(pack_hex))
    .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[part["offset"].as_u64().unwrap() as usize + 1] ^= 1;
    std::fs::write(&pack, bytes).unwrap();
    let out = run(&config, &["verify", "--read-data"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PROBLEM backup"));
    standin.shutdown().await;
}

/// `tdibt backup` killed with SIGKILL at random moments, a stale lock broken with
/// `tdibt repo unlock`, run again: every backup of the chain restores the database as it
/// was when that backup was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backups_resume_into_a_correct_chain() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port(), json!({}));
    write(&taos, 30, 200, 1).await;
    ok(&run(&config, &["init"]));
    ok(&run(&config, &["repo", "init"]));
    let mut expected: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut seed = 0x5EED_u64;
    let mut killed = 0;
    for round in 0..5 {
        if round > 0 {
            write(&taos, 4 + round, 20, round as i64 + 2).await;
            exec(
                &taos,
                &format!(
                    "DELETE FROM db.d{round} WHERE ts >= {} AND ts <= {}",
                    BASE + HOUR_MS,
                    BASE + 2 * HOUR_MS
                ),
            )
            .await;
        }
        let state = snapshot(&taos, "db").await;
        for _ in 0..2 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut child = tdibt(&config, &["backup", "--jobs", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(seed % 400)).await;
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed += 1;
            }
            child.wait().unwrap();
            // A killed backup leaves its lock; its process is gone, so it is stale.
            ok(&run(&config, &["repo", "unlock"]));
        }
        ok(&run(&config, &["backup"]));
        for id in ids(&config) {
            expected.entry(id).or_insert_with(|| state.clone());
        }
    }
    assert!(killed > 0, "no backup was killed");
    let check = run(&config, &["verify", "--read-data"]);
    ok(&check);
    for (k, (id, state)) in expected.iter().enumerate() {
        let target = format!("r{k}");
        ok(&run(
            &config,
            &["restore", "--backup", id, "--target-db", &target],
        ));
        assert_eq!(&snapshot(&taos, &target).await, state, "backup {id}");
    }
    standin.shutdown().await;
}

/// A backup before `tdibt init` names what is missing (exit 4) and creates nothing.
#[test]
fn a_backup_without_a_checkpoint_says_to_init() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 1, json!({}));
    ok(&run(&config, &["repo", "init"]));
    let out = run(&config, &["backup"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run `tdibt init` first"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("cache").exists());
    assert!(ids(&config).is_empty());
}

fn sorted(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths
}
