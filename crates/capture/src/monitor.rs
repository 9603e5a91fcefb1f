//! The monitor: polls the change feed, applies every event to the engine, checkpoints, and
//! only then commits the offsets the checkpoint covers.
//!
//! Two tasks joined by a bounded queue (`monitoring.event_buffer_size` messages): the poller
//! (see [`crate::poller`]) and the applier here. When the applier falls behind, the queue
//! fills and polling waits: back-pressure, never a dropped message.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tdibt_core::clock::now_unix_ms;

use tdibt_core::checkpoint::{checkpoint_path, Checkpoint, CheckpointError};
use tdibt_core::config::Config;
use tdibt_core::durable;
use tdibt_tdengine::{
    ChangeEvent, ConnectionSettings, FeedMessage, FeedSettings, StartFrom, VgroupProgress,
};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::apply::{apply_events, apply_resync, ServerTables};
use crate::error::CaptureError;
use crate::handle::{EngineJob, OwnerRequest, OwnerRequests};
use crate::metrics::{self, MetricsSnapshot};
use crate::poller::{run_poller, Command, FeedItem, PollerOptions, ResyncGap};
use crate::stats::{CaptureStats, LatencyStats, VgroupStats};
use crate::wal_watch::WalWatcher;

/// The file beside the checkpoint where the monitor leaves its figures for `tdibt stats`.
pub const STATS_FILE: &str = "capture-stats.json";

/// How the monitor runs.
#[derive(Clone, Debug)]
pub struct MonitorOptions {
    /// Drain what is pending, checkpoint, commit and stop.
    pub once: bool,
    /// How long one poll waits for a message.
    pub poll_timeout: Duration,
    /// Give up when the server stays unreachable this long (`None`: retry forever).
    pub reconnect_deadline: Option<Duration>,
    /// Serve Prometheus metrics on this address.
    pub metrics_listen: Option<SocketAddr>,
    /// Told of every message once its marks are in the engine (for measuring detection
    /// latency end to end; `None` costs nothing).
    pub observer: Option<mpsc::UnboundedSender<MarkedMessage>>,
}

/// A message whose marks are in the engine: when, and which rows it carried.
#[derive(Clone, Debug)]
pub struct MarkedMessage {
    pub marked_at: Instant,
    /// (table, primary timestamp) of every row.
    pub rows: Vec<(String, i64)>,
}

impl MarkedMessage {
    fn of(m: &FeedMessage) -> Self {
        let rows = m
            .events
            .iter()
            .filter_map(|e| match e {
                ChangeEvent::Rows { table, timestamps } => Some((table, timestamps)),
                _ => None,
            })
            .flat_map(|(table, ts)| ts.iter().map(move |&t| (table.clone(), t)))
            .collect();
        MarkedMessage {
            marked_at: Instant::now(),
            rows,
        }
    }
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            once: false,
            poll_timeout: Duration::from_millis(500),
            reconnect_deadline: None,
            metrics_listen: None,
            observer: None,
        }
    }
}

/// What a finished monitor run did.
#[derive(Debug)]
pub struct MonitorReport {
    pub stats: CaptureStats,
    pub checkpoint: PathBuf,
}

/// Runs capture until `shutdown` turns true, or (with `once`) until the backlog is drained.
/// Applies the feed's backlog and returns (`monitor --once`), for the commands that plan
/// from the checkpoint right after: `backup`, `blocks`, `taosdump-script`.
pub async fn drain(config: &Config) -> Result<MonitorReport, CaptureError> {
    let (_keep, never) = watch::channel(false);
    run_monitor(
        config,
        MonitorOptions {
            once: true,
            reconnect_deadline: Some(Duration::from_secs(30)),
            // The drain ends on an empty poll at the backlog's end: keep that wait short.
            poll_timeout: Duration::from_millis(100),
            ..MonitorOptions::default()
        },
        never,
    )
    .await
}

