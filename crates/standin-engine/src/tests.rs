//! Engine tests through SQL and the TMQ calls.

use super::*;
use serde_json::json;

pub(crate) fn engine() -> (Engine, Session) {
    let e = Engine::new("3.3.6.0");
    let s = e.login("root", "taosdata", None).unwrap();
    (e, s)
}

fn rows(e: &Engine, s: &mut Session, sql: &str) -> Vec<Vec<Cell>> {
    match e.execute(s, sql).unwrap() {
        QueryResult::Rows(r) => r.rows,
        other => panic!("{sql}: {other:?}"),
    }
}

pub(crate) fn setup(e: &Engine, s: &mut Session, precision: &str) {
    for sql in [
        format!("CREATE DATABASE db PRECISION '{precision}' VGROUPS 2"),
        "USE db".into(),
        "CREATE STABLE meters (ts TIMESTAMP, v DOUBLE, s BINARY(8)) TAGS (gid INT)".into(),
        "CREATE TABLE d0 USING meters TAGS (1)".into(),
    ] {
        e.execute(s, &sql).unwrap();
    }
}

#[test]
fn upserts_out_of_order_and_ranges() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    e.execute(
        &mut s,
        "INSERT INTO d0 VALUES (30, 3.0, 'c') (10, 1.0, 'a') (20, 2.0, 'b')",
    )
    .unwrap();
    e.execute(&mut s, "INSERT INTO d0 VALUES (20, 22.0, 'B')")
        .unwrap();
    e.execute(&mut s, "INSERT INTO d0 (ts, v) VALUES (10, 11.0)")
        .unwrap();
    let r = rows(&e, &mut s, "SELECT * FROM d0 WHERE ts >= 10 AND ts < 30");
    assert_eq!(
        r,
        vec![
            vec![Cell::Int(10), Cell::Float(11.0), Cell::Str("a".into())],
            vec![Cell::Int(20), Cell::Float(22.0), Cell::Str("B".into())],
        ]
    );
    let r = rows(&e, &mut s, "SELECT count(*) FROM meters");
    assert_eq!(r, vec![vec![Cell::Int(3)]]);
    let r = rows(
        &e,
        &mut s,
        "SELECT tbname, ts FROM meters ORDER BY ts DESC LIMIT 1",
    );
    assert_eq!(r, vec![vec![Cell::Str("d0".into()), Cell::Int(30)]]);
}

#[test]
fn deletes_and_drops() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "us");
    e.execute(
        &mut s,
        "INSERT INTO d0 VALUES (1, 1, 'a') (2, 2, 'b') (3, 3, 'c')",
    )
    .unwrap();
    assert_eq!(
        e.execute(&mut s, "DELETE FROM d0 WHERE ts >= 2 AND ts <= 3")
            .unwrap(),
        QueryResult::Affected(2)
    );
    assert_eq!(
        rows(&e, &mut s, "SELECT count(*) FROM d0"),
        vec![vec![Cell::Int(1)]]
    );
    e.execute(&mut s, "DROP TABLE d0").unwrap();
    assert_eq!(
        e.execute(&mut s, "SELECT * FROM d0").unwrap_err().code,
        0x2662
    );
}

#[test]
fn information_schema_and_auto_create() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ns");
    e.execute(
        &mut s,
        "INSERT INTO d9 USING meters TAGS (9) VALUES (NOW, 1, 'x')",
    )
    .unwrap();
    let r = rows(&e, &mut s, "SELECT table_name, stable_name, type FROM information_schema.ins_tables WHERE db_name = 'db'");
    assert_eq!(r.len(), 2);
    let r = rows(
        &e,
        &mut s,
        "SELECT * FROM information_schema.ins_databases WHERE name = 'db'",
    );
    assert_eq!(r.len(), 1);
    assert!(r[0].contains(&Cell::Str("ns".into())));
}

#[test]
fn errors_have_tdengine_codes() {
    let (e, mut s) = engine();
    assert_eq!(
        e.execute(&mut s, "SELECT * FROM nodb.t").unwrap_err().code,
        0x0388
    );
    assert_eq!(e.execute(&mut s, "FROB x").unwrap_err().code, 0x2600);
    assert_eq!(e.login("root", "nope", None).unwrap_err().code, 0x0357);
    setup(&e, &mut s, "ms");
    assert_eq!(
        e.execute(&mut s, "INSERT INTO nope VALUES (1, 1, 'a')")
            .unwrap_err()
            .code,
        0x2662
    );
    e.execute(&mut s, "CREATE TOPIC t1 WITH META AS DATABASE db")
        .unwrap();
    assert_eq!(
        e.execute(&mut s, "DROP DATABASE db").unwrap_err().code,
        0x03ED
    );
}

