//! verify-taosdump on dumps in taosdump's layout (`dbs.sql`, `data0/<db>.<id>.<n>.avro`
//! records `{tbname, ts, col0..}`), written here with the apache-avro crate.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use apache_avro::types::{Record, Value};
use apache_avro::{Schema, Writer};
use tdibt_core::{BlockId, BlockSet, BlockSpan, Catalog, Cut, Precision, Window};
use tdibt_taosdump::blocks::{self, Inputs, Since};
use tdibt_taosdump::script::{self, CallsDoc, CALLS_FILE, CALLS_FORMAT};
use tdibt_taosdump::verify::check_dump;
use tdibt_taosdump::BlocksDoc;

const HOUR0: i32 = 472_222;
const HOUR: i64 = 3_600_000;

/// The record schema taosdump writes for a table's rows (strict mode): the table name,
/// the timestamp, then one field per column.
const SCHEMA: &str = r#"{"type":"record","name":"db._record","fields":[
  {"name":"tbname","type":["null","string"]},
  {"name":"ts","type":["null","long"]},
  {"name":"col0","type":["null","int"]}]}"#;

fn plan() -> BlocksDoc {
    let mut c = Catalog::new();
    c.add_database(
        "db",
        Precision::Millis,
        BlockSpan::one_hour(Precision::Millis),
    )
    .unwrap();
    let a = c.add_table("db", "a", Some("st"), Some(2)).unwrap();
    let b = c.add_table("db", "b", Some("st"), Some(2)).unwrap();
    let mut new = BlockSet::new();
    for (t, w) in [(a, 0), (b, 0), (a, 3)] {
        new.insert(BlockId::new(t, Window(HOUR0 + w)));
    }
    blocks::build(Inputs {
        catalog: &c,
        database: "db",
        new: &new,
        dirty: &BlockSet::new(),
        deleted: &BlockSet::new(),
        chain_tables: &BTreeSet::new(),
        extra: &BlockSet::new(),
        cut: &Cut::new("t"),
        checkpoint_written_at_unix_ms: 0,
        since: Since {
            backup: None,
            description: "test".into(),
        },
        generated_at_unix_ms: 0,
    })
    .unwrap()
}

