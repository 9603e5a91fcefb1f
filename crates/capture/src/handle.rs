//! Talking to a running monitor from the same process: the monitor owns the change engine,
//! and whoever else needs it (a backup taken while capture runs, an automatic backup, the C
//! API) asks through a [`MonitorHandle`] instead of loading the checkpoint itself.
//!
//! The one way to change the engine is [`MonitorHandle::at_cut`]: the job runs on the
//! monitor's applier at a cut that covers every change committed to TDengine before the call
//! (the poller reads the feed's end offsets when the request reaches it and releases the cut
//! once every vgroup has been read to them), and the checkpoint holding the job's effect is
//! durable, and its offsets committed, before the call returns. The engine then equals the
//! cut exactly, as at every checkpoint, so a crash at any point recovers as it does today.

use tdibt_core::checkpoint::Checkpoint;
use tdibt_core::engine::StateCounts;
use tokio::sync::{mpsc, oneshot};

use crate::error::CaptureError;
use crate::stats::BackupRunStats;

/// Work on the engine, run on the applier.
pub type EngineJob = Box<dyn FnOnce(&mut Checkpoint) + Send>;

/// What a [`MonitorHandle`] asks the applier.
pub enum OwnerRequest {
    /// Run `job` at the next cut at or after the feed's end offsets of now, then write the
    /// checkpoint and commit its offsets; `done` says whether that worked.
    AtCut {
        job: EngineJob,
        done: oneshot::Sender<Result<(), CaptureError>>,
        /// When the cut was asked for: it covers every change committed before then.
        asked_at: std::time::Instant,
    },
    /// The current generation's counts, as they are now.
    Counts(oneshot::Sender<StateCounts>),
    /// A backup taken through the monitor ended: counted in `stats` and the metrics.
    BackupRun(BackupRunStats),
}

/// The receiving end, handed to [`crate::monitor::run_monitor_with`].
pub struct OwnerRequests(pub(crate) mpsc::Receiver<OwnerRequest>);

/// A cloneable way to reach a running monitor's engine.
#[derive(Clone)]
pub struct MonitorHandle {
    tx: mpsc::Sender<OwnerRequest>,
}

impl MonitorHandle {
    /// A handle and the requests it sends, for one monitor run.
    pub fn new() -> (MonitorHandle, OwnerRequests) {
        let (tx, rx) = mpsc::channel(16);
        (MonitorHandle { tx }, OwnerRequests(rx))
    }

    /// Runs `job` on the engine at a cut covering every change committed before this call,
    /// and returns its result once the checkpoint holding its effect is durable.
    pub async fn at_cut<R, F>(&self, job: F) -> Result<R, CaptureError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Checkpoint) -> R + Send + 'static,
    {
        let asked_at = std::time::Instant::now();
        let (result_tx, result_rx) = oneshot::channel();
        let (done, done_rx) = oneshot::channel();
        let job: EngineJob = Box::new(move |cp| {
            tracing::debug!(
                "cut reached {:.1} ms after it was asked for",
                asked_at.elapsed().as_secs_f64() * 1e3
            );
            let _ = result_tx.send(job(cp));
        });
        self.tx
            .send(OwnerRequest::AtCut {
                job,
                done,
                asked_at,
            })
            .await
            .map_err(|_| stopped())?;
        done_rx.await.map_err(|_| stopped())??;
        result_rx.await.map_err(|_| stopped())
    }

    /// The current generation's counts.
    pub async fn counts(&self) -> Result<StateCounts, CaptureError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(OwnerRequest::Counts(tx))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }

    /// Records a finished backup in the monitor's figures (best effort: a stopped monitor
    /// has no figures left to update).
    pub async fn record_backup(&self, run: BackupRunStats) {
        let _ = self.tx.send(OwnerRequest::BackupRun(run)).await;
    }
}

fn stopped() -> CaptureError {
    CaptureError::Pipeline("the monitor stopped before answering".into())
}
