//! TMQ groups, restarts with a data folder, write_raw_block, and bad requests, through the
//! unmodified connector (and raw WebSocket frames for what the connector never sends).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use futures_util::{SinkExt, StreamExt};
use taos::*;
use taos_standin::StandinServer;
use tokio_tungstenite::tungstenite::Message;

async fn connect(dsn: &str) -> Taos {
    TaosBuilder::from_dsn(dsn).unwrap().build().await.unwrap()
}

async fn consumer(dsn: &str, group: &str) -> Consumer {
    let dsn = format!("{dsn}?group.id={group}&auto.offset.reset=earliest&enable.auto.commit=false");
    let mut c = TmqBuilder::from_dsn(dsn).unwrap().build().await.unwrap();
    c.subscribe(["t"]).await.unwrap();
    c
}

/// Drains a consumer: (table, ts) of every row, committing each message.
async fn drain(c: &Consumer) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    let mut stream = c.stream_with_timeout(Timeout::from_millis(300));
    while let Some((offset, message)) = stream.try_next().await.unwrap() {
        if let Some(data) = message.into_data() {
            while let Some(block) = data.fetch_raw_block().await.unwrap() {
                let table = block.table_name().unwrap().to_string();
                for r in 0..block.nrows() {
                    if let Some(BorrowedValue::Timestamp(ts)) = block.get_ref(r, 0) {
                        rows.push((table.clone(), ts.as_raw_i64()));
                    }
                }
            }
        }
        c.commit(offset).await.unwrap();
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_committed_offsets() {
    let data = tempfile::tempdir().unwrap();
    let standin = StandinServer::builder()
        .data_dir(data.path())
        .start()
        .await
        .unwrap();
    let addr = standin.addr().to_string();
    let taos = connect(&standin.dsn()).await;
    for s in [
        "CREATE DATABASE db VGROUPS 2",
        "CREATE STABLE db.m (ts TIMESTAMP, v INT) TAGS (g INT)",
        "CREATE TOPIC t AS DATABASE db",
        "INSERT INTO db.a USING db.m TAGS (1) VALUES (1, 1) (2, 2) db.b USING db.m TAGS (2) VALUES (3, 3)",
    ] {
        taos.exec(s).await.unwrap();
    }
    let c = consumer(&standin.dsn(), "g").await;
    assert_eq!(drain(&c).await.len(), 3);
    c.unsubscribe().await;
    drop(taos);
    standin.shutdown().await;

    let standin = StandinServer::builder()
        .data_dir(data.path())
        .listen(&addr)
        .start()
        .await
        .unwrap();
    let taos = connect(&standin.dsn()).await;
    taos.exec("INSERT INTO db.a VALUES (4, 4)").await.unwrap();
    let mut rs = taos.query("SELECT count(*) FROM db.m").await.unwrap();
    assert_eq!(rs.to_records().await.unwrap()[0][0], Value::BigInt(4));
    let c = consumer(&standin.dsn(), "g").await;
    assert_eq!(
        drain(&c).await,
        vec![("a".to_string(), 4)],
        "only what came after the commit"
    );
    c.unsubscribe().await;
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_in_a_group_share_the_vgroups() {
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = connect(&standin.dsn()).await;
    taos.exec("CREATE DATABASE db VGROUPS 4").await.unwrap();
    taos.exec("CREATE STABLE db.m (ts TIMESTAMP, v INT) TAGS (g INT)")
        .await
        .unwrap();
    taos.exec("CREATE TOPIC t AS DATABASE db").await.unwrap();
    for i in 0..40 {
        taos.exec(format!(
            "INSERT INTO db.t{i} USING db.m TAGS ({i}) VALUES ({i}, {i})"
        ))
        .await
        .unwrap();
    }
    let a = consumer(&standin.dsn(), "g").await;
    let b = consumer(&standin.dsn(), "g").await;
    let va: BTreeSet<i32> = a
        .topic_assignment("t")
        .await
        .iter()
        .map(|x| x.vgroup_id())
        .collect();
    let vb: BTreeSet<i32> = b
        .topic_assignment("t")
        .await
        .iter()
        .map(|x| x.vgroup_id())
        .collect();
    assert_eq!(va.len(), 2);
    assert_eq!(vb.len(), 2);
    assert!(va.is_disjoint(&vb));
    let (ra, rb) = tokio::join!(drain(&a), drain(&b));
    assert!(!ra.is_empty() && !rb.is_empty());
    let mut all: Vec<_> = ra.into_iter().chain(rb).collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!((before, all.len()), (40, 40), "each row once");
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_raw_block_round_trips() {
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = connect(&standin.dsn()).await;
    taos.exec("CREATE DATABASE db PRECISION 'us'")
        .await
        .unwrap();
    taos.exec("USE db").await.unwrap();
    taos.exec("CREATE TABLE src (ts TIMESTAMP, v INT, s VARCHAR(8))")
        .await
        .unwrap();
    taos.exec("CREATE TABLE dst (ts TIMESTAMP, v INT, s VARCHAR(8))")
        .await
        .unwrap();
    taos.exec("INSERT INTO src VALUES (1, 10, 'a') (2, NULL, 'b') (3, 30, NULL)")
        .await
        .unwrap();
    let mut rs = taos.query("SELECT * FROM src").await.unwrap();
    let mut block = rs.blocks().try_next().await.unwrap().unwrap();
    block.with_table_name("dst");
    taos.write_raw_block(&block).await.unwrap();
    let mut rs = taos.query("SELECT * FROM dst").await.unwrap();
    let dst = rs.to_records().await.unwrap();
    let mut rs = taos.query("SELECT * FROM src").await.unwrap();
    assert_eq!(dst, rs.to_records().await.unwrap());
    assert_eq!(dst.len(), 3);
    standin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_errors_and_others_are_still_served() {
    let standin = StandinServer::builder().start().await.unwrap();
    let url = format!("ws://{}/ws", standin.addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    for (frame, code) in [
        ("{not json", 0xFFFF),
        (r#"{"action":"frobnicate","args":{"req_id":7}}"#, 0xFFFF),
        (
            r#"{"action":"query","args":{"req_id":8,"sql":"SELECT 1 FROM x"}}"#,
            0x0218,
        ),
    ] {
        ws.send(Message::Text(frame.into())).await.unwrap();
        let reply = ws.next().await.unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
        assert_eq!(v["code"], code, "{frame} -> {v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    ws.send(Message::Text(
        r#"{"action":"conn","args":{"req_id":1,"user":"root","password":"taosdata","db":""}}"#
            .into(),
    ))
    .await
    .unwrap();
    ws.next().await.unwrap().unwrap();
    for (sql, code) in [("SELECT * FROM nodb.t", 0x0388), ("SHOW GRANTS", 0x2600)] {
        let frame = serde_json::json!({"action":"query","args":{"req_id":2,"sql":sql}}).to_string();
        ws.send(Message::Text(frame)).await.unwrap();
        let v: serde_json::Value =
            serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(v["code"], code, "{sql} -> {v}");
    }
    // An unknown path is a 404, like taosAdapter's.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/nope", standin.addr()))
            .await
            .is_err()
    );
    // Another client is served all along.
    let taos = connect(&standin.dsn()).await;
    taos.exec("CREATE DATABASE ok").await.unwrap();
    standin.shutdown().await;
}

/// parInsertUtil.c `rawBlockBindData` / `bindFileds` (the connector always sends
/// `write_raw_block_with_fields`): block columns go to the table's columns of the same name,
/// the table's others are NULL, and a column the table lacks is refused — never shifted.
/// NCHAR travels as UCS-4 both ways and reads back as the text written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_blocks_bind_by_name_and_keep_nchar_text() {
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = connect(&standin.dsn()).await;
    for sql in [
        "CREATE DATABASE db",
        "USE db",
        "CREATE TABLE src (ts TIMESTAMP, msg NCHAR(20))",
        "CREATE TABLE dst (ts TIMESTAMP, v INT, msg NCHAR(20))",
        "INSERT INTO src VALUES (1000, '温度80')",
    ] {
        taos.exec(sql).await.unwrap();
    }
    let mut rs = taos.query("SELECT * FROM src").await.unwrap();
    let mut block = rs.blocks().try_next().await.unwrap().unwrap();
    block.with_table_name("dst");
    taos.write_raw_block(&block).await.unwrap();
    let mut rs = taos.query("SELECT ts, v, msg FROM dst").await.unwrap();
    let rows = rs.to_records().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][1],
        Value::Null(Ty::Int),
        "a column the block lacks is NULL"
    );
    assert_eq!(rows[0][2], Value::NChar("温度80".into()));

    let mut stray = RawBlock::from_views(
        &[
            ColumnView::from_millis_timestamp(vec![Some(2000)]),
            ColumnView::from_ints(vec![Some(7)]),
        ],
        Precision::Millisecond,
    );
    stray.with_field_names(["ts", "zz"]);
    stray.with_table_name("dst");
    let err = taos.write_raw_block(&stray).await.unwrap_err();
    assert!(err.to_string().contains("zz"), "{err}");
    let mut rs = taos.query("SELECT count(*) FROM dst").await.unwrap();
    assert_eq!(rs.to_records().await.unwrap()[0][0], Value::BigInt(1));
    standin.shutdown().await;
}

/// Every message of a topic copied into another database by its raw form, as taosX copies
/// a database (`tmq_get_raw` + `tmq_write_raw`, clientRawBlockWrite.c): meta messages
/// (`fetch_raw` of the vnode request, then `write_raw`), data messages with auto-created
/// tables (`RES_TYPE__TMQ_METADATA`) and plain data (`RES_TYPE__TMQ`). The copy then has the
/// same schemas, tags and rows, read back through SQL, not through the raw form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_messages_written_back_rebuild_the_database() {
    let standin = StandinServer::builder().start().await.unwrap();
    let taos = connect(&standin.dsn()).await;
    for sql in [
        "CREATE DATABASE src",
        "CREATE DATABASE dst",
        "CREATE TOPIC t WITH META AS DATABASE src",
        "USE src",
        "CREATE STABLE st (ts TIMESTAMP, v INT, s NCHAR(8)) TAGS (big BIGINT, u BIGINT UNSIGNED, \
         f FLOAT, d DOUBLE, b BOOL, name NCHAR(10), bin VARBINARY(8), ts2 TIMESTAMP)",
        "CREATE TABLE c1 USING st TAGS (9007199254740993, 18446744073709551615, 1.5, \
         -0.12345678910, true, '涛思 tag''s', '\\x0aff', 1700000000000)",
        "CREATE TABLE c2 USING st (big, name) TAGS (-5, 'only')",
        "CREATE STABLE js (ts TIMESTAMP, v INT) TAGS (j JSON)",
        "CREATE TABLE j1 USING js TAGS ('{\"k\":\"v\",\"n\":2.5,\"t\":true}')",
        "CREATE TABLE n (ts TIMESTAMP, v BIGINT)",
        "INSERT INTO c1 VALUES (1000, 1, 'a') (2000, 2, '和')",
        "INSERT INTO c3 USING st (name) TAGS ('auto') VALUES (1000, 3, 'c')",
        "INSERT INTO n VALUES (1000, 9223372036854775807)",
        "ALTER STABLE st ADD COLUMN w DOUBLE",
        "ALTER STABLE st ADD TAG extra INT",
        "ALTER STABLE st RENAME TAG extra more",
        "ALTER STABLE st MODIFY TAG name NCHAR(20)",
        "ALTER TABLE c2 SET TAG more = 7",
        "ALTER TABLE c1 SET TAG big = -1, name = 'renamed'",
        "ALTER TABLE n ADD COLUMN extra VARCHAR(4)",
        "ALTER TABLE n MODIFY COLUMN extra VARCHAR(9)",
        "ALTER TABLE n RENAME COLUMN extra label",
        "INSERT INTO c1 VALUES (3000, 4, 'd', 0.5)",
        "INSERT INTO n VALUES (2000, -1, 'x')",
        "DELETE FROM c1 WHERE ts >= 2000 AND ts <= 2000",
        "CREATE TABLE gone (ts TIMESTAMP, v INT)",
        "DROP TABLE gone",
    ] {
        taos.exec(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let copier = connect(&standin.dsn()).await;
    copier.exec("USE dst").await.unwrap();
    let c = consumer(&standin.dsn(), "copy").await;
    let mut kinds = BTreeSet::new();
    {
        let mut stream = c.stream_with_timeout(Timeout::from_millis(500));
        while let Some((offset, message)) = stream.try_next().await.unwrap() {
            match message {
                MessageSet::Meta(m) => {
                    kinds.insert("meta");
                    copier
                        .write_raw_meta(&m.as_raw_meta().await.unwrap())
                        .await
                        .unwrap();
                }
                MessageSet::MetaData(m, _) => {
                    kinds.insert("metadata");
                    copier
                        .write_raw_meta(&m.as_raw_meta().await.unwrap())
                        .await
                        .unwrap();
                }
                MessageSet::Data(d) => {
                    kinds.insert("data");
                    let raw = RawMeta::from(d.as_raw_data().await.unwrap());
                    copier.write_raw_meta(&raw).await.unwrap();
                }
            }
            c.commit(offset).await.unwrap();
        }
    }
    assert_eq!(
        kinds.len(),
        3,
        "every kind of message was copied: {kinds:?}"
    );
    let read = |sql: String| {
        let taos = &taos;
        async move {
            let mut rs = taos
                .query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let mut rows: Vec<String> = rs
                .to_records()
                .await
                .unwrap()
                .iter()
                .map(|r| format!("{r:?}"))
                .collect();
            rows.sort();
            rows
        }
    };
    for q in [
        "DESCRIBE {}.st",
        "DESCRIBE {}.js",
        "DESCRIBE {}.n",
        "SELECT * FROM {}.c1",
        "SELECT * FROM {}.c3",
        "SELECT * FROM {}.n",
        "SELECT table_name, tag_name, tag_type, tag_value FROM information_schema.ins_tags \
         WHERE db_name = '{}'",
        "SHOW {}.TABLES",
    ] {
        let (s, d) = (
            read(q.replace("{}", "src")).await,
            read(q.replace("{}", "dst")).await,
        );
        assert!(!s.is_empty(), "{q} is empty in the source");
        assert_eq!(s, d, "{q}");
    }
    standin.shutdown().await;
}
