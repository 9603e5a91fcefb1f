//! Reading taosAdapter's `/rest/tmq` replies: pure functions of what the server sent, so
//! every one of them can be fed arbitrary and damaged replies (`never_panics` below). A
//! reply missing what tdibt needs is a [`TdError::BadAnswer`] naming the action.

use serde_json::Value as Json;

use super::{Assignment, Polled};
use crate::error::{TdError, TdResult};

/// The reply if `text` answers `req_id` (an error reply as an error); `None` for a frame
/// that answers something else.
pub(super) fn reply_to(action: &'static str, req_id: u64, text: &str) -> TdResult<Option<Json>> {
    let reply: Json = serde_json::from_str(text)
        .map_err(|e| TdError::bad_answer(format!("TMQ {action}"), format!("{e}: {text}")))?;
    if reply["req_id"].as_u64() != Some(req_id) {
        return Ok(None);
    }
    let code = reply["code"].as_i64().unwrap_or(0);
    if code != 0 {
        return Err(TdError::TmqRefused {
            operation: action,
            code: i32::try_from(code & 0xffff).unwrap_or(0xffff),
            message: reply["message"].as_str().unwrap_or_default().to_string(),
        });
    }
    Ok(Some(reply))
}

/// A poll's reply: the message's header, or `None` when the wait passed with nothing.
pub(super) fn polled(reply: &Json) -> TdResult<Option<Polled>> {
    if !reply["have_message"].as_bool().unwrap_or(false) {
        return Ok(None);
    }
    let field = |name: &str| {
        reply[name].as_i64().ok_or_else(|| {
            TdError::bad_answer("TMQ poll", format!("reply without {name}: {reply}"))
        })
    };
    Ok(Some(Polled {
        message_id: reply["message_id"].as_u64().ok_or_else(|| {
            TdError::bad_answer("TMQ poll", format!("reply without message_id: {reply}"))
        })?,
        vgroup_id: i32::try_from(field("vgroup_id")?)
            .map_err(|_| TdError::bad_answer("TMQ poll", format!("vgroup_id in {reply}")))?,
        message_type: i32::try_from(field("message_type")?).unwrap_or(-1),
        offset: field("offset")?,
    }))
}

