//! One test per TMQ rule the stand-in follows, each naming the TDengine source it reads.

use std::time::Duration;

use super::tests::{engine, setup};
use super::*;

/// A topic on `db` with the rebalance timer out of reach, so only `rebalance_now` fires it.
fn subscribed(e: &Engine, s: &mut Session, with_meta: bool) -> ConsumerId {
    e.set_tmq_config(TmqConfig {
        rebalance_interval: Duration::from_secs(3600),
        ..TmqConfig::default()
    });
    setup(e, s, "ms");
    let meta = if with_meta { "WITH META " } else { "" };
    e.execute(s, &format!("CREATE TOPIC t {meta}AS DATABASE db"))
        .unwrap();
    let c = e
        .subscribe("g", vec!["t".into()], OffsetReset::Earliest)
        .unwrap();
    e.rebalance_now();
    c
}

fn vg_of_d0(e: &Engine) -> i32 {
    e.lock().store.databases["db"].vgroup_of("d0")
}

fn wal_end(e: &Engine, vg: i32) -> i64 {
    e.lock().store.databases["db"].wal[&vg].end()
}

/// clientTmq.c `checkWalRange`: "Assignment or poll interface need to be called first".
#[test]
fn seek_commit_offset_and_position_before_poll_or_assignment_need_initialized() {
    let (e, mut s) = engine();
    let c = subscribed(&e, &mut s, false);
    let vg = vg_of_d0(&e);
    assert_eq!(e.seek(c, "t", vg, 0).unwrap_err().code, 0x4010);
    assert_eq!(e.commit(c, "t", vg, 0).unwrap_err().code, 0x4010);
    assert_eq!(e.position(c, "t", vg).unwrap_err().code, 0x4010);
    e.assignment(c, "t").unwrap();
    e.seek(c, "t", vg, 0).unwrap();
    e.commit(c, "t", vg, 0).unwrap();
}

/// clientTmq.c `checkWalRange` / `updateVgInfo`: the range is `[walsver, walever + 1]` of
/// the last answer; anything outside is `TSDB_CODE_TMQ_VERSION_OUT_OF_RANGE`.
#[test]
fn offsets_outside_the_wal_range_are_version_out_of_range() {
    let (e, mut s) = engine();
    let c = subscribed(&e, &mut s, false);
    let vg = vg_of_d0(&e);
    e.execute(&mut s, "INSERT INTO d0 VALUES (1, 1, 'a')")
        .unwrap();
    assert!(e.poll(c).unwrap().is_some());
    let end = wal_end(&e, vg);
    e.seek(c, "t", vg, end).unwrap();
    assert_eq!(e.seek(c, "t", vg, end + 1).unwrap_err().code, 0x4007);
    assert_eq!(e.commit(c, "t", vg, end + 1).unwrap_err().code, 0x4007);
    e.expire_wal("db", vg, 2).unwrap();
    e.poll(c).unwrap();
    assert_eq!(e.seek(c, "t", vg, 1).unwrap_err().code, 0x4007);
    e.seek(c, "t", vg, 2).unwrap();
}

/// clientTmq.c `updateVgInfo` + `tmq_get_topic_assignment`: the assignment's offset is
/// `beginOffset`, where the request of the last data message started — not the position
/// after it; tmq_get_vgroup_offset of a data message is that same request offset.
#[test]
fn assignment_offset_is_the_start_of_the_last_data_message() {
    let (e, mut s) = engine();
    let c = subscribed(&e, &mut s, false);
    let vg = vg_of_d0(&e);
    let before = wal_end(&e, vg);
    e.execute(&mut s, "INSERT INTO d0 VALUES (1, 1, 'a')")
        .unwrap();
    let m1 = e.poll(c).unwrap().unwrap();
    let after_first = e.position(c, "t", vg).unwrap();
    e.execute(&mut s, "INSERT INTO d0 VALUES (2, 2, 'b')")
        .unwrap();
    let m2 = e.poll(c).unwrap().unwrap();
    let a = e.assignment(c, "t").unwrap();
    let mine = a.iter().find(|x| x.vgroup_id == vg).unwrap();
    assert_eq!(
        m2.offset, after_first,
        "a data message reports its request offset"
    );
    assert_eq!(
        mine.offset, after_first,
        "the start of the last data message"
    );
    assert!(
        m1.offset <= before,
        "the first request started at or before the insert"
    );
    assert_eq!(e.position(c, "t", vg).unwrap(), wal_end(&e, vg));
}

