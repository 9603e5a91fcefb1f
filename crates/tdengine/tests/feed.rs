//! The change feed against the TDengine stand-in: polls that time out all the time while a
//! writer is busy lose no message and hand none out twice, and cuts taken in between end at
//! the log's end once everything was handed out. (The race this feed guards against, a
//! poll cancelled while its request is on the wire, depends on timer alignment inside the
//! connector; `crates/cli/tests/monitor_live.rs` is the test that caught it.)
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use taos_standin::StandinServer;
use tdibt_tdengine::topic::ensure_topic;
use tdibt_tdengine::{ChangeEvent, ChangeFeed, Connection, FeedSettings, StartFrom};

const ROWS: i64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_timeouts_and_cuts_lose_nothing() {
    let standin = StandinServer::builder().start().await.unwrap();
    let settings = support::settings(&standin);
    let conn = Connection::open(&settings).await.unwrap();
    conn.exec("CREATE DATABASE db VGROUPS 2").await.unwrap();
    conn.exec("CREATE TABLE db.a (ts TIMESTAMP, v INT)")
        .await
        .unwrap();
    conn.exec("CREATE TABLE db.b (ts TIMESTAMP, v INT)")
        .await
        .unwrap();
    ensure_topic(&conn, "t", "db").await.unwrap();
    let mut feed = ChangeFeed::subscribe(
        &settings,
        &FeedSettings {
            topic: "t".into(),
            group_id: "g".into(),
            client_id: "test".into(),
            start_from: StartFrom::Earliest,
        },
    )
    .await
    .unwrap();

    // A writer one row at a time, while the reader's waits time out every few milliseconds
    // and cuts are taken between them.
    let writer = tokio::spawn(async move {
        for i in 0..ROWS {
            let table = if i % 2 == 0 { "a" } else { "b" };
            conn.exec(&format!("INSERT INTO db.{table} VALUES ({i}, {i})"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    });
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    let mut timeouts = 0;
    let record =
        |m: tdibt_tdengine::FeedMessage, seen: &mut BTreeSet<(String, i64)>, dup: &mut i32| {
            for e in m.events {
                if let ChangeEvent::Rows { table, timestamps } = e {
                    for ts in timestamps {
                        if !seen.insert((table.clone(), ts)) {
                            *dup += 1;
                        }
                    }
                }
            }
        };
    let mut last_cut = Vec::new();
    for round in 0..20_000 {
        match feed
            .next(Duration::from_millis(1 + round % 7))
            .await
            .unwrap()
        {
            Some(m) => record(m, &mut seen, &mut duplicates),
            None => timeouts += 1,
        }
        if round % 3 == 0 {
            let (progress, message) = feed.cut().await.unwrap();
            if let Some(m) = message {
                record(m, &mut seen, &mut duplicates);
            }
            last_cut = progress;
        }
        if seen.len() as i64 == ROWS && writer.is_finished() {
            break;
        }
    }
    writer.await.unwrap();
    assert!(timeouts > 3, "the polls did time out ({timeouts})");
    assert_eq!(duplicates, 0);
    assert_eq!(seen.len() as i64, ROWS, "rows lost");
    // Everything handed out is covered by a cut taken now, and the cut is at the log's end.
    let (progress, message) = feed.cut().await.unwrap();
    assert!(message.is_none());
    assert!(progress.iter().all(|p| p.position == p.end), "{progress:?}");
    assert!(!last_cut.is_empty());
    feed.close().await;
    standin.shutdown().await;
}
