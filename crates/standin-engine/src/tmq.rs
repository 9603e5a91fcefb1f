//! TMQ: consumers, groups sharing vgroups on a rebalance timer, the client library's view of
//! each vgroup (positions, WAL range), commits, and messages as taosd batches them.
//!
//! Followed from TDengine's source (taosdata/TDengine):
//! - `source/client/src/clientTmq.c`: `checkWalRange` (seek / commit_offset / position answer
//!   `TMQ_NEED_INITIALIZED` until a poll or an assignment told the client the vgroup's WAL
//!   range, and `TMQ_VERSION_OUT_OF_RANGE` outside `[walVerBegin, walVerEnd]`);
//!   `updateVgInfo` (a poll answer sets the range to `[sver, ever + 1]`, the position to the
//!   answer's end and — only for a message with data — `beginOffset` to where the request
//!   started); `tmq_get_topic_assignment` (offset = `beginOffset`, else what the vnode says);
//!   `tmq_get_vgroup_offset` (a data message reports its request offset, a meta message the
//!   offset after it); `tmq_subscribe` (waits until the mnode has rebalanced the consumer in).
//! - `source/dnode/vnode/src/tq/tqUtil.c` `extractDataAndRspForDbStbSubscribe`: one data
//!   message gathers submits until `tmqRowSize` rows, a meta entry or the end of the log; a
//!   meta entry is a message of its own. `tq.c` `tqProcessVgWalInfoReq`: an assignment of a
//!   vgroup never polled answers the committed offset, else the first version (earliest) or
//!   the last version (latest).
//! - `source/dnode/vnode/src/vnd/vnodeSvr.c` `vnodeProcessWriteMsg`: offset commits and
//!   subscription changes (`TDMT_VND_TMQ_COMMIT_OFFSET`, `TDMT_VND_TMQ_SUBSCRIBE`) are
//!   written to the vgroup's WAL and take versions no consumer is ever given.
//! - `source/dnode/mnode/impl/src/mndConsumer.c` / `mndSubscribe.c`: membership changes take
//!   effect at the mnode's rebalance timer (`mqRebalanceInterval`, 2 s); a consumer that has
//!   not polled for `max.poll.interval.ms` is dropped from the group at the next rebalance.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::TaosError;
use crate::raw_meta::RawMeta;
use crate::result::ResultSet;
use crate::store::{Database, Store, Topic, Wal, WalEntry};
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

/// Server settings of TMQ, with TDengine 3.3.6's defaults.
#[derive(Clone, Copy, Debug)]
pub struct TmqConfig {
    /// The mnode's rebalance timer (`mqRebalanceInterval`, 2 s in `tglobal.c`).
    pub rebalance_interval: Duration,
    /// taosd's `tmqRowSize` (4096 in `tglobal.c`): a data message closes once it has this
    /// many rows.
    pub row_limit: usize,
}

impl Default for TmqConfig {
    fn default() -> Self {
        TmqConfig {
            rebalance_interval: Duration::from_secs(2),
            row_limit: 4096,
        }
    }
}

/// A consumer's options from `subscribe`.
#[derive(Clone, Copy, Debug)]
pub struct ConsumerOptions {
    pub reset: OffsetReset,
    /// `max.poll.interval.ms` (300 000 by default in `clientTmq.c`).
    pub max_poll_interval: Duration,
}

