//! `tdibt backup --engine taosdump`: the planner's ranges dumped by taosdump, checked, and
//! recorded in the repository like any backup; and the restore of such a chain.
//!
//! The backup goes through the same phases as tdibt's own ([`run_backup_with`]): settle,
//! freeze and plan (`begin`, never cutting a run of windows), the DDL (`SHOW CREATE`, so
//! the next plan sees drops), then instead of range reads: one taosdump call per group of
//! tables sharing a range ([`crate::script::calls`], as the script makes them) into a
//! staging folder, `verify-taosdump`'s check of what they wrote, the folder's files stored
//! in packs and listed by a manifest of engine `taosdump`; the fold comes only after all of
//! it. A failed call or check leaves the generation frozen, stores nothing, and the next
//! run dumps again.

mod files;
mod restore;
mod run;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tdibt_backup::backup::{manifest_of, record_ddl, Started, StoreFuture, StoreJob};
use tdibt_backup::{BackupError, BackupOptions, BackupReport, Connections, StoreEngine, Timings};
use tdibt_core::clock::now_unix_ms;
use tdibt_core::config::Config;
use tdibt_core::Cut;
use tdibt_repository::lock::RepoLock;
use tdibt_repository::{Engine, Manifest};
use tracing::info;

use crate::blocks::{self, BlocksDoc, Inputs, Since};
use crate::error::{TaosdumpError, TaosdumpResult};
use crate::script::{self, CallsDoc, ScriptOptions, BLOCKS_FILE, CALLS_FILE};
use crate::verify;

pub use restore::{restore, RestoreReport};

/// How tdibt runs taosdump, as a backup asks for it (`BackupOptions::engine_settings`):
/// what travels to a running monitor with a request. No password: the process that runs
/// taosdump gives it the configured one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaosdumpSettings {
    /// The taosdump program (a name looked up on `PATH`, or a path).
    pub program: String,
    /// `-P`, `-Z`, `-c`, `-T`, `-d` (host and user come from the configuration).
    pub port: Option<u16>,
    pub driver: Option<String>,
    pub config_dir: Option<String>,
    pub threads: Option<u16>,
    pub codec: Option<String>,
    /// Bytes of table names one call may carry.
    pub arg_budget: usize,
}

impl TaosdumpSettings {
    /// The settings a backup carries in `options` (taosdump's defaults when it carries none).
    pub fn of(options: &BackupOptions) -> TaosdumpResult<TaosdumpSettings> {
        match &options.engine_settings {
            None => Ok(TaosdumpSettings {
                program: "taosdump".into(),
                arg_budget: ScriptOptions::default().arg_budget,
                ..TaosdumpSettings::default()
            }),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                TaosdumpError::Refused(format!("the backup's taosdump settings: {e}"))
            }),
        }
    }

    /// The options for `config`'s server (host and user from it), as the scripts use them.
    pub fn script_options(&self, config: &Config) -> ScriptOptions {
        ScriptOptions {
            host: Some(config.database.host.clone()),
            port: self.port,
            user: Some(config.database.user.clone()),
            driver: self.driver.clone(),
            config_dir: self.config_dir.clone(),
            threads: self.threads,
            codec: self.codec.clone(),
            arg_budget: self.arg_budget,
            ..ScriptOptions::default()
        }
    }

    /// How to run taosdump against `config`'s server: its host, user and password, `jobs`
    /// calls at once.
    pub fn engine(&self, config: &Config, jobs: usize) -> TaosdumpEngine {
        TaosdumpEngine {
            options: self.script_options(config),
            program: self.program.clone().into(),
            password: Some(config.database.password.clone()).filter(|p| !p.expose().is_empty()),
            jobs: jobs.max(1),
        }
    }
}

/// taosdump, ready to run.
#[derive(Clone, Debug)]
pub struct TaosdumpEngine {
    /// Connection, codec, threads and argument budget, as the scripts use them.
    pub options: ScriptOptions,
    /// The taosdump program (a name looked up on `PATH`, or a path).
    pub program: OsString,
    /// Given to taosdump on its standard input (`-p`), never on its command line.
    pub password: Option<tdibt_core::config::Secret>,
    /// taosdump calls running at once.
    pub jobs: usize,
}

