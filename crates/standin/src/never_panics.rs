//! The stand-in reads raw blocks a client sends (`write_raw_block`): whatever bytes arrive,
//! it answers an error or a block, never panics, never allocates what the header claims
//! before the bytes are there.

use proptest::prelude::*;
use taos_standin_engine::{Cell, ColType, Column, Precision, ResultSet};
use tdibt_testkit::mutated;

use crate::block::{decode, encode};

/// A block of every kind of column: fixed, variable, NULLs.
fn sample() -> Vec<u8> {
    let columns = vec![
        Column {
            name: "ts".into(),
            ty: ColType::Timestamp,
            len: 8,
        },
        Column {
            name: "v".into(),
            ty: ColType::Int,
            len: 4,
        },
        Column {
            name: "s".into(),
            ty: ColType::VarChar,
            len: 16,
        },
        Column {
            name: "n".into(),
            ty: ColType::NChar,
            len: 8,
        },
    ];
    let rows = (0..5i64)
        .map(|i| {
            vec![
                Cell::Int(1_700_000_000_000 + i),
                if i == 2 { Cell::Null } else { Cell::Int(i * 7) },
                Cell::Str(format!("row{i}")),
                if i == 3 {
                    Cell::Null
                } else {
                    Cell::Str("温度".into())
                },
            ]
        })
        .collect();
    encode(&ResultSet {
        columns,
        precision: Precision::Millis,
        rows,
    })
}

#[test]
fn the_sample_decodes() {
    let back = decode(&sample()).unwrap();
    assert_eq!(back.rows.len(), 5);
    assert_eq!(back.rows[2][1], Cell::Null);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn mutated_raw_blocks(bytes in mutated(sample())) {
        let _ = decode(&bytes);
    }

    #[test]
    fn arbitrary_raw_blocks(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }
}

/// The frames a client sends on `/ws` and `/rest/tmq`: whatever arrives, the stand-in
/// answers (an error at worst), never panics, and the connection still answers the next
/// well-formed request.
mod frames {
    use std::sync::Arc;

    use proptest::prelude::*;
    use taos_standin_engine::Engine;
    use tdibt_testkit::{mutated, mutated_text};
    use tokio::sync::Notify;
    use tokio_tungstenite::tungstenite::Message;

    use crate::sql::SqlConnection;
    use crate::tmq::TmqConnection;

    const VERSION: &str = "3.3.6.0";

