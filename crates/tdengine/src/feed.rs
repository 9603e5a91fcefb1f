//! The change feed: tdibt's TMQ consumer on its topic ([`crate::tmq_ws`]), turned into
//! [`ChangeEvent`]s.
//!
//! **Nothing is ever outstanding between calls.** Each [`ChangeFeed::next`] sends one poll
//! whose wait happens on the server (`blocking_time`) and reads its reply, then the message's
//! blocks, before returning. So when offsets are read for a cut, every message the server
//! has handed out is already in the caller's hands: the cut is exact, with no grace period
//! and no message that can arrive after the cut that counted it.
//!
//! Offsets follow TDengine's client (`clientTmq.c`): `position` is the next version to read;
//! `assignment`'s `offset` is the *start* of the last data message consumed (so it never
//! reaches the WAL's end and is not used for cuts), `begin`/`end` bound the WAL; a seek is
//! refused until an assignment or a poll told the consumer its vgroups
//! (`TMQ_NEED_INITIALIZED`), and a seek outside `begin..=end` is refused with
//! `VERSION_OUT_OF_RANGE`. An empty assignment (a rebalance in progress) means "not known
//! yet".

use std::time::{Duration, Instant};

use crate::block_ts::block_timestamps;
use crate::changes::{events_from_meta, ChangeEvent};
use crate::connection::ConnectionSettings;
use crate::error::{TdError, TdResult};
use crate::tmq_ws::{Assignment, SubscribeArgs, TmqClient};

/// Where to start when the group has no committed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
}

/// The consumer's identity and start.
#[derive(Clone, Debug)]
pub struct FeedSettings {
    pub topic: String,
    pub group_id: String,
    pub client_id: String,
    pub start_from: StartFrom,
}

/// One TMQ message, decoded.
#[derive(Debug)]
pub struct FeedMessage {
    pub vgroup_id: i32,
    /// The message's offset as the server reported it in the poll reply.
    pub offset: i64,
    pub events: Vec<ChangeEvent>,
    /// Rows in the message's data blocks.
    pub rows: usize,
    /// When the poll reply arrived (for detection latency).
    pub received_at: Instant,
}

/// A vgroup's offsets as the server reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgroupProgress {
    pub vgroup_id: i32,
    /// The consumer's position: the next version it reads.
    pub position: i64,
    /// The first WAL version still kept.
    pub begin: i64,
    /// The WAL's end as assignment reports it.
    pub end: i64,
}

/// TDengine's message types in a poll reply (taosAdapter `common.TMQ_RES_*`).
const DATA: i32 = 1;
const META: i32 = 2;
const META_AND_DATA: i32 = 3;

/// A subscribed consumer.
pub struct ChangeFeed {
    client: TmqClient,
    topic: String,
    /// Whether an assignment or a poll answered: taosd refuses a seek before either.
    initialized: bool,
}

impl ChangeFeed {
    /// Connects a consumer (auto-commit off) and subscribes to the topic.
    pub async fn subscribe(conn: &ConnectionSettings, feed: &FeedSettings) -> TdResult<Self> {
        let offset_reset = match feed.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        let args = SubscribeArgs {
            topic: &feed.topic,
            group_id: &feed.group_id,
            client_id: &feed.client_id,
            offset_reset,
        };
        Ok(ChangeFeed {
            client: TmqClient::subscribe(conn, &args).await?,
            topic: feed.topic.clone(),
            initialized: false,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Polls once, the server waiting up to `wait` for a message, and reads the message
    /// whole. `None`: nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> TdResult<Option<FeedMessage>> {
        let polled = self.client.poll(wait).await?;
        self.initialized = true;
        let Some(polled) = polled else {
            return Ok(None);
        };
        let received_at = Instant::now();
        let mut events = Vec::new();
        let mut rows = 0;
        let (meta, data) = match polled.message_type {
            DATA => (false, true),
            META => (true, false),
            META_AND_DATA => (true, true),
            other => {
                return Err(TdError::bad_answer(
                    "TMQ poll",
                    format!("message type {other} (tdibt reads 1, 2 and 3)"),
                ))
            }
        };
        // The create comes before the rows it carries.
        if meta {
            let json = self.client.fetch_json_meta(polled.message_id).await?;
            events.extend(events_from_meta(&json)?);
        }
        if data {
            while let Some((table, block)) = self.client.fetch_block(polled.message_id).await? {
                let timestamps = block_timestamps(&block).map_err(|source| TdError::Block {
                    table: table.clone(),
                    source,
                })?;
                rows += timestamps.len();
                events.push(ChangeEvent::Rows { table, timestamps });
            }
        }
        Ok(Some(FeedMessage {
            vgroup_id: polled.vgroup_id,
            offset: polled.offset,
            events,
            rows,
            received_at,
        }))
    }

    /// The server's assignment, sorted by vgroup; empty while the group rebalances.
    pub async fn assignment(&mut self) -> TdResult<Vec<Assignment>> {
        let mut a = self.client.assignment(&self.topic).await?;
        if !a.is_empty() {
            self.initialized = true;
        }
        a.sort_by_key(|a| a.vgroup_id);
        Ok(a)
    }

    /// Per assigned vgroup: position, first and last WAL version. Empty while the group
    /// rebalances ("not known yet": never read as "nothing to do"). Exact between calls to
    /// [`Self::next`], so this is also the cut.
    pub async fn progress(&mut self) -> TdResult<Vec<VgroupProgress>> {
        let assignment = self.assignment().await?;
        if assignment.is_empty() {
            return Ok(Vec::new());
        }
        let vgroups: Vec<i32> = assignment.iter().map(|a| a.vgroup_id).collect();
        let positions = self.client.position(&self.topic, &vgroups).await?;
        Ok(assignment
            .iter()
            .zip(positions)
            .map(|(a, position)| VgroupProgress {
                vgroup_id: a.vgroup_id,
                position,
                begin: a.begin,
                end: a.end,
            })
            .collect())
    }

    /// The consumer's position in one vgroup.
    pub async fn position(&mut self, vgroup_id: i32) -> TdResult<i64> {
        let p = self.client.position(&self.topic, &[vgroup_id]).await?;
        Ok(p[0])
    }

    /// The group's committed offset in one vgroup.
    pub async fn committed(&mut self, vgroup_id: i32) -> TdResult<i64> {
        let c = self.client.committed(&self.topic, &[vgroup_id]).await?;
        Ok(c[0])
    }

    /// Commits `offset` for a vgroup: call only once what it covers is durable.
    pub async fn commit(&mut self, vgroup_id: i32, offset: i64) -> TdResult<()> {
        self.client
            .commit_offset(&self.topic, vgroup_id, offset)
            .await
    }

    /// Moves the consumer in one vgroup, asking for the assignment first when neither it nor
    /// a poll has been answered yet. An offset outside the WAL fails with an error for which
    /// [`TdError::is_out_of_range`] holds.
    pub async fn seek(&mut self, vgroup_id: i32, offset: i64) -> TdResult<()> {
        if !self.initialized {
            self.assignment().await?;
        }
        self.client.seek(&self.topic, vgroup_id, offset).await
    }

    /// Leaves the group.
    pub async fn close(self) {
        self.client.close().await;
    }
}
