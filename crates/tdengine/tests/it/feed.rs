//! The change feed against the TDengine stand-in: short server-side poll waits while a
//! writer is busy lose no message and hand none out twice, cuts taken between polls end at
//! the log's end once everything was handed out, seeks work before any poll, and offsets
//! outside the WAL are reported as such. (The old feed's race, a poll cancelled while its
//! request was on the wire, cannot happen: every poll is read to its reply.)

use std::collections::BTreeSet;
use std::time::Duration;

use taos_standin::StandinServer;
use tdibt_tdengine::topic::ensure_topic;
use tdibt_tdengine::{ChangeEvent, ChangeFeed, Connection, FeedSettings, StartFrom};

const ROWS: i64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_timeouts_and_cuts_lose_nothing() {
    let standin = StandinServer::builder().start().await.unwrap();
    let settings = crate::support::settings(&standin);
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
            last_cut = feed.progress().await.unwrap();
        }
        if seen.len() as i64 == ROWS && writer.is_finished() {
            break;
        }
    }
    writer.await.unwrap();
    assert!(timeouts > 3, "the polls did time out ({timeouts})");
    assert_eq!(duplicates, 0);
    assert_eq!(seen.len() as i64, ROWS, "rows lost");
    // Everything handed out is covered by a cut taken now, and the cut is at the log's end
    // once a poll found nothing more.
    assert!(feed.next(Duration::from_millis(5)).await.unwrap().is_none());
    let progress = feed.progress().await.unwrap();
    assert!(progress.iter().all(|p| p.position >= p.end), "{progress:?}");
    assert!(!last_cut.is_empty());
    feed.close().await;
    standin.shutdown().await;
}

async fn db_with_topic(standin: &taos_standin::RunningStandin) -> Connection {
    let conn = Connection::open(&crate::support::settings(standin))
        .await
        .unwrap();
    conn.exec("CREATE DATABASE db VGROUPS 1").await.unwrap();
    conn.exec("CREATE TABLE db.a (ts TIMESTAMP, v INT)")
        .await
        .unwrap();
    for i in 0..5 {
        conn.exec(&format!("INSERT INTO db.a VALUES ({i}, {i})"))
            .await
            .unwrap();
    }
    ensure_topic(&conn, "t", "db").await.unwrap();
    conn
}

fn feed_settings() -> FeedSettings {
    FeedSettings {
        topic: "t".into(),
        group_id: "g".into(),
        client_id: "test".into(),
        start_from: StartFrom::Earliest,
    }
}

/// taosd refuses a seek before an assignment or a poll (`TMQ_NEED_INITIALIZED`,
/// clientTmq.c `checkWalRange`): the feed asks for the assignment first, so a seek right
/// after subscribing works, and reading resumes where it said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_before_any_poll_or_assignment() {
    let standin = StandinServer::builder().start().await.unwrap();
    let _conn = db_with_topic(&standin).await;
    let mut feed = ChangeFeed::subscribe(&crate::support::settings(&standin), &feed_settings())
        .await
        .unwrap();
    let progress = {
        let mut probe = ChangeFeed::subscribe(
            &crate::support::settings(&standin),
            &FeedSettings {
                group_id: "probe".into(),
                ..feed_settings()
            },
        )
        .await
        .unwrap();
        let p = probe.progress().await.unwrap();
        probe.close().await;
        p
    };
    let vg = progress[0].vgroup_id;
    let end = progress[0].end;
    feed.seek(vg, end).await.unwrap();
    assert!(feed
        .next(Duration::from_millis(20))
        .await
        .unwrap()
        .is_none());
    assert_eq!(feed.position(vg).await.unwrap(), end);
    feed.close().await;
    standin.shutdown().await;
}

/// A seek outside the vgroup's WAL (after `WAL_RETENTION_PERIOD` dropped its head) is
/// refused as out of range, which capture treats as a WAL gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_outside_the_wal_is_out_of_range() {
    let standin = StandinServer::builder().start().await.unwrap();
    let _conn = db_with_topic(&standin).await;
    let mut feed = ChangeFeed::subscribe(&crate::support::settings(&standin), &feed_settings())
        .await
        .unwrap();
    let a = feed.assignment().await.unwrap();
    let (vg, end) = (a[0].vgroup_id, a[0].end);
    standin.engine().expire_wal("db", vg, end).unwrap();
    // The client checks seeks against the WAL range of its last assignment or poll
    // (clientTmq.c `checkWalRange`), as capture's reconnect does: ask again.
    assert_eq!(feed.assignment().await.unwrap()[0].begin, end);
    let err = feed.seek(vg, 1).await.unwrap_err();
    assert!(err.is_out_of_range(), "{err}");
    let err = feed.seek(vg, end + 100).await.unwrap_err();
    assert!(err.is_out_of_range(), "{err}");
    feed.close().await;
    standin.shutdown().await;
}