/// The staging folder of backup `id`'s dumps, in the change engine's folder (local, owned
/// by the running backup): emptied when a run starts, removed once the manifest is written.
fn staging(config: &Config, id: &str) -> PathBuf {
    config
        .bitmap_engine
        .persistence_path
        .join("taosdump-staging")
        .join(id)
}

/// taosdump as a backup engine: `tdibt backup --engine taosdump` runs it standalone
/// ([`tdibt_backup::backup_with`]) and a `tdibt monitor` for the backups asked of it.
pub struct TaosdumpStore;

impl StoreEngine for TaosdumpStore {
    fn engine(&self) -> Engine {
        Engine::Taosdump
    }

    /// One taosdump call per run of windows: the planner must not cut runs into batches.
    fn batch_size(&self, _configured: u32) -> u32 {
        u32::MAX
    }

    fn store<'a>(&'a self, job: StoreJob<'a>) -> StoreFuture<'a> {
        Box::pin(async move {
            let engine = TaosdumpSettings::of(job.options)
                .map_err(into_backup)?
                .engine(job.config, job.options.jobs);
            store(job, &engine).await.map_err(into_backup)
        })
    }
}

/// A taosdump failure as the backup pipeline carries it: its family (exit code) and words.
fn into_backup(e: TaosdumpError) -> BackupError {
    match e {
        TaosdumpError::Backup(e) => e,
        e => BackupError::Engine {
            class: e.class(),
            message: e.to_string(),
        },
    }
}

/// Phases 2 to 4 with taosdump: DDL, dumps, check, files, manifest.
async fn store(
    job: StoreJob<'_>,
    engine: &TaosdumpEngine,
) -> TaosdumpResult<(Manifest, BackupReport)> {
    let StoreJob {
        config,
        connections,
        lock,
        started,
        progress,
        began: (clock, began),
        ..
    } = job;
    let started_at = now_unix_ms() - clock.elapsed().as_millis() as i64;
    let mut timings = Timings {
        begin: began,
        ..Timings::default()
    };
    let phase = Instant::now();
    let recorded = record_ddl(connections, started, engine.jobs).await?;
    timings.ddl = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    let doc = document(started)?;
    let calls = script::calls(&doc, engine.options.arg_budget)?;
    let dir = staging(config, started.id.as_str());
    prepare(&dir, &doc, &calls)?;
    info!(
        "backup {}: {} taosdump call(s) for {} range(s) of {} table(s), into {}",
        started.id,
        calls.len(),
        doc.counts.ranges,
        doc.counts.tables,
        dir.display()
    );
    run::dump_all(engine, &doc.database, &calls, &dir, progress).await?;
    let (checked, windows) = check(connections, &dir, &doc, started.span).await?;
    timings.blocks = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    let compression = tdibt_repository::Compression {
        enabled: config.backup.enable_compression,
        level: config.backup.compression_level,
    };
    let stored = files::store_folder(lock, &dir, compression)?;
    let manifest = manifest(
        lock,
        started,
        recorded,
        (windows, checked.rows, started_at),
        stored,
    )?;
    lock.write_manifest(&manifest)?;
    timings.manifest = phase.elapsed().as_secs_f64();
    // The files are in the repository now; a leftover folder would only take space.
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!("cannot remove the staging folder {}: {e}", dir.display());
    }
    let report = BackupReport {
        backup: manifest.id.clone(),
        kind: manifest.kind,
        parent: manifest.parent.clone(),
        resumed: false,
        reads: calls.len() as u64,
        reads_skipped: 0,
        tombstones: manifest.tombstones.len() as u64,
        stats: manifest.stats.clone(),
        seconds: clock.elapsed().as_secs_f64(),
        timings,
    };
    Ok((manifest, report))
}

