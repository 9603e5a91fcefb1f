//! `/rest/tmq`: TMQ over taosAdapter's WebSocket protocol.
//!
//! Actions from taos-ws 0.12.3 (`consumer/messages.rs`) and taosAdapter
//! (`controller/ws/tmq/tmq.go`): subscribe, poll, fetch, fetch_block (binary reply
//! `[u64 timing][u64 req_id][u64 message_id][raw block]`), fetch_json_meta, commit,
//! commit_offset, committed, position, assignment, seek, unsubscribe. As in taosAdapter a
//! connection holds one message in flight: a new poll replaces it.

use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taos_standin_engine::raw_meta::{raw_type, RawMeta};
use taos_standin_engine::{
    ConsumerId, ConsumerOptions, Engine, MessageBody, OffsetReset, TableRows, TaosError, TmqMessage,
};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use crate::{block, raw};

struct InFlight {
    id: u64,
    message: TmqMessage,
    /// The poll reply, sent again to a poll naming another message id (taosAdapter
    /// `checkPollMessageID`).
    poll_reply: Json,
    /// Index of the next table block `fetch` hands out; the one before is `fetch_block`'s.
    next_block: usize,
}

pub struct TmqConnection {
    engine: Engine,
    consumer: Option<ConsumerId>,
    topics: Vec<String>,
    in_flight: Option<InFlight>,
    next_message_id: u64,
    /// taosAdapter commits itself before a poll once this interval has passed (the client
    /// library's own auto commit is always off under taosAdapter).
    auto_commit: Option<(Duration, Instant)>,
    /// Notified after every SQL frame any connection handled (see `connection` in lib.rs).
    written: Arc<Notify>,
}

/// `tmq_subscribe` retries `askEp` every 500 ms up to 240 times (`clientTmq.c`
/// `SUBSCRIBE_RETRY_MAX_COUNT`, `SUBSCRIBE_RETRY_INTERVAL`) while the mnode has not
/// rebalanced the new consumer in.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(120);
/// How often a waiting poll or subscribe looks again.
const RECHECK: Duration = Duration::from_millis(20);

