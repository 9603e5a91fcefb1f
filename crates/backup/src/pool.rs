//! A pool of connections working through a queue of jobs: backup reads ranges, restore
//! writes tables, verify compares tables, all the same way. Each worker opens its own
//! connection (a `taos` connection runs one query at a time); results come back in the
//! order they finish; the first error stops the workers taking new jobs.
//!
//! Every job's outcome is counted: a job that panics is a failed job (the panic is caught
//! where the job runs), and if the workers end with jobs unanswered (a worker gone for any
//! reason) the pool says so as a failure rather than "no more results".

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use tdibt_tdengine::{Connection, ConnectionSettings, TdResult};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{BackupError, BackupResult};

/// Connections given back are kept at most this long: one that sat longer is closed rather
/// than trusted (the server may have restarted since).
const KEPT_FOR: Duration = Duration::from_secs(60);
/// And at most this many.
const KEPT_AT_MOST: usize = 16;

/// Where a pool's workers get their connections. `fresh`: opened for the pool and closed
/// after it (a standalone backup, a restore, a verify). `kept`: taken from and given back to
/// a set that outlives the pool (a serving monitor's), so a backup through the monitor does
/// not open its connections again: opening one is a WebSocket handshake and a login, a few
/// milliseconds each that an incremental of a few blocks would spend on every run. A
/// connection whose job failed is never given back.
#[derive(Clone)]
pub struct Connections {
    settings: ConnectionSettings,
    kept: Option<Arc<Mutex<Vec<Idle>>>>,
}

/// A kept connection and since when it sits unused.
type Idle = (Connection, Instant);

impl Connections {
    pub fn fresh(settings: ConnectionSettings) -> Self {
        Connections {
            settings,
            kept: None,
        }
    }

    pub fn kept(settings: ConnectionSettings) -> Self {
        Connections {
            settings,
            kept: Some(Arc::new(Mutex::new(Vec::new()))),
        }
    }

    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// A kept connection that has not sat too long, or a new one.
    pub async fn take(&self) -> TdResult<Connection> {
        if let Some(kept) = &self.kept {
            while let Some((conn, since)) = kept.lock().ok().and_then(|mut k| k.pop()) {
                if since.elapsed() < KEPT_FOR {
                    return Ok(conn);
                }
            }
        }
        Connection::open(&self.settings).await
    }

    /// Keeps a connection that did its work (closes it when nothing is kept).
    pub fn give_back(&self, conn: Connection) {
        if let Some(kept) = &self.kept {
            if let Ok(mut k) = kept.lock() {
                if k.len() < KEPT_AT_MOST {
                    k.push((conn, Instant::now()));
                }
            }
        }
    }

    /// How many connections are kept now.
    pub fn kept_count(&self) -> usize {
        self.kept
            .as_ref()
            .and_then(|k| k.lock().ok().map(|k| k.len()))
            .unwrap_or(0)
    }
}

/// What a pool's workers do with a connection and a job.
pub(crate) trait ConnectionTask: Send + Sync + 'static {
    type Job: Send + 'static;
    type Out: Send + 'static;

    /// Runs once per connection before its first job (for example `USE db`).
    fn prepare(&self, _conn: &Connection) -> impl Future<Output = BackupResult<()>> + Send {
        async { Ok(()) }
    }

    fn run(
        &self,
        conn: &Connection,
        job: Self::Job,
    ) -> impl Future<Output = BackupResult<Self::Out>> + Send;
}

pub(crate) struct Pool<T: ConnectionTask> {
    results: mpsc::Receiver<BackupResult<T::Out>>,
    queue: Arc<Mutex<VecDeque<T::Job>>>,
    workers: Vec<JoinHandle<()>>,
    /// Jobs given, and results received: what tells "all done" from "workers gone".
    jobs: usize,
    received: usize,
    /// Whether a failure was handed out already (a missing result then follows from it).
    failed: bool,
}

impl<T: ConnectionTask> Pool<T> {
    /// Starts `workers` connections on `jobs`.
    pub(crate) fn start(
        task: Arc<T>,
        connections: &Connections,
        jobs: impl IntoIterator<Item = T::Job>,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1);
        let queue = Arc::new(Mutex::new(jobs.into_iter().collect::<VecDeque<_>>()));
        let job_count = queue.lock().map(|q| q.len()).unwrap_or(0);
        let (tx, results) = mpsc::channel(workers * 2);
        let handles = (0..workers)
            .map(|_| {
                let task = Arc::clone(&task);
                let queue = Arc::clone(&queue);
                let tx = tx.clone();
                let connections = connections.clone();
                tokio::spawn(async move { work(task, connections, queue, tx).await })
            })
            .collect();
        Pool {
            results,
            queue,
            workers: handles,
            jobs: job_count,
            received: 0,
            failed: false,
        }
    }

    /// The next finished job; `None` once every job is done. Workers that ended with jobs
    /// unanswered make one last result: a failure naming how many.
    pub(crate) async fn next(&mut self) -> Option<BackupResult<T::Out>> {
        match self.results.recv().await {
            Some(r) => {
                self.received += 1;
                self.failed |= r.is_err();
                Some(r)
            }
            None if self.received < self.jobs && !self.failed => {
                self.failed = true;
                Some(Err(BackupError::Pipeline(format!(
                    "{} of {} job(s) ended without a result: their worker stopped",
                    self.jobs - self.received,
                    self.jobs
                ))))
            }
            None => None,
        }
    }

    /// Drops the jobs not started and waits for the workers to end.
    pub(crate) async fn stop(mut self) {
        if let Ok(mut q) = self.queue.lock() {
            q.clear();
        }
        self.results.close();
        while self.results.recv().await.is_some() {}
        for w in self.workers.drain(..) {
            let _ = w.await;
        }
    }
}

