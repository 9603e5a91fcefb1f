//! The monitor: polls the change feed, applies every event to the engine, checkpoints, and
//! only then commits the offsets the checkpoint covers.
//!
//! Two tasks joined by a bounded queue (`monitoring.event_buffer_size` messages): the poller
//! (see [`crate::poller`]) and the applier here. When the applier falls behind, the queue
//! fills and polling waits: back-pressure, never a dropped message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::config::Config;
use tdibt_core::durable;
use tdibt_tdengine::{ConnectionSettings, FeedSettings, StartFrom, VgroupProgress};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::apply::apply_events;
use crate::error::CaptureError;
use crate::poller::{run_poller, Command, FeedItem, PollerOptions};
use crate::stats::{CaptureStats, LatencyStats, VgroupStats};

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
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            once: false,
            poll_timeout: Duration::from_millis(500),
            reconnect_deadline: None,
        }
    }
}

/// What a finished monitor run did.
#[derive(Debug)]
pub struct MonitorReport {
    pub stats: CaptureStats,
    pub checkpoint: PathBuf,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs capture until `shutdown` turns true, or (with `once`) until the backlog is drained.
pub async fn run_monitor(
    config: &Config,
    options: MonitorOptions,
    shutdown: watch::Receiver<bool>,
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
        cut_every_events: config.monitoring.checkpoint_events,
        cut_every: Duration::from_millis(config.monitoring.checkpoint_interval_ms),
        once: options.once,
        poll_timeout: options.poll_timeout,
        resume_from: checkpoint.cut.vgroups.clone(),
        reconnect_deadline: options.reconnect_deadline,
    };
    let (queue_tx, queue_rx) = mpsc::channel(config.monitoring.event_buffer_size);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let poller = tokio::spawn(run_poller(poller_options, queue_tx, cmd_rx, shutdown));
    let mut applier = Applier::new(&db, &path, &dir, checkpoint);
    let applied = applier.run(queue_rx, cmd_tx).await;
    let poller_result = poller
        .await
        .map_err(|e| CaptureError::Pipeline(e.to_string()))?;
    applied?;
    let report = poller_result?;
    applier.stats.reconnects = report.reconnects;
    applier.write_stats()?;
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
}

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
        }
    }

    async fn run(
        &mut self,
        mut queue: mpsc::Receiver<FeedItem>,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Result<(), CaptureError> {
        let mut first_progress = true;
        while let Some(item) = queue.recv().await {
            match item {
                FeedItem::Message(m) => {
                    let applied = apply_events(
                        &mut self.checkpoint.engine,
                        &mut self.checkpoint.catalog,
                        &self.db,
                        m.vgroup_id,
                        &m.events,
                        &mut self.scratch,
                    )?;
                    let latency = m.received_at.elapsed().as_secs_f64() * 1e6;
                    if self.latencies_us.len() < MAX_LATENCY_SAMPLES {
                        self.latencies_us.push(latency);
                    } else {
                        let slot = (self.stats.messages as usize) % MAX_LATENCY_SAMPLES;
                        self.latencies_us[slot] = latency;
                    }
                    self.stats.messages += 1;
                    self.stats.events += applied.events;
                    self.stats.rows += applied.rows;
                    self.stats.blocks_marked += applied.blocks_marked;
                    self.events_since_checkpoint += applied.events;
                }
                FeedItem::Cut(progress) => {
                    if first_progress {
                        self.check_wal_gaps(&progress);
                        first_progress = false;
                    }
                    let cut: BTreeMap<i32, i64> =
                        progress.iter().map(|p| (p.vgroup_id, p.position)).collect();
                    self.last_progress = progress;
                    if self.events_since_checkpoint > 0 || cut != self.checkpoint.cut.vgroups {
                        self.save(cut.clone())?;
                        // Durable first, then commit.
                        let _ = commands.send(Command::Commit(cut));
                    }
                }
                FeedItem::Connected(progress) => {
                    if first_progress {
                        self.check_wal_gaps(&progress);
                        first_progress = false;
                    }
                    self.last_progress = progress;
                }
                FeedItem::Finished => break,
            }
        }
        Ok(())
    }

    /// A vgroup whose WAL now begins after our cut lost changes we never saw: mark its
    /// tables wholly written so the next backup re-reads them, and say so loudly.
    fn check_wal_gaps(&mut self, progress: &[VgroupProgress]) {
        for p in progress {
            let Some(cut) = self.checkpoint.cut.offset(p.vgroup_id) else {
                continue;
            };
            if p.begin > cut {
                let tables = self
                    .checkpoint
                    .catalog
                    .tables_in_vgroup(&self.db, p.vgroup_id);
                error!(
                    "vgroup {}: the WAL begins at version {} but capture stopped at {}: changes \
                     were lost (WAL_RETENTION_PERIOD too short?); marking its {} table(s) wholly \
                     changed so the next backup re-reads them",
                    p.vgroup_id,
                    p.begin,
                    cut,
                    tables.len()
                );
                for t in tables {
                    self.checkpoint.engine.mark_table_written(t);
                }
                self.stats.resyncs += 1;
            }
        }
    }

    fn save(&mut self, cut: BTreeMap<i32, i64>) -> Result<(), CaptureError> {
        self.checkpoint.cut.vgroups = cut;
        self.checkpoint.save(&self.path, now_ms())?;
        self.stats.checkpoints += 1;
        self.events_since_checkpoint = 0;
        if let Err(e) = self.write_stats() {
            warn!("{e}");
        }
        Ok(())
    }

    fn write_stats(&mut self) -> Result<(), CaptureError> {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let s = &mut self.stats;
        s.taken_at_unix_ms = now_ms();
        s.uptime_seconds = elapsed;
        s.events_per_second = s.events as f64 / elapsed;
        s.blocks_marked_per_second = s.blocks_marked as f64 / elapsed;
        s.rows_per_second = s.rows as f64 / elapsed;
        s.latency = latency_stats(&self.latencies_us);
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
                lag: (p.end - p.position).max(0),
                wal: None,
            })
            .collect();
        let path = self.dir.join(STATS_FILE);
        let bytes = serde_json::to_vec_pretty(&self.stats).unwrap_or_default();
        durable::write_atomic(&path, &bytes).map_err(|source| CaptureError::Write { path, source })
    }
}

fn latency_stats(samples: &[f64]) -> LatencyStats {
    if samples.is_empty() {
        return LatencyStats::default();
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    LatencyStats {
        samples: sorted.len() as u64,
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: sorted[sorted.len() - 1],
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
