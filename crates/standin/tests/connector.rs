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
    let a = consumer.assignments().await.unwrap();
    assert_eq!(a[0].1[0].current_offset(), a[0].1[0].end());
    consumer.unsubscribe().await;
    standin.shutdown().await;
    let _ = Duration::ZERO;
}
