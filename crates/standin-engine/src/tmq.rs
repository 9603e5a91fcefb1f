//! TMQ: consumers, groups sharing vgroups, positions, commits.
//!
//! Semantics followed (TDengine docs, 07-develop/07-tmq.md, and taosAdapter's tmq.go):
//! a vgroup's log versions are its TMQ offsets; a message carries one log entry of one
//! vgroup; `position` is the next version to read; committing stores that version for the
//! (topic, group, vgroup); a consumer joining or leaving a group rebalances the vgroups among
//! the members, and a vgroup handed over resumes from the group's committed offset, so what
//! was polled but not committed is delivered again (at least once).

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::error::TaosError;
use crate::result::ResultSet;
use crate::store::{Store, Topic, WalEntry};
use crate::value::Column;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    None,
}

impl OffsetReset {
    pub fn parse(s: Option<&str>) -> Result<OffsetReset, TaosError> {
        match s.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("latest") => Ok(OffsetReset::Latest),
            Some("earliest") => Ok(OffsetReset::Earliest),
            Some("none") => Ok(OffsetReset::None),
            Some(other) => Err(TaosError::tmq(format!(
                "invalid auto.offset.reset {other:?}"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerId(pub u64);

/// One table's rows in a data message.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRows {
    pub table_name: String,
    pub rows: ResultSet,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MessageBody {
    Data(Vec<TableRows>),
    Meta(serde_json::Value),
    MetaData {
        meta: serde_json::Value,
        data: Vec<TableRows>,
    },
}

impl MessageBody {
    /// 1 data, 2 meta, 3 meta+data: the protocol's message_type.
    pub fn type_code(&self) -> u8 {
        match self {
            MessageBody::Data(_) => 1,
            MessageBody::Meta(_) => 2,
            MessageBody::MetaData { .. } => 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TmqMessage {
    pub topic: String,
    pub database: String,
    pub vgroup_id: i32,
    /// The log version the message came from.
    pub offset: i64,
    pub body: MessageBody,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub vgroup_id: i32,
    pub offset: i64,
    pub begin: i64,
    pub end: i64,
}

struct Consumer {
    group: String,
    topics: Vec<String>,
    reset: OffsetReset,
    positions: BTreeMap<(String, i32), i64>,
    /// The group membership epoch the positions belong to.
    epochs: BTreeMap<String, u64>,
    next: usize,
}

#[derive(Default)]
pub struct Consumers {
    next_id: u64,
    consumers: HashMap<ConsumerId, Consumer>,
    epochs: HashMap<String, u64>,
}

impl Consumers {
    /// (id, group, topics) of each subscribed consumer, for SHOW CONSUMERS.
    pub fn members(&self) -> Vec<(ConsumerId, String, Vec<String>)> {
        let mut out: Vec<_> = self
            .consumers
            .iter()
            .map(|(id, c)| (*id, c.group.clone(), c.topics.clone()))
            .collect();
        out.sort_by_key(|m| m.0);
        out
    }

    pub fn subscribe(
        &mut self,
        store: &Store,
        group: &str,
        topics: Vec<String>,
        reset: OffsetReset,
    ) -> Result<ConsumerId, TaosError> {
        if group.is_empty() {
            return Err(TaosError::tmq("group.id is required"));
        }
        for t in &topics {
            if !store.topics.contains_key(t) {
                return Err(TaosError::topic_not_exist());
            }
        }
        self.next_id += 1;
        let id = ConsumerId(self.next_id);
        for t in &topics {
            *self.epochs.entry(Store::group_key(t, group)).or_default() += 1;
        }
        self.consumers.insert(
            id,
            Consumer {
                group: group.to_string(),
                topics,
                reset,
                positions: BTreeMap::new(),
                epochs: BTreeMap::new(),
                next: 0,
            },
        );
        Ok(id)
    }

    pub fn unsubscribe(&mut self, id: ConsumerId) {
        if let Some(c) = self.consumers.remove(&id) {
            for t in &c.topics {
                *self
                    .epochs
                    .entry(Store::group_key(t, &c.group))
                    .or_default() += 1;
            }
        }
    }

    /// The (topic, vgroup) pairs this consumer owns now.
    fn assigned(&self, store: &Store, id: ConsumerId) -> Vec<(String, i32)> {
        let Some(c) = self.consumers.get(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for topic in &c.topics {
            let Some(t) = store.topics.get(topic) else {
                continue;
            };
            let Some(db) = store.databases.get(&t.db) else {
                continue;
            };
            let mut members: Vec<ConsumerId> = self
                .consumers
                .iter()
                .filter(|(_, o)| o.group == c.group && o.topics.contains(topic))
                .map(|(k, _)| *k)
                .collect();
            members.sort();
            let me = members.iter().position(|m| *m == id).unwrap_or(0);
            for (k, vg) in db.vgroups.iter().enumerate() {
                if k % members.len().max(1) == me {
                    out.push((topic.clone(), *vg));
                }
            }
        }
        out
    }

    /// Forgets positions from before the last rebalance of a group.
    fn sync_epoch(&mut self, id: ConsumerId) {
        let Some(c) = self.consumers.get_mut(&id) else {
            return;
        };
        for t in c.topics.clone() {
            let now = self
                .epochs
                .get(&Store::group_key(&t, &c.group))
                .copied()
                .unwrap_or(0);
            if c.epochs.get(&t) != Some(&now) {
                c.positions.retain(|(topic, _), _| topic != &t);
                c.epochs.insert(t, now);
            }
        }
    }

    fn start_position(
        store: &Store,
        c: &Consumer,
        topic: &Topic,
        vg: i32,
    ) -> Result<i64, TaosError> {
        let wal = store.databases.get(&topic.db).and_then(|d| d.wal.get(&vg));
        let (first, end) = wal.map(|w| (w.first, w.end())).unwrap_or((0, 0));
        if let Some(off) = store
            .committed
            .get(&Store::group_key(&topic.name, &c.group))
            .and_then(|m| m.get(&vg))
        {
            return Ok((*off).max(first));
        }
        match c.reset {
            OffsetReset::Earliest => Ok(first),
            OffsetReset::Latest => Ok(end),
            OffsetReset::None => Err(TaosError::tmq(
                "no committed offset and auto.offset.reset is none",
            )),
        }
    }

    fn position_mut(
        &mut self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
    ) -> Result<&mut i64, TaosError> {
        self.sync_epoch(id);
        let t = store
            .topics
            .get(topic)
            .ok_or_else(TaosError::topic_not_exist)?;
        let c = self
            .consumers
            .get_mut(&id)
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))?;
        let key = (topic.to_string(), vg);
        if !c.positions.contains_key(&key) {
            let start = Self::start_position(store, c, t, vg)?;
            c.positions.insert(key.clone(), start);
        }
        c.positions
            .get_mut(&key)
            .ok_or_else(|| TaosError::tmq("no position"))
    }

    pub fn poll(&mut self, store: &Store, id: ConsumerId) -> Result<Option<TmqMessage>, TaosError> {
        let assigned = self.assigned(store, id);
        let n = assigned.len();
        let start = self
            .consumers
            .get(&id)
            .map(|c| c.next)
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))?;
        for k in 0..n {
            let idx = (start + k) % n;
            let (topic, vg) = &assigned[idx];
            let Some(t) = store.topics.get(topic) else {
                continue;
            };
            let Some(db) = store.databases.get(&t.db) else {
                continue;
            };
            let Some(wal) = db.wal.get(vg) else { continue };
            let pos = self.position_mut(store, id, topic, *vg)?;
            if *pos < wal.first {
                *pos = wal.first;
            }
            while *pos < wal.end() {
                let version = *pos;
                *pos += 1;
                let Some(entry) = wal.get(version) else { break };
                if let Some(body) = deliverable(entry, t, db) {
                    if let Some(c) = self.consumers.get_mut(&id) {
                        c.next = idx + 1;
                    }
                    return Ok(Some(TmqMessage {
                        topic: topic.clone(),
                        database: t.db.clone(),
                        vgroup_id: *vg,
                        offset: version,
                        body,
                    }));
                }
            }
        }
        Ok(None)
    }

    pub fn commit(
        &mut self,
        store: &mut Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
        offset: i64,
    ) -> Result<(), TaosError> {
        let c = self
            .consumers
            .get(&id)
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))?;
        if !store.topics.contains_key(topic) {
            return Err(TaosError::topic_not_exist());
        }
        store
            .committed
            .entry(Store::group_key(topic, &c.group))
            .or_default()
            .insert(vg, offset);
        Ok(())
    }

    pub fn committed(
        &self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
    ) -> Result<i64, TaosError> {
        let c = self
            .consumers
            .get(&id)
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))?;
        Ok(store
            .committed
            .get(&Store::group_key(topic, &c.group))
            .and_then(|m| m.get(&vg))
            .copied()
            .unwrap_or(TaosError::NO_COMMITTED))
    }

    pub fn position(
        &mut self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
    ) -> Result<i64, TaosError> {
        self.position_mut(store, id, topic, vg).map(|p| *p)
    }

    pub fn seek(
        &mut self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
        offset: i64,
    ) -> Result<(), TaosError> {
        if !self
            .assigned(store, id)
            .iter()
            .any(|(t, v)| t == topic && *v == vg)
        {
            return Err(TaosError::tmq(format!(
                "vgroup {vg} of topic {topic} is not assigned to this consumer"
            )));
        }
        *self.position_mut(store, id, topic, vg)? = offset;
        Ok(())
    }

    pub fn assignment(
        &mut self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
    ) -> Result<Vec<Assignment>, TaosError> {
        let t = store
            .topics
            .get(topic)
            .ok_or_else(TaosError::topic_not_exist)?
            .clone();
        let mut out = Vec::new();
        for (tp, vg) in self.assigned(store, id) {
            if tp != topic {
                continue;
            }
            let (first, end) = store
                .databases
                .get(&t.db)
                .and_then(|d| d.wal.get(&vg))
                .map(|w| (w.first, w.end()))
                .unwrap_or((0, 0));
            let pos = self.position(store, id, topic, vg)?;
            out.push(Assignment {
                vgroup_id: vg,
                offset: pos,
                begin: first,
                end,
            });
        }
        Ok(out)
    }
}

/// What of a log entry a topic delivers; `None` when nothing.
fn deliverable(
    entry: &WalEntry,
    topic: &Topic,
    db: &crate::store::Database,
) -> Option<MessageBody> {
    let precision = db.precision;
    if let Some(stable) = &topic.stable {
        if !entry.stables.iter().any(|s| s == stable) {
            return None;
        }
    }
    let data: Vec<TableRows> = entry
        .rows
        .iter()
        .filter_map(|r| topic.rows_of(db, r))
        .filter(|r| !r.rows.is_empty())
        .map(|r| TableRows {
            table_name: r.table.clone(),
            rows: ResultSet {
                columns: r.columns.iter().map(Column::from).collect(),
                precision,
                rows: r.rows.clone(),
            },
        })
        .collect();
    let meta = if topic.with_meta && !entry.metas.is_empty() {
        Some(if entry.metas.len() == 1 {
            entry.metas[0].clone()
        } else {
            json!({"tmq_meta_version": "1.0", "metas": entry.metas})
        })
    } else {
        None
    };
    match (meta, data.is_empty()) {
        (Some(meta), true) => Some(MessageBody::Meta(meta)),
        (Some(meta), false) => Some(MessageBody::MetaData { meta, data }),
        (None, false) => Some(MessageBody::Data(data)),
        (None, true) => None,
    }
}