fn reply(action: &str, req_id: u64, fields: Json) -> Message {
    let mut v = json!({"code": 0, "message": "", "action": action, "req_id": req_id, "timing": 0});
    if let (Some(obj), Json::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    Message::Text(v.to_string())
}

fn error(action: &str, req_id: u64, e: &TaosError) -> Message {
    Message::Text(
        json!({"code": e.code & 0xffff, "message": e.message, "action": action, "req_id": req_id,
               "timing": 0, "committed": [], "position": [], "data": null})
        .to_string(),
    )
}

fn data_blocks(m: &TmqMessage) -> &[TableRows] {
    match &m.body {
        MessageBody::Data(d) | MessageBody::MetaData { data: d, .. } => d,
        MessageBody::Meta(_) => &[],
    }
}

impl TmqConnection {
    pub fn new(engine: Engine, written: Arc<Notify>) -> Self {
        TmqConnection {
            engine,
            written,
            consumer: None,
            topics: Vec::new(),
            in_flight: None,
            next_message_id: 0,
            auto_commit: None,
        }
    }

    fn consumer(&self) -> Result<ConsumerId, TaosError> {
        self.consumer
            .ok_or_else(|| TaosError::new(0xFFFF, "tmq not init"))
    }

    /// The connection closed: leave the group (what was polled and not committed is
    /// delivered again to the group).
    pub fn close(&mut self) {
        if let Some(c) = self.consumer.take() {
            self.engine.unsubscribe(c);
        }
    }

    pub async fn text(&mut self, text: &str) -> Vec<Message> {
        let v: Json = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return vec![error(
                    "",
                    0,
                    &TaosError::new(0xFFFF, format!("invalid JSON: {e}")),
                )]
            }
        };
        let action = v["action"].as_str().unwrap_or_default().to_string();
        let args = &v["args"];
        let req_id = args["req_id"].as_u64().unwrap_or(0);
        debug!(action = %action, req_id, "tmq request");
        let result = match action.as_str() {
            "subscribe" => self.subscribe(args, req_id).await,
            "poll" => self.poll(args, req_id).await,
            _ => self.handle(&action, args, req_id),
        };
        match result {
            Ok(msgs) => msgs,
            Err(e) => vec![error(&action, req_id, &e)],
        }
    }

    fn handle(
        &mut self,
        action: &str,
        args: &Json,
        req_id: u64,
    ) -> Result<Vec<Message>, TaosError> {
        let topic = || args["topic"].as_str().unwrap_or("").to_string();
        let vgroup = || args["vgroup_id"].as_i64().unwrap_or(0) as i32;
        Ok(match action {
            "version" => vec![reply(
                "version",
                req_id,
                json!({"version": self.engine.server_version()}),
            )],
            "unsubscribe" => {
                self.consumer()?;
                self.close();
                self.in_flight = None;
                vec![reply("unsubscribe", req_id, json!({}))]
            }
            "list_topics" => {
                self.consumer()?;
                vec![reply("list_topics", req_id, json!({"topics": self.topics}))]
            }
            "fetch" => {
                let m = self.message(args)?;
                let blocks = data_blocks(&m.message);
                match blocks.get(m.next_block) {
                    Some(t) => {
                        let rs = &t.rows;
                        let fields = json!({"message_id": m.id, "completed": false, "table_name": t.table_name,
                            "rows": rs.rows.len(), "fields_count": rs.columns.len(),
                            "fields_names": rs.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                            "fields_types": rs.columns.iter().map(|c| block::type_id(c.ty)).collect::<Vec<_>>(),
                            "fields_lengths": rs.columns.iter().map(|c| c.len).collect::<Vec<_>>(),
                            "precision": rs.precision.code()});
                        m.next_block += 1;
                        vec![reply("fetch", req_id, fields)]
                    }
                    None => vec![reply(
                        "fetch",
                        req_id,
                        json!({"message_id": m.id, "completed": true}),
                    )],
                }
            }
            "fetch_block" => {
                let m = self.message(args)?;
                let t = m
                    .next_block
                    .checked_sub(1)
                    .and_then(|i| data_blocks(&m.message).get(i))
                    .ok_or_else(|| TaosError::tmq("fetch_block before fetch"))?;
                let mut out = Vec::new();
                out.extend_from_slice(&0u64.to_le_bytes());
                out.extend_from_slice(&req_id.to_le_bytes());
                out.extend_from_slice(&m.id.to_le_bytes());
                out.extend_from_slice(&block::encode(&t.rows));
                vec![Message::Binary(out)]
            }
            "fetch_raw" | "fetch_raw_data" => {
                let id = args["message_id"].as_u64().unwrap_or(0);
                let raw = match self.raw_data(args) {
                    Ok(raw) => raw,
                    Err(e) if action == "fetch_raw_data" => {
                        return Ok(vec![raw_data_error(req_id, id, &e)])
                    }
                    Err(e) => return Err(e),
                };
                let frame = if action == "fetch_raw" {
                    fetch_raw_frame(req_id, id, &raw)
                } else {
                    fetch_raw_data_frame(req_id, id, &raw)
                };
                vec![Message::Binary(frame)]
            }
            "fetch_json_meta" => {
                let m = self.message(args)?;
                let meta = match &m.message.body {
                    MessageBody::Meta(j) | MessageBody::MetaData { meta: j, .. } => j.clone(),
                    MessageBody::Data(_) => return Err(TaosError::tmq("not a meta message")),
                };
                vec![reply(
                    "fetch_json_meta",
                    req_id,
                    json!({"message_id": m.id, "data": meta}),
                )]
            }
            "commit" => {
                let c = self.consumer()?;
                self.engine.commit_all(c)?;
                let message_id = args["message_id"].as_u64().unwrap_or(0);
                vec![reply("commit", req_id, json!({"message_id": message_id}))]
            }
            "commit_offset" => {
                let c = self.consumer()?;
                let offset = args["offset"].as_i64().unwrap_or(0);
                self.engine.commit(c, &topic(), vgroup(), offset)?;
                vec![reply(
                    "commit_offset",
                    req_id,
                    json!({"topic": topic(), "vgroup_id": vgroup(), "offset": offset}),
                )]
            }
            "committed" | "position" => {
                let c = self.consumer()?;
                let mut out = Vec::new();
                for tv in args["topic_vgroup_ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let t = tv["topic"].as_str().unwrap_or("");
                    let vg = tv["vgroup_id"].as_i64().unwrap_or(0) as i32;
                    out.push(if action == "committed" {
                        self.engine.committed(c, t, vg)?
                    } else {
                        self.engine.position(c, t, vg)?
                    });
                }
                vec![reply(action, req_id, json!({ action: out }))]
            }
            "assignment" => {
                let c = self.consumer()?;
                let a: Vec<Json> = self
                    .engine
                    .assignment(c, &topic())?
                    .into_iter()
                    .map(|a| json!({"vgroup_id": a.vgroup_id, "offset": a.offset, "begin": a.begin, "end": a.end}))
                    .collect();
                vec![reply("assignment", req_id, json!({"assignment": a}))]
            }
            "seek" => {
                let c = self.consumer()?;
                self.engine
                    .seek(c, &topic(), vgroup(), args["offset"].as_i64().unwrap_or(0))?;
                vec![reply("seek", req_id, json!({}))]
            }
            other => return Err(TaosError::new(0xFFFF, format!("unknown action {other}"))),
        })
    }

    /// `subscribe`: answers once the rebalance timer has taken the consumer in, as
    /// `tmq_subscribe` does.
    async fn subscribe(&mut self, args: &Json, req_id: u64) -> Result<Vec<Message>, TaosError> {
        if self.consumer.is_some() {
            return Err(TaosError::new(0xFFFF, "tmq should have unsubscribed first"));
        }
        self.engine.login(
            args["user"].as_str().unwrap_or(""),
            args["password"].as_str().unwrap_or(""),
            None,
        )?;
        let topics: Vec<String> = args["topics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        // taosAdapter reads `offset_reset`, and the older misspelt `offset_rest`.
        let reset_text = args["offset_reset"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or(args["offset_rest"].as_str());
        let mut options = ConsumerOptions::new(OffsetReset::parse(reset_text)?);
        if let Some(ms) = number_arg(&args["max_poll_interval_ms"])? {
            options.max_poll_interval = Duration::from_millis(ms);
        }
        self.auto_commit = match args["auto_commit"].as_str() {
            Some("true") => {
                let every = Duration::from_millis(
                    number_arg(&args["auto_commit_interval_ms"])?.unwrap_or(5000),
                );
                // An interval too long for the clock never comes round: no auto commit.
                Instant::now().checked_add(every).map(|next| (every, next))
            }
            _ => None,
        };
        let group = args["group_id"].as_str().unwrap_or("");
        let c = self.engine.subscribe_with(group, topics.clone(), options)?;
        self.consumer = Some(c);
        self.topics = topics;
        let give_up = Instant::now() + SUBSCRIBE_WAIT;
        while !self.engine.consumer_ready(c) {
            if Instant::now() >= give_up {
                return Err(TaosError::new(
                    0x03F0,
                    "Consumer not ready: no rebalance within 120 s",
                ));
            }
            tokio::time::sleep(RECHECK).await;
        }
        Ok(vec![reply("subscribe", req_id, json!({}))])
    }

    /// `poll`: waits up to `blocking_time` ms for a message, as `tmq_consumer_poll` does.
    async fn poll(&mut self, args: &Json, req_id: u64) -> Result<Vec<Message>, TaosError> {
        let c = self.consumer()?;
        if let (Some(asked), Some(m)) = (args["message_id"].as_u64(), &self.in_flight) {
            if asked != m.id {
                return Ok(vec![reply("poll", req_id, m.poll_reply.clone())]);
            }
        }
        if let Some((every, next)) = self.auto_commit {
            if Instant::now() >= next {
                if let Err(e) = self.engine.commit_all(c) {
                    debug!("auto commit failed: {e}");
                }
                self.auto_commit = Instant::now().checked_add(every).map(|next| (every, next));
            }
        }
        let blocking = Duration::from_millis(number_arg(&args["blocking_time"])?.unwrap_or(0));
        // On tokio's clock, so tests on paused time pass a wait at once; a wait beyond the
        // clock's range waits for data.
        let deadline = tokio::time::Instant::now().checked_add(blocking);
        let m = loop {
            // Armed before looking, so a write landing between the look and the wait wakes it.
            let written = self.written.clone();
            let woken = written.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(m) = self.engine.poll(c)? {
                break m;
            }
            let now = tokio::time::Instant::now();
            let left = deadline.map_or(RECHECK, |d| d.saturating_duration_since(now));
            if left.is_zero() {
                return Ok(vec![reply("poll", req_id, json!({"have_message": false}))]);
            }
            // RECHECK still bounds the wait: writes made on the engine directly (tests'
            // hooks) notify nobody.
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(RECHECK.min(left)) => {}
            }
        };
        self.next_message_id += 1;
        let id = self.next_message_id;
        let fields = json!({"have_message": true, "topic": m.topic, "database": m.database,
            "vgroup_id": m.vgroup_id, "message_type": m.body.type_code(), "message_id": id, "offset": m.offset});
        self.in_flight = Some(InFlight {
            id,
            message: m,
            poll_reply: fields.clone(),
            next_block: 0,
        });
        Ok(vec![reply("poll", req_id, fields)])
    }

    /// `tmq_get_raw` of the message in flight. Only data messages: the raw form of a meta
    /// message (`SMqMetaRsp` carrying taosd's own create/alter/drop requests) is not modelled.
    /// `tmq_get_raw` of the message in flight: its raw type and bytes.
    fn raw_data(&mut self, args: &Json) -> Result<RawMeta, TaosError> {
        self.consumer()?;
        let m = &self.message(args)?.message;
        let offset = m.offset;
        match &m.body {
            MessageBody::Data(d) => Ok(RawMeta {
                ty: raw_type::DATA,
                bytes: raw::data_rsp(offset, offset, d),
            }),
            MessageBody::MetaData { data, .. } => Ok(RawMeta {
                ty: raw_type::METADATA,
                bytes: raw::metadata_rsp(offset, offset, data, &m.raw_metas)?,
            }),
            MessageBody::Meta(_) => raw::meta_rsp(offset, &m.raw_metas),
        }
    }

    fn message(&mut self, args: &Json) -> Result<&mut InFlight, TaosError> {
        let id = args["message_id"].as_u64().unwrap_or(0);
        self.in_flight
            .as_mut()
            .filter(|m| m.id == id)
            .ok_or_else(|| TaosError::tmq(format!("message {id} is not the one in flight")))
    }
}

