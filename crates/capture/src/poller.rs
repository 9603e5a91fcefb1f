//! The polling half of the monitor: owns the TMQ consumer, decodes messages into a bounded
//! queue for the applier, inserts cut markers, commits offsets when told to, and reconnects
//! with back-off when the server goes away.
//!
//! Why a marker in the queue: the WebSocket consumer does not say which WAL version a message
//! came from, so the cut is read as the consumer's positions at a moment when every message
//! polled so far is already in the queue. The applier meets the marker after exactly those
//! messages, so the cut it checkpoints covers what it has applied, no more.
//!
//! A poll is never cancelled half-way (no `select!` around it): a message the server handed
//! out but we dropped would only come back after a reconnect.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tdibt_tdengine::{ChangeFeed, ConnectionSettings, FeedMessage, FeedSettings, TdError};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// What travels from the poller to the applier.
#[derive(Debug)]
pub enum FeedItem {
    Message(FeedMessage),
    /// (Re)connected: the vgroups' offsets before any message of this connection.
    Connected(Vec<tdibt_tdengine::VgroupProgress>),
    /// Per-vgroup progress after every message before this marker.
    Cut(Vec<tdibt_tdengine::VgroupProgress>),
    /// The poller stopped (drained in `--once` mode, or shut down); a final cut precedes it.
    Finished,
}

/// What the applier tells the poller.
#[derive(Debug)]
pub enum Command {
    /// A checkpoint covering these offsets is durable: commit them.
    Commit(BTreeMap<i32, i64>),
}

/// How the poller runs.
#[derive(Clone, Debug)]
pub struct PollerOptions {
    pub connection: ConnectionSettings,
    pub feed: FeedSettings,
    /// Insert a cut after this many events...
    pub cut_every_events: u64,
    /// ...or this much time.
    pub cut_every: Duration,
    /// Stop once every vgroup reached the end it had at start (`monitor --once`).
    pub once: bool,
    /// How long one poll waits for a message.
    pub poll_timeout: Duration,
    /// Offsets to seek to after (re)subscribing, when the group's committed ones differ.
    pub resume_from: BTreeMap<i32, i64>,
    /// Give up reconnecting after this long without a connection (`None`: never).
    pub reconnect_deadline: Option<Duration>,
}

/// The poller's own counters, reported when it ends.
#[derive(Debug, Default, Clone)]
pub struct PollerReport {
    pub reconnects: u64,
    pub commits: u64,
}