impl ConsumerOptions {
    pub fn new(reset: OffsetReset) -> Self {
        ConsumerOptions {
            reset,
            max_poll_interval: Duration::from_millis(300_000),
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
    /// What `tmq_get_vgroup_offset` answers: the request offset of a data message, the
    /// offset after a meta message.
    pub offset: i64,
    pub body: MessageBody,
    /// The raw form of the message's meta, entry by entry (`tmq_get_raw`): what a meta
    /// message's WAL entries hold, or a data message's auto-created tables.
    pub raw_metas: Vec<RawMeta>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub vgroup_id: i32,
    pub offset: i64,
    pub begin: i64,
    pub end: i64,
}

/// The client library's view of one vgroup (`SVgOffsetInfo` in `clientTmq.c`).
#[derive(Clone, Copy, Debug, Default)]
struct VgState {
    /// `beginOffset` of LOG type: where the request of the last data message started, or
    /// where a seek put it.
    begin: Option<i64>,
    /// `endOffset` of LOG type: where the next poll reads. `None` while it is still of a
    /// reset type (the committed offset or `auto.offset.reset` decides).
    end: Option<i64>,
    /// `[walVerBegin, walVerEnd]` from the last poll answer or assignment.
    range: Option<(i64, i64)>,
}

struct Consumer {
    group: String,
    topics: Vec<String>,
    options: ConsumerOptions,
    /// The vgroups the last rebalance gave this consumer, with the client's view of each.
    vgs: BTreeMap<(String, i32), VgState>,
    /// The mnode has rebalanced this consumer in (`tmq_subscribe` returns then).
    ready: bool,
    /// Dropped from the group for not polling within `max.poll.interval.ms`.
    lost: bool,
    last_poll: Instant,
    next: usize,
}

/// One (group, topic) subscription: which consumer owns each vgroup.
#[derive(Default)]
struct Subscription {
    owners: BTreeMap<i32, ConsumerId>,
    /// Membership changed at this time; the next timer tick rebalances.
    changed_at: Option<Instant>,
}

pub struct Consumers {
    config: TmqConfig,
    next_id: u64,
    consumers: HashMap<ConsumerId, Consumer>,
    subs: BTreeMap<String, Subscription>,
}

impl Default for Consumers {
    fn default() -> Self {
        Consumers::new(TmqConfig::default())
    }
}

/// What one scan of a vgroup's log found.
struct Scan {
    message: Option<(MessageBody, i64, Vec<RawMeta>)>,
    /// Where the next poll reads (the answer's `rspOffset`).
    next: i64,
}

/// `TSDB_CODE_TMQ_NEED_INITIALIZED`: neither a poll nor an assignment has told the client
/// the vgroup's WAL range yet.
fn need_initialized() -> TaosError {
    TaosError::new(
        0x4010,
        "Assignment or poll interface need to be called first",
    )
}

/// `TSDB_CODE_TMQ_VERSION_OUT_OF_RANGE`.
fn out_of_range(offset: i64, (begin, end): (i64, i64)) -> TaosError {
    TaosError::new(
        0x4007,
        format!("Invalid offset: {offset} is outside the WAL's range [{begin}, {end}]"),
    )
}

/// `clientTmq.c` `checkWalRange`; `None` checks only that the range is known.
fn check_wal_range(state: &VgState, offset: Option<i64>) -> Result<(i64, i64), TaosError> {
    let range = state.range.ok_or_else(need_initialized)?;
    if let Some(v) = offset {
        if v < range.0 || v > range.1 {
            return Err(out_of_range(v, range));
        }
    }
    Ok(range)
}

fn wal_of<'a>(store: &'a Store, topic: &Topic, vg: i32) -> Option<(&'a Database, &'a Wal)> {
    let db = store.databases.get(&topic.db)?;
    Some((db, db.wal.get(&vg)?))
}

/// `[first, last + 1]`: what a poll answer's head (`walsver`, `walever`) gives the client.
fn wal_range(store: &Store, topic: &Topic, vg: i32) -> (i64, i64) {
    wal_of(store, topic, vg)
        .map(|(_, w)| (w.first, w.end()))
        .unwrap_or((0, 0))
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

    pub fn new(config: TmqConfig) -> Self {
        Consumers {
            config,
            next_id: 0,
            consumers: HashMap::new(),
            subs: BTreeMap::new(),
        }
    }

    pub fn set_config(&mut self, config: TmqConfig) {
        self.config = config;
    }

    pub fn subscribe(
        &mut self,
        store: &mut Store,
        group: &str,
        topics: Vec<String>,
        options: ConsumerOptions,
    ) -> Result<ConsumerId, TaosError> {
        if group.is_empty() {
            return Err(TaosError::tmq("group.id is required"));
        }
        for t in &topics {
            if !store.topics.contains_key(t) {
                return Err(TaosError::topic_not_exist());
            }
        }
        let now = Instant::now();
        self.next_id += 1;
        let id = ConsumerId(self.next_id);
        for t in &topics {
            self.subs
                .entry(Store::group_key(t, group))
                .or_default()
                .changed_at
                .get_or_insert(now);
        }
        self.consumers.insert(
            id,
            Consumer {
                group: group.to_string(),
                topics,
                options,
                vgs: BTreeMap::new(),
                ready: false,
                lost: false,
                last_poll: now,
                next: 0,
            },
        );
        Ok(id)
    }

    pub fn unsubscribe(&mut self, id: ConsumerId) {
        if let Some(c) = self.consumers.remove(&id) {
            let now = Instant::now();
            for t in &c.topics {
                if let Some(s) = self.subs.get_mut(&Store::group_key(t, &c.group)) {
                    s.changed_at.get_or_insert(now);
                }
            }
        }
    }

    /// Whether the mnode has rebalanced the consumer in (what `tmq_subscribe` waits for).
    pub fn ready(&mut self, store: &mut Store, id: ConsumerId) -> bool {
        self.tick(store, Instant::now(), false);
        self.consumers.get(&id).is_some_and(|c| c.ready)
    }

    /// The rebalance timer: drops consumers that stopped polling, then rebalances every
    /// subscription whose membership changed at least one interval ago (all of them when
    /// `force`, the test hook).
    fn tick(&mut self, store: &mut Store, now: Instant, force: bool) {
        for c in self.consumers.values_mut() {
            if !c.lost && now.duration_since(c.last_poll) > c.options.max_poll_interval {
                c.lost = true;
                for t in &c.topics {
                    if let Some(s) = self.subs.get_mut(&Store::group_key(t, &c.group)) {
                        s.changed_at.get_or_insert(now);
                    }
                }
            }
        }
        let due: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, s)| {
                s.changed_at.is_some_and(|t| {
                    force || now.duration_since(t) >= self.config.rebalance_interval
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.rebalance(store, &key);
        }
    }

    /// Spreads a subscription's vgroups over its live members; a vgroup that changes hands
    /// gets a `TDMT_VND_TMQ_SUBSCRIBE` entry in its WAL and a fresh client view.
    fn rebalance(&mut self, store: &mut Store, key: &str) {
        let Some((topic, group)) = key.split_once('/') else {
            return;
        };
        let mut members: Vec<ConsumerId> = self
            .consumers
            .iter()
            .filter(|(_, c)| c.group == group && !c.lost && c.topics.iter().any(|t| t == topic))
            .map(|(k, _)| *k)
            .collect();
        members.sort();
        let vgroups: Vec<i32> = store
            .topics
            .get(topic)
            .and_then(|t| store.databases.get(&t.db))
            .map(|d| d.vgroups.clone())
            .unwrap_or_default();
        let db = store.topics.get(topic).map(|t| t.db.clone());
        let sub = self.subs.entry(key.to_string()).or_default();
        sub.changed_at = None;
        let mut owners = BTreeMap::new();
        if !members.is_empty() {
            for (k, vg) in vgroups.iter().enumerate() {
                owners.insert(*vg, members[k % members.len()]);
            }
        }
        for vg in &vgroups {
            let (old, new) = (sub.owners.get(vg).copied(), owners.get(vg).copied());
            if old == new {
                continue;
            }
            if let Some(d) = db.as_ref().and_then(|d| store.databases.get_mut(d)) {
                d.append(*vg, WalEntry::default());
            }
            if let Some(c) = old.and_then(|o| self.consumers.get_mut(&o)) {
                c.vgs.remove(&(topic.to_string(), *vg));
            }
            if let Some(c) = new.and_then(|n| self.consumers.get_mut(&n)) {
                c.vgs.insert((topic.to_string(), *vg), VgState::default());
            }
        }
        sub.owners = owners;
        for m in members {
            if let Some(c) = self.consumers.get_mut(&m) {
                c.ready = true;
            }
        }
    }

    /// Test hook: the rebalance timer fires now.
    pub fn rebalance_now(&mut self, store: &mut Store) {
        self.tick(store, Instant::now(), true);
    }

    fn consumer(&self, id: ConsumerId) -> Result<&Consumer, TaosError> {
        self.consumers
            .get(&id)
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))
    }