#[test]
fn tmq_delivers_in_log_order_with_meta() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    e.execute(&mut s, "CREATE TOPIC t1 WITH META AS DATABASE db")
        .unwrap();
    e.execute(&mut s, "INSERT INTO d0 VALUES (1, 1, 'a')")
        .unwrap();
    e.execute(&mut s, "DELETE FROM d0 WHERE ts >= 0 AND ts <= 5")
        .unwrap();
    e.execute(&mut s, "DROP TABLE d0").unwrap();
    let c = e
        .subscribe("g", vec!["t1".into()], OffsetReset::Earliest)
        .unwrap();
    e.rebalance_now();
    let mut kinds = Vec::new();
    while let Some(m) = e.poll(c).unwrap() {
        if m.vgroup_id == e.lock().store.databases["db"].vgroup_of("d0") {
            kinds.push(match &m.body {
                MessageBody::Data(d) => format!("data:{}", d[0].table_name),
                MessageBody::Meta(j) => format!("meta:{}", j["type"].as_str().unwrap_or("")),
                MessageBody::MetaData { .. } => "metadata".into(),
            });
        }
    }
    assert_eq!(
        kinds,
        vec![
            "meta:create",
            "meta:create",
            "data:d0",
            "meta:delete",
            "meta:drop"
        ]
    );
}

#[test]
fn groups_share_vgroups_and_resume_from_commits() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    e.execute(&mut s, "CREATE TOPIC t2 AS DATABASE db").unwrap();
    for i in 0..20 {
        e.execute(
            &mut s,
            &format!("INSERT INTO t{i} USING meters TAGS ({i}) VALUES ({i}, 1, 'a')"),
        )
        .unwrap();
    }
    let a = e
        .subscribe("g", vec!["t2".into()], OffsetReset::Earliest)
        .unwrap();
    let b = e
        .subscribe("g", vec!["t2".into()], OffsetReset::Earliest)
        .unwrap();
    e.rebalance_now();
    let va: Vec<i32> = e
        .assignment(a, "t2")
        .unwrap()
        .iter()
        .map(|x| x.vgroup_id)
        .collect();
    let vb: Vec<i32> = e
        .assignment(b, "t2")
        .unwrap()
        .iter()
        .map(|x| x.vgroup_id)
        .collect();
    assert_eq!(va.len() + vb.len(), 2);
    assert!(va.iter().all(|v| !vb.contains(v)));
    let mut seen = 0;
    for c in [a, b] {
        while let Some(m) = e.poll(c).unwrap() {
            if let MessageBody::Data(d) = &m.body {
                seen += d.len();
            }
        }
        e.commit_all(c).unwrap();
    }
    assert_eq!(seen, 20);
    e.unsubscribe(a);
    e.unsubscribe(b);
    let c = e
        .subscribe("g", vec!["t2".into()], OffsetReset::Earliest)
        .unwrap();
    e.rebalance_now();
    assert!(e.poll(c).unwrap().is_none(), "everything was committed");
    e.execute(&mut s, "INSERT INTO t0 VALUES (100, 1, 'a')")
        .unwrap();
    assert!(e.poll(c).unwrap().is_some());
}

#[test]
fn snapshot_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(dir.path(), "3.3.6.0").unwrap();
        let mut s = e.login("root", "taosdata", None).unwrap();
        setup(&e, &mut s, "ms");
        e.execute(&mut s, "INSERT INTO d0 VALUES (5, 1, 'a')")
            .unwrap();
        e.flush().unwrap();
    }
    let e = Engine::open(dir.path(), "3.3.6.0").unwrap();
    let mut s = e.login("root", "taosdata", Some("db")).unwrap();
    assert_eq!(
        rows(&e, &mut s, "SELECT count(*) FROM d0"),
        vec![vec![Cell::Int(1)]]
    );
}

/// Every meta message logged in `db`, vgroup by vgroup in log order.
fn metas(e: &Engine, db: &str) -> Vec<serde_json::Value> {
    let inner = e.lock();
    inner.store.databases[db]
        .wal
        .values()
        .flat_map(|w| w.entries.iter().flat_map(|x| x.metas.iter().cloned()))
        .collect()
}

fn exec(e: &Engine, s: &mut Session, sql: &str) {
    e.execute(s, sql)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

fn code(e: &Engine, s: &mut Session, sql: &str) -> i32 {
    match e.execute(s, sql) {
        Ok(r) => panic!("{sql} was accepted: {r:?}"),
        Err(err) => err.code,
    }
}

/// Follows TDengine docs 03-table.md (ADD/DROP/MODIFY/RENAME COLUMN on a normal table):
/// rows written before each change read back with the added column NULL and the dropped
/// one gone.
#[test]
fn normal_table_column_changes_keep_rows_readable() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    exec(
        &e,
        &mut s,
        "CREATE TABLE n1 (ts TIMESTAMP, a INT, b BINARY(4))",
    );
    exec(&e, &mut s, "INSERT INTO n1 VALUES (1, 10, 'x')");
    exec(&e, &mut s, "ALTER TABLE n1 ADD COLUMN c DOUBLE");
    exec(&e, &mut s, "INSERT INTO n1 VALUES (2, 20, 'y', 2.5)");
    exec(&e, &mut s, "ALTER TABLE n1 MODIFY COLUMN b BINARY(8)");
    exec(&e, &mut s, "INSERT INTO n1 VALUES (3, 30, 'longer', 3.5)");
    exec(&e, &mut s, "ALTER TABLE n1 DROP COLUMN a");
    exec(&e, &mut s, "ALTER TABLE n1 RENAME COLUMN b bb");
    assert_eq!(
        rows(&e, &mut s, "SELECT * FROM n1"),
        vec![
            vec![Cell::Int(1), Cell::Str("x".into()), Cell::Null],
            vec![Cell::Int(2), Cell::Str("y".into()), Cell::Float(2.5)],
            vec![Cell::Int(3), Cell::Str("longer".into()), Cell::Float(3.5)],
        ]
    );
    assert_eq!(
        rows(&e, &mut s, "SELECT bb FROM n1 WHERE c IS NULL"),
        vec![vec![Cell::Str("x".into())]]
    );
    assert_eq!(
        rows(&e, &mut s, "SHOW CREATE TABLE n1")[0][1],
        Cell::Str("CREATE TABLE `n1` (`ts` TIMESTAMP, `bb` VARCHAR(8), `c` DOUBLE)".into())
    );
}

