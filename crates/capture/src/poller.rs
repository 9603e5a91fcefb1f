//! The polling half of the monitor: owns the TMQ consumer, decodes messages into a bounded
//! queue for the applier, inserts cut markers, commits offsets when told to, and reconnects
//! with back-off when the server goes away.
//!
//! Why a marker in the queue: a cut is the consumer's positions read between two polls,
//! when every message the server handed out is already in the queue (polls wait on the
//! server and are always read to their reply, see [`tdibt_tdengine::feed`]). The applier
//! meets the marker after exactly those messages, so the cut it checkpoints covers what it
//! has applied, no more.
//!
//! On every (re)connection the WAL is checked against where reading resumes: a vgroup whose
//! WAL now begins after that point (or that refuses the seek as out of range) lost changes
//! tdibt never saw. The poller then reads the server's table list and hands the applier a
//! [`FeedItem::Resync`] before any message of the new connection.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tdibt_tdengine::discovery;
use tdibt_tdengine::{
    ChangeFeed, Connection, ConnectionSettings, FeedMessage, FeedSettings, TdError, VgroupProgress,
};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::apply::ServerTables;

/// What travels from the poller to the applier.
#[derive(Debug)]
pub enum FeedItem {
    Message(FeedMessage),
    /// (Re)connected: the vgroups' offsets before any message of this connection.
    Connected(Vec<VgroupProgress>),
    /// The WAL of these vgroups begins after where capture resumes: changes were lost.
    Resync {
        vgroups: Vec<ResyncGap>,
        server: ServerTables,
    },
    /// Per-vgroup progress after every message before this marker.
    Cut(Vec<VgroupProgress>),
    /// The poller stopped (drained in `--once` mode, or shut down); a final cut precedes it.
    Finished,
    /// A cut asked for with [`Command::Barrier`]: every vgroup was read to the end offsets
    /// the server had when the barrier reached the poller. Like [`FeedItem::Cut`], it comes
    /// after exactly the messages it covers.
    Barrier {
        token: u64,
        progress: Vec<VgroupProgress>,
    },
}

/// One vgroup's lost stretch of WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResyncGap {
    pub vgroup_id: i32,
    /// Where capture would have resumed.
    pub resume_at: i64,
    /// Where the WAL begins now.
    pub begin: i64,
}

/// What the applier tells the poller.
#[derive(Debug)]
pub enum Command {
    /// A checkpoint covering these offsets is durable: commit them.
    Commit(BTreeMap<i32, i64>),
    /// Read the feed's end offsets now, and hand the applier a [`FeedItem::Barrier`] with
    /// this token once every vgroup has been read to them. `asked_at`: when the cut was
    /// asked for (see [`EmptyPoll`]).
    Barrier { token: u64, asked_at: Instant },
}

/// While a barrier waits, polls wait at most this long on the server: an idle poll is what
/// shows that a vgroup whose WAL ends with versions TMQ never delivers is read to its end.
const BARRIER_POLL: Duration = Duration::from_millis(10);

/// The server-side wait of the first poll after one that delivered a message; each empty
/// poll doubles it, up to the configured wait. A write wakes a waiting poll at once
/// whatever its wait (taosd's push on write), so this costs no detection latency: it
/// bounds how long a cut asked for right after a write waits for the poll in flight
/// (the write woke the poll before it, so the one in flight has just been sent), at the
/// price of a few short polls after each burst (2, 4, 8 ms, ...), while an idle feed
/// settles at the configured wait.
const WAIT_AFTER_MESSAGE: Duration = Duration::from_millis(2);

/// The wait of a poll after `quiet` empty polls in a row, at most `configured`.
fn poll_wait(quiet: u32, configured: Duration) -> Duration {
    WAIT_AFTER_MESSAGE
        .saturating_mul(1u32 << quiet.min(16))
        .min(configured)
}

