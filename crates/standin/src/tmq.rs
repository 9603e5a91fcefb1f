//! `/rest/tmq`: TMQ over taosAdapter's WebSocket protocol.
//!
//! Actions from taos-ws 0.12.3 (`consumer/messages.rs`) and taosAdapter
//! (`controller/ws/tmq/tmq.go`): subscribe, poll, fetch, fetch_block (binary reply
//! `[u64 timing][u64 req_id][u64 message_id][raw block]`), fetch_json_meta, commit,
//! commit_offset, committed, position, assignment, seek, unsubscribe. As in taosAdapter a
//! connection holds one message in flight: a new poll replaces it.

use serde_json::{json, Value as Json};
use taos_standin_engine::{
    ConsumerId, Engine, MessageBody, OffsetReset, TableRows, TaosError, TmqMessage,
};
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use crate::block;

struct InFlight {
    id: u64,
    message: TmqMessage,
    /// Index of the next table block `fetch` hands out; the one before is `fetch_block`'s.
    next_block: usize,
}

pub struct TmqConnection {
    engine: Engine,
    consumer: Option<ConsumerId>,
    in_flight: Option<InFlight>,
    next_message_id: u64,
}

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
    pub fn new(engine: Engine) -> Self {
        TmqConnection {
            engine,
            consumer: None,
            in_flight: None,
            next_message_id: 0,
        }
    }

    fn consumer(&self) -> Result<ConsumerId, TaosError> {
        self.consumer
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))
    }

    /// The connection closed: leave the group (what was polled and not committed is
    /// delivered again to the group).
    pub fn close(&mut self) {
        if let Some(c) = self.consumer.take() {
            self.engine.unsubscribe(c);
        }
    }

    pub fn text(&mut self, text: &str) -> Vec<Message> {
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
        match self.handle(&action, args, req_id) {
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
            "subscribe" => {
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
                let reset = OffsetReset::parse(args["offset_rest"].as_str())?;
                let group = args["group_id"].as_str().unwrap_or("");
                self.close();
                self.consumer = Some(self.engine.subscribe(group, topics, reset)?);
                vec![reply("subscribe", req_id, json!({}))]
            }
            "unsubscribe" => {
                self.close();
                vec![reply("unsubscribe", req_id, json!({}))]
            }
            "poll" => {
                let c = self.consumer()?;
                match self.engine.poll(c)? {
                    Some(m) => {
                        self.next_message_id += 1;
                        let id = self.next_message_id;
                        let fields = json!({"have_message": true, "topic": m.topic, "database": m.database,
                            "vgroup_id": m.vgroup_id, "message_type": m.body.type_code(), "message_id": id, "offset": m.offset});
                        self.in_flight = Some(InFlight {
                            id,
                            message: m,
                            next_block: 0,
                        });
                        vec![reply("poll", req_id, fields)]
                    }
                    None => {
                        self.in_flight = None;
                        vec![reply("poll", req_id, json!({"have_message": false}))]
                    }
                }
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
                            "fields_types": rs.columns.iter().map(|c| c.ty.ty() as u8).collect::<Vec<_>>(),
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
                let message_id = args["message_id"].as_u64().unwrap_or(0);
                if let Some(m) = self.in_flight.as_ref().filter(|m| m.id == message_id) {
                    let (t, vg, off) = (
                        m.message.topic.clone(),
                        m.message.vgroup_id,
                        m.message.offset + 1,
                    );
                    self.engine.commit(c, &t, vg, off)?;
                }
                vec![reply("commit", req_id, json!({"message_id": message_id}))]
            }
            "commit_offset" => {
                let c = self.consumer()?;
                let offset = args["offset"].as_i64().unwrap_or(0);
                self.engine.commit(c, &topic(), vgroup(), offset)?;
                vec![reply("commit_offset", req_id, json!({}))]
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

    fn message(&mut self, args: &Json) -> Result<&mut InFlight, TaosError> {
        let id = args["message_id"].as_u64().unwrap_or(0);
        self.in_flight
            .as_mut()
            .filter(|m| m.id == id)
            .ok_or_else(|| TaosError::tmq(format!("message {id} is not the one in flight")))
    }
}