/// The backup's plan as `incremental_blocks.json`: every table whole for a full, the
/// frozen changes' runs for an incremental.
fn document(started: &Started) -> TaosdumpResult<BlocksDoc> {
    let now = now_unix_ms();
    let cut = Cut {
        vgroups: started.cut.clone(),
        ..Cut::default()
    };
    let none = tdibt_core::BlockSet::new();
    let description = match &started.parent {
        Some(p) => format!("changes since backup {p}"),
        None => "a full backup: every table whole".into(),
    };
    blocks::of_plan(
        Inputs {
            catalog: &started.catalog,
            database: &started.db,
            new: &started.frozen.new,
            dirty: &started.frozen.dirty,
            deleted: &started.frozen.deleted,
            chain_tables: &Default::default(),
            extra: &none,
            cut: &cut,
            checkpoint_written_at_unix_ms: now,
            since: Since {
                backup: started.parent.as_ref().map(|p| p.to_string()),
                description,
            },
            generated_at_unix_ms: now,
        },
        &started.plan,
    )
}

/// A new, empty staging folder holding the plan and the calls, as the script writes them.
fn prepare(dir: &Path, doc: &BlocksDoc, calls: &[script::Call]) -> TaosdumpResult<()> {
    if dir.exists() {
        // An interrupted run's dumps: taosdump wants new folders, and they are redone.
        std::fs::remove_dir_all(dir).map_err(|e| TaosdumpError::io("empty", dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| TaosdumpError::io("create", dir, e))?;
    let calls_json = CallsDoc::new(&doc.database, calls.to_vec()).to_json();
    for (name, bytes) in [(BLOCKS_FILE, doc.to_json()), (CALLS_FILE, calls_json)] {
        let path = dir.join(name);
        tdibt_core::durable::write_atomic(&path, &bytes)
            .map_err(|e| TaosdumpError::io("write", path, e))?;
    }
    Ok(())
}

/// `verify-taosdump`'s check of the staging folder, and of its empty ranges against the
/// database; any problem refuses the backup.
async fn check(
    connections: &Connections,
    dir: &Path,
    doc: &BlocksDoc,
    span: tdibt_core::BlockSpan,
) -> TaosdumpResult<(verify::VerifyReport, verify::RowsByWindow)> {
    let (mut report, windows) = verify::check_dump_by_window(dir, doc, span)?;
    let conn = connections.take().await?;
    verify::empty_ranges_against_live(&conn, &mut report).await?;
    connections.give_back(conn);
    if !report.problems.is_empty() {
        return Err(TaosdumpError::Unverified {
            dir: dir.to_path_buf(),
            problems: report.problems,
        });
    }
    if !report.empty_ranges.is_empty() {
        // Emptied in the database too (its rows deleted after the cut): the next backup
        // records the delete.
        info!(
            "{} planned range(s) hold no row, in the dump as in the database: {}",
            report.empty_ranges.len(),
            report.empty_ranges.join("; ")
        );
    }
    Ok((report, windows))
}

/// The manifest of a taosdump backup: its files, the plan's tombstones, and a block entry
/// per window the dump holds rows of, with no parts of its own (the rows are in the files):
/// what the backup covers, for the engine's fold (a full's windows are the chain's from
/// then on, so a later delete in them is seen) and for `--since`.
fn manifest(
    lock: &RepoLock,
    started: &Started,
    recorded: tdibt_backup::backup::Recorded,
    (windows, rows, started_at): (verify::RowsByWindow, u64, i64),
    stored: files::StoredFolder,
) -> TaosdumpResult<Manifest> {
    let mut manifest = manifest_of(lock, started, recorded, Engine::Taosdump, started_at)?;
    manifest.stats = tdibt_repository::BackupStats {
        blocks: windows.len() as u64,
        rows,
        raw_bytes: stored.raw_bytes,
        stored_bytes: stored.stored_bytes,
        reused_blocks: stored.reused_parts,
    };
    manifest.blocks = windows
        .into_iter()
        .map(|((table, window), rows)| tdibt_repository::BlockEntry {
            table,
            window,
            rows,
            columns: Vec::new(),
            parts: Vec::new(),
        })
        .collect();
    manifest.files = stored.files;
    Ok(manifest)
}
