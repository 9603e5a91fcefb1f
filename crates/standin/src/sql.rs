//! `/ws` (and `/rest/ws`): SQL over taosAdapter's WebSocket protocol.
//!
//! JSON actions `version`, `conn`, `query`, `fetch`, `fetch_block` (binary reply
//! `[u64 timing][u64 result id][raw block]`), `free_result`; binary actions 6 (query) and
//! 7 (fetch) that taos-ws uses against servers from 3.3.0.8 on, and 4/5 (write_raw_block).
//! Shapes from taos-ws 0.12.3 (`query/infra.rs`, `query/asyn.rs`) and taosAdapter
//! (`controller/ws/ws/*.go`).

use std::collections::HashMap;

use serde_json::{json, Value as Json};
use taos_standin_engine::{Engine, QueryResult, ResultSet, Session, TaosError};
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use crate::{block, raw};

/// One SQL connection.
pub struct SqlConnection {
    engine: Engine,
    session: Option<Session>,
    results: HashMap<u64, (ResultSet, bool)>,
    next_id: u64,
}

fn reply(action: &str, req_id: u64, fields: Json) -> Message {
    let mut v = json!({"code": 0, "message": "", "action": action, "req_id": req_id, "timing": 0});
    if let (Some(obj), Json::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    Message::Text(v.to_string())
}

fn error(action: &str, req_id: u64, e: &TaosError) -> Message {
    // Fields the client's reply structs require even on errors.
    Message::Text(
        json!({"code": e.code & 0xffff, "message": e.message, "action": action, "req_id": req_id,
               "timing": 0, "version": "", "id": 0})
        .to_string(),
    )
}

impl SqlConnection {
    pub fn new(engine: Engine) -> Self {
        SqlConnection {
            engine,
            session: None,
            results: HashMap::new(),
            next_id: 0,
        }
    }

    fn session(&mut self) -> Result<&mut Session, TaosError> {
        self.session
            .as_mut()
            .ok_or_else(|| TaosError::new(0x0218, "connection is not authenticated"))
    }

    /// Handles a text frame; returns the replies.
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
        debug!(action = %action, req_id, "sql request");
        match action.as_str() {
            "version" => vec![reply(
                "version",
                req_id,
                json!({"version": self.engine.server_version()}),
            )],
            "conn" => {
                let user = args["user"].as_str().unwrap_or("");
                let password = args["password"].as_str().unwrap_or("");
                let db = args["db"].as_str();
                // taosAdapter's conn `tz` sets TSDB_OPTION_CONNECTION_TIMEZONE (controller/ws/query).
                let tz = args["tz"].as_str().filter(|t| !t.is_empty());
                let session = self.engine.login(user, password, db).and_then(|mut s| {
                    if let Some(tz) = tz {
                        s.set_time_zone(tz)?;
                    }
                    Ok(s)
                });
                match session {
                    Ok(s) => {
                        self.session = Some(s);
                        vec![reply("conn", req_id, json!({}))]
                    }
                    Err(e) => vec![error("conn", req_id, &e)],
                }
            }
            "query" => {
                let sql = args["sql"].as_str().unwrap_or("").to_string();
                vec![self.query("query", req_id, &sql)]
            }
            "fetch" => {
                let id = args["id"].as_u64().unwrap_or(0);
                vec![self.fetch(req_id, id)]
            }
            "fetch_block" => {
                let id = args["id"].as_u64().unwrap_or(0);
                match self.results.get_mut(&id) {
                    Some((rs, sent)) => {
                        *sent = true;
                        let mut out = Vec::new();
                        out.extend_from_slice(&0u64.to_le_bytes());
                        out.extend_from_slice(&id.to_le_bytes());
                        out.extend_from_slice(&block::encode(rs));
                        vec![Message::Binary(out)]
                    }
                    None => vec![error(
                        "fetch_block",
                        req_id,
                        &TaosError::new(0x0106, "result not found"),
                    )],
                }
            }
            "free_result" => {
                let id = args["id"].as_u64().unwrap_or(0);
                self.results.remove(&id);
                Vec::new()
            }
            other => vec![error(
                other,
                req_id,
                &TaosError::new(0xFFFF, format!("unknown action {other}")),
            )],
        }
    }

    fn query(&mut self, action: &str, req_id: u64, sql: &str) -> Message {
        debug!(req_id, sql, "query");
        let engine = self.engine.clone();
        let session = match self.session() {
            Ok(s) => s,
            Err(e) => return error(action, req_id, &e),
        };
        match engine.execute(session, sql) {
            Ok(QueryResult::Affected(n)) => reply(
                action,
                req_id,
                json!({"id": 0, "is_update": true, "affected_rows": n, "fields_count": 0}),
            ),
            Ok(QueryResult::Rows(rs)) => {
                self.next_id += 1;
                let id = self.next_id;
                let fields = json!({
                    "id": id, "is_update": false, "affected_rows": 0, "fields_count": rs.columns.len(),
                    "fields_names": rs.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                    "fields_types": rs.columns.iter().map(|c| block::type_id(c.ty)).collect::<Vec<_>>(),
                    "fields_lengths": rs.columns.iter().map(|c| c.len).collect::<Vec<_>>(),
                    "precision": rs.precision.code(),
                });
                let empty = rs.rows.is_empty();
                self.results.insert(id, (rs, empty));
                reply(action, req_id, fields)
            }
            Err(e) => error(action, req_id, &e),
        }
    }

    fn fetch(&mut self, req_id: u64, id: u64) -> Message {
        match self.results.get(&id) {
            Some((rs, false)) => reply(
                "fetch",
                req_id,
                json!({"id": id, "completed": false, "rows": rs.rows.len(),
                "lengths": rs.columns.iter().map(|c| c.len).collect::<Vec<_>>()}),
            ),
            Some((_, true)) => reply(
                "fetch",
                req_id,
                json!({"id": id, "completed": true, "rows": 0}),
            ),
            None => error("fetch", req_id, &TaosError::new(0x0106, "result not found")),
        }
    }

    /// Handles a binary frame: `[u64 req_id][u64 id][u64 action]...`.
    pub fn binary(&mut self, data: &[u8]) -> Vec<Message> {
        let u64_at = |i: usize| {
            data.get(i..i + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let (Some(req_id), Some(id), Some(action)) = (u64_at(0), u64_at(8), u64_at(16)) else {
            return vec![error(
                "",
                0,
                &TaosError::new(0xFFFF, "binary message too short"),
            )];
        };
        debug!(req_id, id, action, "sql binary request");
        match action {
            6 => {
                // [u16 version][u32 sql_len][sql]
                let sql = data
                    .get(26..30)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as usize)
                    .and_then(|len| data.get(30..30 + len))
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                match sql {
                    Some(sql) => vec![self.query("binary_query", req_id, &sql)],
                    None => vec![error(
                        "binary_query",
                        req_id,
                        &TaosError::new(0xFFFF, "malformed binary query"),
                    )],
                }
            }
            7 => vec![self.binary_fetch(req_id, id)],
            4 | 5 => vec![self.write_raw_block(req_id, action, &data[24..])],
            3 => vec![self.write_raw(req_id, &data[24..])],
            other => vec![error(
                "",
                req_id,
                &TaosError::new(0xFFFF, format!("unknown binary action {other}")),
            )],
        }
    }

    /// `[u64 MAX][u64 7][u16 1][u64 timing][u64 req_id][u32 code][u32 len][msg][u64 id][u8 finished]
    /// [u32 len][block]`.
    fn binary_fetch(&mut self, req_id: u64, id: u64) -> Message {
        let mut out = Vec::new();
        out.extend_from_slice(&u64::MAX.to_le_bytes());
        out.extend_from_slice(&7u64.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&req_id.to_le_bytes());
        let (code, msg, block) = match self.results.get_mut(&id) {
            Some((rs, sent)) if !*sent => {
                *sent = true;
                (0u32, String::new(), Some(block::encode(rs)))
            }
            Some(_) => (0, String::new(), None),
            None => (0x0106, "result not found".to_string(), None),
        };
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        out.extend_from_slice(msg.as_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        match block {
            Some(b) => {
                out.push(0);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(&b);
            }
            None => out.push(1),
        }
        Message::Binary(out)
    }

    /// `[u32 rows][u16 name_len][name][raw block]([fields])`.
    /// taosAdapter `write_raw` (binary action 3, `tmq_write_raw`): `[u32 len][u16 type][raw]`.
    fn write_raw(&mut self, req_id: u64, rest: &[u8]) -> Message {
        let result = (|| -> Result<(), TaosError> {
            let bad = || TaosError::new(0x0115, "invalid raw data: shorter than its length");
            let len = rest
                .get(0..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(bad)?;
            let ty = rest
                .get(4..6)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .ok_or_else(bad)?;
            let raw = rest.get(6..6 + len).ok_or_else(bad)?;
            let engine = self.engine.clone();
            let session = self.session()?;
            match raw::read(ty, raw)? {
                raw::RawWrite::Metas(metas) => {
                    for (t, bytes) in metas {
                        engine.write_raw_meta(session, t, bytes)?;
                    }
                }
                raw::RawWrite::Data { creates, blocks } => {
                    for c in creates {
                        engine.create_table_raw(session, c)?;
                    }
                    for b in blocks {
                        let mut block = block::decode(b.block)?;
                        for (c, n) in block.columns.iter_mut().zip(&b.names) {
                            c.name = n.clone();
                        }
                        let named = !b.names.is_empty();
                        engine.write_rows(session, &b.table, &block.columns, block.rows, named)?;
                    }
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply("write_raw", req_id, json!({})),
            Err(e) => error("write_raw", req_id, &e),
        }
    }

    fn write_raw_block(&mut self, req_id: u64, action: u64, rest: &[u8]) -> Message {
        let name = if action == 5 {
            "write_raw_block_with_fields"
        } else {
            "write_raw_block"
        };
        let result = (|| -> Result<usize, TaosError> {
            let bad = || TaosError::new(0xFFFF, "malformed write_raw_block");
            let name_len = rest
                .get(4..6)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                .ok_or_else(bad)?;
            let table = rest
                .get(6..6 + name_len)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .ok_or_else(bad)?;
            let raw = rest.get(6 + name_len..).ok_or_else(bad)?;
            let engine = self.engine.clone();
            let session = self.session()?.clone();
            let mut block = block::decode(raw)?;
            let named = action == 5;
            if named {
                let trailer = raw.get(block.len..).unwrap_or_default();
                let names = block::field_names(trailer, block.columns.len())?;
                for (c, n) in block.columns.iter_mut().zip(names) {
                    c.name = n;
                }
            }
            engine.write_rows(&session, &table, &block.columns, block.rows, named)
        })();
        match result {
            Ok(_) => reply(name, req_id, json!({})),
            Err(e) => error(name, req_id, &e),
        }
    }
}