/// A fetch's reply: the next block's table, or `None` when the message has no more.
pub(super) fn fetched_table(reply: &Json) -> TdResult<Option<String>> {
    if reply["completed"].as_bool().unwrap_or(false) {
        return Ok(None);
    }
    reply["table_name"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(|t| Some(t.to_string()))
        .ok_or_else(|| {
            TdError::bad_answer("TMQ fetch", format!("block without table_name: {reply}"))
        })
}

/// The payload of a binary frame `[u64 timing][u64 req_id][u64 message_id][payload]` if it
/// answers `req_id`.
pub(super) fn binary_payload(mut bytes: Vec<u8>, req_id: u64) -> Option<Vec<u8>> {
    let id = bytes
        .get(8..16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes);
    (id == Some(req_id) && bytes.len() >= 24).then(|| bytes.split_off(24))
}

/// An assignment's vgroups (`null` while the group rebalances: none yet).
pub(super) fn assignment(list: Json) -> TdResult<Vec<Assignment>> {
    match list {
        Json::Null => Ok(Vec::new()),
        list => serde_json::from_value(list)
            .map_err(|e| TdError::bad_answer("TMQ assignment", e.to_string())),
    }
}

/// `position` / `committed`: one offset per vgroup asked for, or an error.
pub(super) fn offsets(action: &'static str, reply: &Json, vgroups: usize) -> TdResult<Vec<i64>> {
    let values: Vec<i64> = reply[action]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_i64).collect())
        .unwrap_or_default();
    if values.len() != vgroups {
        return Err(TdError::bad_answer(
            format!("TMQ {action}"),
            format!("{} values for {vgroups} vgroups: {reply}", values.len()),
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod never_panics {
    use proptest::prelude::*;
    use serde_json::json;
    use tdibt_testkit::{mutated, mutated_text};

    use super::*;

    /// Replies as taosAdapter sends them (`controller/ws/tmq/tmq.go`).
    const REPLIES: [&str; 6] = [
        r#"{"code":0,"message":"","action":"poll","req_id":7,"timing":1,"have_message":true,"topic":"t","database":"db","vgroup_id":2,"message_type":1,"message_id":3,"offset":41}"#,
        r#"{"code":0,"message":"","action":"fetch","req_id":7,"timing":1,"message_id":3,"completed":false,"table_name":"d1","rows":5}"#,
        r#"{"code":0,"message":"","action":"assignment","req_id":7,"timing":1,"assignment":[{"vgroup_id":2,"offset":4,"begin":0,"end":9}]}"#,
        r#"{"code":0,"message":"","action":"position","req_id":7,"timing":1,"position":[4,5]}"#,
        r#"{"code":0,"message":"","action":"committed","req_id":7,"timing":1,"committed":[4,-2147467247]}"#,
        r#"{"code":16391,"message":"Offset out of range","action":"seek","req_id":7,"timing":1}"#,
    ];

    /// Every reader on one reply, as the client would use them.
    fn read_all(text: &str) {
        if let Ok(Some(reply)) = reply_to("poll", 7, text) {
            let _ = polled(&reply);
            let _ = fetched_table(&reply);
            let _ = assignment(reply["assignment"].clone());
            let _ = offsets("position", &reply, 2);
            let _ = offsets("committed", &reply, 2);
        }
    }

    fn any_json() -> impl Strategy<Value = Json> {
        tdibt_testkit::any_json(
            &[
                "code",
                "req_id",
                "have_message",
                "message_id",
                "vgroup_id",
                "message_type",
                "offset",
                "completed",
                "table_name",
                "assignment",
                "position",
                "committed",
                "begin",
                "end",
            ],
            &["", "d1", "db", "t"],
        )
    }

    #[test]
    fn the_sample_replies_read_as_expected() {
        let poll = reply_to("poll", 7, REPLIES[0]).unwrap().unwrap();
        let p = polled(&poll).unwrap().unwrap();
        assert_eq!((p.message_id, p.vgroup_id, p.offset), (3, 2, 41));
        let fetch = reply_to("fetch", 7, REPLIES[1]).unwrap().unwrap();
        assert_eq!(fetched_table(&fetch).unwrap().as_deref(), Some("d1"));
        let a = reply_to("assignment", 7, REPLIES[2]).unwrap().unwrap();
        assert_eq!(assignment(a["assignment"].clone()).unwrap()[0].end, 9);
        let pos = reply_to("position", 7, REPLIES[3]).unwrap().unwrap();
        assert_eq!(offsets("position", &pos, 2).unwrap(), vec![4, 5]);
        assert!(offsets("position", &pos, 3).is_err());
        assert!(matches!(
            reply_to("seek", 7, REPLIES[5]),
            Err(TdError::TmqRefused { code: 0x4007, .. })
        ));
        assert_eq!(reply_to("seek", 8, REPLIES[5]).unwrap(), None);
        let mut frame = vec![0u8; 24];
        frame[8..16].copy_from_slice(&7u64.to_le_bytes());
        frame.extend_from_slice(b"block");
        assert_eq!(
            binary_payload(frame.clone(), 7).as_deref(),
            Some(&b"block"[..])
        );
        assert_eq!(binary_payload(frame, 8), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn mutated_replies(text in prop::sample::select(REPLIES.to_vec()).prop_flat_map(mutated_text)) {
            read_all(&text);
        }

        #[test]
        fn arbitrary_replies(mut reply in any_json(), req_id in prop_oneof![Just(7u64), any::<u64>()]) {
            if let Json::Object(m) = &mut reply {
                m.insert("req_id".into(), json!(req_id));
            }
            read_all(&reply.to_string());
        }

        #[test]
        fn arbitrary_binary_frames(
            bytes in prop_oneof![
                mutated([vec![0u8; 8], 7u64.to_le_bytes().to_vec(), vec![1u8; 12]].concat()),
                prop::collection::vec(any::<u8>(), 0..40),
            ]
        ) {
            let _ = binary_payload(bytes, 7);
        }
    }
}