/// Follows TDengine docs 04-stable.md (ADD/DROP/MODIFY/RENAME TAG) and 03-table.md (SET TAG
/// of one or several tags): children's tags follow the super table, added tags are NULL.
#[test]
fn stable_tag_changes_follow_children() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    exec(&e, &mut s, "INSERT INTO d0 VALUES (1, 1.0, 'a')");
    exec(&e, &mut s, "ALTER STABLE meters ADD TAG loc NCHAR(4)");
    exec(&e, &mut s, "ALTER STABLE meters ADD COLUMN extra INT");
    assert_eq!(
        rows(&e, &mut s, "SELECT * FROM meters"),
        vec![vec![
            Cell::Int(1),
            Cell::Float(1.0),
            Cell::Str("a".into()),
            Cell::Null,
            Cell::Int(1),
            Cell::Null
        ]]
    );
    exec(&e, &mut s, "ALTER TABLE d0 SET TAG loc = 'bj'");
    exec(&e, &mut s, "ALTER TABLE d0 SET TAG gid = 7, loc = 'sh'");
    exec(&e, &mut s, "ALTER STABLE meters MODIFY TAG loc NCHAR(8)");
    exec(&e, &mut s, "ALTER STABLE meters RENAME TAG loc city");
    exec(&e, &mut s, "ALTER TABLE d0 SET TAG city = 'shenzhen'");
    exec(&e, &mut s, "ALTER STABLE meters DROP TAG gid");
    assert_eq!(
        rows(&e, &mut s, "SELECT city FROM meters"),
        vec![vec![Cell::Str("shenzhen".into())]]
    );
    let r = rows(
        &e,
        &mut s,
        "SELECT tag_name, tag_value FROM information_schema.ins_tags WHERE table_name = 'd0'",
    );
    assert_eq!(
        r,
        vec![vec![Cell::Str("city".into()), Cell::Str("shenzhen".into())]]
    );
}

/// Follows TDengine's parser rules (parTranslater.c; error texts terror.c): each refusal
/// carries TDengine's code and names the clause and object.
#[test]
fn alter_refusals_name_the_construct() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    exec(
        &e,
        &mut s,
        "CREATE TABLE n1 (ts TIMESTAMP, a INT, b NCHAR(4))",
    );
    for (sql, want, names) in [
        ("ALTER TABLE n1 MODIFY COLUMN b NCHAR(2)", 0x264B, "b"),
        ("ALTER TABLE n1 MODIFY COLUMN a BIGINT", 0x264B, "a"),
        ("ALTER TABLE n1 MODIFY COLUMN b BINARY(8)", 0x264B, "b"),
        ("ALTER TABLE n1 DROP COLUMN ts", 0x264A, "ts"),
        ("ALTER TABLE n1 DROP COLUMN nope", 0x2602, "nope"),
        ("ALTER TABLE n1 ADD COLUMN a INT", 0x036B, "a"),
        ("ALTER TABLE n1 ADD COLUMN j JSON", 0x2652, "json"),
        ("ALTER TABLE n1 ADD TAG t INT", 0x2649, "ADD TAG"),
        ("ALTER TABLE n1 SET TAG t = 1", 0x2649, "SET TAG"),
        ("ALTER STABLE n1 ADD COLUMN z INT", 0x2649, "ALTER STABLE"),
        (
            "ALTER STABLE meters RENAME COLUMN v w",
            0x2649,
            "RENAME COLUMN",
        ),
        ("ALTER STABLE meters TTL 3", 0x2649, "TTL"),
        ("ALTER TABLE d0 ADD COLUMN z INT", 0x2649, "child table"),
        ("ALTER TABLE d0 SET TAG nope = 1", 0x260E, "nope"),
        ("ALTER STABLE meters DROP TAG gid", 0x2649, "gid"),
        ("ALTER STABLE meters ADD TAG v INT", 0x036B, "v"),
        ("ALTER STABLE meters RENAME TAG nope x", 0x036A, "nope"),
        (
            "ALTER STABLE meters ADD TAG d DECIMAL(10, 2)",
            0x2600,
            "DECIMAL",
        ),
        ("ALTER DATABASE db KEEP 10", 0x2600, "ALTER DATABASE"),
    ] {
        let err = e.execute(&mut s, sql).unwrap_err();
        assert_eq!(err.code, want, "{sql}: {err}");
        assert!(err.message.contains(names), "{sql}: {err}");
    }
    exec(&e, &mut s, "CREATE TABLE n2 (ts TIMESTAMP, a INT)");
    assert_eq!(code(&e, &mut s, "ALTER TABLE n2 DROP COLUMN a"), 0x2651);
}