/// Runs until shutdown, the end of the backlog (`once`), or an error that retrying cannot fix.
pub async fn run_poller(
    options: PollerOptions,
    queue: mpsc::Sender<FeedItem>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shutdown: watch::Receiver<bool>,
) -> Result<PollerReport, TdError> {
    let mut report = PollerReport::default();
    let mut resume_from = options.resume_from.clone();
    let mut last_commit: BTreeMap<i32, i64> = BTreeMap::new();
    'connection: loop {
        let mut feed = match connect(&options, &resume_from, &shutdown, &mut report).await? {
            Some(feed) => feed,
            None => break 'connection,
        };
        send(&queue, FeedItem::Connected(feed.progress().await?)).await;
        let stop_at = if options.once {
            Some(ends(&feed).await?)
        } else {
            None
        };
        let mut events_since_cut = 0u64;
        let mut last_cut = Instant::now();
        let mut idle_polls = 0u32;
        let mut first = true;
        loop {
            drain_commands(&feed, &mut commands, &mut last_commit, &mut report).await;
            let stopping = *shutdown.borrow();
            // Checked before the first poll too: with nothing pending (a backup's drain
            // right after a monitor stopped), `--once` ends without waiting out a poll.
            let reached_end = match &stop_at {
                Some(ends) if idle_polls > 0 || first => at_end(&feed, ends).await.unwrap_or(false),
                _ => false,
            };
            first = false;
            let gave_up = stop_at.is_some() && idle_polls > MAX_IDLE_POLLS_ONCE;
            if gave_up && !reached_end {
                warn!(
                    "no message for {MAX_IDLE_POLLS_ONCE} polls although the backlog read at start \
                     is not drained; stopping"
                );
            }
            if stopping || reached_end || gave_up {
                let (progress, message) = feed.cut().await?;
                if let Some(message) = message {
                    send(&queue, FeedItem::Message(message)).await;
                }
                send(&queue, FeedItem::Cut(progress)).await;
                send(&queue, FeedItem::Finished).await;
                // Wait for the applier's last commit, then leave.
                while let Some(cmd) = commands.recv().await {
                    apply_command(&feed, cmd, &mut last_commit, &mut report).await;
                }
                feed.close().await;
                return Ok(report);
            }
            match feed.next(options.poll_timeout).await {
                Ok(Some(message)) => {
                    idle_polls = 0;
                    events_since_cut += message.events.len() as u64;
                    send(&queue, FeedItem::Message(message)).await;
                }
                Ok(None) => idle_polls += 1,
                Err(e) if e.is_transient() => {
                    warn!(
                        "lost the TMQ connection to {}: {e}; reconnecting",
                        options.connection.target()
                    );
                    // Resume from what is committed; the applier's queue still holds what
                    // was polled, and replays are harmless.
                    remember(&mut resume_from, &last_commit);
                    continue 'connection;
                }
                Err(e) => return Err(e),
            }
            let due = events_since_cut >= options.cut_every_events
                || (last_cut.elapsed() >= options.cut_every && events_since_cut > 0);
            if due {
                match feed.cut().await {
                    Ok((progress, message)) => {
                        if let Some(message) = message {
                            send(&queue, FeedItem::Message(message)).await;
                        }
                        send(&queue, FeedItem::Cut(progress)).await;
                        events_since_cut = 0;
                        last_cut = Instant::now();
                    }
                    Err(e) if e.is_transient() => {
                        warn!("lost the TMQ connection while reading offsets: {e}; reconnecting");
                        remember(&mut resume_from, &last_commit);
                        continue 'connection;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(report)
}

/// In `--once` mode, empty polls tolerated before stopping short of the backlog's end.
const MAX_IDLE_POLLS_ONCE: u32 = 60;

/// After a reconnect, resume from the newest of the checkpoint's cut and what was committed.
fn remember(resume_from: &mut BTreeMap<i32, i64>, committed: &BTreeMap<i32, i64>) {
    for (&vgroup, &offset) in committed {
        resume_from.insert(vgroup, offset);
    }
}

/// Subscribes, retrying with back-off while the server is unreachable; `None` on shutdown.
async fn connect(
    options: &PollerOptions,
    resume_from: &BTreeMap<i32, i64>,
    shutdown: &watch::Receiver<bool>,
    report: &mut PollerReport,
) -> Result<Option<ChangeFeed>, TdError> {
    let mut delay = Duration::from_millis(100);
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        if *shutdown.borrow() {
            return Ok(None);
        }
        attempt += 1;
        match ChangeFeed::subscribe(&options.connection, &options.feed).await {
            Ok(mut feed) => {
                if attempt > 1 || report.reconnects > 0 {
                    info!(
                        "TMQ connection to {} re-established",
                        options.connection.target()
                    );
                }
                if attempt > 1 {
                    report.reconnects += 1;
                }
                seek_to(&mut feed, resume_from).await?;
                return Ok(Some(feed));
            }
            Err(e) if e.is_transient() => {
                if let Some(deadline) = options.reconnect_deadline {
                    if started.elapsed() >= deadline {
                        error!(
                            "giving up on {} after {attempt} attempts",
                            options.connection.target()
                        );
                        return Err(e);
                    }
                }
                warn!(
                    "cannot subscribe at {}: {e}; retrying in {delay:?}",
                    options.connection.target()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Seeks each vgroup whose committed offset differs from the checkpoint's cut.
async fn seek_to(feed: &mut ChangeFeed, cut: &BTreeMap<i32, i64>) -> Result<(), TdError> {
    for (&vgroup, &offset) in cut {
        let committed = feed.committed(vgroup).await.ok();
        if committed == Some(offset) {
            continue;
        }
        info!("vgroup {vgroup}: committed offset {committed:?}, checkpoint cut {offset}: seeking");
        feed.seek(vgroup, offset).await?;
    }
    Ok(())
}

async fn ends(feed: &ChangeFeed) -> Result<BTreeMap<i32, i64>, TdError> {
    Ok(feed
        .progress()
        .await?
        .into_iter()
        .map(|p| (p.vgroup_id, p.end))
        .collect())
}

async fn at_end(feed: &ChangeFeed, ends: &BTreeMap<i32, i64>) -> Result<bool, TdError> {
    let progress = feed.progress().await?;
    Ok(ends.iter().all(|(vg, end)| {
        progress
            .iter()
            .find(|p| p.vgroup_id == *vg)
            .is_none_or(|p| p.position >= *end)
    }))
}

async fn drain_commands(
    feed: &ChangeFeed,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    last_commit: &mut BTreeMap<i32, i64>,
    report: &mut PollerReport,
) {
    while let Ok(cmd) = commands.try_recv() {
        apply_command(feed, cmd, last_commit, report).await;
    }
}

async fn apply_command(
    feed: &ChangeFeed,
    cmd: Command,
    last_commit: &mut BTreeMap<i32, i64>,
    report: &mut PollerReport,
) {
    match cmd {
        Command::Commit(offsets) => {
            for (&vgroup, &offset) in &offsets {
                if last_commit.get(&vgroup) == Some(&offset) {
                    continue;
                }
                // A failed commit is not data loss: the checkpoint holds the cut, and the
                // next commit (or a resume's seek) carries it.
                match feed.commit(vgroup, offset).await {
                    Ok(()) => {
                        last_commit.insert(vgroup, offset);
                        report.commits += 1;
                    }
                    Err(e) => warn!("vgroup {vgroup}: commit of offset {offset} failed: {e}"),
                }
            }
        }
    }
}

async fn send(queue: &mpsc::Sender<FeedItem>, item: FeedItem) {
    // The applier only goes away when it failed; its error is what the monitor reports.
    let _ = queue.send(item).await;
}