    fn consumer_mut(&mut self, id: ConsumerId) -> Result<&mut Consumer, TaosError> {
        self.consumers
            .get_mut(&id)
            .ok_or_else(|| TaosError::tmq("consumer not subscribed"))
    }

    /// `getClientVg`: the client's view of a vgroup it was given.
    fn client_vg(
        &mut self,
        id: ConsumerId,
        topic: &str,
        vg: i32,
    ) -> Result<&mut VgState, TaosError> {
        let c = self.consumer_mut(id)?;
        if !c.topics.iter().any(|t| t == topic) {
            return Err(TaosError::new(0x4009, format!("Invalid topic: {topic}")));
        }
        c.vgs
            .get_mut(&(topic.to_string(), vg))
            .ok_or_else(|| TaosError::new(0x4008, format!("Invalid vgroup id: {vg}")))
    }

    /// Where a vgroup's reading starts while the client's position is still of a reset
    /// type: the group's committed offset, else `auto.offset.reset`.
    fn reset_start(
        store: &Store,
        topic: &Topic,
        group: &str,
        vg: i32,
        reset: OffsetReset,
        latest: i64,
    ) -> Result<i64, TaosError> {
        if let Some(off) = store
            .committed
            .get(&Store::group_key(&topic.name, group))
            .and_then(|m| m.get(&vg))
        {
            return Ok(*off);
        }
        let (first, _) = wal_range(store, topic, vg);
        match reset {
            OffsetReset::Earliest => Ok(first),
            OffsetReset::Latest => Ok(latest),
            OffsetReset::None => Err(TaosError::tmq(
                "no committed offset and auto.offset.reset is none",
            )),
        }
    }

