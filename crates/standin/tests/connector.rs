//! The unmodified official `taos` connector against the stand-in: SQL on both protocol paths
//! (JSON below 3.3.0.8, binary from it on), write_raw_block, and TMQ with meta.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use taos::taos_query::common::Timestamp;
use taos::*;
use taos_standin::StandinServer;

async fn sql(taos: &Taos, stmts: &[&str]) {
    for s in stmts {
        taos.exec(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

async fn rows(taos: &Taos, q: &str) -> Vec<Vec<Value>> {
    let mut rs = taos.query(q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    rs.to_records().await.unwrap()
}

async fn sql_round_trip(version: &str) {
    let standin = StandinServer::builder()
        .version(version)
        .start()
        .await
        .unwrap();
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    for (db, p) in [("dms", "ms"), ("dus", "us"), ("dns", "ns")] {
        sql(&taos, &[
            &format!("CREATE DATABASE {db} PRECISION '{p}' VGROUPS 2"),
            &format!("CREATE STABLE {db}.meters (ts TIMESTAMP, b BOOL, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, u8 TINYINT UNSIGNED, u64 BIGINT UNSIGNED, f FLOAT, d DOUBLE, s BINARY(16), n NCHAR(8), vb VARBINARY(8)) TAGS (gid INT, loc NCHAR(8))"),
            &format!("INSERT INTO {db}.d0 USING {db}.meters TAGS (1, 'x') VALUES (30, true, -1, -2, -3, -4, 1, 2, 1.5, 2.5, 'abc', 'ñé', 'zz') (10, false, 1, 2, 3, 4, 5, 6, 0.5, 0.25, 'a', 'b', 'c')"),
            &format!("INSERT INTO {db}.d0 VALUES (10, NULL, 9, 9, 9, 9, 9, 9, 9, 9, 'upsert', 'u', 'u')"),
        ]).await;
        let r = rows(
            &taos,
            &format!("SELECT * FROM {db}.d0 WHERE ts >= 0 AND ts < 100"),
        )
        .await;
        assert_eq!(r.len(), 2, "{version} {db}");
        assert_eq!(
            r[0][0],
            Value::Timestamp(Timestamp::new(
                10,
                match p {
                    "ms" => Precision::Millisecond,
                    "us" => Precision::Microsecond,
                    _ => Precision::Nanosecond,
                }
            ))
        );
        assert_eq!(r[0][1], Value::Null(Ty::Bool));
        assert_eq!(r[0][10], Value::VarChar("upsert".into()));
        assert_eq!(r[1][11], Value::NChar("ñé".into()));
        assert_eq!(r[1][3], Value::SmallInt(-2));
        let c = rows(&taos, &format!("SELECT count(*) FROM {db}.meters")).await;
        assert_eq!(c[0][0], Value::BigInt(2));
    }
    let err = taos.query("SELECT * FROM dms.nope").await.unwrap_err();
    assert_eq!(i32::from(err.code()) & 0xffff, 0x2662, "{err}");
    let err = taos.exec("FROBNICATE").await.unwrap_err();
    assert_eq!(i32::from(err.code()) & 0xffff, 0x2600, "{err}");
    // The connection still works after errors.
    assert_eq!(
        rows(&taos, "SELECT count(*) FROM dms.d0").await[0][0],
        Value::BigInt(2)
    );
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_on_the_json_path() {
    sql_round_trip("3.3.0.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_on_the_binary_path() {
    sql_round_trip("3.3.6.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused() {
    let standin = StandinServer::builder().start().await.unwrap();
    let dsn = format!("ws://root:wrong@{}", standin.addr());
    // The connector logs in when it connects, or at the latest on the first statement.
    let err = match TaosBuilder::from_dsn(dsn).unwrap().build().await {
        Err(e) => e,
        Ok(taos) => taos.exec("SELECT server_version()").await.unwrap_err(),
    };
    assert!(err.to_string().contains("Authentication failure"), "{err}");
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmq_sees_writes_deletes_and_drops_in_order() {
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    sql(
        &taos,
        &[
            "CREATE DATABASE db VGROUPS 1",
            "CREATE STABLE db.meters (ts TIMESTAMP, v INT) TAGS (g INT)",
            "CREATE TOPIC t1 WITH META AS DATABASE db",
            "INSERT INTO db.d0 USING db.meters TAGS (1) VALUES (1000, 1) (2000, 2)",
            "INSERT INTO db.d0 VALUES (500, 5)",
            "DELETE FROM db.d0 WHERE ts >= 0 AND ts <= 1500",
            "DROP TABLE db.d0",
        ],
    )
    .await;
    let dsn = format!(
        "{}?group.id=g1&client.id=c1&auto.offset.reset=earliest&enable.auto.commit=false",
        standin.dsn()
    );
    let mut consumer = TmqBuilder::from_dsn(dsn).unwrap().build().await.unwrap();
    consumer.subscribe(["t1"]).await.unwrap();
    let mut seen = Vec::new();
    {
        let mut stream = consumer.stream_with_timeout(Timeout::from_millis(500));
        while let Some((offset, message)) = stream.try_next().await.unwrap() {
            if let Some(meta) = message.meta() {
                let j = serde_json::to_value(meta.as_json_meta().await.unwrap()).unwrap();
                seen.push(format!("meta:{}", j["type"].as_str().unwrap_or("batch")));
            }
            if let Some(data) = message.into_data() {
                while let Some(block) = data.fetch_raw_block().await.unwrap() {
                    seen.push(format!(
                        "rows:{}:{}",
                        block.table_name().unwrap(),
                        block.nrows()
                    ));
                }
            }
            consumer.commit(offset).await.unwrap();
        }
    }
    assert_eq!(
        seen,
        vec![
            "meta:create",
            "meta:create",
            "rows:d0:2",
            "rows:d0:1",
            "meta:delete",
            "meta:drop"
        ]
    );
    // Versions 0..=4 are the five statements; the last message (the drop, a meta message)
    // ends at 5, which is where clientTmq.c's assignment puts the offset. The WAL goes on:
    // the subscription and every commit took versions of their own (vnodeSvr.c).
    let a = consumer.assignments().await.unwrap();
    assert_eq!(a[0].1[0].current_offset(), 5);
    assert!(a[0].1[0].end() > 5);
    consumer.unsubscribe().await;
    standin.shutdown().await;
    let _ = Duration::ZERO;
}

/// Queries as TDengine answers them, after deletes, an ALTER and with JSON tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_deletes_alters_and_json_tags() {
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = TaosBuilder::from_dsn(standin.dsn())
        .unwrap()
        .build()
        .await
        .unwrap();
    sql(
        &taos,
        &[
            "CREATE DATABASE db",
            "CREATE STABLE db.m (ts TIMESTAMP, v INT, u INT UNSIGNED, w SMALLINT UNSIGNED) TAGS (info JSON)",
            r#"INSERT INTO db.a USING db.m TAGS ('{"site":"north"}') VALUES (5, 50, 1, 2) (1, 10, 1, 2) (3, 30, 1, 2)"#,
            r#"INSERT INTO db.b USING db.m TAGS ('{"site":"south"}') VALUES (2, 20, 4294967295, 65535)"#,
        ],
    )
    .await;
    // Rows come back in timestamp order whatever the insert order; ORDER BY/LIMIT/OFFSET.
    let v = |r: &Vec<Vec<Value>>| r.iter().map(|x| x[1].clone()).collect::<Vec<_>>();
    assert_eq!(
        v(&rows(&taos, "SELECT * FROM db.a").await),
        [Value::Int(10), Value::Int(30), Value::Int(50)]
    );
    assert_eq!(
        v(&rows(&taos, "SELECT * FROM db.a ORDER BY ts DESC LIMIT 2").await),
        [Value::Int(50), Value::Int(30)]
    );
    assert_eq!(
        v(&rows(&taos, "SELECT * FROM db.a LIMIT 1 OFFSET 1").await),
        [Value::Int(30)]
    );
    let fl = rows(&taos, "SELECT first(v), last(v) FROM db.a").await;
    assert_eq!(fl[0], [Value::Int(10), Value::Int(50)]);
    let b = rows(&taos, "SELECT u, w FROM db.b").await;
    assert_eq!(b[0], [Value::UInt(4294967295), Value::USmallInt(65535)]);
    let names = rows(&taos, "SELECT tbname FROM db.m WHERE tbname = 'b'").await;
    assert_eq!(names, [[Value::VarChar("b".into())]]);
    // A deleted range is gone; the rest stays.
    sql(&taos, &["DELETE FROM db.a WHERE ts >= 2 AND ts <= 4"]).await;
    assert_eq!(
        v(&rows(&taos, "SELECT * FROM db.a").await),
        [Value::Int(10), Value::Int(50)]
    );
    // A column added later reads NULL in older rows.
    sql(
        &taos,
        &[
            "ALTER STABLE db.m ADD COLUMN x DOUBLE",
            "INSERT INTO db.a VALUES (7, 70, 1, 2, 0.5)",
        ],
    )
    .await;
    let r = rows(&taos, "SELECT ts, x FROM db.a").await;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0][1], Value::Null(Ty::Double));
    assert_eq!(r[2][1], Value::Double(0.5));
    // Dropped is gone: TDengine's "table does not exist".
    sql(&taos, &["DROP TABLE db.b"]).await;
    let err = taos.query("SELECT * FROM db.b").await.unwrap_err();
    assert_eq!(i32::from(err.code()) & 0xffff, 0x2662, "{err}");
    assert_eq!(
        rows(&taos, "SELECT count(*) FROM db.m").await[0][0],
        Value::BigInt(3)
    );
    standin.shutdown().await;
}