/// vnodeSvr.c `vnodeProcessWriteMsg`: TDMT_VND_TMQ_COMMIT_OFFSET and TDMT_VND_TMQ_SUBSCRIBE
/// take WAL versions that are never delivered; committing an unchanged value sends nothing
/// (TSDB_CODE_TMQ_SAME_COMMITTED_VALUE).
#[test]
fn the_wal_holds_versions_tmq_never_delivers() {
    let (e, mut s) = engine();
    setup(&e, &mut s, "ms");
    let vg = vg_of_d0(&e);
    let before_subscribe = wal_end(&e, vg);
    e.execute(&mut s, "CREATE TOPIC t AS DATABASE db").unwrap();
    let c = e
        .subscribe("g", vec!["t".into()], OffsetReset::Latest)
        .unwrap();
    e.rebalance_now();
    let after_subscribe = wal_end(&e, vg);
    assert_eq!(
        after_subscribe,
        before_subscribe + 1,
        "the subscription's version"
    );
    assert!(e.poll(c).unwrap().is_none());
    e.commit_all(c).unwrap();
    assert_eq!(wal_end(&e, vg), after_subscribe + 1, "the commit's version");
    e.commit(c, "t", vg, after_subscribe).unwrap();
    assert_eq!(
        wal_end(&e, vg),
        after_subscribe + 1,
        "same value: nothing written"
    );
    assert!(e.poll(c).unwrap().is_none(), "neither version is delivered");
    assert_eq!(e.position(c, "t", vg).unwrap(), after_subscribe + 1);
}

/// tqUtil.c `extractDataAndRspForDbStbSubscribe`: one message gathers submits until
/// `tmqRowSize` rows; a meta entry ends the message before it and is one of its own.
#[test]
fn a_message_gathers_submits_up_to_the_row_limit_and_stops_at_meta() {
    let (e, mut s) = engine();
    let c = subscribed(&e, &mut s, true);
    e.set_tmq_config(TmqConfig {
        rebalance_interval: Duration::from_secs(3600),
        row_limit: 4,
    });
    let vg = vg_of_d0(&e);
    for i in 0..3 {
        e.execute(
            &mut s,
            &format!(
                "INSERT INTO d0 VALUES ({}, 1, 'a') ({}, 1, 'b')",
                2 * i,
                2 * i + 1
            ),
        )
        .unwrap();
    }
    e.execute(&mut s, "ALTER STABLE meters ADD COLUMN w INT")
        .unwrap();
    e.execute(&mut s, "INSERT INTO d0 VALUES (100, 1, 'c', 1)")
        .unwrap();
    let mut shapes = Vec::new();
    while let Some(m) = e.poll(c).unwrap() {
        if m.vgroup_id != vg {
            continue;
        }
        shapes.push(match &m.body {
            MessageBody::Data(d) => format!(
                "data:{}",
                d.iter().map(|t| t.rows.rows.len()).sum::<usize>()
            ),
            MessageBody::Meta(j) => format!("meta:{}", j["type"].as_str().unwrap_or("")),
            MessageBody::MetaData { .. } => "metadata".into(),
        });
    }
    assert_eq!(
        shapes,
        vec![
            "meta:create",
            "meta:create",
            "data:4",
            "data:2",
            "meta:alter",
            "data:1"
        ]
    );
}

/// mndConsumer.c / mndSubscribe.c: membership changes wait for the rebalance timer;
/// meanwhile a new consumer has no vgroups (an empty assignment) and the old one keeps its.
#[test]
fn groups_rebalance_on_the_timer_and_assignment_is_empty_meanwhile() {
    let (e, mut s) = engine();
    let a = subscribed(&e, &mut s, false);
    assert_eq!(e.assignment(a, "t").unwrap().len(), 2);
    let b = e
        .subscribe("g", vec!["t".into()], OffsetReset::Earliest)
        .unwrap();
    assert!(!e.consumer_ready(b));
    assert!(e.assignment(b, "t").unwrap().is_empty());
    assert_eq!(e.assignment(a, "t").unwrap().len(), 2);
    e.rebalance_now();
    assert!(e.consumer_ready(b));
    assert_eq!(e.assignment(a, "t").unwrap().len(), 1);
    assert_eq!(e.assignment(b, "t").unwrap().len(), 1);
    e.unsubscribe(b);
    assert_eq!(
        e.assignment(a, "t").unwrap().len(),
        1,
        "until the timer fires"
    );
    e.rebalance_now();
    assert_eq!(e.assignment(a, "t").unwrap().len(), 2);
}

/// mndConsumer.c: a consumer that has not polled within `max.poll.interval.ms` is dropped
/// from the group at the next rebalance; polling again brings it back at the one after.
#[test]
fn a_consumer_that_stops_polling_loses_its_vgroups() {
    let (e, mut s) = engine();
    let a = subscribed(&e, &mut s, false);
    let b = e
        .subscribe_with(
            "g",
            vec!["t".into()],
            ConsumerOptions {
                reset: OffsetReset::Earliest,
                // Long enough for the first rebalance below to find it polling in time.
                max_poll_interval: Duration::from_secs(2),
            },
        )
        .unwrap();
    e.rebalance_now();
    assert_eq!(e.assignment(b, "t").unwrap().len(), 1);
    std::thread::sleep(Duration::from_millis(2100));
    e.rebalance_now();
    assert_eq!(e.assignment(a, "t").unwrap().len(), 2);
    assert!(e.assignment(b, "t").unwrap().is_empty());
}