    /// One `tmq_consumer_poll`: every vgroup the consumer has learns its WAL range; the first
    /// one (round robin) with something to deliver answers with one message.
    pub fn poll(
        &mut self,
        store: &mut Store,
        id: ConsumerId,
    ) -> Result<Option<TmqMessage>, TaosError> {
        let now = Instant::now();
        self.tick(store, now, false);
        let row_limit = self.config.row_limit;
        let c = self.consumer_mut(id)?;
        c.last_poll = now;
        if c.lost {
            // A lost consumer that polls again rejoins at the next rebalance.
            c.lost = false;
            let keys: Vec<String> = c
                .topics
                .iter()
                .map(|t| Store::group_key(t, &c.group))
                .collect();
            for key in keys {
                self.subs
                    .entry(key)
                    .or_default()
                    .changed_at
                    .get_or_insert(now);
            }
            return Ok(None);
        }
        let (group, reset, start_at) = (c.group.clone(), c.options.reset, c.next);
        let keys: Vec<(String, i32)> = c.vgs.keys().cloned().collect();
        for (topic, vg) in &keys {
            let Some(t) = store.topics.get(topic) else {
                continue;
            };
            let range = wal_range(store, t, *vg);
            if let Some(s) = self.consumer_mut(id)?.vgs.get_mut(&(topic.clone(), *vg)) {
                s.range = Some(range);
            }
        }
        let n = keys.len();
        for k in 0..n {
            let idx = (start_at + k) % n;
            let (topic, vg) = &keys[idx];
            let Some(t) = store.topics.get(topic) else {
                continue;
            };
            let Some((db, wal)) = wal_of(store, t, *vg) else {
                continue;
            };
            let state = self.consumer(id)?.vgs.get(&(topic.clone(), *vg)).copied();
            let Some(state) = state else { continue };
            let start = match state.end {
                Some(e) => e,
                None => Self::reset_start(store, t, &group, *vg, reset, wal.end())?,
            };
            let scan = scan(wal, t, db, start, row_limit);
            let c = self.consumer_mut(id)?;
            let Some(s) = c.vgs.get_mut(&(topic.clone(), *vg)) else {
                continue;
            };
            s.end = Some(scan.next);
            if let Some((body, offset, raw_metas)) = scan.message {
                s.begin = Some(match body {
                    MessageBody::Meta(_) => scan.next,
                    _ => start,
                });
                c.next = idx + 1;
                return Ok(Some(TmqMessage {
                    topic: topic.clone(),
                    database: t.db.clone(),
                    vgroup_id: *vg,
                    offset,
                    body,
                    raw_metas,
                }));
            }
        }
        Ok(None)
    }

