//! What stores a backup's rows, between `begin` and `fold`: tdibt's own range reads
//! ([`Tdibt`], [`super::execute`]) or another engine plugged in by the crate that knows it
//! (taosdump's, in tdibt-taosdump). The standalone path ([`super::run_backup_with`]) and a
//! serving monitor ([`crate::live`]) run whichever one a backup asks for (its
//! [`BackupOptions::engine`]) the same way.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use tdibt_core::config::Config;
use tdibt_repository::lock::RepoLock;
use tdibt_repository::{Engine, Manifest};

use super::{execute, BackupOptions, BackupReport, Started};
use crate::error::BackupResult;
use crate::pool::Connections;
use crate::progress::ProgressSink;

/// What an engine's phases 2 to 4 are given: the begun backup and the means to store it.
pub struct StoreJob<'a> {
    pub config: &'a Config,
    pub connections: &'a Connections,
    /// The repository's lock, held for the whole backup.
    pub lock: &'a RepoLock,
    pub started: &'a mut Started,
    pub options: &'a BackupOptions,
    pub progress: &'a dyn ProgressSink,
    /// When the backup started, and the seconds `begin` took.
    pub began: (Instant, f64),
}

/// The manifest an engine wrote (the backup exists from then on) and its report.
pub type StoreFuture<'a> =
    Pin<Box<dyn Future<Output = BackupResult<(Manifest, BackupReport)>> + Send + 'a>>;

/// A backup engine: phases 2 to 4 of a backup (DDL, rows, manifest).
pub trait StoreEngine: Send + Sync {
    /// The engine it is, as [`BackupOptions::engine`] names it.
    fn engine(&self) -> Engine;

    /// The most windows one planned read may span, given the configured
    /// `backup.batch_size` (an engine that reads whole runs says `u32::MAX`).
    fn batch_size(&self, configured: u32) -> u32 {
        configured
    }

    /// Stores the begun backup and writes its manifest. A failure leaves the generation
    /// frozen for the next run.
    fn store<'a>(&'a self, job: StoreJob<'a>) -> StoreFuture<'a>;
}

impl std::fmt::Debug for dyn StoreEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreEngine({})", self.engine())
    }
}

/// tdibt's own engine: range reads of raw blocks, packed ([`super::execute`]).
pub struct Tdibt;

impl StoreEngine for Tdibt {
    fn engine(&self) -> Engine {
        Engine::Tdibt
    }

    fn store<'a>(&'a self, job: StoreJob<'a>) -> StoreFuture<'a> {
        Box::pin(execute(
            job.config,
            job.connections,
            job.lock,
            job.started,
            job.options,
            job.progress,
            job.began,
        ))
    }
}

/// Refuses a backup asked of `store` with another engine.
pub(crate) fn check_engine(store: &dyn StoreEngine, options: &BackupOptions) -> BackupResult<()> {
    if store.engine() == options.engine {
        return Ok(());
    }
    Err(crate::BackupError::Refused(format!(
        "a backup with engine {} was asked of engine {}",
        options.engine,
        store.engine()
    )))
}