/// How the poller runs.
#[derive(Clone, Debug)]
pub struct PollerOptions {
    pub connection: ConnectionSettings,
    pub feed: FeedSettings,
    /// The database the topic covers (for the table list of a resync).
    pub database: String,
    /// Insert a cut after this many events...
    pub cut_every_events: u64,
    /// ...or this much time.
    pub cut_every: Duration,
    /// Stop once every vgroup reached the end it had at start (`monitor --once`).
    pub once: bool,
    /// How long one poll waits on the server for a message.
    pub poll_timeout: Duration,
    /// Where reading resumes per vgroup (the checkpoint's cut).
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

/// In `--once` mode, how long the assignment may stay empty (a rebalance: a killed consumer
/// holds its vgroups until it is gone, then the group rebalances on the server's timer)
/// before giving up: "drained" is never concluded from an assignment that is not known.
/// A time, not a number of polls: how long a poll waits depends on the caller (a serving
/// monitor's 20 ms made 60 polls too short for a rebalance).
const MAX_UNASSIGNED_ONCE: Duration = Duration::from_secs(30);

/// Out-of-range answers to polls in a row before the poller gives up (each one reconnects
/// and resyncs; a server that keeps answering so is not one reconnecting can fix).
const MAX_OUT_OF_RANGE_IN_A_ROW: u32 = 3;

/// Runs until shutdown, the end of the backlog (`once`), or an error that retrying cannot fix.
pub async fn run_poller(
    options: PollerOptions,
    queue: mpsc::Sender<FeedItem>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shutdown: watch::Receiver<bool>,
) -> Result<PollerReport, TdError> {
    let mut state = PollerState {
        report: PollerReport::default(),
        resume_from: options.resume_from.clone(),
        last_commit: BTreeMap::new(),
        out_of_range_in_a_row: 0,
        barriers: Vec::new(),
    };
    loop {
        let Some(mut feed) = connect(&options, &queue, &shutdown, &mut state).await? else {
            return Ok(state.report);
        };
        match run_connection(
            &options,
            &mut feed,
            &queue,
            &mut commands,
            &shutdown,
            &mut state,
        )
        .await
        {
            Ok(()) => {
                feed.close().await;
                return Ok(state.report);
            }
            Err(e) if e.is_transient() => warn!(
                "lost the TMQ connection to {}: {e}; reconnecting",
                options.connection.target()
            ),
            Err(e) if e.is_out_of_range() => {
                state.out_of_range_in_a_row += 1;
                if state.out_of_range_in_a_row > MAX_OUT_OF_RANGE_IN_A_ROW {
                    return Err(e);
                }
                warn!("{e}: the WAL moved past the consumer; reconnecting to resync");
            }
            Err(e) => return Err(e),
        }
    }
}

struct PollerState {
    report: PollerReport,
    /// Where the next connection resumes: the newest cut handed to the applier (what is
    /// queued before it will be applied and checkpointed, whatever happens to the link).
    resume_from: BTreeMap<i32, i64>,
    last_commit: BTreeMap<i32, i64>,
    out_of_range_in_a_row: u32,
    /// Barriers not yet released.
    barriers: Vec<Barrier>,
}

/// A poll that came back empty: until `waited_until` the server held it waiting for data
/// and had none to give (taosd answers a waiting poll as soon as a write lands: a change
/// committed while it waited would have come back in it). A cut asked for before then, and
/// answered after, needs no poll of its own to know those vgroups hold nothing more: this
/// one already says so for every change committed before the ask. `waited_until` is when
/// the poll was sent plus its wait, so it never runs past the server's own end of waiting.
struct EmptyPoll {
    waited_until: Instant,
    vgroups: BTreeSet<i32>,
}

/// A cut asked for and not yet handed out.
struct Barrier {
    token: u64,
    /// The end offsets read when it arrived (empty while the assignment was not known:
    /// read at the first chance, which is still after the request).
    ends: BTreeMap<i32, i64>,
    /// The vgroups a poll made after it arrived came back empty for: only such a poll says
    /// that a vgroup short of its end has nothing more to deliver. An empty poll speaks only
    /// for the vgroups assigned when it was made: during a rebalance (a killed monitor's
    /// consumer still holding some) the others may hold everything the backup must see.
    idle_over: BTreeSet<i32>,
}

/// The vgroups the last poll shows idle for a cut asked for at `asked_at`: those of an
/// empty poll the server still held waiting then, none otherwise.
fn idle_at_ask(last_empty: Option<&EmptyPoll>, asked_at: Instant) -> BTreeSet<i32> {
    last_empty
        .filter(|e| asked_at <= e.waited_until)
        .map(|e| e.vgroups.clone())
        .unwrap_or_default()
}

/// One connection's polling, until shutdown or the end of the backlog (`Ok`) or an error.
async fn run_connection(
    options: &PollerOptions,
    feed: &mut ChangeFeed,
    queue: &mpsc::Sender<FeedItem>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    shutdown: &watch::Receiver<bool>,
    state: &mut PollerState,
) -> Result<(), TdError> {
    let mut stop_at: Option<BTreeMap<i32, i64>> = None;
    let mut events_since_cut = 0u64;
    let mut last_cut = Instant::now();
    let mut unassigned_since: Option<Instant> = None;
    // The vgroups of the newest assignment read.
    let mut assigned = BTreeSet::new();
    // The last poll of this connection, if it came back empty (none came back with a
    // message since): the vgroups it shows idle (see `Barrier::idle_over`).
    let mut last_empty: Option<EmptyPoll> = None;
    // Empty polls since the last message (see `poll_wait`); starts settled.
    let mut quiet = u32::MAX;
    let no_vgroups = BTreeSet::new();
    // Checked before the first poll too: with nothing pending (a backup's drain right after
    // a monitor stopped), `--once` ends without waiting out a poll.
    let mut first = true;
    let mut polls_since_check = 0u32;
    loop {
        // A barrier just asked for read the offsets already: no poll came since, so they
        // are still the consumer's (two round trips saved on a backup's cut).
        let just_read = drain_commands(feed, commands, state, last_empty.as_ref()).await?;
        let stopping = *shutdown.borrow();
        // Offsets cost two round trips: while messages flow, look only now and then.
        let check = options.once && (first || last_empty.is_some() || polls_since_check >= 64);
        let waiting = !state.barriers.is_empty();
        let progress = match just_read {
            Some(progress) if !check && !stopping => progress,
            _ if check || stopping || waiting => {
                polls_since_check = 0;
                feed.progress().await?
            }
            _ => Vec::new(),
        };
        if !progress.is_empty() {
            assigned = progress.iter().map(|p| p.vgroup_id).collect();
        }
        if options.once && !progress.is_empty() {
            let ends = stop_at.get_or_insert_with(BTreeMap::new);
            add_ends(ends, &progress, state.resume_from.keys());
        }
        let idle_over = last_empty.as_ref().map_or(&no_vgroups, |e| &e.vgroups);
        let drained = stop_at
            .as_ref()
            .is_some_and(|ends| is_drained(ends, &progress, idle_over));
        first = false;
        if check && progress.is_empty() {
            let since = *unassigned_since.get_or_insert_with(Instant::now);
            if since.elapsed() > MAX_UNASSIGNED_ONCE {
                return Err(TdError::BadAnswer {
                    what: format!("TMQ assignment of topic {}", options.feed.topic),
                    detail: format!(
                        "still empty after {} s: the consumer group is rebalancing or another \
                         consumer holds every vgroup",
                        MAX_UNASSIGNED_ONCE.as_secs()
                    ),
                });
            }
        } else if !progress.is_empty() {
            unassigned_since = None;
        }
        if waiting && !progress.is_empty() {
            release_barriers(&progress, queue, state).await;
        }
        if (stopping || drained) && !progress.is_empty() {
            state.remember(&progress);
            send(queue, FeedItem::Cut(progress)).await;
            send(queue, FeedItem::Finished).await;
            // Wait for the applier's last commit, then leave.
            while let Some(cmd) = commands.recv().await {
                apply_command(feed, cmd, state, last_empty.as_ref()).await?;
            }
            return Ok(());
        }
        polls_since_check += 1;
        let configured = if state.barriers.is_empty() {
            options.poll_timeout
        } else {
            options.poll_timeout.min(BARRIER_POLL)
        };
        let wait = poll_wait(quiet, configured);
        let sent = Instant::now();
        match feed.next(wait).await? {
            Some(message) => {
                quiet = 0;
                last_empty = None;
                state.out_of_range_in_a_row = 0;
                events_since_cut += message.events.len() as u64;
                send(queue, FeedItem::Message(message)).await;
            }
            None => {
                quiet = quiet.saturating_add(1);
                last_empty = Some(EmptyPoll {
                    waited_until: sent + wait,
                    vgroups: assigned.clone(),
                });
                for b in &mut state.barriers {
                    b.idle_over.extend(assigned.iter().copied());
                }
                // The poll delivered nothing, so the positions read before it still hold:
                // a barrier it completes is released now, not after reading them again.
                if !state.barriers.is_empty() && !progress.is_empty() {
                    release_barriers(&progress, queue, state).await;
                }
            }
        }
        let due = events_since_cut >= options.cut_every_events
            || (last_cut.elapsed() >= options.cut_every && events_since_cut > 0);
        if due {
            let progress = feed.progress().await?;
            // An empty assignment is "not known yet": no cut until it is.
            if !progress.is_empty() {
                state.remember(&progress);
                send(queue, FeedItem::Cut(progress)).await;
                events_since_cut = 0;
                last_cut = Instant::now();
            }
        }
    }
}

/// Completes `ends` with the end offsets of `progress` for the vgroups it lacks, and with a
/// placeholder (never reached) for every vgroup capture knows of that the consumer is not
/// assigned yet: while a consumer group rebalances (a killed monitor's consumer still holds
/// vgroups until its session times out), the assignment covers only part of the topic, and
/// "read to the end" must not be concluded from that part. Ends read now are at or after
/// any request that came before.
fn add_ends<'a>(
    ends: &mut BTreeMap<i32, i64>,
    progress: &[VgroupProgress],
    known: impl Iterator<Item = &'a i32>,
) {
    for p in progress {
        let end = ends.entry(p.vgroup_id).or_insert(p.end);
        if *end == UNASSIGNED {
            *end = p.end;
        }
    }
    for vg in known {
        ends.entry(*vg).or_insert(UNASSIGNED);
    }
}

