//! A pool of connections working through a queue of jobs: backup reads ranges, restore
//! writes tables, verify compares tables, all the same way. Each worker opens its own
//! connection (a `taos` connection runs one query at a time); results come back in the
//! order they finish; the first error stops the workers taking new jobs.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tdibt_tdengine::{Connection, ConnectionSettings};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::BackupResult;

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
}

impl<T: ConnectionTask> Pool<T> {
    /// Starts `workers` connections on `jobs`.
    pub(crate) fn start(
        task: Arc<T>,
        settings: &ConnectionSettings,
        jobs: impl IntoIterator<Item = T::Job>,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1);
        let queue = Arc::new(Mutex::new(jobs.into_iter().collect::<VecDeque<_>>()));
        let (tx, results) = mpsc::channel(workers * 2);
        let handles = (0..workers)
            .map(|_| {
                let task = Arc::clone(&task);
                let queue = Arc::clone(&queue);
                let tx = tx.clone();
                let settings = settings.clone();
                tokio::spawn(async move { work(task, settings, queue, tx).await })
            })
            .collect();
        Pool {
            results,
            queue,
            workers: handles,
        }
    }

    /// The next finished job; `None` once every job is done.
    pub(crate) async fn next(&mut self) -> Option<BackupResult<T::Out>> {
        self.results.recv().await
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
    settings: ConnectionSettings,
    queue: Arc<Mutex<VecDeque<T::Job>>>,
    tx: mpsc::Sender<BackupResult<T::Out>>,
) {
    let conn = match Connection::open(&settings).await {
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
        let Some(job) = next else { return };
        let result = task.run(&conn, job).await;
        let failed = result.is_err();
        if tx.send(result).await.is_err() || failed {
            return;
        }
    }
}