/// Follows clientRawBlockWrite.c `buildAlterSTableJson` / `processAlterTable`: tableType
/// "super" for a super table, "child" only for one tag value, "normal" otherwise; colLength
/// only for var-length types; type 9 (TTL/COMMENT) and 15 (several tags) carry no colName.
#[test]
fn alter_messages_have_taosd_fields() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    exec(&e, &mut s, "CREATE STABLE st (ts TIMESTAMP, v INT) TAGS (t1 INT, t2 BINARY(8), t3 VARBINARY(4), t4 FLOAT)");
    exec(
        &e,
        &mut s,
        "CREATE TABLE c1 USING st TAGS (1, 'a', '\\x0A0b', 1.5)",
    );
    exec(&e, &mut s, "CREATE TABLE n1 (ts TIMESTAMP, v INT)");
    let before = metas(&e, "db").len();
    for sql in [
        "ALTER STABLE st ADD COLUMN s NCHAR(5)",
        "ALTER STABLE st ADD COLUMN i BIGINT",
        "ALTER STABLE st MODIFY TAG t2 BINARY(16)",
        "ALTER STABLE st COMMENT 'hi'",
        "ALTER TABLE c1 SET TAG t2 = 'q\"z'",
        "ALTER TABLE c1 SET TAG t3 = '\\x0102'",
        "ALTER TABLE c1 SET TAG t4 = 2.5",
        "ALTER TABLE c1 SET TAG t1 = NULL",
        "ALTER TABLE c1 SET TAG t1 = 5, t2 = 'x'",
        "ALTER TABLE c1 TTL 10",
        "ALTER TABLE n1 RENAME COLUMN v w",
        "ALTER TABLE n1 COMMENT 'c' TTL 3",
    ] {
        exec(&e, &mut s, sql);
    }
    let m = &metas(&e, "db")[before..];
    let want = [
        json!({"type":"alter","tableType":"super","tableName":"st","alterType":5,"colName":"s","colType":10,"colLength":5}),
        json!({"type":"alter","tableType":"super","tableName":"st","alterType":5,"colName":"i","colType":5}),
        json!({"type":"alter","tableType":"super","tableName":"st","alterType":8,"colName":"t2","colType":8,"colLength":16}),
        json!({"type":"alter","tableType":"super","tableName":"st","alterType":9}),
        json!({"type":"alter","tableType":"child","tableName":"c1","alterType":4,"colName":"t2","colValue":"\"q\"z\"","colValueNull":false}),
        json!({"type":"alter","tableType":"child","tableName":"c1","alterType":4,"colName":"t3","colValue":"\"\\x0102\"","colValueNull":false}),
        json!({"type":"alter","tableType":"child","tableName":"c1","alterType":4,"colName":"t4","colValue":"2.500000e+00","colValueNull":false}),
        json!({"type":"alter","tableType":"child","tableName":"c1","alterType":4,"colName":"t1","colValueNull":true}),
        json!({"type":"alter","tableType":"normal","tableName":"c1","alterType":15}),
        json!({"type":"alter","tableType":"normal","tableName":"c1","alterType":9}),
        json!({"type":"alter","tableType":"normal","tableName":"n1","alterType":10,"colName":"v","colNewName":"w"}),
        json!({"type":"alter","tableType":"normal","tableName":"n1","alterType":9}),
    ];
    assert_eq!(m, &want[..]);
}

/// Follows clientRawBlockWrite.c `processCreateTable`/`buildCreateCTableJson`/
/// `buildChildElement` and `processAutoCreateTable`: one create per vgroup batch, the first
/// table at the top and all of them in `createList` when more than one; NULL tags left
/// out; numbers as doubles; strings through `dataConverToStr` (quoted, VARBINARY as hex).
#[test]
fn create_messages_batch_per_vgroup() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    exec(
        &e,
        &mut s,
        "CREATE STABLE st (ts TIMESTAMP, v INT, k VARCHAR(8)) TAGS (a INT, b NCHAR(4), c VARBINARY(4), d BOOL)",
    );
    exec(&e, &mut s, "CREATE TABLE c1 USING st TAGS (1, 'x', '\\xFF', true) c2 USING st TAGS (NULL, 'y', NULL, false)");
    exec(&e, &mut s, "CREATE TABLE c3 USING st (b, a) TAGS ('z', 3)");
    exec(&e, &mut s, "INSERT INTO c4 USING st TAGS (4, 'p', NULL, NULL) VALUES (1, 1, 'a') c5 USING st TAGS (5, NULL, NULL, NULL) VALUES (1, 1, 'a')");
    let m = metas(&e, "db");
    assert_eq!(
        m[0],
        json!({"type":"create","tableType":"super","tableName":"st",
            "columns":[
                {"name":"ts","type":9,"isPrimarykey":false,"encode":"delta-i","compress":"lz4","level":"medium"},
                {"name":"v","type":4,"isPrimarykey":false,"encode":"simple8b","compress":"lz4","level":"medium"},
                {"name":"k","type":8,"length":8,"isPrimarykey":false,"encode":"disabled","compress":"zstd","level":"medium"}],
            "tags":[{"name":"a","type":4},{"name":"b","type":10,"length":4},{"name":"c","type":16,"length":4},{"name":"d","type":1}]})
    );
    let c1 = json!({"tableName":"c1","using":"st","tagNum":4,"tags":[
        {"name":"a","type":4,"value":1},{"name":"b","type":10,"value":"\"x\""},
        {"name":"c","type":16,"value":"\"\\xFF\""},{"name":"d","type":1,"value":1}]});
    let c2 = json!({"tableName":"c2","using":"st","tagNum":4,"tags":[
        {"name":"b","type":10,"value":"\"y\""},{"name":"d","type":1,"value":0}]});
    let mut first = c1.as_object().unwrap().clone();
    first.insert("type".into(), json!("create"));
    first.insert("tableType".into(), json!("child"));
    first.insert("createList".into(), json!([c1, c2]));
    assert_eq!(m[1], serde_json::Value::Object(first));
    // Names in the statement's order, values in tag order: taosd pairs them by position.
    assert_eq!(
        m[2],
        json!({"type":"create","tableType":"child","tableName":"c3","using":"st","tagNum":4,
            "tags":[{"name":"b","type":4,"value":3},{"name":"a","type":10,"value":"\"z\""}],
            "createList":[]})
    );
    assert_eq!(m[3]["createList"].as_array().map(Vec::len), Some(2));
    assert_eq!(m[3]["tableName"], json!("c4"));
    assert_eq!(
        m[3]["createList"][1]["tags"],
        json!([{"name":"a","type":4,"value":5}])
    );
}