    /// Stores a committed offset; a changed value takes a WAL version of the vgroup.
    fn store_commit(store: &mut Store, topic: &str, group: &str, vg: i32, offset: i64) {
        let key = Store::group_key(topic, group);
        if store.committed.get(&key).and_then(|m| m.get(&vg)) == Some(&offset) {
            // TSDB_CODE_TMQ_SAME_COMMITTED_VALUE: the client sends nothing, and says success.
            return;
        }
        store.committed.entry(key).or_default().insert(vg, offset);
        if let Some(d) = store
            .topics
            .get(topic)
            .map(|t| t.db.clone())
            .and_then(|d| store.databases.get_mut(&d))
        {
            d.append(vg, WalEntry::default());
        }
    }

    /// `tmq_commit_offset_sync`.
    pub fn commit(
        &mut self,
        store: &mut Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
        offset: i64,
    ) -> Result<(), TaosError> {
        if !store.topics.contains_key(topic) {
            return Err(TaosError::topic_not_exist());
        }
        let state = *self.client_vg(id, topic, vg)?;
        check_wal_range(&state, Some(offset))?;
        let group = self.consumer(id)?.group.clone();
        Self::store_commit(store, topic, &group, vg, offset);
        Ok(())
    }

    /// `tmq_commit_sync(tmq, NULL)`: every vgroup's position, where it is a log position.
    pub fn commit_all(&mut self, store: &mut Store, id: ConsumerId) -> Result<(), TaosError> {
        let c = self.consumer(id)?;
        let group = c.group.clone();
        let positions: Vec<(String, i32, i64)> = c
            .vgs
            .iter()
            .filter_map(|((t, vg), s)| s.end.map(|e| (t.clone(), *vg, e)))
            .collect();
        for (t, vg, e) in positions {
            Self::store_commit(store, &t, &group, vg, e);
        }
        Ok(())
    }

    pub fn committed(
        &self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
    ) -> Result<i64, TaosError> {
        let c = self.consumer(id)?;
        Ok(store
            .committed
            .get(&Store::group_key(topic, &c.group))
            .and_then(|m| m.get(&vg))
            .copied()
            .unwrap_or(TaosError::NO_COMMITTED))
    }

    /// `tmq_position`.
    pub fn position(
        &mut self,
        store: &Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
    ) -> Result<i64, TaosError> {
        let state = *self.client_vg(id, topic, vg)?;
        let (begin, end) = check_wal_range(&state, None)?;
        if let Some(e) = state.end {
            return Ok(e);
        }
        let c = self.consumer(id)?;
        Ok(
            match store
                .committed
                .get(&Store::group_key(topic, &c.group))
                .and_then(|m| m.get(&vg))
            {
                Some(off) => *off,
                None if c.options.reset == OffsetReset::Earliest => begin,
                None => end,
            },
        )
    }

    /// `tmq_offset_seek`.
    pub fn seek(
        &mut self,
        store: &mut Store,
        id: ConsumerId,
        topic: &str,
        vg: i32,
        offset: i64,
    ) -> Result<(), TaosError> {
        self.tick(store, Instant::now(), false);
        let state = self.client_vg(id, topic, vg)?;
        check_wal_range(state, Some(offset))?;
        state.begin = Some(offset);
        state.end = Some(offset);
        Ok(())
    }

