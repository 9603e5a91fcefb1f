//! tdibt's own TMQ client over taosAdapter's documented `/rest/tmq` WebSocket protocol
//! (taosAdapter `controller/ws/tmq/tmq.go`; docs "WebSocket API" of the taosAdapter
//! reference).
//!
//! Why not the connector's consumer: taos-ws 0.12.3 polls with `blocking_time: 0` and sleeps
//! 500 ms after each empty poll, hides each message's offset, drops a message whose poll is
//! cancelled, and decodes every column with taos-query, which panics on DECIMAL and BLOB.
//! Capture needs only table names, primary timestamps, the meta JSON as taosd wrote it and
//! offsets, so this client asks for exactly those:
//!
//! - `poll` carries a server-side `blocking_time`: the adapter waits in
//!   `tmq_consumer_poll` until a message comes, so a write is seen as soon as taosd hands
//!   it out, with no client sleep.
//! - each poll reply carries the message's vgroup and `offset`
//!   (`tmq_get_vgroup_offset`: for data the version the poll started from).
//! - data comes through `fetch` (table name, row count) and `fetch_block` (the block in
//!   `taos_fetch_raw_block`'s documented layout), read by [`crate::block_ts`] for column 0
//!   only. `fetch_raw` would hand out taosd's internal `SMqDataRsp` encoding instead
//!   (per-version, per-column compression): a far larger decoder tied to server internals.
//! - meta comes from `fetch_json_meta` unparsed, for [`crate::changes`] to read.
//!
//! Requests go one at a time and every request is awaited to its reply: nothing is ever
//! cancelled half-way, so no reply can be lost or attributed to the wrong request. A reply
//! that does not come within [`REPLY_TIMEOUT`] (after the poll's own wait) means the link is
//! dead: the client is then unusable and the caller reconnects.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::connection::ConnectionSettings;
use crate::error::{TdError, TdResult};

mod replies;

/// How long a reply may take beyond the request's own server-side wait before the link is
/// taken for dead.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// TMQ error codes tdibt reacts to (TDengine `include/util/taoserror.h`, masked with
/// `& 0xffff` by taosAdapter's `wsTMQErrorMsg`).
pub mod tmq_codes {
    /// TSDB_CODE_TMQ_VERSION_OUT_OF_RANGE, "Offset out of range" (`checkWalRange` in
    /// `clientTmq.c`: a seek or commit outside the vgroup's WAL).
    pub const VERSION_OUT_OF_RANGE: i32 = 0x4007;
}

/// A polled message's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Polled {
    pub message_id: u64,
    pub vgroup_id: i32,
    /// 1 data, 2 meta, 3 meta and data (taosAdapter `TMQ_RES_*`).
    pub message_type: i32,
    pub offset: i64,
}

/// One vgroup of `assignment`: `offset` is where taosd says the consumer is (the start of
/// the last data message it consumed, `tmq_get_topic_assignment`), `begin`/`end` the WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Assignment {
    pub vgroup_id: i32,
    pub offset: i64,
    pub begin: i64,
    pub end: i64,
}

/// How to subscribe.
#[derive(Clone, Debug)]
pub struct SubscribeArgs<'a> {
    pub topic: &'a str,
    pub group_id: &'a str,
    pub client_id: &'a str,
    /// `earliest` or `latest`.
    pub offset_reset: &'a str,
}

/// A subscribed `/rest/tmq` connection.
pub struct TmqClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_req_id: u64,
    target: String,
    /// Set once a request failed on the link: replies may be out of step from then on.
    broken: bool,
}

