//! Load test (bounded, loopback only): one million rows over 1,000 tables inserted from four
//! connections, read back by query, and consumed through TMQ by a consumer group with every
//! message committed; no row may be lost or delivered twice, and a new consumer of the group
//! afterwards gets nothing. Prints rows per second for each phase (no timing is asserted):
//! `cargo test --release -p taos-standin --test load -- --nocapture`.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use taos::*;
use taos_standin::StandinServer;

const TABLES: usize = 1_000;
const ROWS_PER_TABLE: usize = 1_000;
const CONNECTIONS: usize = 4;
/// Rows per INSERT statement: 10 tables x 100 rows, the shape of a batching writer.
const TABLES_PER_INSERT: usize = 10;
const ROWS_PER_INSERT_AND_TABLE: usize = 100;
const BASE_TS: i64 = 1_700_000_000_000;

async fn connect(dsn: &str) -> Taos {
    TaosBuilder::from_dsn(dsn).unwrap().build().await.unwrap()
}

/// Inserts the rows of tables `first..first + TABLES / CONNECTIONS` over one connection.
async fn insert_share(dsn: String, first: usize) {
    let taos = connect(&dsn).await;
    let share = TABLES / CONNECTIONS;
    for group in (first..first + share).step_by(TABLES_PER_INSERT) {
        for chunk in 0..ROWS_PER_TABLE / ROWS_PER_INSERT_AND_TABLE {
            let mut sql = String::from("INSERT INTO");
            for t in group..group + TABLES_PER_INSERT {
                sql.push_str(&format!(" load.t{t} USING load.m TAGS ({t}) VALUES"));
                for r in 0..ROWS_PER_INSERT_AND_TABLE {
                    let row = chunk * ROWS_PER_INSERT_AND_TABLE + r;
                    sql.push_str(&format!(" ({}, {row}, {}.5)", BASE_TS + row as i64, t));
                }
            }
            taos.exec(&sql).await.unwrap();
        }
    }
}

fn rate(rows: usize, elapsed: Duration) -> String {
    format!("{:.0} rows/s", rows as f64 / elapsed.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_million_rows_in_and_out_through_tmq_none_lost_or_duplicated() {
    // On a worker thread: the test's own task wakes up slower on I/O than spawned ones.
    tokio::spawn(load()).await.unwrap();
}

async fn load() {
    let standin = StandinServer::builder().start().await.unwrap();
    let dsn = standin.dsn();
    let total = TABLES * ROWS_PER_TABLE;
    let taos = connect(&dsn).await;
    taos.exec("CREATE DATABASE load VGROUPS 4").await.unwrap();
    taos.exec("CREATE STABLE load.m (ts TIMESTAMP, v INT, f DOUBLE) TAGS (id INT)")
        .await
        .unwrap();
    taos.exec("CREATE TOPIC load_topic AS DATABASE load")
        .await
        .unwrap();

    let started = Instant::now();
    let writers: Vec<_> = (0..CONNECTIONS)
        .map(|i| tokio::spawn(insert_share(dsn.clone(), i * TABLES / CONNECTIONS)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let insert = started.elapsed();

    let started = Instant::now();
    let mut queried = 0usize;
    for t in 0..TABLES {
        let mut rs = taos
            .query(format!(
                "SELECT ts, v, f FROM load.t{t} WHERE ts >= {BASE_TS}"
            ))
            .await
            .unwrap();
        let mut blocks = rs.blocks();
        while let Some(block) = blocks.try_next().await.unwrap() {
            queried += block.nrows();
        }
    }
    let query = started.elapsed();
    assert_eq!(queried, total, "every row comes back by query");

    let started = Instant::now();
    let dsn_tmq =
        format!("{dsn}?group.id=load&auto.offset.reset=earliest&enable.auto.commit=false");
    let mut consumer = TmqBuilder::from_dsn(&dsn_tmq)
        .unwrap()
        .build()
        .await
        .unwrap();
    consumer.subscribe(["load_topic"]).await.unwrap();
    let mut seen: HashSet<(String, i64)> = HashSet::with_capacity(total);
    let mut duplicates = 0usize;
    let mut messages = 0usize;
    {
        let mut stream = consumer.stream_with_timeout(Timeout::from_millis(1_000));
        while let Some((offset, message)) = stream.try_next().await.unwrap() {
            messages += 1;
            if let Some(data) = message.into_data() {
                while let Some(block) = data.fetch_raw_block().await.unwrap() {
                    let table = block.table_name().unwrap().to_string();
                    for r in 0..block.nrows() {
                        if let Some(BorrowedValue::Timestamp(ts)) = block.get_ref(r, 0) {
                            if !seen.insert((table.clone(), ts.as_raw_i64())) {
                                duplicates += 1;
                            }
                        }
                    }
                }
            }
            consumer.commit(offset).await.unwrap();
            if seen.len() == total {
                break;
            }
        }
    }
    let tmq = started.elapsed();
    consumer.unsubscribe().await;
    assert_eq!(duplicates, 0, "no row delivered twice");
    assert_eq!(seen.len(), total, "no row lost");

    // After the commits, the group has nothing left to deliver.
    let mut again = TmqBuilder::from_dsn(&dsn_tmq)
        .unwrap()
        .build()
        .await
        .unwrap();
    again.subscribe(["load_topic"]).await.unwrap();
    let mut leftover = 0usize;
    {
        let mut stream = again.stream_with_timeout(Timeout::from_millis(500));
        while let Some((_, message)) = stream.try_next().await.unwrap() {
            if let Some(data) = message.into_data() {
                while let Some(block) = data.fetch_raw_block().await.unwrap() {
                    leftover += block.nrows();
                }
            }
        }
    }
    again.unsubscribe().await;
    assert_eq!(leftover, 0, "nothing redelivered after commit");

    println!(
        "stand-in load: {total} rows over {TABLES} tables; insert ({CONNECTIONS} connections) {:.2} s = {}; \
         query {:.2} s = {}; TMQ consume+commit {:.2} s = {} in {messages} messages",
        insert.as_secs_f64(),
        rate(total, insert),
        query.as_secs_f64(),
        rate(total, query),
        tmq.as_secs_f64(),
        rate(total, tmq),
    );
    standin.shutdown().await;
}