/// Follows clientRawBlockWrite.c `processDropTable` (one message per vgroup batch),
/// `processDropSTable` (tableType "super") and `processDeleteTable` (the statement printed
/// into `char sql[256]`).
#[test]
fn drop_and_delete_messages() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    let ts = "k".repeat(60);
    exec(
        &e,
        &mut s,
        &format!("CREATE STABLE st (`{ts}` TIMESTAMP, v INT) TAGS (a INT)"),
    );
    let long = "t".repeat(192);
    exec(
        &e,
        &mut s,
        &format!(
            "CREATE TABLE c1 USING st TAGS (1) c2 USING st TAGS (2) `{long}` USING st TAGS (3)"
        ),
    );
    exec(
        &e,
        &mut s,
        &format!("DELETE FROM `{long}` WHERE `{ts}` >= -5 AND `{ts}` <= 10"),
    );
    exec(&e, &mut s, "DROP TABLE c1, c2");
    exec(&e, &mut s, "DROP STABLE st");
    let m = metas(&e, "db");
    let n = m.len();
    let sql = m[n - 3]["sql"].as_str().unwrap();
    let full = format!("delete from `{long}` where `{ts}` >= -5 and `{ts}` <= 10");
    assert_eq!(sql.len(), 255);
    assert_eq!(sql, &full[..255]);
    assert_eq!(m[n - 2], json!({"type":"drop","tableNameList":["c1","c2"]}));
    assert_eq!(
        m[n - 1],
        json!({"type":"drop","tableType":"super","tableName":"st"})
    );
}

/// Follows TDengine docs 03-table.md ("an additional primary key column ... must be of type
/// integer or string"): rows are keyed by (timestamp, key), so one timestamp holds several
/// rows and an insert upserts only its own key.
#[test]
fn composite_primary_key_keeps_duplicate_timestamps() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    exec(
        &e,
        &mut s,
        "CREATE TABLE p (ts TIMESTAMP, id INT PRIMARY KEY, v DOUBLE)",
    );
    exec(
        &e,
        &mut s,
        "INSERT INTO p VALUES (1, 2, 1.0) (1, 1, 2.0) (2, 1, 3.0)",
    );
    exec(&e, &mut s, "INSERT INTO p VALUES (1, 2, 9.0)");
    assert_eq!(
        rows(&e, &mut s, "SELECT * FROM p"),
        vec![
            vec![Cell::Int(1), Cell::Int(1), Cell::Float(2.0)],
            vec![Cell::Int(1), Cell::Int(2), Cell::Float(9.0)],
            vec![Cell::Int(2), Cell::Int(1), Cell::Float(3.0)],
        ]
    );
    assert_eq!(
        e.execute(&mut s, "DELETE FROM p WHERE ts = 1").unwrap(),
        QueryResult::Affected(2)
    );
    assert_eq!(
        rows(&e, &mut s, "SHOW CREATE TABLE p")[0][1],
        Cell::Str("CREATE TABLE `p` (`ts` TIMESTAMP, `id` INT PRIMARY KEY, `v` DOUBLE)".into())
    );
    assert_eq!(
        metas(&e, "db")[0]["columns"][1]["isPrimarykey"],
        json!(true)
    );
    assert_eq!(
        code(&e, &mut s, "INSERT INTO p (ts, v) VALUES (5, 1.0)"),
        0x2614
    );
    assert_eq!(
        code(&e, &mut s, "INSERT INTO p VALUES (5, NULL, 1.0)"),
        0x2614
    );
    assert_eq!(code(&e, &mut s, "ALTER TABLE p DROP COLUMN id"), 0x264A);
    for bad in [
        "CREATE TABLE q (ts TIMESTAMP, a INT, b INT PRIMARY KEY)",
        "CREATE TABLE q (ts TIMESTAMP, a DOUBLE PRIMARY KEY)",
        "CREATE STABLE q (ts TIMESTAMP, a INT) TAGS (t INT PRIMARY KEY)",
    ] {
        let err = e.execute(&mut s, bad).unwrap_err();
        assert!(err.message.contains("PRIMARY KEY"), "{bad}: {err}");
    }
    exec(
        &e,
        &mut s,
        "CREATE TABLE q (ts TIMESTAMP, k VARCHAR(8) PRIMARY KEY, v INT)",
    );
    exec(&e, &mut s, "INSERT INTO q VALUES (1, 'b', 1) (1, 'a', 2)");
    assert_eq!(
        rows(&e, &mut s, "SELECT k FROM q"),
        vec![vec![Cell::Str("a".into())], vec![Cell::Str("b".into())]]
    );
}

