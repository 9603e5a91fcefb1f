//! The change feed: a TMQ consumer on tdibt's topic, turned into [`ChangeEvent`]s.
//!
//! The WebSocket consumer of `taos` 0.12 does not hand out a message's WAL offset, so the cut
//! is read per vgroup with `position()` after the messages before it were applied, and
//! committed explicitly with `commit_offset` (auto-commit is off) once they are durable.
//!
//! **A poll is never cancelled.** taos-ws 0.12.3's `recv_timeout` races a timer against a
//! loop of zero-wait polls with 500 ms sleeps; when the timer wins while a poll request is
//! on the wire, the server has already handed the message out (its position moved past it)
//! and the client drops the reply: the message is gone, and a cut read afterwards covers it.
//! Capture lost messages this way in live tests. So the feed keeps one poll outstanding
//! across calls, waiting on it with our own timeout, and a cut taken while it is outstanding
//! waits briefly for it afterwards (see [`ChangeFeed::cut`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use taos::{
    AsAsyncConsumer, AsyncTBuilder, ColumnView, IsAsyncData, IsAsyncMeta, IsOffset, MessageSet,
    RawBlock, Timeout, TmqBuilder,
};

use crate::changes::{events_from_meta, ChangeEvent};
use crate::connection::ConnectionSettings;
use crate::error::{TdError, TdResult};

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
    pub events: Vec<ChangeEvent>,
    /// Rows in the message's data blocks.
    pub rows: usize,
    /// When the message arrived from the server (for detection latency).
    pub received_at: Instant,
}

/// A vgroup's offsets as the server reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgroupProgress {
    pub vgroup_id: i32,
    /// The consumer's current position (next version to read).
    pub position: i64,
    /// The first WAL version still kept.
    pub begin: i64,
    /// The last WAL version written.
    pub end: i64,
}

type Offset = <taos::Consumer as AsAsyncConsumer>::Offset;
type Meta = <taos::Consumer as AsAsyncConsumer>::Meta;
type Data = <taos::Consumer as AsAsyncConsumer>::Data;
type Polled = Result<Option<(Offset, MessageSet<Meta, Data>)>, taos::Error>;
/// A poll in progress, owning its handle on the consumer so it can outlive one call.
type OutstandingPoll = Pin<Box<dyn Future<Output = Polled> + Send>>;

/// How long a cut taken during an outstanding poll waits for that poll's message. Replies on
/// one WebSocket arrive in the order the server sends them, so a message the server handed
/// out before answering the position request is already here; the wait covers a server
/// that answers requests of one connection out of order.
pub const CUT_GRACE: Duration = Duration::from_millis(50);

/// A subscribed consumer.
pub struct ChangeFeed {
    consumer: Arc<taos::Consumer>,
    topic: String,
    /// In a mutex only to make the feed `Sync` (the boxed future is not); reached through
    /// `&mut self` with `get_mut`, never locked.
    poll: Mutex<Option<OutstandingPoll>>,
}