fn write_avro(path: &Path, rows: &[(&str, i64)]) {
    let schema = Schema::parse_str(SCHEMA).unwrap();
    let mut w = Writer::new(&schema, Vec::new());
    for (i, (t, ts)) in rows.iter().enumerate() {
        let mut r = Record::new(&schema).unwrap();
        r.put(
            "tbname",
            Value::Union(1, Box::new(Value::String((*t).into()))),
        );
        r.put("ts", Value::Union(1, Box::new(Value::Long(*ts))));
        r.put("col0", Value::Union(1, Box::new(Value::Int(i as i32))));
        w.append(r).unwrap();
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

/// A dump of `doc` as backup_script.sh would leave it, the rows given per folder.
fn dump(dir: &Path, doc: &BlocksDoc, rows: &[(&str, &[(&str, i64)])]) {
    let calls = script::calls(doc, 128 * 1024).unwrap();
    std::fs::write(
        dir.join(CALLS_FILE),
        serde_json::to_vec(&CallsDoc {
            format: CALLS_FORMAT.into(),
            version: 1,
            database: "db".into(),
            calls: calls.clone(),
        })
        .unwrap(),
    )
    .unwrap();
    for call in &calls {
        std::fs::create_dir_all(dir.join(&call.folder)).unwrap();
        std::fs::write(dir.join(&call.folder).join("dbs.sql"), "#!server_ver: 3\n").unwrap();
    }
    for (folder, rs) in rows {
        write_avro(&dir.join(folder).join("data0/db.1700000000001.0.avro"), rs);
    }
}

#[test]
fn a_complete_dump_passes_and_counts_rows_per_table_and_range() {
    let doc = plan();
    let dir = tempfile::tempdir().unwrap();
    let t0 = i64::from(HOUR0) * HOUR;
    // dump-0001: [h0, h1) for a and b; dump-0002: [h3, h4) for a.
    dump(
        dir.path(),
        &doc,
        &[
            (
                "dump-0001",
                &[("a", t0), ("a", t0 + HOUR - 1), ("b", t0 + 5)],
            ),
            ("dump-0002", &[("a", t0 + 3 * HOUR)]),
        ],
    );
    let report = check_dump(dir.path(), &doc).unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.rows, 4);
    assert_eq!(report.avro_files, 2);
    let counts: Vec<(String, u64)> = report
        .ranges
        .iter()
        .map(|r| (format!("{}@{}", r.table, r.folder), r.rows))
        .collect();
    assert_eq!(
        counts,
        [
            ("a@dump-0001".to_string(), 2),
            ("b@dump-0001".to_string(), 1),
            ("a@dump-0002".to_string(), 1)
        ]
    );
}

#[test]
fn a_missing_folder_a_row_outside_its_range_and_an_unasked_table_are_named() {
    let doc = plan();
    let t0 = i64::from(HOUR0) * HOUR;
    let dir = tempfile::tempdir().unwrap();
    dump(
        dir.path(),
        &doc,
        &[("dump-0001", &[("a", t0 + HOUR), ("zz", t0)])],
    );
    std::fs::remove_dir_all(dir.path().join("dump-0002")).unwrap();
    let report = check_dump(dir.path(), &doc).unwrap();
    assert!(!report.ok);
    let all = report.problems.join("\n");
    assert!(
        all.contains("dump-0002: missing or not a taosdump output (no dbs.sql): tables a range [2023-11-15T01:00:00.000Z, 2023-11-15T02:00:00.000Z)"),
        "{all}"
    );
    assert!(
        all.contains("table a row at 1700002800000 is outside its planned range [2023-11-14T22:00:00.000Z, 2023-11-14T23:00:00.000Z)"),
        "{all}"
    );
    assert!(all.contains("rows of table zz"), "{all}");
    assert!(report
        .empty_ranges
        .iter()
        .any(|e| e.starts_with("table b range [2023-11-14T22:00:00.000Z")));
}

#[test]
fn a_bad_blocks_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incremental_blocks.json");
    std::fs::write(&path, "{\"format\":\"other\"}").unwrap();
    let err = BlocksDoc::read(&path).unwrap_err().to_string();
    assert!(err.contains("incremental_blocks.json"), "{err}");
    let mut doc = plan();
    doc.version = 99;
    std::fs::write(&path, doc.to_json()).unwrap();
    let err = BlocksDoc::read(&path).unwrap_err().to_string();
    assert!(err.contains("version 99"), "{err}");
}

/// What taosdump left and what tdibt wrote, damaged: verify-taosdump reports or refuses,
/// never panics (Avro files are read with apache-avro, whose allocation limit bounds what a
/// damaged length can ask for).
mod never_panics {
    use proptest::prelude::*;
    use tdibt_testkit::{mutated, mutated_text};

    use super::*;

    fn valid_dump() -> (tempfile::TempDir, BlocksDoc) {
        let doc = plan();
        let dir = tempfile::tempdir().unwrap();
        let t0 = i64::from(HOUR0) * HOUR;
        dump(
            dir.path(),
            &doc,
            &[
                ("dump-0001", &[("a", t0), ("b", t0 + 5)]),
                ("dump-0002", &[("a", t0 + 3 * HOUR)]),
            ],
        );
        (dir, doc)
    }

    const AVRO: &str = "dump-0001/data0/db.1700000000001.0.avro";

    /// A file of a valid dump, as written.
    fn valid_bytes(file: &str) -> Vec<u8> {
        let (dir, _) = valid_dump();
        std::fs::read(dir.path().join(file)).unwrap()
    }

    /// verify-taosdump on a valid dump with `file` replaced by `bytes`.
    fn check_damaged(file: &str, bytes: &[u8]) {
        let (dir, doc) = valid_dump();
        std::fs::write(dir.path().join(file), bytes).unwrap();
        let _ = check_dump(dir.path(), &doc);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_avro_files(bytes in mutated(valid_bytes(AVRO))) {
            check_damaged(AVRO, &bytes);
        }

        #[test]
        fn mutated_calls_files(text in mutated_text(&String::from_utf8(valid_bytes(CALLS_FILE)).unwrap())) {
            check_damaged(CALLS_FILE, text.as_bytes());
        }

        #[test]
        fn mutated_block_plans(text in mutated_text(
            std::str::from_utf8(&plan().to_json()).unwrap()
        )) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("incremental_blocks.json");
            std::fs::write(&path, text).unwrap();
            let _ = BlocksDoc::read(&path);
        }
    }
}
