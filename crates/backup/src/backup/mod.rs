//! `tdibt backup`: full or incremental, resumable, visible only when its manifest is written.
//!
//! The pipeline reads as five phases, shared by the standalone path ([`run_backup`]) and
//! the path through a running monitor ([`crate::live`]):
//! [`begin`] (settle an earlier run, choose id and parent, freeze, plan: needs the engine),
//! [`record::record_ddl`], [`store::store_blocks`], [`complete::write_manifest`] (need no
//! engine: [`execute`] runs them), and [`fold`] (needs the engine again).
//!
//! Order of durable steps (each survives a crash of the next):
//! 1. the change feed is drained into the engine (checkpoint, then offsets committed);
//! 2. a generation is frozen and the checkpoint records it with the backup's id;
//! 3. blocks are stored pack by pack; after each pack the repository's journal lists the
//!    reads whose blocks are all stored (a rerun skips them);
//! 4. the manifest is written, atomically: the backup exists;
//! 5. the engine folds the generation and the checkpoint records the backup as the last.
//!
//! A crash before 4 leaves no backup and a frozen generation that the next run resumes
//! (same id, journal honoured); a crash between 4 and 5 is recognised by the next run (the
//! manifest of the in-progress id exists) and finished by folding.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tdibt_core::checkpoint::checkpoint_path;
use tdibt_core::clock::now_unix_ms;
use tdibt_core::config::Config;
use tdibt_core::Checkpoint;
use tdibt_repository::lock::RepoLock;
use tdibt_repository::{
    BackupId, BackupKind, BackupStats, Compression, Engine, Manifest, Repository,
};
use tdibt_tdengine::ConnectionSettings;
use tracing::info;

use crate::error::BackupResult;
use crate::pick::Pick;
use crate::pool::Connections;
use crate::progress::ProgressSink;

mod begin;
mod complete;
mod engine;
mod record;
mod store;

pub use begin::{begin, choose_parent, fold, windows_after, Started};
pub use complete::manifest_of;
pub(crate) use engine::check_engine;
pub use engine::{StoreEngine, StoreFuture, StoreJob, Tdibt};
pub use record::{record_ddl, Recorded};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupOptions {
    pub full: bool,
    /// The parent of an incremental (ignored with `full`).
    pub since: Pick,
    /// Range reads running at once, each on its own connection.
    pub jobs: usize,
    /// A pack is written once it holds this many bytes.
    pub pack_target_bytes: usize,
    /// Drain the change feed first (what `tdibt backup` does; tests may drain themselves).
    pub drain: bool,
    /// What stores the rows. An incremental's parent must have been stored by the same
    /// engine (a chain never mixes them); [`run_backup`] runs tdibt's own, another is given
    /// as a [`StoreEngine`] ([`run_backup_with`], [`crate::ask::backup_with`]).
    #[serde(default)]
    pub engine: Engine,
    /// Settings of a non-tdibt engine, as that engine reads them (taosdump's: how to call
    /// it); they travel with a request to a running monitor. Never a secret: an engine
    /// takes the password from the configuration of the process that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_settings: Option<serde_json::Value>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            full: false,
            since: Pick::Latest,
            jobs: 4,
            pack_target_bytes: 16 << 20,
            drain: true,
            engine: Engine::Tdibt,
            engine_settings: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupReport {
    pub backup: BackupId,
    pub kind: BackupKind,
    pub parent: Option<BackupId>,
    /// Whether this run finished a backup an earlier run had started.
    pub resumed: bool,
    pub reads: u64,
    /// Reads an earlier, interrupted run had already stored.
    pub reads_skipped: u64,
    pub tombstones: u64,
    pub stats: BackupStats,
    pub seconds: f64,
    /// Where the time went, phase by phase.
    #[serde(default)]
    pub timings: Timings,
}

/// Seconds per phase of one backup. Through a running monitor, `begin` and `fold` include
/// waiting for the cut (the feed read to the request's end offsets, the checkpoint written).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Timings {
    pub begin: f64,
    pub ddl: f64,
    pub blocks: f64,
    pub manifest: f64,
    pub fold: f64,
}

/// Takes a backup of the configured database into `repo` with tdibt's own engine, owning the
/// change engine for the while: the caller holds the persistence folder
/// ([`tdibt_core::OwnerLock`]). With a monitor running, [`crate::backup`] goes through it
/// instead.
pub async fn run_backup(
    config: &Config,
    repo: &Repository,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
) -> BackupResult<BackupReport> {
    run_backup_with(config, repo, options, progress, &Tdibt).await
}