    /// An engine holding `fz.t` (a child of `fz.st`) with three rows and a topic over `fz`.
    fn engine() -> Engine {
        let engine = Engine::new(VERSION);
        let mut sql = SqlConnection::new(engine.clone());
        for (i, frame) in [
            r#"{"action":"conn","args":{"req_id":1,"user":"root","password":"taosdata","db":""}}"#,
            r#"{"action":"query","args":{"req_id":2,"sql":"CREATE DATABASE fz WAL_RETENTION_PERIOD 3600"}}"#,
            r#"{"action":"query","args":{"req_id":3,"sql":"CREATE STABLE fz.st (ts TIMESTAMP, v INT, s BINARY(8)) TAGS (g INT)"}}"#,
            r#"{"action":"query","args":{"req_id":4,"sql":"CREATE TOPIC tz WITH META AS DATABASE fz"}}"#,
            r#"{"action":"query","args":{"req_id":5,"sql":"INSERT INTO fz.t USING fz.st TAGS (1) VALUES (1700000000000, 1, 'a') (1700000001000, NULL, 'b') (1700000002000, 3, NULL)"}}"#,
        ]
        .iter()
        .enumerate()
        {
            for reply in sql.text(frame) {
                let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap_or("{}"))
                    .unwrap_or_default();
                assert_eq!(reply["code"].as_i64().unwrap_or(0), 0, "setup frame {i}: {reply}");
            }
        }
        engine
    }

    const SQL_FRAMES: [&str; 7] = [
        r#"{"action":"version","args":{"req_id":10}}"#,
        r#"{"action":"conn","args":{"req_id":11,"user":"root","password":"taosdata","db":"fz","tz":"Asia/Shanghai"}}"#,
        r#"{"action":"query","args":{"req_id":12,"sql":"SELECT ts, v, s FROM fz.t WHERE ts >= 1700000000000 AND v IS NULL"}}"#,
        r#"{"action":"query","args":{"req_id":13,"sql":"DELETE FROM fz.t WHERE ts < 1700000001000"}}"#,
        r#"{"action":"fetch","args":{"req_id":14,"id":1}}"#,
        r#"{"action":"fetch_block","args":{"req_id":15,"id":1}}"#,
        r#"{"action":"free_result","args":{"req_id":16,"id":1}}"#,
    ];

    #[test]
    fn a_wait_of_forever_is_answered_when_there_is_data() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut conn = TmqConnection::new(engine(), Arc::new(Notify::new()));
            let subscribe = TMQ_FRAMES[0].replace(
                r#""auto_commit":"false""#,
                r#""auto_commit":"true","auto_commit_interval_ms":"18446744073709551615""#,
            );
            let replies = conn.text(&subscribe).await;
            assert!(
                replies[0].to_text().unwrap().contains(r#""code":0"#),
                "{replies:?}"
            );
            // The database holds rows, so even a wait of forever answers with a message.
            let poll =
                r#"{"action":"poll","args":{"req_id":2,"blocking_time":18446744073709551615}}"#;
            let replies = conn.text(poll).await;
            assert!(
                replies[0]
                    .to_text()
                    .unwrap()
                    .contains(r#""have_message":true"#),
                "{replies:?}"
            );
        });
    }

    const TMQ_FRAMES: [&str; 9] = [
        r#"{"action":"subscribe","args":{"req_id":20,"user":"root","password":"taosdata","group_id":"g","client_id":"c","topics":["tz"],"offset_rest":"earliest","auto_commit":"false","with_table_name":"true"}}"#,
        r#"{"action":"poll","args":{"req_id":21,"blocking_time":500}}"#,
        r#"{"action":"fetch","args":{"req_id":22,"message_id":1}}"#,
        r#"{"action":"fetch_block","args":{"req_id":23,"message_id":1}}"#,
        r#"{"action":"fetch_raw_data","args":{"req_id":24,"message_id":1}}"#,
        r#"{"action":"commit","args":{"req_id":25,"message_id":1}}"#,
        r#"{"action":"assignment","args":{"req_id":26,"topic":"tz"}}"#,
        r#"{"action":"seek","args":{"req_id":27,"topic":"tz","vgroup_id":2,"offset":0}}"#,
        r#"{"action":"committed","args":{"req_id":28,"topic_vgroup_ids":[{"topic":"tz","vgroup_id":2}]}}"#,
    ];

    /// `[u64 req_id][u64 id][u64 action=6][u16 version][u32 len][sql]`: a binary query.
    fn binary_query(sql: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for n in [30u64, 0, 6] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&u32::try_from(sql.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(sql.as_bytes());
        out
    }

    /// `[u64 req_id][u64 id][u64 action=5][u32 rows][u16 len][name][block]`, roughly what
    /// `write_raw_block` sends: the mutations reach every length and the block.
    fn raw_block_frame() -> Vec<u8> {
        let mut out = Vec::new();
        for n in [31u64, 0, 5] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&5u32.to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(b"t_x");
        out.extend_from_slice(&super::sample());
        out
    }

    /// `[u64 req_id][u64 id][u64 action=3][u32 len][u16 type][raw]`, what `write_raw_meta`
    /// sends: a raw data message (`RES_TYPE__TMQ`) around the sample block.
    fn write_raw_frame() -> Vec<u8> {
        use taos_standin_engine::{Cell, ColType, Column, Precision, ResultSet, TableRows};
        let block = TableRows {
            table_name: "t_x".into(),
            rows: ResultSet {
                columns: vec![Column {
                    name: "ts".into(),
                    ty: ColType::Timestamp,
                    len: 8,
                }],
                precision: Precision::Millis,
                rows: vec![vec![Cell::Int(1)]],
            },
        };
        let raw = crate::raw::data_rsp(1, 2, &[block]);
        let mut out = Vec::new();
        for n in [32u64, 0, 3] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&raw);
        out
    }

    /// The connection still answers a well-formed `version` request.
    fn still_answers(replies: Vec<Message>) -> Result<(), TestCaseError> {
        let text = replies
            .iter()
            .filter_map(|m| m.to_text().ok())
            .collect::<String>();
        prop_assert!(text.contains(VERSION), "no answer to version: {replies:?}");
        Ok(())
    }

    #[test]
    fn the_sample_sql_frames_are_answered_without_error() {
        let mut conn = SqlConnection::new(engine());
        for frame in SQL_FRAMES.iter().take(4) {
            for reply in conn.text(frame) {
                let reply: serde_json::Value =
                    serde_json::from_str(reply.to_text().unwrap_or("{}")).unwrap_or_default();
                assert_eq!(reply["code"].as_i64().unwrap_or(0), 0, "{frame}: {reply}");
            }
        }
    }

    fn sql_frame() -> impl Strategy<Value = String> {
        prop::sample::select(SQL_FRAMES.to_vec()).prop_flat_map(mutated_text)
    }

    fn tmq_frames() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop::sample::select(TMQ_FRAMES.to_vec())
                .prop_flat_map(|f| prop_oneof![Just(f.to_string()), mutated_text(f)]),
            1..6,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn mutated_sql_text_frames(frame in sql_frame()) {
            let mut conn = SqlConnection::new(engine());
            conn.text(SQL_FRAMES[1]);
            let _ = conn.text(&frame);
            still_answers(conn.text(SQL_FRAMES[0]))?;
        }

        #[test]
        fn mutated_sql_binary_frames(
            frame in prop_oneof![
                mutated(binary_query("SELECT * FROM fz.st WHERE ts > 0")),
                mutated(raw_block_frame()),
                mutated(write_raw_frame()),
                proptest::collection::vec(any::<u8>(), 0..64),
            ]
        ) {
            let mut conn = SqlConnection::new(engine());
            conn.text(SQL_FRAMES[1]);
            let _ = conn.binary(&frame);
            still_answers(conn.text(SQL_FRAMES[0]))?;
        }

    }

    proptest! {
        // Fewer cases: each builds an engine and joins a consumer group.
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn mutated_tmq_frame_sequences(frames in tmq_frames()) {
            // Polls wait on the server up to their blocking_time: on paused time a wait
            // passes at once, so a mutated wait of hours costs nothing.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            runtime.block_on(async {
                let mut conn = TmqConnection::new(engine(), Arc::new(Notify::new()));
                for frame in &frames {
                    let _ = conn.text(frame).await;
                }
                still_answers(
                    conn.text(r#"{"action":"version","args":{"req_id":99}}"#).await,
                )
            })?;
        }
    }
}