impl ChangeFeed {
    /// Connects a consumer (auto-commit off) and subscribes to the topic.
    pub async fn subscribe(conn: &ConnectionSettings, feed: &FeedSettings) -> TdResult<Self> {
        let reset = match feed.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        let query = format!(
            "group.id={}&client.id={}&auto.offset.reset={reset}&enable.auto.commit=false\
             &experimental.snapshot.enable=false",
            urlencoding::encode(&feed.group_id),
            urlencoding::encode(&feed.client_id),
        );
        let builder = TmqBuilder::from_dsn(conn.dsn(&query)).map_err(|e| conn.connect_error(e))?;
        let mut consumer = builder.build().await.map_err(|e| conn.connect_error(e))?;
        consumer
            .subscribe([feed.topic.clone()])
            .await
            .map_err(|e| TdError::tmq("subscribe", e))?;
        Ok(ChangeFeed {
            consumer: Arc::new(consumer),
            topic: feed.topic.clone(),
            poll: Mutex::new(None),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits up to `timeout` for the next message and decodes it whole. On a timeout the poll
    /// stays outstanding and the next call goes on waiting for it.
    pub async fn next(&mut self, timeout: Duration) -> TdResult<Option<FeedMessage>> {
        let consumer = Arc::clone(&self.consumer);
        let slot = self.poll_slot();
        let poll = slot.get_or_insert_with(|| {
            Box::pin(async move { consumer.recv_timeout(Timeout::Never).await })
        });
        let Ok(polled) = tokio::time::timeout(timeout, poll.as_mut()).await else {
            return Ok(None);
        };
        *slot = None;
        let Some((offset, message)) = polled.map_err(|e| TdError::tmq("poll", e))? else {
            return Ok(None);
        };
        let received_at = Instant::now();
        let vgroup_id = offset.vgroup_id();
        let mut events = Vec::new();
        let mut rows = 0;
        let data = match message {
            MessageSet::Meta(meta) => {
                events.extend(meta_events(&meta).await?);
                None
            }
            MessageSet::Data(data) => Some(data),
            MessageSet::MetaData(meta, data) => {
                // The create comes before the rows it carries.
                events.extend(meta_events(&meta).await?);
                Some(data)
            }
        };
        if let Some(data) = data {
            while let Some(block) = data
                .fetch_raw_block()
                .await
                .map_err(|e| TdError::tmq("fetch_block", e))?
            {
                let event = rows_event(&block)?;
                if let ChangeEvent::Rows { timestamps, .. } = &event {
                    rows += timestamps.len();
                }
                events.push(event);
            }
        }
        Ok(Some(FeedMessage {
            vgroup_id,
            events,
            rows,
            received_at,
        }))
    }

    /// Whether a poll is outstanding (its message, if any, not handed out yet).
    pub fn is_polling(&mut self) -> bool {
        self.poll_slot().is_some()
    }

    fn poll_slot(&mut self) -> &mut Option<OutstandingPoll> {
        self.poll.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cut: each vgroup's position, such that every message it covers has been or is now
    /// handed out. With no poll outstanding that is just [`Self::progress`]. With one
    /// outstanding, the positions may already count a message the server has sent but this
    /// side has not received: the poll is given [`CUT_GRACE`] to deliver it, and a message it
    /// delivers must be applied before the cut. A message that arrives without being counted
    /// is harmless: it is replayed after a restart, and replays are idempotent.
    pub async fn cut(&mut self) -> TdResult<(Vec<VgroupProgress>, Option<FeedMessage>)> {
        let progress = self.progress().await?;
        if !self.is_polling() {
            return Ok((progress, None));
        }
        let message = self.next(CUT_GRACE).await?;
        Ok((progress, message))
    }

    /// Per vgroup: position, first and last WAL version. A position read while a poll is
    /// outstanding is for display: cuts go through [`Self::cut`].
    pub async fn progress(&self) -> TdResult<Vec<VgroupProgress>> {
        let assignments = self.consumer.topic_assignment(&self.topic).await;
        let mut out: Vec<VgroupProgress> = assignments
            .into_iter()
            .map(|a| VgroupProgress {
                vgroup_id: a.vgroup_id(),
                position: a.current_offset(),
                begin: a.begin(),
                end: a.end(),
            })
            .collect();
        out.sort_by_key(|p| p.vgroup_id);
        Ok(out)
    }

    /// The consumer's position in one vgroup.
    pub async fn position(&self, vgroup_id: i32) -> TdResult<i64> {
        self.consumer
            .position(&self.topic, vgroup_id)
            .await
            .map_err(|e| TdError::tmq("position", e))
    }

    /// The group's committed offset in one vgroup.
    pub async fn committed(&self, vgroup_id: i32) -> TdResult<i64> {
        self.consumer
            .committed(&self.topic, vgroup_id)
            .await
            .map_err(|e| TdError::tmq("committed", e))
    }

    /// Commits `offset` for a vgroup: call only once what it covers is durable.
    pub async fn commit(&self, vgroup_id: i32, offset: i64) -> TdResult<()> {
        self.consumer
            .commit_offset(&self.topic, vgroup_id, offset)
            .await
            .map_err(|e| TdError::tmq("commit_offset", e))
    }

    /// Moves the consumer in one vgroup (dropping an outstanding poll: the seek decides
    /// where reading resumes).
    pub async fn seek(&mut self, vgroup_id: i32, offset: i64) -> TdResult<()> {
        *self.poll_slot() = None;
        let consumer = Arc::get_mut(&mut self.consumer)
            .ok_or_else(|| TdError::bad_answer("seek", "the consumer is still in use by a poll"))?;
        consumer
            .offset_seek(&self.topic, vgroup_id, offset)
            .await
            .map_err(|e| TdError::tmq("seek", e))
    }

    /// Leaves the group. An outstanding poll is dropped: whatever it may have taken is after
    /// the last cut, so the next session reads it again.
    pub async fn close(mut self) {
        *self.poll_slot() = None;
        if let Ok(consumer) = Arc::try_unwrap(self.consumer) {
            consumer.unsubscribe().await;
        }
    }
}

async fn meta_events(
    meta: &<taos::Consumer as AsAsyncConsumer>::Meta,
) -> TdResult<Vec<ChangeEvent>> {
    let json_meta = meta
        .as_json_meta()
        .await
        .map_err(|e| TdError::tmq("fetch_json_meta", e))?;
    let json = serde_json::to_value(&json_meta)
        .map_err(|e| TdError::bad_answer("TMQ meta message", e.to_string()))?;
    events_from_meta(&json)
}

/// A data block's table and primary timestamps (column 0 is always the primary key).
fn rows_event(block: &RawBlock) -> TdResult<ChangeEvent> {
    let table = block
        .table_name()
        .ok_or_else(|| TdError::bad_answer("TMQ data block", "no table name"))?
        .to_string();
    let timestamps = match block.column_views().first() {
        // Element by element: `as_raw_slice` assumes an aligned buffer, which a block
        // received from the network does not promise (the views read unaligned).
        Some(ColumnView::Timestamp(view)) => view
            .iter()
            .map(|ts| ts.map(|t| t.as_raw_i64()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| {
                TdError::bad_answer(
                    "TMQ data block",
                    format!("NULL primary timestamp in {table}"),
                )
            })?,
        Some(other) => {
            return Err(TdError::bad_answer(
                "TMQ data block",
                format!("first column of {table} is not a timestamp: {other:?}"),
            ))
        }
        None if block.nrows() == 0 => Vec::new(),
        None => {
            return Err(TdError::bad_answer(
                "TMQ data block",
                "block has no columns",
            ))
        }
    };
    Ok(ChangeEvent::Rows { table, timestamps })
}
