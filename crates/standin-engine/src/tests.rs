//! Engine tests through SQL and the TMQ calls.

use super::*;

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
