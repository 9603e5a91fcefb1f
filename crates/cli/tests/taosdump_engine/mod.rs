//! `tdibt backup --engine taosdump` end to end with the taosdump double: a full and an
//! incremental stored in the repository (listed, verified, never mixed with tdibt's
//! engine), a dump that leaves a table out refused with nothing folded and the next run
//! taking it up, and `tdibt restore` of the chain through `taosdump -i` into a fresh
//! stand-in, compared row by row and tag by tag through the super table.

use std::path::Path;
use std::process::Output;

use super::support::{connect, sigterm, standin_with_db, start_monitor, tdibt, write_config_as};
use super::{
    contents, double_on_path, exec, load, ok, table_names, workload, write_config, BASE, HOUR_MS,
};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn listed(config: &Path) -> Vec<serde_json::Value> {
    let out = tdibt(config, &["list", "--json"]).output().unwrap();
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
        .as_array()
        .unwrap()
        .clone()
}

pub async fn engine_end_to_end() {
    let (source, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = write_config(d, "engine.json", source.addr().port());
    double_on_path(d);
    let double = d.join("bin/taosdump");
    let port = source.addr().port().to_string();
    load(&taos).await;
    let run = |args: &[&str], drop: Option<&str>| {
        let mut c = tdibt(&config, args);
        c.env("TAOSDUMP", &double);
        match drop {
            Some(t) => c.env("TAOSDUMP_DOUBLE_DROP_TABLE", t),
            None => c.env_remove("TAOSDUMP_DOUBLE_DROP_TABLE"),
        };
        c.output().unwrap()
    };
    let engine = [
        "backup",
        "--engine",
        "taosdump",
        "--taosdump-port",
        &port,
        "--jobs",
        "2",
    ];
    ok(&run(&["init"], None));
    ok(&run(&["repo", "init"], None));
    ok(&run(&engine, None));
    let list = listed(&config);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["engine"], "taosdump");
    assert_eq!(list[0]["kind"], "full");
    assert_eq!(list[0]["rows"], 5 * 360, "{list:?}");

    workload(&taos).await;

    // A chain keeps its engine: tdibt's own incremental on a taosdump full is refused.
    let out = run(&["backup"], None);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("never mixes engines"), "{}", text(&out));

    // The double leaves d1 out: the check finds d1's late rows in the database and not in
    // the dump, names them, and nothing is stored or folded.
    let out = run(&engine, Some("d1"));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let said = text(&out);
    let line = said
        .lines()
        .find(|l| l.contains("table d1 range"))
        .unwrap_or_else(|| panic!("no problem names d1: {said}"));
    assert!(line.contains("2026-01-01T02:00:00.000Z"), "{line}");
    assert_eq!(listed(&config).len(), 1);

    // The next run dumps again and succeeds: late rows of d0 and d1 (hour 2: 61 rows each)
    // and d2's upserted hour (60 rows).
    ok(&run(&engine, None));
    let list = listed(&config);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[1]["engine"], "taosdump");
    assert_eq!(list[1]["kind"], "incremental");
    assert_eq!(list[1]["parent"], list[0]["id"]);
    assert_eq!(list[1]["rows"], 61 + 61 + 60, "{list:?}");
    // Nothing left to dump, and the files read back intact.
    let out = run(
        &["blocks", "--to", d.join("after.json").to_str().unwrap()],
        None,
    );
    ok(&out);
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("after.json")).unwrap()).unwrap();
    assert_eq!(after["counts"]["ranges"], 0, "{after}");
    let verified = ok(&run(&["verify", "--read-data"], None));
    assert!(!verified.contains("PROBLEM"), "{verified}");
    let out = run(
        &["merge", "--backup", list[1]["id"].as_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("stored by taosdump"), "{}", text(&out));

    // With a monitor running, the same command asks it: the monitor runs taosdump (the
    // program and options travel with the request, the password is its own configuration's)
    // and capture goes on. (The monitor holds the change engine's folder: a standalone run
    // would be refused, exit 4.)
    let mut monitor = start_monitor(&config, &d.join("engine.json.cache"), &[]);
    exec(
        &taos,
        &format!(
            "INSERT INTO db.d0 VALUES ({}, 777)",
            BASE + HOUR_MS + 30_001
        ),
    )
    .await;
    ok(&run(&engine, None));
    let list = listed(&config);
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[2]["engine"], "taosdump");
    assert_eq!(list[2]["parent"], list[1]["id"]);
    // Hour 1 of d0: its 60 rows and the late one.
    assert_eq!(list[2]["rows"], 61, "{list:?}");
    assert!(sigterm(&mut monitor).success());

    // The chain restored through `taosdump -i` into a fresh stand-in.
    let (fresh, fresh_taos) = standin_with_db(None, 1).await;
    exec(&fresh_taos, "DROP DATABASE db").await;
    let fresh_port = fresh.addr().port().to_string();
    let fresh_config = write_config_as(
        d,
        "fresh.json",
        fresh.addr().port(),
        serde_json::json!({
            "bitmap_engine": {"persistence_path": d.join("fresh.cache")},
            "backup": {"output_path": d.join("engine.json.repo")}
        }),
    );
    let out = tdibt(&fresh_config, &["restore", "--taosdump-port", &fresh_port])
        .env("TAOSDUMP", &double)
        .output()
        .unwrap();
    ok(&out);
    let source_rows = contents(&taos).await;
    assert_eq!(
        source_rows.len(),
        4 * 360 + 3 - 60,
        "source rows: {}",
        source_rows.len()
    );
    let restored = contents(&connect(&fresh).await).await;
    let missing: Vec<_> = source_rows
        .iter()
        .filter(|r| !restored.contains(r))
        .take(5)
        .collect();
    let extra: Vec<_> = restored
        .iter()
        .filter(|r| !source_rows.contains(r))
        .take(5)
        .collect();
    assert!(
        restored == source_rows,
        "{} restored rows, {} in the source; missing {missing:?}, extra {extra:?}; restore said {}",
        restored.len(),
        source_rows.len(),
        text(&out)
    );
    assert_eq!(table_names(&fresh_taos).await, ["d0", "d1", "d2", "d3"]);
    // Into another database name taosdump cannot: refused, said so.
    let out = tdibt(
        &fresh_config,
        &[
            "restore",
            "--target-db",
            "other",
            "--taosdump-port",
            &fresh_port,
        ],
    )
    .env("TAOSDUMP", &double)
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--target-db other"), "{}", text(&out));
}