/// The standalone path around an engine's phases 2 to 4: drain, [`begin`], the checkpoint
/// saved, `store`, [`fold`], the checkpoint saved. A `store` that fails leaves the
/// generation frozen: the next run resumes it.
pub async fn run_backup_with(
    config: &Config,
    repo: &Repository,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
    store: &dyn StoreEngine,
) -> BackupResult<BackupReport> {
    check_engine(store, options)?;
    let clock = Instant::now();
    let db = config.database_name()?.to_string();
    let path = checkpoint_path(&config.bitmap_engine.persistence_path);
    if options.drain {
        let drained = tdibt_capture::drain(config).await?;
        info!(
            "change feed drained: {} message(s) applied",
            drained.stats.messages
        );
    }
    let mut cp = Checkpoint::load(&path)?;
    let lock = repo.lock("backup")?;
    let phase = Instant::now();
    let batch_size = store.batch_size(config.backup.batch_size);
    let begun = begin(&lock, &mut cp, &db, options, batch_size);
    // Saved even when `begin` refused: an earlier backup it folded or abandoned stays so.
    cp.save(&path, now_unix_ms())?;
    let mut started = begun?;
    let began = phase.elapsed().as_secs_f64();
    let connections = Connections::fresh(ConnectionSettings::from_config(&config.database));
    let (manifest, mut report) = store
        .store(StoreJob {
            config,
            connections: &connections,
            lock: &lock,
            started: &mut started,
            options,
            progress,
            began: (clock, began),
        })
        .await?;
    let phase = Instant::now();
    fold(&mut cp, &manifest)?;
    cp.save(&path, now_unix_ms())?;
    drop(lock);
    report.folded(phase, clock);
    Ok(report)
}

impl BackupReport {
    /// Records the fold that started at `phase`, and the run's whole time since `clock`.
    pub fn folded(&mut self, phase: Instant, clock: Instant) {
        self.timings.fold = phase.elapsed().as_secs_f64();
        self.seconds = clock.elapsed().as_secs_f64();
    }
}

/// Phases 2 to 4, which need no engine: the DDL, the blocks, the manifest. `(clock,
/// began)`: when the run started and how long `begin` took. Returns the manifest written
/// (to fold) and the run's report.
pub async fn execute(
    config: &Config,
    connections: &Connections,
    lock: &RepoLock,
    started: &mut Started,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
    (clock, began): (Instant, f64),
) -> BackupResult<(Manifest, BackupReport)> {
    let id = started.id.clone();
    let resumed = started.journal.is_some();
    info!(
        "backup {id}: {} range read(s), {} tombstone(s) planned ({:.2} s in)",
        started.plan.reads.len(),
        started.plan.all_tombstones().len(),
        clock.elapsed().as_secs_f64()
    );
    let mut timings = Timings {
        begin: began,
        ..Timings::default()
    };
    let phase = Instant::now();
    let recorded = record::record_ddl(connections, started, options.jobs).await?;
    timings.ddl = phase.elapsed().as_secs_f64();
    info!(
        "backup {id}: {} DDL statement(s) recorded ({:.2} s in)",
        recorded.ddl.len(),
        clock.elapsed().as_secs_f64()
    );
    let super_tables = recorded
        .ddl
        .iter()
        .filter(|d| d.kind == tdibt_repository::DdlKind::SuperTable)
        .filter_map(|d| {
            let columns = d.schema.as_ref()?.columns.iter().map(|c| c.name.clone());
            Some((d.name.clone(), columns.collect()))
        })
        .collect();
    let settings = store::StoreSettings {
        connections,
        super_tables,
        compression: Compression {
            enabled: config.backup.enable_compression,
            level: config.backup.compression_level,
        },
        jobs: options.jobs,
        pack_target_bytes: options.pack_target_bytes,
    };
    let phase = Instant::now();
    let mut stored = store::store_blocks(lock, started, &settings, progress).await?;
    timings.blocks = phase.elapsed().as_secs_f64();
    info!(
        "backup {id}: reads done ({:.2} s in)",
        clock.elapsed().as_secs_f64()
    );
    let phase = Instant::now();
    let manifest = complete::write_manifest(lock, started, recorded, &mut stored)?;
    timings.manifest = phase.elapsed().as_secs_f64();
    let report = BackupReport {
        backup: id,
        kind: manifest.kind,
        parent: started.parent.clone(),
        resumed,
        reads: started.plan.reads.len() as u64,
        reads_skipped: stored.reads_skipped,
        tombstones: manifest.tombstones.len() as u64,
        stats: stored.stats.clone(),
        seconds: clock.elapsed().as_secs_f64(),
        timings,
    };
    Ok((manifest, report))
}