/// taosAdapter `fetchRawBlock` (`controller/ws/tmq/tmq.go`): timing, req id, message id,
/// `TMQRawMessage` (3), then `tmq_raw_data` as length, type and bytes.
fn fetch_raw_frame(req_id: u64, message_id: u64, raw: &RawMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.bytes.len() + 38);
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&req_id.to_le_bytes());
    out.extend_from_slice(&message_id.to_le_bytes());
    out.extend_from_slice(&3u64.to_le_bytes());
    out.extend_from_slice(&(raw.bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&raw.ty.to_le_bytes());
    out.extend_from_slice(&raw.bytes);
    out
}

/// The header taosAdapter's `wsFetchRawBlockMessage` and `tmqFetchRawBlockErrorMsg` share:
/// `u64::MAX` (marks the new layout), `TMQFetchRawNewMessage` (8), version 1, timing, req id,
/// code, message.
fn raw_data_head(req_id: u64, code: u32, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&u64::MAX.to_le_bytes());
    out.extend_from_slice(&8u64.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&req_id.to_le_bytes());
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(message.len() as u32).to_le_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// taosAdapter `wsFetchRawBlockMessage`: the head, message id, raw type, length, raw bytes.
fn fetch_raw_data_frame(req_id: u64, message_id: u64, raw: &RawMeta) -> Vec<u8> {
    let mut out = raw_data_head(req_id, 0, "");
    out.extend_from_slice(&message_id.to_le_bytes());
    out.extend_from_slice(&raw.ty.to_le_bytes());
    out.extend_from_slice(&(raw.bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&raw.bytes);
    out
}

/// taosAdapter `tmqFetchRawBlockErrorMsg`: the head with the code and text, the message id.
fn raw_data_error(req_id: u64, message_id: u64, e: &TaosError) -> Message {
    let mut out = raw_data_head(req_id, (e.code & 0xffff) as u32, &e.message);
    out.extend_from_slice(&message_id.to_le_bytes());
    Message::Binary(out)
}

/// A numeric option that clients send as a number or as a string (taosAdapter's subscribe
/// fields are strings); absent or empty is `None`.
fn number_arg(v: &Json) -> Result<Option<u64>, TaosError> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| TaosError::new(0x0118, format!("invalid number {n}"))),
        Json::String(s) if s.is_empty() => Ok(None),
        Json::String(s) => s
            .parse()
            .map(Some)
            .map_err(|_| TaosError::new(0x0118, format!("invalid number {s:?}"))),
        other => Err(TaosError::new(0x0118, format!("invalid number {other}"))),
    }
}
