//! What capture reports: throughput, per-vgroup offsets and lag, detection latency, and the
//! engine's state. The monitor writes it beside each checkpoint (`capture-stats.json`) so
//! `tdibt stats` can show it from another process, and serves it as Prometheus text.

use serde::{Deserialize, Serialize};

/// A vgroup's progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgroupStats {
    pub vgroup_id: i32,
    /// Next WAL version the consumer reads.
    pub position: i64,
    /// Offset in the last durable checkpoint (and committed to TDengine).
    pub committed: i64,
    /// First WAL version the server still keeps.
    pub begin: i64,
    /// Last WAL version the server wrote.
    pub end: i64,
    /// `end - position`, never negative: versions written but not yet consumed.
    pub lag: i64,
    /// WAL write activity seen by the WAL watcher, when one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalActivity>,
}

/// Write activity in one vgroup's WAL folder, from file-system events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalActivity {
    /// File-system events on the WAL files since the watcher started.
    pub events: u64,
    /// Bytes the `.log` segments grew by since the watcher started.
    pub bytes_written: u64,
    /// Unix milliseconds of the last change seen.
    pub last_write_unix_ms: Option<i64>,
    /// `lastVer` from the WAL's meta file, when readable.
    pub last_version: Option<i64>,
}

/// Detection latency: from a message's arrival to its marks being in the engine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Capture's counters and rates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// Unix milliseconds when these stats were taken.
    pub taken_at_unix_ms: i64,
    /// Seconds the monitor has run.
    pub uptime_seconds: f64,
    pub messages: u64,
    pub events: u64,
    pub rows: u64,
    pub blocks_marked: u64,
    pub events_per_second: f64,
    pub blocks_marked_per_second: f64,
    pub rows_per_second: f64,
    pub checkpoints: u64,
    /// Seconds the applier spent marking (its share of `uptime_seconds` says whether capture
    /// waits on the engine or on the server).
    #[serde(default)]
    pub apply_seconds: f64,
    pub latency: LatencyStats,
    pub vgroups: Vec<VgroupStats>,
    /// Vgroups whose WAL expired past the cut: their tables were marked wholly changed.
    pub resyncs: u64,
    /// Times the connection was lost and re-established.
    pub reconnects: u64,
    /// Backups taken through this monitor (asked for by `tdibt backup` or automatic).
    #[serde(default)]
    pub backups: BackupsStats,
}

/// Backups taken through a running monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupsStats {
    pub succeeded: u64,
    pub failed: u64,
    /// Of those, the ones the monitor started itself (`--backup-every`, `--backup-after-blocks`).
    pub automatic: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<BackupRunStats>,
}

/// One backup taken through a running monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupRunStats {
    /// Unix milliseconds when it ended.
    pub finished_at_unix_ms: i64,
    pub seconds: f64,
    /// Whether it succeeded; `error` says why not.
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    pub blocks: u64,
    pub automatic: bool,
}

impl BackupsStats {
    /// Counts one run and keeps it as the last.
    pub fn record(&mut self, run: BackupRunStats) {
        if run.ok {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        if run.automatic {
            self.automatic += 1;
        }
        self.last = Some(run);
    }
}