impl TmqClient {
    /// Opens `/rest/tmq` and subscribes (auto-commit off, table names on, no snapshot).
    pub async fn subscribe(conn: &ConnectionSettings, args: &SubscribeArgs<'_>) -> TdResult<Self> {
        let url = format!("ws://{}:{}/rest/tmq", conn.host, conn.port);
        let (ws, _) = tokio::time::timeout(REPLY_TIMEOUT, tokio_tungstenite::connect_async(&url))
            .await
            .map_err(|_| TdError::Unreachable {
                target: conn.target(),
                message: format!("no WebSocket handshake within {REPLY_TIMEOUT:?}"),
            })?
            .map_err(|e| TdError::Unreachable {
                target: conn.target(),
                message: e.to_string(),
            })?;
        let mut client = TmqClient {
            ws,
            next_req_id: 1,
            target: conn.target(),
            broken: false,
        };
        // The request holds the password: it is never logged, at any level.
        let request = json!({
            "user": conn.user,
            "password": conn.password.expose(),
            "db": "",
            "group_id": args.group_id,
            "client_id": args.client_id,
            "offset_rest": args.offset_reset,
            "offset_reset": args.offset_reset,
            "topics": [args.topic],
            "auto_commit": "false",
            "snapshot_enable": "false",
            "with_table_name": "true",
        });
        match client.call("subscribe", request, Duration::ZERO).await {
            Ok(_) => Ok(client),
            Err(TdError::TmqRefused { code, message, .. }) if is_login_refusal(code, &message) => {
                Err(TdError::LoginRefused {
                    target: conn.target(),
                    user: conn.user.clone(),
                    message,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Waits up to `wait` on the server for a message.
    pub async fn poll(&mut self, wait: Duration) -> TdResult<Option<Polled>> {
        let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        let reply = self
            .call("poll", json!({ "blocking_time": ms }), wait)
            .await?;
        replies::polled(&reply)
    }

    /// The next table block of the message: its table name and the block's bytes, or `None`
    /// when the message has no more.
    pub async fn fetch_block(&mut self, message_id: u64) -> TdResult<Option<(String, Vec<u8>)>> {
        let reply = self
            .call("fetch", json!({ "message_id": message_id }), Duration::ZERO)
            .await?;
        let Some(table) = replies::fetched_table(&reply)? else {
            return Ok(None);
        };
        let block = self.call_binary("fetch_block", message_id).await?;
        Ok(Some((table, block)))
    }

    /// The message's meta JSON, as taosd wrote it.
    pub async fn fetch_json_meta(&mut self, message_id: u64) -> TdResult<Json> {
        let mut reply = self
            .call(
                "fetch_json_meta",
                json!({ "message_id": message_id }),
                Duration::ZERO,
            )
            .await?;
        Ok(reply["data"].take())
    }

    pub async fn assignment(&mut self, topic: &str) -> TdResult<Vec<Assignment>> {
        let mut reply = self
            .call("assignment", json!({ "topic": topic }), Duration::ZERO)
            .await?;
        replies::assignment(reply["assignment"].take())
    }

    pub async fn seek(&mut self, topic: &str, vgroup_id: i32, offset: i64) -> TdResult<()> {
        let args = json!({ "topic": topic, "vgroup_id": vgroup_id, "offset": offset });
        self.call("seek", args, Duration::ZERO).await.map(|_| ())
    }

    pub async fn commit_offset(
        &mut self,
        topic: &str,
        vgroup_id: i32,
        offset: i64,
    ) -> TdResult<()> {
        let args = json!({ "topic": topic, "vgroup_id": vgroup_id, "offset": offset });
        self.call("commit_offset", args, Duration::ZERO)
            .await
            .map(|_| ())
    }

    /// Per vgroup, in the order asked.
    pub async fn position(&mut self, topic: &str, vgroups: &[i32]) -> TdResult<Vec<i64>> {
        self.offsets("position", topic, vgroups).await
    }

    pub async fn committed(&mut self, topic: &str, vgroups: &[i32]) -> TdResult<Vec<i64>> {
        self.offsets("committed", topic, vgroups).await
    }

    async fn offsets(
        &mut self,
        action: &'static str,
        topic: &str,
        vgroups: &[i32],
    ) -> TdResult<Vec<i64>> {
        let ids: Vec<Json> = vgroups
            .iter()
            .map(|vg| json!({ "topic": topic, "vgroup_id": vg }))
            .collect();
        let reply = self
            .call(action, json!({ "topic_vgroup_ids": ids }), Duration::ZERO)
            .await?;
        replies::offsets(action, &reply, vgroups.len())
    }

    /// Leaves the group and closes the connection.
    pub async fn close(mut self) {
        if !self.broken {
            let _ = self.call("unsubscribe", json!({}), Duration::ZERO).await;
        }
        let _ = self.ws.close(None).await;
    }

    fn link_error(&mut self, operation: &'static str, message: String) -> TdError {
        self.broken = true;
        TdError::TmqLink {
            target: self.target.clone(),
            operation,
            message,
        }
    }

    async fn send(&mut self, action: &'static str, mut args: Json) -> TdResult<u64> {
        if self.broken {
            return Err(self.link_error(action, "an earlier request failed on this link".into()));
        }
        let req_id = self.next_req_id;
        self.next_req_id += 1;
        args["req_id"] = json!(req_id);
        let text = json!({ "action": action, "args": args }).to_string();
        if let Err(e) = self.ws.send(Message::Text(text)).await {
            return Err(self.link_error(action, e.to_string()));
        }
        Ok(req_id)
    }

    /// The next frame, within `wait` plus [`REPLY_TIMEOUT`].
    async fn receive(&mut self, action: &'static str, wait: Duration) -> TdResult<Message> {
        match tokio::time::timeout(wait + REPLY_TIMEOUT, self.ws.next()).await {
            Err(_) => Err(self.link_error(
                action,
                format!("no reply within {:?}", wait + REPLY_TIMEOUT),
            )),
            Ok(None) => Err(self.link_error(action, "the server closed the connection".into())),
            Ok(Some(Err(e))) => Err(self.link_error(action, e.to_string())),
            Ok(Some(Ok(m))) => Ok(m),
        }
    }

    /// Sends a JSON request and returns its JSON reply (errors turned into [`TdError`]).
    async fn call(&mut self, action: &'static str, args: Json, wait: Duration) -> TdResult<Json> {
        let req_id = self.send(action, args).await?;
        loop {
            match self.receive(action, wait).await? {
                Message::Text(text) => {
                    if let Some(reply) = replies::reply_to(action, req_id, &text)? {
                        return Ok(reply);
                    }
                }
                Message::Close(frame) => {
                    return Err(self.link_error(action, format!("the server closed: {frame:?}")))
                }
                // Pings are answered by tungstenite; a binary frame here belongs to no
                // request of ours (one request at a time): skip it.
                _ => {}
            }
        }
    }

    /// Sends a request whose success reply is a binary frame
    /// `[u64 timing][u64 req_id][u64 message_id][payload]`; returns the payload.
    async fn call_binary(&mut self, action: &'static str, message_id: u64) -> TdResult<Vec<u8>> {
        let req_id = self
            .send(action, json!({ "message_id": message_id }))
            .await?;
        loop {
            match self.receive(action, Duration::ZERO).await? {
                Message::Binary(bytes) => {
                    if let Some(payload) = replies::binary_payload(bytes, req_id) {
                        return Ok(payload);
                    }
                }
                // Errors come back as JSON.
                Message::Text(text) => {
                    if let Some(reply) = replies::reply_to(action, req_id, &text)? {
                        return Err(TdError::bad_answer(
                            format!("TMQ {action}"),
                            format!("JSON instead of a block: {reply}"),
                        ));
                    }
                }
                Message::Close(frame) => {
                    return Err(self.link_error(action, format!("the server closed: {frame:?}")))
                }
                _ => {}
            }
        }
    }
}

fn is_login_refusal(code: i32, message: &str) -> bool {
    use crate::error::codes;
    [
        codes::AUTH_FAILURE,
        codes::USER_NOT_EXIST,
        codes::INVALID_PASS,
    ]
    .contains(&code)
        || message.to_ascii_lowercase().contains("authentication")
}
