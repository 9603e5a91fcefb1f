//! `tdibt blocks` and `tdibt taosdump-script` on the stand-in after a full backup and a
//! workload of late rows, upserts, a delete and a drop; and the measurement of what
//! `taosdump -S <last backup time>` alone would miss (printed; copied into the README).

use std::process::Output;

use taos::{AsyncFetchable, AsyncQueryable, Taos};

use serde_json::json;

use crate::support::{standin_with_db, tdibt, write_config};

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn exec(taos: &Taos, sql: &str) {
    taos.exec(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(taos: &Taos, sql: &str) -> i64 {
    let mut rs = taos.query(sql).await.unwrap();
    let rows = rs.to_records().await.unwrap();
    rows.first()
        .map(|r| r[0].to_string().unwrap().parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_scripts_cover_late_rows_deletes_and_drops_that_a_time_window_misses() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port(), json!({}));
    // 10 tables, one row a minute over 24 hours.
    for t in 0..10 {
        for chunk in 0..24 {
            let rows: Vec<String> = (0..60)
                .map(|m| format!("({}, {})", BASE + chunk * HOUR_MS + m * 60_000, m))
                .collect();
            exec(
                &taos,
                &format!(
                    "INSERT INTO db.d{t} USING db.meters TAGS ({t}) VALUES {}",
                    rows.join(" ")
                ),
            )
            .await;
        }
    }
    let run = |args: &[&str]| tdibt(&config, args).output().unwrap();
    ok(&run(&["init"]));
    ok(&run(&["repo", "init"]));
    ok(&run(&["backup"]));
    // The last backup's time, as `taosdump -S` alone would take it: every row written so
    // far has a timestamp before it; the workload below writes at or after it only where
    // it says "new".
    let last_backup = BASE + 24 * HOUR_MS;
    // Late rows: 6 tables get a row in hour 3 (long before the last backup time).
    for t in 0..6 {
        exec(
            &taos,
            &format!(
                "INSERT INTO db.d{t} VALUES ({}, 999)",
                BASE + 3 * HOUR_MS + 30_001
            ),
        )
        .await;
    }
    // Upserts: 2 tables overwrite 5 rows each in hour 10.
    for t in 6..8 {
        for m in 0..5 {
            exec(
                &taos,
                &format!(
                    "INSERT INTO db.d{t} VALUES ({}, -1)",
                    BASE + 10 * HOUR_MS + m * 60_000
                ),
            )
            .await;
        }
    }
    // A delete of hours 12..=13 of d8, a drop of d9, and new rows after the backup time.
    exec(
        &taos,
        &format!(
            "DELETE FROM db.d8 WHERE ts >= {} AND ts <= {}",
            BASE + 12 * HOUR_MS,
            BASE + 14 * HOUR_MS - 1
        ),
    )
    .await;
    exec(&taos, "DROP TABLE db.d9").await;
    for t in 0..3 {
        exec(
            &taos,
            &format!("INSERT INTO db.d{t} VALUES ({}, 1)", last_backup + 60_000),
        )
        .await;
    }

    let blocks_path = dir.path().join("incremental_blocks.json");
    ok(&run(&["blocks", "--to", blocks_path.to_str().unwrap()]));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&blocks_path).unwrap()).unwrap();
    assert_eq!(doc["format"], "tdibt-incremental-blocks");
    assert_eq!(doc["dropped_tables"], serde_json::json!(["d9"]));
    let tables = doc["tables"].as_array().unwrap();
    let ranges_of = |name: &str| -> Vec<(i64, i64)> {
        tables
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| {
                t["ranges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let h = |n: i64| BASE + n * HOUR_MS;
    assert_eq!(ranges_of("d0"), [(h(3), h(4)), (h(24), h(25))]);
    assert_eq!(ranges_of("d5"), [(h(3), h(4))]);
    assert_eq!(ranges_of("d6"), [(h(10), h(11))]);
    let d8 = tables.iter().find(|t| t["name"] == "d8").unwrap();
    let deleted: Vec<(i64, i64)> = d8["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap()))
        .collect();
    assert_eq!(deleted, [(h(12), h(14))]);

    // What `taosdump -S <last backup time>` alone reads, and what the plan reads.
    let (mut plan_blocks, mut plan_rows, mut missed_blocks, mut missed_rows) = (0, 0, 0, 0);
    for t in tables {
        for r in t["ranges"].as_array().unwrap() {
            let (s, e) = (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap());
            let blocks = (e - s) / HOUR_MS;
            let rows = count(
                &taos,
                &format!(
                    "SELECT COUNT(*) FROM db.`{}` WHERE ts >= {s} AND ts < {e}",
                    t["name"].as_str().unwrap()
                ),
            )
            .await;
            plan_blocks += blocks;
            plan_rows += rows;
            if e <= last_backup {
                missed_blocks += blocks;
                missed_rows += rows;
            }
        }
    }
    let missed_deleted = d8["deleted"].as_array().unwrap().len();
    println!(
        "MEASURED: plan reads {plan_blocks} block(s) / {plan_rows} row(s); taosdump -S <last backup time> alone misses {missed_blocks} block(s) / {missed_rows} row(s) (late rows and upserts), {missed_deleted} deleted range(s) and 1 dropped table"
    );
    assert_eq!(missed_blocks, 8, "6 late-row hours and 2 upserted hours");
    assert_eq!(missed_rows, 6 * 61 + 2 * 60);

    let script_path = dir.path().join("backup_script.sh");
    ok(&run(&[
        "taosdump-script",
        "--to",
        script_path.to_str().unwrap(),
    ]));
    let script = std::fs::read_to_string(&script_path).unwrap();
    let restore = std::fs::read_to_string(dir.path().join("restore_script.sh")).unwrap();
    // d0..d5 share hour 3: one call; d0..d2 share hour 24; d6, d7 share hour 10.
    assert_eq!(script.matches("\nrun_taosdump ").count(), 3, "{script}");
    assert!(script.contains(&format!("-S {} -E {} ", h(3), h(4) - 1)));
    assert!(restore.contains("taosdump-apply"));
    for p in [&script_path, &dir.path().join("restore_script.sh")] {
        match std::process::Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(p)
            .output()
        {
            Ok(out) => assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            ),
            Err(_) => eprintln!("SKIPPED: shellcheck is not installed here (CI installs it)"),
        }
    }

    // taosdump-apply, as restore_script.sh runs it before `taosdump -i` (here on the
    // source itself, at the end): every range about to be imported is emptied.
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    ok(&run(&[
        "taosdump-apply",
        dump.to_str().unwrap(),
        "--blocks",
        blocks_path.to_str().unwrap(),
    ]));
    for (t, s, e) in [
        ("d0", h(3), h(4)),
        ("d0", h(24), h(25)),
        ("d6", h(10), h(11)),
    ] {
        let n = count(
            &taos,
            &format!("SELECT COUNT(*) FROM db.{t} WHERE ts >= {s} AND ts < {e}"),
        )
        .await;
        assert_eq!(n, 0, "{t} [{s}, {e}) emptied before the import");
    }
    let kept = count(
        &taos,
        &format!(
            "SELECT COUNT(*) FROM db.d0 WHERE ts >= {} AND ts < {}",
            h(4),
            h(5)
        ),
    )
    .await;
    assert_eq!(kept, 60, "hours outside the plan are untouched");
}