/// The end of a vgroup not assigned yet: no position reaches it, and no idle poll drains it
/// (it is not in the assignment at all).
const UNASSIGNED: i64 = i64::MAX;

/// Drained: every vgroup known at start is assigned now and either read to its end at
/// start, or a poll made while it was assigned found nothing (`idle_over`: a WAL may end
/// with versions TMQ never delivers, so the position alone can stay short of the end).
/// Never from an empty assignment.
fn is_drained(
    ends: &BTreeMap<i32, i64>,
    progress: &[VgroupProgress],
    idle_over: &BTreeSet<i32>,
) -> bool {
    !progress.is_empty()
        && ends.iter().all(|(vg, end)| {
            progress
                .iter()
                .find(|p| p.vgroup_id == *vg)
                .is_some_and(|p| idle_over.contains(vg) || p.position >= *end)
        })
}

impl PollerState {
    fn remember(&mut self, progress: &[VgroupProgress]) {
        for p in progress {
            self.resume_from.insert(p.vgroup_id, p.position);
        }
    }
}

/// Subscribes, retrying with back-off while the server is unreachable, then positions the
/// consumer (checking for WAL gaps); `None` on shutdown.
async fn connect(
    options: &PollerOptions,
    queue: &mpsc::Sender<FeedItem>,
    shutdown: &watch::Receiver<bool>,
    state: &mut PollerState,
) -> Result<Option<ChangeFeed>, TdError> {
    let mut delay = Duration::from_millis(100);
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        if *shutdown.borrow() {
            return Ok(None);
        }
        attempt += 1;
        let result = match ChangeFeed::subscribe(&options.connection, &options.feed).await {
            Ok(mut feed) => position_consumer(options, &mut feed, queue, shutdown, state)
                .await
                .map(|placed| placed.then_some(feed)),
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(feed)) => {
                if attempt > 1 || state.report.reconnects > 0 {
                    info!(
                        "TMQ connection to {} re-established",
                        options.connection.target()
                    );
                }
                if attempt > 1 {
                    state.report.reconnects += 1;
                }
                return Ok(Some(feed));
            }
            Ok(None) => return Ok(None),
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

/// Waits for an assignment (taosd refuses a seek before one), checks each vgroup's WAL
/// against where reading resumes, resyncs the gaps and seeks. `false` on shutdown.
async fn position_consumer(
    options: &PollerOptions,
    feed: &mut ChangeFeed,
    queue: &mpsc::Sender<FeedItem>,
    shutdown: &watch::Receiver<bool>,
    state: &mut PollerState,
) -> Result<bool, TdError> {
    let assignment = loop {
        let a = feed.assignment().await?;
        if !a.is_empty() || state.resume_from.is_empty() {
            break a;
        }
        if *shutdown.borrow() {
            return Ok(false);
        }
        // A rebalance is in progress: the vgroups are not known yet. Waiting on the server
        // is not possible without a poll (which could hand out a message before the seek),
        // so wait briefly on this side.
        tokio::time::sleep(options.poll_timeout.min(Duration::from_millis(200))).await;
    };
    let mut gaps = Vec::new();
    for a in &assignment {
        let Some(&resume_at) = state.resume_from.get(&a.vgroup_id) else {
            continue;
        };
        if resume_at < a.begin || resume_at > a.end {
            gaps.push(ResyncGap {
                vgroup_id: a.vgroup_id,
                resume_at,
                begin: a.begin,
            });
            feed.seek(a.vgroup_id, a.begin).await?;
            continue;
        }
        let committed = feed.committed(a.vgroup_id).await.ok();
        if committed == Some(resume_at) {
            continue;
        }
        info!(
            "vgroup {}: committed offset {committed:?}, checkpoint cut {resume_at}: seeking",
            a.vgroup_id
        );
        match feed.seek(a.vgroup_id, resume_at).await {
            Ok(()) => {}
            Err(e) if e.is_out_of_range() => {
                gaps.push(ResyncGap {
                    vgroup_id: a.vgroup_id,
                    resume_at,
                    begin: a.begin,
                });
                feed.seek(a.vgroup_id, a.begin).await?;
            }
            Err(e) => return Err(e),
        }
    }
    let progress = feed.progress().await?;
    send(queue, FeedItem::Connected(progress.clone())).await;
    if !gaps.is_empty() {
        let server = server_tables(&options.connection, &options.database).await?;
        send(
            queue,
            FeedItem::Resync {
                vgroups: gaps,
                server,
            },
        )
        .await;
        // Checkpoint the resync now, at the offsets just sought: the marks and the new
        // catalog are then durable before anything else is read.
        if !progress.is_empty() {
            state.remember(&progress);
            send(queue, FeedItem::Cut(progress)).await;
        }
    }
    Ok(true)
}

/// The server's current table list, for a resync.
async fn server_tables(conn: &ConnectionSettings, db: &str) -> Result<ServerTables, TdError> {
    let sql = Connection::open(conn).await?;
    Ok(ServerTables {
        super_tables: discovery::super_tables(&sql, db).await?,
        tables: discovery::tables(&sql, db).await?,
    })
}

/// Hands the applier every waiting barrier whose end offsets `progress` has reached (or,
/// after an idle poll, every vgroup has nothing more to give: see [`is_drained`]).
async fn release_barriers(
    progress: &[VgroupProgress],
    queue: &mpsc::Sender<FeedItem>,
    state: &mut PollerState,
) {
    let mut released = Vec::new();
    for b in &mut state.barriers {
        add_ends(&mut b.ends, progress, state.resume_from.keys());
        if is_drained(&b.ends, progress, &b.idle_over) {
            released.push(b.token);
        }
    }
    if released.is_empty() {
        return;
    }
    state.barriers.retain(|b| !released.contains(&b.token));
    state.remember(progress);
    for token in released {
        send(
            queue,
            FeedItem::Barrier {
                token,
                progress: progress.to_vec(),
            },
        )
        .await;
    }
}

/// Carries out the commands waiting; returns the offsets the last of them read (a
/// barrier's), if one read them.
async fn drain_commands(
    feed: &mut ChangeFeed,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    state: &mut PollerState,
    last_empty: Option<&EmptyPoll>,
) -> Result<Option<Vec<VgroupProgress>>, TdError> {
    let mut read = None;
    while let Ok(cmd) = commands.try_recv() {
        read = apply_command(feed, cmd, state, last_empty).await?;
    }
    Ok(read)
}

/// Carries out one command; `last_empty` is this connection's last poll, if it came back
/// empty (it may speak for a barrier: see [`EmptyPoll`]).
async fn apply_command(
    feed: &mut ChangeFeed,
    cmd: Command,
    state: &mut PollerState,
    last_empty: Option<&EmptyPoll>,
) -> Result<Option<Vec<VgroupProgress>>, TdError> {
    match cmd {
        Command::Barrier { token, asked_at } => {
            // An empty poll that was still waiting on the server when the cut was asked for
            // speaks for it already (see `EmptyPoll`).
            let idle_over = idle_at_ask(last_empty, asked_at);
            // Kept even when reading the ends fails (a lost connection): they are then read
            // at the first chance after, which is still at or after the request.
            state.barriers.push(Barrier {
                token,
                ends: BTreeMap::new(),
                idle_over,
            });
            let progress = feed.progress().await?;
            let ends = progress.iter().map(|p| (p.vgroup_id, p.end)).collect();
            if let Some(last) = state.barriers.last_mut() {
                last.ends = ends;
            }
            return Ok(Some(progress));
        }
        Command::Commit(offsets) => {
            for (&vgroup, &offset) in &offsets {
                if state.last_commit.get(&vgroup) == Some(&offset) {
                    continue;
                }
                // A failed commit is not data loss: the checkpoint holds the cut, and the
                // next commit (or a resume's seek) carries it.
                match feed.commit(vgroup, offset).await {
                    Ok(()) => {
                        state.last_commit.insert(vgroup, offset);
                        state.report.commits += 1;
                    }
                    Err(e) => warn!("vgroup {vgroup}: commit of offset {offset} failed: {e}"),
                }
            }
        }
    }
    Ok(None)
}

async fn send(queue: &mpsc::Sender<FeedItem>, item: FeedItem) {
    // The applier only goes away when it failed; its error is what the monitor reports.
    let _ = queue.send(item).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_after_a_message_wait_briefly_then_settle_at_the_configured_wait() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (0..6).map(|q| poll_wait(q, ms(10))).collect();
        assert_eq!(waits, [ms(2), ms(4), ms(8), ms(10), ms(10), ms(10)]);
        // Settled (no message yet) and a long configured wait: never past it, no overflow.
        assert_eq!(poll_wait(u32::MAX, ms(500)), ms(500));
        assert_eq!(poll_wait(3, ms(500)), ms(16));
    }

    fn progress(vg: i32, position: i64, end: i64) -> VgroupProgress {
        VgroupProgress {
            vgroup_id: vg,
            position,
            begin: 0,
            end,
        }
    }

    /// A cut asked for while an empty poll still waited on the server is covered by it; one
    /// asked for after the server's wait ended is not (a write could have landed between),
    /// nor one after a poll that brought a message.
    #[test]
    fn an_empty_poll_speaks_for_a_cut_asked_while_it_waited() {
        let sent = Instant::now();
        let empty = EmptyPoll {
            waited_until: sent + Duration::from_millis(20),
            vgroups: [2, 3].into(),
        };
        let during = sent + Duration::from_millis(5);
        let after = sent + Duration::from_millis(21);
        assert_eq!(idle_at_ask(Some(&empty), during), [2, 3].into());
        assert!(idle_at_ask(Some(&empty), after).is_empty());
        assert!(idle_at_ask(None, during).is_empty());
    }

    #[test]
    fn drained_needs_a_known_assignment() {
        let ends: BTreeMap<i32, i64> = [(2, 10), (3, 5)].into();
        // A rebalance: nothing assigned. Never "drained", even after an idle poll.
        let both: BTreeSet<i32> = [2, 3].into();
        let none = BTreeSet::new();
        assert!(!is_drained(&ends, &[], &both));
        // One vgroup missing from the assignment.
        assert!(!is_drained(&ends, &[progress(2, 10, 10)], &both));
        // Positions at the ends read at start.
        assert!(is_drained(
            &ends,
            &[progress(2, 10, 12), progress(3, 5, 5)],
            &none
        ));
        // Short of an end: only an idle poll says nothing more is coming.
        let short = [progress(2, 9, 10), progress(3, 5, 5)];
        assert!(!is_drained(&ends, &short, &none));
        assert!(is_drained(&ends, &short, &both));
        // An idle poll made while only vgroup 3 was assigned says nothing of vgroup 2.
        assert!(!is_drained(&ends, &short, &[3].into()));
    }

    #[test]
    fn a_partial_assignment_is_never_drained() {
        // Vgroup 3 is still held by a killed consumer: only 2 is assigned to us.
        let mut ends = BTreeMap::new();
        let known = [2, 3];
        let part = [progress(2, 10, 10)];
        add_ends(&mut ends, &part, known.iter());
        let idle_part: BTreeSet<i32> = [2].into();
        assert!(!is_drained(&ends, &part, &idle_part));
        assert!(!is_drained(&ends, &part, &BTreeSet::new()));
        // Reassigned: its end is read now, and reached.
        let all = [progress(2, 10, 10), progress(3, 4, 6)];
        add_ends(&mut ends, &all, known.iter());
        assert_eq!(ends[&3], 6);
        assert_eq!(ends[&2], 10, "an end read before stays");
        assert!(!is_drained(&ends, &all, &BTreeSet::new()));
        // The empty poll made while only vgroup 2 was assigned does not drain vgroup 3,
        // which the killed consumer held with unread changes (the flaky restore of
        // `killed_monitors_and_askers_lose_nothing`).
        assert!(!is_drained(&ends, &all, &idle_part));
        assert!(is_drained(&ends, &all, &[2, 3].into()));
        assert!(is_drained(
            &ends,
            &[progress(2, 10, 11), progress(3, 6, 7)],
            &BTreeSet::new()
        ));
    }
}