async fn work<T: ConnectionTask>(
    task: Arc<T>,
    connections: Connections,
    queue: Arc<Mutex<VecDeque<T::Job>>>,
    tx: mpsc::Sender<BackupResult<T::Out>>,
) {
    let conn = match connections.take().await {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(e.into())).await;
            return;
        }
    };
    if let Err(e) = task.prepare(&conn).await {
        let _ = tx.send(Err(e)).await;
        return;
    }
    loop {
        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some(job) = next else {
            connections.give_back(conn);
            return;
        };
        // A panic in one job is that job's failure; the connection it left is not reused.
        let result = match AssertUnwindSafe(task.run(&conn, job)).catch_unwind().await {
            Ok(r) => r,
            Err(panic) => Err(BackupError::Pipeline(format!(
                "a worker panicked: {}",
                panic_text(panic.as_ref())
            ))),
        };
        let failed = result.is_err();
        if tx.send(result).await.is_err() || failed {
            return;
        }
    }
}

/// What a panic said, when it said it as text.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A stand-in and the settings of a connection to it.
    async fn standin() -> (taos_standin::RunningStandin, ConnectionSettings) {
        let standin = taos_standin::StandinServer::builder()
            .start()
            .await
            .unwrap();
        let config = tdibt_core::config::DatabaseConfig {
            host: "127.0.0.1".into(),
            port: standin.addr().port(),
            ..Default::default()
        };
        let settings = ConnectionSettings::from_config(&config);
        (standin, settings)
    }

    /// Doubles its job, and panics on job 3 (a bug in a worker, as a failed assertion deep
    /// in a decoder would).
    struct PanicsOnThree;

    impl ConnectionTask for PanicsOnThree {
        type Job = u32;
        type Out = u32;

        async fn run(&self, _conn: &Connection, job: u32) -> BackupResult<u32> {
            assert_ne!(job, 3, "job 3 panics");
            Ok(job * 2)
        }
    }

    /// Issue 16.3: a worker's panic is a failed job, never "no more results".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_worker_is_a_failed_job_not_the_end_of_the_jobs() {
        let (_standin, settings) = standin().await;
        for workers in [1, 3] {
            let connections = Connections::fresh(settings.clone());
            let mut pool = Pool::start(Arc::new(PanicsOnThree), &connections, 0..10, workers);
            let mut ok = 0;
            let mut failed = Vec::new();
            while let Some(r) = pool.next().await {
                match r {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            pool.stop().await;
            assert!(
                !failed.is_empty(),
                "{workers} worker(s): {ok} results, no failure"
            );
            assert!(failed.iter().any(|e| e.contains("panic")), "{failed:?}");
        }
    }

    /// Job 0 sets the connection's database (`USE d`), job 1 needs one (a connection that
    /// did job 0 before, i.e. a kept one), job 99 fails.
    struct SessionState;

    impl ConnectionTask for SessionState {
        type Job = u32;
        type Out = ();

        async fn run(&self, conn: &Connection, job: u32) -> BackupResult<()> {
            let sql = match job {
                0 => "USE d",
                1 => "SHOW STABLES",
                _ => return Err(BackupError::Pipeline("job 99 fails".into())),
            };
            conn.exec(sql)
                .await
                .map(|_| ())
                .map_err(|e| BackupError::Pipeline(format!("{sql}: {e}")))
        }
    }

    /// Successes and failures of `jobs` run on `workers` connections.
    async fn outcome(connections: &Connections, jobs: Vec<u32>, workers: usize) -> (usize, usize) {
        let mut pool = Pool::start(Arc::new(SessionState), connections, jobs, workers);
        let (mut ok, mut failed) = (0, 0);
        while let Some(r) = pool.next().await {
            if r.is_ok() {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        pool.stop().await;
        (ok, failed)
    }

    /// Kept connections are taken again by the next pool (a backup through a serving
    /// monitor opens none), with the state the last one left; a connection whose job failed
    /// is not kept; fresh ones never are.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kept_connections_serve_the_next_pool_and_failed_ones_are_dropped() {
        let (standin, settings) = standin().await;
        let admin = Connection::open(&settings).await.unwrap();
        admin.exec("CREATE DATABASE d").await.unwrap();
        let kept = Connections::kept(settings.clone());
        assert_eq!(outcome(&kept, vec![0], 1).await, (1, 0));
        assert_eq!(kept.kept_count(), 1);
        assert_eq!(
            outcome(&kept, vec![1], 1).await,
            (1, 0),
            "the second pool ran on the first one's connection, still in database d"
        );
        assert_eq!(outcome(&kept, vec![99], 1).await, (0, 1));
        assert_eq!(
            kept.kept_count(),
            0,
            "the failed job's connection was dropped"
        );
        assert_eq!(
            outcome(&kept, vec![1], 1).await,
            (0, 1),
            "a new connection has no database"
        );
        let fresh = Connections::fresh(settings);
        assert_eq!(outcome(&fresh, vec![0], 1).await, (1, 0));
        assert_eq!(fresh.kept_count(), 0);
        assert_eq!(outcome(&fresh, vec![1], 1).await, (0, 1));
        standin.shutdown().await;
    }
}