    /// `tmq_get_topic_assignment`: empty until the consumer has been rebalanced in.
    pub fn assignment(
        &mut self,
        store: &mut Store,
        id: ConsumerId,
        topic: &str,
    ) -> Result<Vec<Assignment>, TaosError> {
        self.tick(store, Instant::now(), false);
        let t = store
            .topics
            .get(topic)
            .ok_or_else(TaosError::topic_not_exist)?
            .clone();
        let c = self.consumer(id)?;
        if !c.topics.iter().any(|x| x == topic) {
            return Err(TaosError::new(0x4009, format!("Invalid topic: {topic}")));
        }
        let (group, reset) = (c.group.clone(), c.options.reset);
        let vgs: Vec<(i32, VgState)> = c
            .vgs
            .iter()
            .filter(|((tp, _), _)| tp == topic)
            .map(|((_, vg), s)| (*vg, *s))
            .collect();
        let mut out = Vec::new();
        for (vg, state) in vgs {
            let (begin, end) = wal_range(store, &t, vg);
            // tqProcessVgWalInfoReq answers `ever` (the last version) for latest.
            let offset = match state.begin {
                Some(b) => b,
                None => Self::reset_start(store, &t, &group, vg, reset, end - 1)?,
            };
            if let Some(s) = self.consumer_mut(id)?.vgs.get_mut(&(topic.to_string(), vg)) {
                s.range = Some((begin, end));
            }
            out.push(Assignment {
                vgroup_id: vg,
                offset,
                begin,
                end,
            });
        }
        Ok(out)
    }
}

/// What a log entry is to a topic.
enum EntryKind {
    Submit,
    Meta,
    Skip,
}

fn kind(entry: &WalEntry, topic: &Topic, db: &Database) -> EntryKind {
    if let Some(stable) = &topic.stable {
        if !entry.stables.iter().any(|s| s == stable) {
            return EntryKind::Skip;
        }
    }
    if entry
        .rows
        .iter()
        .filter_map(|r| topic.rows_of(db, r))
        .any(|r| !r.rows.is_empty())
    {
        EntryKind::Submit
    } else if topic.with_meta && !entry.metas.is_empty() {
        EntryKind::Meta
    } else {
        EntryKind::Skip
    }
}

/// The meta of several entries in one message.
fn merged_meta(mut metas: Vec<serde_json::Value>) -> serde_json::Value {
    if metas.len() == 1 {
        metas.remove(0)
    } else {
        json!({"tmq_meta_version": "1.0", "metas": metas})
    }
}

/// Reads one message from `start` as `extractDataAndRspForDbStbSubscribe` does: submits are
/// gathered until `row_limit` rows, a meta entry (which is a message of its own when nothing
/// was gathered before it) or the end of the log.
fn scan(wal: &Wal, topic: &Topic, db: &Database, start: i64, row_limit: usize) -> Scan {
    let mut tables: Vec<TableRows> = Vec::new();
    let mut metas = Vec::new();
    let mut raws = Vec::new();
    let mut rows = 0usize;
    let finish = |tables: Vec<TableRows>,
                  metas: Vec<serde_json::Value>,
                  raws: Vec<RawMeta>,
                  next: i64| Scan {
        message: if tables.is_empty() {
            None
        } else if metas.is_empty() {
            Some((MessageBody::Data(tables), start, Vec::new()))
        } else {
            Some((
                MessageBody::MetaData {
                    meta: merged_meta(metas),
                    data: tables,
                },
                start,
                raws,
            ))
        },
        next,
    };
    let mut v = start.max(wal.first);
    while v < wal.end() {
        let Some(entry) = wal.get(v) else { break };
        match kind(entry, topic, db) {
            EntryKind::Skip => {}
            EntryKind::Meta => {
                if !tables.is_empty() {
                    return finish(tables, metas, raws, v);
                }
                return Scan {
                    message: Some((
                        MessageBody::Meta(merged_meta(entry.metas.clone())),
                        v + 1,
                        entry.raw_metas.clone(),
                    )),
                    next: v + 1,
                };
            }
            EntryKind::Submit => {
                if topic.with_meta {
                    metas.extend(entry.metas.iter().cloned());
                    raws.extend(entry.raw_metas.iter().cloned());
                }
                let delivered = entry.rows.iter().filter_map(|r| topic.rows_of(db, r));
                for r in delivered.filter(|r| !r.rows.is_empty()) {
                    rows += r.rows.len();
                    tables.push(TableRows {
                        table_name: r.table.clone(),
                        rows: ResultSet {
                            columns: r.columns.iter().map(Column::from).collect(),
                            precision: db.precision,
                            rows: r.rows.clone(),
                        },
                    });
                }
                if rows >= row_limit {
                    return finish(tables, metas, raws, v + 1);
                }
            }
        }
        v += 1;
    }
    finish(tables, metas, raws, v)
}