/// Follows TDengine 3.3.6 docs 01-data-type.md: DECIMAL(p, s) columns (rounded to the
/// scale, overflow refused, no tags), GEOMETRY stored as WKB, VARBINARY from `\x` hex.
#[test]
fn decimal_geometry_and_varbinary_values() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    exec(
        &e,
        &mut s,
        "CREATE TABLE t (ts TIMESTAMP, d DECIMAL(10, 2), w DECIMAL(30), g GEOMETRY(32), b VARBINARY(4))",
    );
    exec(
        &e,
        &mut s,
        "INSERT INTO t VALUES (1, 10.987, 12345678901234567890, 'POINT(1 2)', '\\x0aFF')",
    );
    let r = rows(&e, &mut s, "SELECT d, w, b FROM t");
    assert_eq!(
        r,
        vec![vec![
            Cell::Decimal(1099),
            Cell::Decimal(12_345_678_901_234_567_890),
            Cell::Bytes(vec![0x0a, 0xff])
        ]]
    );
    match &rows(&e, &mut s, "SELECT g FROM t")[0][0] {
        Cell::Bytes(b) => assert_eq!(b.len(), 21),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        code(&e, &mut s, "INSERT INTO t (ts, d) VALUES (2, 123456789.0)"),
        0x2603
    );
    assert_eq!(
        code(&e, &mut s, "INSERT INTO t (ts, g) VALUES (2, 'CIRCLE(1)')"),
        0x2603
    );
    let m = metas(&e, "db");
    let types: Vec<_> = m[0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].clone())
        .collect();
    assert_eq!(
        types,
        vec![json!(9), json!(21), json!(17), json!(20), json!(16)]
    );
    assert_eq!(
        rows(&e, &mut s, "SHOW CREATE TABLE t")[0][1],
        Cell::Str("CREATE TABLE `t` (`ts` TIMESTAMP, `d` DECIMAL(10, 2), `w` DECIMAL(30, 0), `g` GEOMETRY(32), `b` VARBINARY(4))".into())
    );
}

/// Follows mndStb.c `mndProcessDropStbReq` (TOPIC_MUST_BE_DELETED while a topic uses the
/// super table) and docs 04-stable.md (dropping a super table drops its children).
#[test]
fn drop_stable_drops_children_unless_a_topic_uses_it() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    exec(&e, &mut s, "CREATE TOPIC tp AS STABLE db.meters");
    assert_eq!(code(&e, &mut s, "DROP STABLE meters"), 0x03ED);
    exec(&e, &mut s, "DROP TOPIC tp");
    exec(&e, &mut s, "CREATE TOPIC tq AS SELECT ts, v FROM meters");
    assert_eq!(code(&e, &mut s, "DROP STABLE meters"), 0x03ED);
    exec(&e, &mut s, "DROP TOPIC tq");
    exec(&e, &mut s, "DROP STABLE meters");
    assert_eq!(code(&e, &mut s, "SELECT * FROM d0"), 0x2662);
    exec(&e, &mut s, "DROP STABLE IF EXISTS meters");
}

/// Follows parTranslater.c `rewriteDropTable`: `DROP TABLE` naming one super table drops it
/// as `DROP STABLE` does (checks included); among other tables it is refused with
/// TSDB_CODE_PAR_INVALID_DROP_STABLE. Seen in the `taos` crate's own TMQ tests, which end
/// with ``drop table `stb2` ``.
#[test]
fn drop_table_of_one_super_table_drops_it_and_of_several_is_refused() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    assert_eq!(code(&e, &mut s, "DROP TABLE d0, meters"), 0x263A);
    exec(&e, &mut s, "SELECT * FROM d0");
    exec(&e, &mut s, "CREATE TOPIC tp AS STABLE db.meters");
    assert_eq!(code(&e, &mut s, "DROP TABLE meters"), 0x03ED);
    exec(&e, &mut s, "DROP TOPIC tp");
    exec(&e, &mut s, "DROP TABLE `meters`");
    assert_eq!(code(&e, &mut s, "SELECT * FROM d0"), 0x2662);
    assert_eq!(code(&e, &mut s, "DESCRIBE meters"), 0x2662);
}