pub async fn run_monitor(
    config: &Config,
    options: MonitorOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<MonitorReport, CaptureError> {
    run_monitor_with(config, options, shutdown, None).await
}

/// [`run_monitor`], also serving the requests of a [`crate::MonitorHandle`]: the engine's
/// one owner while it runs.
pub async fn run_monitor_with(
    config: &Config,
    options: MonitorOptions,
    shutdown: watch::Receiver<bool>,
    requests: Option<OwnerRequests>,
) -> Result<MonitorReport, CaptureError> {
    let db = config.database_name()?.to_string();
    let dir = config.bitmap_engine.persistence_path.clone();
    let path = checkpoint_path(&dir);
    let mut checkpoint = Checkpoint::load(&path)?;
    if checkpoint.catalog.database(&db).is_none() {
        return Err(CaptureError::UnknownDatabase(db));
    }
    checkpoint
        .engine
        .set_memory_limit(Some(config.memory_limit_bytes()));
    let topic = config.topic()?;
    if checkpoint.cut.topic.as_deref() != Some(topic.as_str()) {
        if checkpoint.cut.topic.is_some() {
            warn!("the checkpoint's offsets belong to another topic; starting {topic} from its committed offsets");
            checkpoint.cut.vgroups.clear();
        }
        checkpoint.cut.topic = Some(topic.clone());
    }
    let poller_options = PollerOptions {
        connection: ConnectionSettings::from_config(&config.database),
        feed: FeedSettings {
            topic: topic.clone(),
            group_id: config.monitoring.group_id.clone(),
            client_id: format!("tdibt-{}", std::process::id()),
            start_from: StartFrom::Earliest,
        },
        database: db.clone(),
        cut_every_events: config.monitoring.checkpoint_events,
        cut_every: Duration::from_millis(config.monitoring.checkpoint_interval_ms),
        once: options.once,
        poll_timeout: options.poll_timeout,
        resume_from: checkpoint.cut.vgroups.clone(),
        reconnect_deadline: options.reconnect_deadline,
    };
    // Checked before anything connects, so a wrong path fails fast and changes nothing.
    let wal = match &config.monitoring.wal_path {
        Some(p) => Some(WalWatcher::start(
            p,
            Duration::from_millis(config.monitoring.wal_check_interval_ms),
        )?),
        None => None,
    };
    let (metrics_tx, metrics_rx) = watch::channel(MetricsSnapshot::default());
    let metrics_server = match options.metrics_listen {
        Some(addr) => {
            let server = metrics::serve(addr, metrics_rx).await?;
            info!(
                "serving Prometheus metrics on http://{}/metrics",
                server.addr
            );
            Some(server)
        }
        None => None,
    };
    let (queue_tx, queue_rx) = mpsc::channel(config.monitoring.event_buffer_size);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let poller = tokio::spawn(run_poller(poller_options, queue_tx, cmd_rx, shutdown));
    let mut applier = Applier::new(&db, &path, &dir, checkpoint);
    applier.wal = wal;
    applier.metrics = Some(metrics_tx);
    applier.observer = options.observer.clone();
    applier.requests = requests.map(|r| r.0);
    let applied = applier.run(queue_rx, cmd_tx).await;
    let poller_result = poller
        .await
        .map_err(|e| CaptureError::Pipeline(e.to_string()))?;
    applied?;
    let report = poller_result?;
    applier.stats.reconnects = report.reconnects;
    applier.write_stats()?;
    if let Some(server) = metrics_server {
        server.task.abort();
    }
    info!(
        "monitor stopped: {} events, {} blocks marked, {} checkpoints",
        applier.stats.events, applier.stats.blocks_marked, applier.stats.checkpoints
    );
    Ok(MonitorReport {
        stats: applier.stats,
        checkpoint: path,
    })
}

struct Applier {
    db: String,
    path: PathBuf,
    dir: PathBuf,
    checkpoint: Checkpoint,
    stats: CaptureStats,
    latencies_us: Vec<f64>,
    started: Instant,
    scratch: Vec<u64>,
    events_since_checkpoint: u64,
    last_progress: Vec<VgroupProgress>,
    /// Per vgroup, the WAL end right after tdibt's own last offset commit: taosd writes a
    /// commit to the vnode's WAL (vnodeSvr.c, TDMT_VND_TMQ_COMMIT_OFFSET) as a version TMQ
    /// never delivers, so until the next poll steps over it, it is not lag.
    own_commit_end: BTreeMap<i32, i64>,
    /// The offsets last committed, to tell a commit that writes a version from one that
    /// repeats the committed value.
    last_committed: BTreeMap<i32, i64>,
    wal: Option<WalWatcher>,
    metrics: Option<watch::Sender<MetricsSnapshot>>,
    observer: Option<mpsc::UnboundedSender<MarkedMessage>>,
    last_checkpoint_unix_ms: Option<i64>,
    /// The checkpoint being written, if one is.
    pending: Option<PendingCheckpoint>,
    /// A cut that came while a checkpoint was being written: the next one to write.
    deferred_cut: Option<BTreeMap<i32, i64>>,
    /// Requests of a [`crate::MonitorHandle`], when one serves.
    requests: Option<mpsc::Receiver<OwnerRequest>>,
    /// Jobs waiting for their barrier, by token.
    jobs: BTreeMap<
        u64,
        (
            EngineJob,
            tokio::sync::oneshot::Sender<Result<(), CaptureError>>,
        ),
    >,
    next_token: u64,
}

/// A checkpoint on its way to disk; its offsets are committed once it is there.
struct PendingCheckpoint {
    cut: BTreeMap<i32, i64>,
    written_at: i64,
    task: tokio::task::JoinHandle<Result<(), CheckpointError>>,
}

/// How often a served metrics page is refreshed when no cut comes.
const METRICS_REFRESH: Duration = Duration::from_secs(1);

/// Latency samples kept for percentiles (the newest win).
const MAX_LATENCY_SAMPLES: usize = 100_000;

impl Applier {
    fn new(db: &str, path: &Path, dir: &Path, checkpoint: Checkpoint) -> Self {
        Applier {
            db: db.to_string(),
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            checkpoint,
            stats: CaptureStats::default(),
            latencies_us: Vec::new(),
            started: Instant::now(),
            scratch: Vec::new(),
            events_since_checkpoint: 0,
            last_progress: Vec::new(),
            own_commit_end: BTreeMap::new(),
            last_committed: BTreeMap::new(),
            wal: None,
            metrics: None,
            observer: None,
            last_checkpoint_unix_ms: None,
            pending: None,
            deferred_cut: None,
            requests: None,
            jobs: BTreeMap::new(),
            next_token: 0,
        }
    }

    async fn run(
        &mut self,
        mut queue: mpsc::Receiver<FeedItem>,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Result<(), CaptureError> {
        // The metrics endpoint shows figures refreshed at least this often, quiet or not.
        let mut refresh = tokio::time::interval(METRICS_REFRESH);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let pending = &mut self.pending;
            let requests = &mut self.requests;
            let item = tokio::select! {
                request = async {
                    match requests.as_mut() {
                        Some(r) => r.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match request {
                        Some(r) => self.accept(r, &commands),
                        // Every handle is gone: nobody will ask again.
                        None => self.requests = None,
                    }
                    continue;
                }
                _ = refresh.tick(), if self.metrics.is_some() => {
                    self.refresh_stats();
                    continue;
                }
                written = async {
                    match pending.as_mut() {
                        Some(p) => (&mut p.task).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.checkpoint_written(written, &commands)?;
                    if let Some(cut) = self.deferred_cut.take() {
                        self.start_checkpoint(cut);
                    }
                    continue;
                }
                item = queue.recv() => item,
            };
            let Some(item) = item else { break };
            match item {
                FeedItem::Message(m) => {
                    let started = Instant::now();
                    let applied = apply_events(
                        &mut self.checkpoint.engine,
                        &mut self.checkpoint.catalog,
                        &self.db,
                        m.vgroup_id,
                        &m.events,
                        &mut self.scratch,
                    )?;
                    self.stats.apply_seconds += started.elapsed().as_secs_f64();
                    let latency = m.received_at.elapsed().as_secs_f64() * 1e6;
                    if self.latencies_us.len() < MAX_LATENCY_SAMPLES {
                        self.latencies_us.push(latency);
                    } else {
                        let slot = (self.stats.messages as usize) % MAX_LATENCY_SAMPLES;
                        self.latencies_us[slot] = latency;
                    }
                    if let Some(observer) = &self.observer {
                        let _ = observer.send(MarkedMessage::of(&m));
                    }
                    self.stats.messages += 1;
                    self.stats.events += applied.events;
                    self.stats.rows += applied.rows;
                    self.stats.blocks_marked += applied.blocks_marked;
                    // At least one per message: a message that yielded no event still moved
                    // the cut past itself.
                    self.events_since_checkpoint += applied.events.max(1);
                }
                FeedItem::Cut(progress) => {
                    let cut: BTreeMap<i32, i64> =
                        progress.iter().map(|p| (p.vgroup_id, p.position)).collect();
                    self.last_progress = progress;
                    // A position that moved with no message is taosd skipping WAL versions
                    // TMQ never delivers, our own offset commits among them (vnodeSvr.c
                    // writes TDMT_VND_TMQ_COMMIT_OFFSET to the WAL): checkpointing and
                    // committing for it would write another such version, forever. Only a
                    // vgroup the checkpoint has no offset for yet needs the cut on its own.
                    let new_vgroups = cut.keys().ne(self.checkpoint.cut.vgroups.keys());
                    if self.events_since_checkpoint > 0 || new_vgroups {
                        if self.pending.is_some() {
                            // One write at a time, in order: this cut goes when it is done.
                            self.deferred_cut = Some(cut);
                        } else {
                            self.start_checkpoint(cut);
                        }
                    } else {
                        self.refresh_stats();
                    }
                }
                FeedItem::Connected(progress) => {
                    self.last_progress = progress;
                }
                FeedItem::Resync { vgroups, server } => self.resync(&vgroups, &server)?,
                FeedItem::Barrier { token, progress } => {
                    self.last_progress = progress.clone();
                    if let Some((job, done)) = self.jobs.remove(&token) {
                        let cut = progress.iter().map(|p| (p.vgroup_id, p.position)).collect();
                        let ran = self.run_at_cut(job, cut, &commands).await;
                        // The asker hears of a failed write; the monitor stops on it too, as
                        // it does on any checkpoint it cannot write.
                        let failed = ran.as_ref().err().map(|e| e.to_string());
                        let _ = done.send(ran.map_err(|e| CaptureError::Pipeline(e.to_string())));
                        if let Some(e) = failed {
                            return Err(CaptureError::Pipeline(e));
                        }
                    }
                }
                FeedItem::Finished => break,
            }
        }
        // The last cut: wait for the write in flight, then write what followed it, and
        // commit before the poller closes the consumer.
        self.flush_writes(&commands).await
    }

    /// Takes a handle's request: a job waits for its barrier, the rest is answered now.
    fn accept(&mut self, request: OwnerRequest, commands: &mpsc::UnboundedSender<Command>) {
        match request {
            OwnerRequest::AtCut {
                job,
                done,
                asked_at,
            } => {
                let token = self.next_token;
                self.next_token += 1;
                self.jobs.insert(token, (job, done));
                let _ = commands.send(Command::Barrier { token, asked_at });
            }
            OwnerRequest::Counts(reply) => {
                let _ = reply.send(self.checkpoint.engine.counts());
            }
            OwnerRequest::BackupRun(run) => {
                self.stats.backups.record(run);
                // `tdibt stats` reads the file: a backup shows there without waiting for the
                // next checkpoint.
                if let Err(e) = self.write_stats() {
                    warn!("{e}");
                }
            }
        }
    }

    /// Runs a job at a barrier's cut, where the engine holds exactly what the cut covers,
    /// and makes its effect durable (checkpoint, then commit) before anything else applies.
    async fn run_at_cut(
        &mut self,
        job: EngineJob,
        cut: BTreeMap<i32, i64>,
        commands: &mpsc::UnboundedSender<Command>,
    ) -> Result<(), CaptureError> {
        let clock = Instant::now();
        self.flush_writes(commands).await?;
        let waited = clock.elapsed();
        job(&mut self.checkpoint);
        let ran = clock.elapsed();
        self.start_checkpoint(cut);
        let written = self.flush_writes(commands).await;
        // What a backup's cut costs once its barrier is released (the bench's breakdown).
        debug!(
            "at a cut: {:.1} ms waiting for a checkpoint in flight, {:.1} ms the job, {:.1} ms the checkpoint",
            waited.as_secs_f64() * 1e3,
            (ran - waited).as_secs_f64() * 1e3,
            (clock.elapsed() - ran).as_secs_f64() * 1e3
        );
        written
    }

    /// Waits for the checkpoint write in flight, then writes the deferred cut, if any.
    async fn flush_writes(
        &mut self,
        commands: &mpsc::UnboundedSender<Command>,
    ) -> Result<(), CaptureError> {
        if let Some(p) = self.pending.as_mut() {
            let written = (&mut p.task).await;
            self.checkpoint_written(written, commands)?;
        }
        if let Some(cut) = self.deferred_cut.take() {
            self.start_checkpoint(cut);
            if let Some(p) = self.pending.as_mut() {
                let written = (&mut p.task).await;
                self.checkpoint_written(written, commands)?;
            }
        }
        Ok(())
    }

    /// Vgroups whose WAL now begins after where capture resumed lost changes tdibt never
    /// saw: the catalog is brought to the server's table list and their tables are marked
    /// wholly changed so the next backup re-reads them, and it is said loudly. Runs on
    /// every (re)connection that finds such a gap, not only the first.
    fn resync(&mut self, gaps: &[ResyncGap], server: &ServerTables) -> Result<(), CaptureError> {
        let vgroups: Vec<i32> = gaps.iter().map(|g| g.vgroup_id).collect();
        let marked = apply_resync(
            &mut self.checkpoint.engine,
            &mut self.checkpoint.catalog,
            &self.db,
            &vgroups,
            server,
        )?;
        for g in gaps {
            error!(
                "vgroup {}: the WAL begins at version {} but capture resumes at {}: changes \
                 were lost (WAL_RETENTION_PERIOD too short?); re-read the table list and \
                 marked the vgroup's tables wholly changed so the next backup re-reads them",
                g.vgroup_id, g.begin, g.resume_at
            );
        }
        info!("resync: {marked} table(s) marked wholly changed");
        self.stats.resyncs += gaps.len() as u64;
        self.events_since_checkpoint += 1;
        Ok(())
    }

    /// Encodes the checkpoint for `cut` here (the engine cannot change under it) and writes
    /// it on a blocking thread: the fsyncs take milliseconds, and marks keep flowing
    /// meanwhile instead of queueing behind them. The stats file goes with it.
    fn start_checkpoint(&mut self, cut: BTreeMap<i32, i64>) {
        self.checkpoint.cut.vgroups = cut.clone();
        let written_at = now_unix_ms();
        let bytes = self.checkpoint.encode(written_at);
        self.events_since_checkpoint = 0;
        self.refresh_stats();
        let stats = serde_json::to_vec_pretty(&self.stats).unwrap_or_default();
        let path = self.path.clone();
        let stats_path = self.dir.join(STATS_FILE);
        let task = tokio::task::spawn_blocking(move || {
            durable::write_atomic(&path, &bytes)
                .map_err(|source| CheckpointError::Write { path, source })?;
            if let Err(e) = durable::write_atomic(&stats_path, &stats) {
                warn!("cannot write {}: {e}", stats_path.display());
            }
            Ok(())
        });
        self.pending = Some(PendingCheckpoint {
            cut,
            written_at,
            task,
        });
    }

    /// A checkpoint write ended: durable first, then commit what it covers.
    fn checkpoint_written(
        &mut self,
        written: Result<Result<(), CheckpointError>, tokio::task::JoinError>,
        commands: &mpsc::UnboundedSender<Command>,
    ) -> Result<(), CaptureError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        written.map_err(|e| CaptureError::Pipeline(format!("checkpoint writer: {e}")))??;
        self.last_checkpoint_unix_ms = Some(p.written_at);
        self.stats.checkpoints += 1;
        for (vg, offset) in &p.cut {
            if self.last_committed.insert(*vg, *offset) != Some(*offset) {
                if let Some(seen) = self.last_progress.iter().find(|x| x.vgroup_id == *vg) {
                    self.own_commit_end.insert(*vg, seen.end + 1);
                }
            }
        }
        let _ = commands.send(Command::Commit(p.cut));
        if self.metrics.is_some() {
            self.refresh_stats();
        }
        Ok(())
    }

    fn write_stats(&mut self) -> Result<(), CaptureError> {
        self.refresh_stats();
        let path = self.dir.join(STATS_FILE);
        let bytes = serde_json::to_vec_pretty(&self.stats).unwrap_or_default();
        durable::write_atomic(&path, &bytes).map_err(|source| CaptureError::Write { path, source })
    }

    /// Recomputes the figures and hands them to the metrics endpoint, if one runs.
    fn refresh_stats(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let s = &mut self.stats;
        s.taken_at_unix_ms = now_unix_ms();
        s.uptime_seconds = elapsed;
        s.events_per_second = s.events as f64 / elapsed;
        s.blocks_marked_per_second = s.blocks_marked as f64 / elapsed;
        s.rows_per_second = s.rows as f64 / elapsed;
        s.latency = latency_stats(&self.latencies_us);
        let wal = self
            .wal
            .as_ref()
            .map(WalWatcher::activity)
            .unwrap_or_default();
        s.vgroups = self
            .last_progress
            .iter()
            .map(|p| VgroupStats {
                vgroup_id: p.vgroup_id,
                position: p.position,
                committed: self
                    .checkpoint
                    .cut
                    .offset(p.vgroup_id)
                    .unwrap_or(p.position),
                begin: p.begin,
                end: p.end,
                lag: (p.end - p.position - own_commit_pending(&self.own_commit_end, p)).max(0),
                wal: wal.get(&p.vgroup_id).cloned(),
            })
            .collect();
        if let Some(tx) = &self.metrics {
            let engine = &self.checkpoint.engine;
            tx.send_replace(MetricsSnapshot {
                capture: self.stats.clone(),
                engine: engine.counts(),
                engine_heap_bytes: engine.heap_bytes(),
                coarsened_tables: engine.counters().coarsened_tables,
                checkpoint_unix_ms: self.last_checkpoint_unix_ms,
            });
        }
    }
}

/// 1 when the newest WAL version of `p`'s vgroup is tdibt's own offset commit, not yet
/// stepped over by a poll.
fn own_commit_pending(own_commit_end: &BTreeMap<i32, i64>, p: &VgroupProgress) -> i64 {
    i64::from(p.position < p.end && own_commit_end.get(&p.vgroup_id) == Some(&p.end))
}

fn latency_stats(samples: &[f64]) -> LatencyStats {
    if samples.is_empty() {
        return LatencyStats::default();
    }
    // Selection, not a full sort: this runs on the applier's path every second when metrics
    // are served, over up to MAX_LATENCY_SAMPLES samples.
    let mut v = samples.to_vec();
    let last = v.len() - 1;
    let mut at = |q: f64| {
        let k = (last as f64 * q).round() as usize;
        *v.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
    };
    LatencyStats {
        samples: samples.len() as u64,
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = latency_stats(&samples);
        assert_eq!(l.samples, 100);
        assert_eq!(l.p50_us, 51.0);
        assert_eq!(l.p99_us, 99.0);
        assert_eq!(l.max_us, 100.0);
        assert_eq!(latency_stats(&[]), LatencyStats::default());
    }
}
