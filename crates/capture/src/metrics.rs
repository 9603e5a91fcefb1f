//! The monitor's Prometheus endpoint (`tdibt monitor --metrics-listen ADDR`): capture's
//! figures and the engine's counts in Prometheus' text exposition format (version 0.0.4),
//! refreshed at every cut.
//!
//! The exposition is written here rather than through a metrics crate: every value already
//! lives in [`CaptureStats`], the format is a handful of stable lines, and one `GET` needs no
//! HTTP framework. Any request path is answered with the metrics, as node exporters do for
//! `/metrics`.

use std::fmt::Write as _;
use std::net::SocketAddr;

use tdibt_core::StateCounts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::error::CaptureError;
use crate::stats::{CaptureStats, VgroupStats};

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The pause after a failed `accept`.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// What the endpoint serves: capture's figures and the engine's state at the last cut.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    pub capture: CaptureStats,
    pub engine: StateCounts,
    pub engine_heap_bytes: u64,
    pub coarsened_tables: u64,
    pub checkpoint_unix_ms: Option<i64>,
}

/// A bound endpoint; serving stops when the task is aborted or the runtime ends.
pub struct MetricsServer {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

/// Binds `addr` (fails at once if it cannot) and serves the newest snapshot from `rx`.
pub async fn serve(
    addr: SocketAddr,
    rx: watch::Receiver<MetricsSnapshot>,
) -> Result<MetricsServer, CaptureError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| CaptureError::MetricsListen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| CaptureError::MetricsListen { addr, source })?;
    let task = tokio::spawn(async move {
        loop {
            let (mut stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, typically: wait for some to be freed rather
                    // than spin on the same error.
                    warn!("metrics: cannot accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let body = render(&rx.borrow());
            tokio::spawn(async move {
                // Read the request head (bounded in size and time); its content does not
                // matter. A client that sends nothing is let go.
                let mut buf = [0u8; 2048];
                if tokio::time::timeout(REQUEST_TIMEOUT, stream.read(&mut buf))
                    .await
                    .is_err()
                {
                    debug!("metrics: {peer} sent no request in {REQUEST_TIMEOUT:?}");
                    return;
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                if let Err(e) = stream.write_all(response.as_bytes()).await {
                    debug!("metrics: {peer}: {e}");
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(MetricsServer { addr, task })
}

/// The text exposition of one snapshot.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut out = String::new();
    let c = &s.capture;
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP tdibt_{name} {help}");
        let _ = writeln!(out, "# TYPE tdibt_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "tdibt_{name}{labels} {value}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let single: [(&str, &str, &str, u64); 7] = [
        (
            "capture_messages_total",
            "counter",
            "TMQ messages applied.",
            c.messages,
        ),
        (
            "capture_events_total",
            "counter",
            "Change events applied.",
            c.events,
        ),
        (
            "capture_rows_total",
            "counter",
            "Rows seen in data messages.",
            c.rows,
        ),
        (
            "capture_blocks_marked_total",
            "counter",
            "Block marks applied to the engine.",
            c.blocks_marked,
        ),
        (
            "capture_checkpoints_total",
            "counter",
            "Checkpoints written.",
            c.checkpoints,
        ),
        (
            "capture_reconnects_total",
            "counter",
            "Connections re-established.",
            c.reconnects,
        ),
        (
            "capture_resyncs_total",
            "counter",
            "Vgroups whose WAL expired past the cut (tables marked wholly changed).",
            c.resyncs,
        ),
    ];
    for (name, kind, help, value) in single {
        metric(name, kind, help, &one(value as f64));
    }
    metric(
        "capture_detection_latency_seconds",
        "summary",
        "From a message's arrival to its marks being in the engine.",
        &[
            ("{quantile=\"0.5\"}".to_string(), c.latency.p50_us / 1e6),
            ("{quantile=\"0.99\"}".to_string(), c.latency.p99_us / 1e6),
            ("_count".to_string(), c.latency.samples as f64),
        ],
    );
    type PerVgroup = fn(&VgroupStats) -> Option<u64>;
    let per_vgroup: [(&str, &str, &str, PerVgroup); 6] = [
        (
            "vgroup_position",
            "gauge",
            "Next WAL version the consumer reads.",
            |v| Some(v.position as u64),
        ),
        (
            "vgroup_committed",
            "gauge",
            "Offset in the last durable checkpoint, committed to TDengine.",
            |v| Some(v.committed as u64),
        ),
        (
            "vgroup_end",
            "gauge",
            "Last WAL version the server wrote.",
            |v| Some(v.end as u64),
        ),
        (
            "vgroup_lag",
            "gauge",
            "WAL versions written but not yet consumed.",
            |v| Some(v.lag as u64),
        ),
        (
            "wal_bytes_written_total",
            "counter",
            "Bytes the vgroup's WAL segments grew by (WAL watcher).",
            |v| v.wal.as_ref().map(|w| w.bytes_written),
        ),
        (
            "wal_events_total",
            "counter",
            "File-system events on the vgroup's WAL files (WAL watcher).",
            |v| v.wal.as_ref().map(|w| w.events),
        ),
    ];
    for (name, kind, help, value) in per_vgroup {
        let samples: Vec<(String, f64)> = c
            .vgroups
            .iter()
            .filter_map(|v| value(v).map(|x| (format!("{{vgroup=\"{}\"}}", v.vgroup_id), x as f64)))
            .collect();
        metric(name, kind, help, &samples);
    }
    let e = &s.engine;
    metric(
        "engine_blocks",
        "gauge",
        "Blocks per state in the current generation (present: held by the backup chain).",
        &[
            ("{state=\"new\"}".to_string(), e.new as f64),
            ("{state=\"dirty\"}".to_string(), e.dirty as f64),
            ("{state=\"deleted\"}".to_string(), e.deleted as f64),
            ("{state=\"present\"}".to_string(), e.present as f64),
        ],
    );
    metric(
        "engine_heap_bytes",
        "gauge",
        "Heap bytes of the change bitmaps.",
        &one(s.engine_heap_bytes as f64),
    );
    metric(
        "engine_coarsened_tables_total",
        "counter",
        "Tables marked wholly changed to stay under the memory limit.",
        &one(s.coarsened_tables as f64),
    );
    let b = &c.backups;
    metric(
        "backups_total",
        "counter",
        "Backups taken through the monitor, by outcome.",
        &[
            ("{outcome=\"success\"}".to_string(), b.succeeded as f64),
            ("{outcome=\"failure\"}".to_string(), b.failed as f64),
        ],
    );
    metric(
        "backups_automatic_total",
        "counter",
        "Backups the monitor started itself (--backup-every, --backup-after-blocks).",
        &one(b.automatic as f64),
    );
    if let Some(last) = &b.last {
        metric(
            "last_backup_timestamp_seconds",
            "gauge",
            "When the last backup through the monitor ended (Unix seconds).",
            &one(last.finished_at_unix_ms as f64 / 1e3),
        );
        metric(
            "last_backup_duration_seconds",
            "gauge",
            "How long the last backup through the monitor took.",
            &one(last.seconds),
        );
        metric(
            "last_backup_success",
            "gauge",
            "1 when the last backup through the monitor succeeded, 0 when it failed.",
            &one(if last.ok { 1.0 } else { 0.0 }),
        );
        metric(
            "last_backup_blocks",
            "gauge",
            "Blocks the last backup through the monitor stored.",
            &one(last.blocks as f64),
        );
    }
    if let Some(at) = s.checkpoint_unix_ms {
        metric(
            "checkpoint_timestamp_seconds",
            "gauge",
            "When the last checkpoint was written (Unix seconds).",
            &one(at as f64 / 1e3),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> MetricsSnapshot {
        let mut s = MetricsSnapshot::default();
        s.capture.messages = 12;
        s.capture.blocks_marked = 345;
        s.capture.latency.p99_us = 800.0;
        s.capture.backups.record(crate::stats::BackupRunStats {
            ok: true,
            blocks: 9,
            ..Default::default()
        });
        s.capture.backups.record(crate::stats::BackupRunStats {
            ok: false,
            blocks: 4,
            automatic: true,
            error: Some("server gone".into()),
            ..Default::default()
        });
        s.capture.vgroups = vec![VgroupStats {
            vgroup_id: 3,
            position: 10,
            end: 15,
            lag: 5,
            ..VgroupStats::default()
        }];
        s.engine.dirty = 7;
        s
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let text = render(&snapshot());
        assert!(text.contains("tdibt_capture_messages_total 12\n"));
        assert!(text.contains("tdibt_capture_blocks_marked_total 345\n"));
        assert!(
            text.contains("tdibt_capture_detection_latency_seconds{quantile=\"0.99\"} 0.0008\n")
        );
        assert!(text.contains("tdibt_vgroup_lag{vgroup=\"3\"} 5\n"));
        assert!(text.contains("tdibt_engine_blocks{state=\"dirty\"} 7\n"));
        assert!(text.contains("tdibt_backups_total{outcome=\"failure\"} 1\n"));
        assert!(text.contains("tdibt_last_backup_success 0\n"));
        assert!(text.contains("tdibt_last_backup_blocks 4\n"));
        // No WAL watcher: no WAL samples, but the family is still described.
        assert!(!text.contains("tdibt_wal_bytes_written_total{"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name.trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }

    #[tokio::test]
    async fn serves_the_newest_snapshot_over_http() {
        let (tx, rx) = watch::channel(MetricsSnapshot::default());
        let server = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
        tx.send(snapshot()).unwrap();
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("tdibt_vgroup_lag{vgroup=\"3\"} 5\n"));
        server.task.abort();
    }

    #[tokio::test]
    async fn an_address_in_use_is_a_clear_error() {
        let (_tx, rx) = watch::channel(MetricsSnapshot::default());
        let first = serve("127.0.0.1:0".parse().unwrap(), rx.clone())
            .await
            .unwrap();
        let err = serve(first.addr, rx).await.err().unwrap();
        assert!(err.to_string().contains(&first.addr.to_string()), "{err}");
    }

    /// Issue 16.10: a client that connects and sends nothing must not hold a connection
    /// and a task for ever.
    #[tokio::test]
    async fn a_silent_client_is_let_go() {
        let (_tx, rx) = watch::channel(MetricsSnapshot::default());
        let server = serve("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut rest = Vec::new();
        // Only a guard against hanging the test run: the server lets go long before.
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            stream.read_to_end(&mut rest),
        )
        .await;
        assert!(
            closed.is_ok(),
            "the endpoint still waits for a silent client"
        );
        server.task.abort();
    }
}