/// Follows TDengine docs 40-tmq.md (query topics fix their columns, which cannot then be
/// dropped or modified — mndStb.c, FIELD_CONFLICT_WITH_TOPIC) and sql.y `with_meta`
/// (`ONLY META`).
#[test]
fn query_and_only_meta_topics() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    exec(
        &e,
        &mut s,
        "CREATE TOPIC tq AS SELECT ts, v, gid FROM meters",
    );
    exec(&e, &mut s, "CREATE TOPIC tm ONLY META AS DATABASE db");
    assert_eq!(
        code(&e, &mut s, "ALTER STABLE meters DROP COLUMN v"),
        0x03C4
    );
    assert_eq!(
        code(&e, &mut s, "ALTER STABLE meters RENAME TAG gid g2"),
        0x03C4
    );
    exec(&e, &mut s, "ALTER STABLE meters DROP COLUMN s");
    assert_eq!(
        code(
            &e,
            &mut s,
            "CREATE TOPIC tw AS SELECT ts FROM meters WHERE v > 1"
        ),
        0x2600
    );
    assert_eq!(
        code(
            &e,
            &mut s,
            "CREATE TOPIC tw WITH META AS SELECT ts FROM meters"
        ),
        0x2600
    );
    assert_eq!(
        code(&e, &mut s, "CREATE TOPIC tw AS SELECT nope FROM meters"),
        0x2602
    );
    let r = rows(
        &e,
        &mut s,
        "SELECT topic_name, sql FROM information_schema.ins_topics",
    );
    assert_eq!(
        r,
        vec![
            vec![
                Cell::Str("tm".into()),
                Cell::Str("CREATE TOPIC tm ONLY META AS DATABASE db".into())
            ],
            vec![
                Cell::Str("tq".into()),
                Cell::Str("CREATE TOPIC tq AS SELECT ts, v, gid FROM meters".into())
            ],
        ]
    );
    exec(&e, &mut s, "INSERT INTO d0 VALUES (1, 1.0)");
    let c = e
        .subscribe("g", vec!["tq".into()], OffsetReset::Earliest)
        .unwrap();
    // The consumer gets its vgroups at the next rebalance (mndSubscribe.c timer).
    e.rebalance_now();
    let mut data = Vec::new();
    while let Some(m) = e.poll(c).unwrap() {
        match m.body {
            MessageBody::Data(d) => data.extend(d),
            other => panic!("a query topic delivers data only: {other:?}"),
        }
    }
    assert_eq!(data.len(), 1);
    let names: Vec<&str> = data[0]
        .rows
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["ts", "v", "gid"]);
    assert_eq!(
        data[0].rows.rows,
        vec![vec![Cell::Int(1), Cell::Float(1.0), Cell::Int(1)]]
    );
    let c = e
        .subscribe("g", vec!["tm".into()], OffsetReset::Earliest)
        .unwrap();
    // The consumer gets its vgroups at the next rebalance (mndSubscribe.c timer).
    e.rebalance_now();
    while let Some(m) = e.poll(c).unwrap() {
        assert!(
            matches!(m.body, MessageBody::Meta(_)),
            "ONLY META delivers no rows: {:?}",
            m.body
        );
    }
}

/// Follows taosAdapter controller/ws/query (conn `tz` → TSDB_OPTION_CONNECTION_TIMEZONE):
/// a date string without a zone is read in the connection's zone, and `timezone()` names it.
#[test]
fn date_strings_follow_the_connection_time_zone() {
    let (e, mut s) = engine();
    exec(&e, &mut s, "CREATE DATABASE db VGROUPS 1");
    exec(&e, &mut s, "USE db");
    exec(&e, &mut s, "CREATE TABLE n (ts TIMESTAMP, v INT)");
    s.set_time_zone("Asia/Shanghai").unwrap();
    exec(
        &e,
        &mut s,
        "INSERT INTO n VALUES ('2024-01-01 08:00:00', 1)",
    );
    s.set_time_zone("UTC").unwrap();
    exec(
        &e,
        &mut s,
        "INSERT INTO n VALUES ('2024-01-01 08:00:00', 2)",
    );
    assert_eq!(
        rows(&e, &mut s, "SELECT ts, v FROM n"),
        vec![
            vec![Cell::Int(1_704_067_200_000), Cell::Int(1)],
            vec![Cell::Int(1_704_096_000_000), Cell::Int(2)],
        ]
    );
    s.set_time_zone("Asia/Shanghai").unwrap();
    assert_eq!(
        rows(
            &e,
            &mut s,
            "SELECT v FROM n WHERE ts = '2024-01-01 08:00:00'"
        ),
        vec![vec![Cell::Int(1)]]
    );
    assert_eq!(
        rows(&e, &mut s, "SELECT timezone()"),
        vec![vec![Cell::Str("Asia/Shanghai (CST, +0800)".into())]]
    );
    assert_eq!(s.set_time_zone("Mars/Olympus").unwrap_err().code, 0x0118);
}

/// Follows TDengine's sql.y and docs: `SELECT 1` (constants, 01-data-type.md), SHOW DNODES,
/// IS [NOT] NULL, SHOW NORMAL|CHILD TABLES, information_schema.ins_columns (50-meta.md),
/// FLUSH DATABASE, SHOW CONSUMERS, and SHOW CREATE DATABASE with every option of
/// command.c `setCreateDBResultIntoDataBlock`.
#[test]
fn sql_statements_clients_send() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "us");
    exec(
        &e,
        &mut s,
        "CREATE TABLE n1 (ts TIMESTAMP, a INT, d DECIMAL(12, 3))",
    );
    exec(
        &e,
        &mut s,
        "INSERT INTO d0 VALUES (1, NULL, 'a') (2, 2.0, NULL)",
    );
    match e.execute(&mut s, "SELECT 1").unwrap() {
        QueryResult::Rows(r) => {
            assert_eq!(r.columns[0].name, "1");
            assert_eq!(r.columns[0].ty, ColType::BigInt);
            assert_eq!(r.rows, vec![vec![Cell::Int(1)]]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rows(&e, &mut s, "SHOW DNODES")[0][4],
        Cell::Str("ready".into())
    );
    assert_eq!(
        rows(&e, &mut s, "SELECT ts FROM d0 WHERE v IS NULL"),
        vec![vec![Cell::Int(1)]]
    );
    assert_eq!(
        rows(
            &e,
            &mut s,
            "SELECT ts FROM d0 WHERE s IS NOT NULL AND v IS NULL"
        ),
        vec![vec![Cell::Int(1)]]
    );
    assert_eq!(
        rows(&e, &mut s, "SHOW NORMAL db.TABLES"),
        vec![vec![Cell::Str("n1".into())]]
    );
    assert_eq!(
        rows(&e, &mut s, "SHOW CHILD TABLES"),
        vec![vec![Cell::Str("d0".into())]]
    );
    let cols = rows(
        &e,
        &mut s,
        "SELECT col_name, col_type, col_precision, col_scale FROM information_schema.ins_columns WHERE table_name = 'n1'",
    );
    assert_eq!(
        cols[2],
        vec![
            Cell::Str("d".into()),
            Cell::Str("DECIMAL(12, 3)".into()),
            Cell::Int(12),
            Cell::Int(3)
        ]
    );
    assert_eq!(
        e.execute(&mut s, "FLUSH DATABASE db").unwrap(),
        QueryResult::Affected(0)
    );
    assert_eq!(code(&e, &mut s, "FLUSH DATABASE nodb"), 0x0388);
    exec(&e, &mut s, "CREATE TOPIC t1 AS DATABASE db");
    let c = e
        .subscribe("grp", vec!["t1".into()], OffsetReset::Earliest)
        .unwrap();
    let consumers = rows(&e, &mut s, "SHOW CONSUMERS");
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0][1], Cell::Str("grp".into()));
    assert_eq!(consumers[0][6], Cell::Str("t1".into()));
    e.unsubscribe(c);
    assert!(rows(&e, &mut s, "SHOW CONSUMERS").is_empty());
    exec(
        &e,
        &mut s,
        "CREATE DATABASE d2 DURATION 1440m KEEP 365 WAL_RETENTION_PERIOD 60",
    );
    assert_eq!(
        rows(&e, &mut s, "SHOW CREATE DATABASE d2")[0][1],
        Cell::Str(
            "CREATE DATABASE `d2` BUFFER 256 CACHESIZE 1 CACHEMODEL 'none' COMP 2 DURATION 1d \
             WAL_FSYNC_PERIOD 3000 MAXROWS 4096 MINROWS 100 STT_TRIGGER 2 KEEP 365d,365d,365d \
             PAGES 256 PAGESIZE 4 PRECISION 'ms' REPLICA 1 WAL_LEVEL 1 VGROUPS 2 SINGLE_STABLE 0 \
             TABLE_PREFIX 0 TABLE_SUFFIX 0 TSDB_PAGESIZE 4 WAL_RETENTION_PERIOD 60 \
             WAL_RETENTION_SIZE -1 KEEP_TIME_OFFSET 0 ENCRYPT_ALGORITHM 'none' S3_CHUNKSIZE 131072 \
             S3_KEEPLOCAL 525600m S3_COMPACT 1"
                .into()
        )
    );
    // The statement SHOW CREATE DATABASE prints runs again.
    let again = match &rows(&e, &mut s, "SHOW CREATE DATABASE d2")[0][1] {
        Cell::Str(sql) => sql.replace("`d2`", "`d3`"),
        other => panic!("{other:?}"),
    };
    exec(&e, &mut s, &again);
    assert!(e
        .execute(&mut s, "SELECT avg(v) FROM d0")
        .unwrap_err()
        .message
        .contains("avg()"));
}

/// `PARTITION BY tbname` returns each child table's rows as a series of its own: grouped by
/// table, each in time order (without it, a super table's rows come in time order across
/// its children).
#[test]
fn partition_by_tbname_groups_rows_by_table() {
    let (e, mut s) = engine();
    for sql in [
        "CREATE DATABASE p",
        "USE p",
        "CREATE STABLE st (ts TIMESTAMP, v INT) TAGS (g INT)",
        "INSERT INTO b USING st TAGS (1) VALUES (1, 10) (3, 30) a USING st TAGS (2) VALUES (2, 20) (4, 40)",
    ] {
        exec(&e, &mut s, sql);
    }
    let mut tables = |sql: &str| -> Vec<(String, i64)> {
        rows(&e, &mut s, sql)
            .into_iter()
            .map(|r| match (&r[1], &r[0]) {
                (Cell::Str(t), Cell::Int(v)) => (t.clone(), *v),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(
        tables("SELECT v, tbname FROM st WHERE tbname IN ('a', 'b') PARTITION BY tbname"),
        [
            ("a".into(), 20),
            ("a".into(), 40),
            ("b".into(), 10),
            ("b".into(), 30)
        ]
    );
    assert_eq!(
        tables("SELECT v, tbname FROM st"),
        [
            ("b".into(), 10),
            ("a".into(), 20),
            ("b".into(), 30),
            ("a".into(), 40)
        ]
    );
}
