//! `tdibt backup`: full or incremental, resumable, visible only when its manifest is written.
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tdibt_core::checkpoint::checkpoint_path;
use tdibt_core::clock::now_unix_ms;
use tdibt_core::config::Config;
use tdibt_core::{BlockId, BlockSet, BlockSpan, Catalog, Checkpoint, Precision, Window};
use tdibt_repository::{
    Added, BackupId, BackupKind, BackupStats, BlockEntry, BlockHash, Compression, DdlEntry,
    DdlKind, Manifest, Progress as Journal, Repository,
};
use tdibt_tdengine::export::{self, ExportedBlock};
use tdibt_tdengine::{read_windows, Connection, ConnectionSettings, WindowRows};
use tracing::{info, warn};

use crate::error::{BackupError, BackupResult};
use crate::plan::{self, Read};
use crate::pool::{ConnectionTask, Pool};
use crate::progress::{Progress, ProgressSink};
use crate::select::{pick_backup, Pick};

#[derive(Clone, Debug)]
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
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            full: false,
            since: Pick::Latest,
            jobs: 4,
            pack_target_bytes: 16 << 20,
            drain: true,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
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
}

/// Takes a backup of the configured database into `repo`. The caller owns the persistence
/// folder ([`tdibt_core::OwnerLock`]).
pub async fn run_backup(
    config: &Config,
    repo: &Repository,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
) -> BackupResult<BackupReport> {
    let started = Instant::now();
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
    let entry = cp
        .catalog
        .database(&db)
        .ok_or_else(|| BackupError::UnknownDatabase(db.clone()))?
        .clone();
    let mut lock = repo.lock("backup")?;
    let repo_id = repo.config().id.clone();

    let resume = settle_unfinished(repo, &db, &mut cp, &path, options)?;
    let (id, full, parent, journal) = match resume {
        Some(r) => {
            info!("resuming backup {}", r.id);
            (r.id, r.full, r.parent, r.journal)
        }
        None => {
            let parent = if options.full {
                None
            } else {
                choose_parent(repo, &cp, &db, options)?
            };
            let id = BackupId::new(now_unix_ms(), format!("{}", std::process::id()).as_bytes());
            let frozen = if parent.is_none() {
                cp.engine.freeze_full()
            } else {
                cp.engine.freeze()
            };
            frozen.map_err(|e| BackupError::Pipeline(e.to_string()))?;
            cp.backups.repository = Some(repo_id.clone());
            cp.backups.in_progress = Some(id.to_string());
            cp.backups.in_progress_full = parent.is_none();
            cp.save(&path, now_unix_ms())?;
            (id, parent.is_none(), parent, None)
        }
    };
    let resumed = journal.is_some();

    let parent_chain = match &parent {
        Some(p) => repo.chain(p)?,
        None => Vec::new(),
    };
    // The tables the parent's chain has statements for (none for a full).
    let chain_tables = crate::ddl::chain_tables(&parent_chain);
    let mut plan = if full {
        plan::full(&cp.catalog, &db)
    } else {
        let extra = windows_after(repo, &cp, &db, parent.as_ref())?;
        let frozen = cp
            .engine
            .frozen_generation()
            .ok_or_else(|| BackupError::Pipeline("no frozen generation".into()))?;
        plan::incremental(
            &cp.catalog,
            &db,
            plan::Changes {
                new: frozen.new_blocks(),
                dirty: frozen.dirty_blocks(),
                deleted: frozen.deleted_blocks(),
            },
            &chain_tables,
            &extra,
            config.backup.batch_size,
        )
    };

    info!(
        "backup {id}: {} range read(s), {} tombstone(s) planned ({:.2} s in)",
        plan.reads.len(),
        plan.all_tombstones().len(),
        started.elapsed().as_secs_f64()
    );
    let settings = ConnectionSettings::from_config(&config.database);
    let conn = Connection::open(&settings).await?;
    let server_version = conn.server_version().await?;
    drop(conn);
    let previous_ddl = crate::ddl::merge_ddl(&parent_chain);
    let ddl = gather_ddl(
        &settings,
        &cp.catalog,
        &db,
        &previous_ddl,
        full,
        options.jobs,
    )
    .await?;

    if !full {
        let whole = tables_that_lost_columns(&cp.catalog, &db, &previous_ddl, &ddl);
        plan.read_whole(&whole);
    }
    info!(
        "backup {id}: {} DDL statement(s) recorded ({:.2} s in)",
        ddl.len(),
        started.elapsed().as_secs_f64()
    );
    let mut journal = journal.unwrap_or(Journal {
        backup_id: id.clone(),
        parent: parent.clone(),
        started_at_unix_ms: now_unix_ms(),
        stored: Vec::new(),
        finished_reads: Vec::new(),
    });
    keep_what_the_plan_needs(repo, &mut journal, &plan.reads);
    let finished: BTreeSet<String> = journal.finished_reads.iter().cloned().collect();
    let todo: Vec<Read> = plan
        .reads
        .iter()
        .filter(|r| !finished.contains(&r.key()))
        .cloned()
        .collect();
    let reads_skipped = (plan.reads.len() - todo.len()) as u64;

    let compression = Compression {
        enabled: config.backup.enable_compression,
        level: config.backup.compression_level,
    };
    // Each reuse is checked by reading the block back (`BlockWriter::add`): a pack that was
    // deleted or damaged since is never deduplicated against.
    let mut writer = repo.block_writer(repo.reusable_blocks(), compression, usize::MAX);
    let mut stats = BackupStats::default();
    let mut pending: Vec<(BlockEntry, Vec<BlockHash>)> = Vec::new();
    let mut pending_reads: Vec<String> = Vec::new();
    let total = plan.reads.len() as u64;
    let mut done = reads_skipped;
    let mut rows_seen = 0u64;
    let mut bytes_seen = 0u64;

    let reader = Arc::new(Reader {
        db: db.clone(),
        span: entry.block_span,
    });
    let mut pool = Pool::start(reader, &settings, todo, options.jobs);
    let mut failure = None;
    while let Some(result) = pool.next().await {
        let (read, windows) = match result {
            Ok(x) => x,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        for w in windows {
            let mut hashes = Vec::with_capacity(w.parts.len());
            let columns = w
                .parts
                .first()
                .map(|p| p.columns.clone())
                .unwrap_or_default();
            for part in &w.parts {
                stats.raw_bytes += part.bytes.len() as u64;
                bytes_seen += part.bytes.len() as u64;
                let (added, _) = writer.add(&part.bytes)?;
                hashes.push(match added {
                    Added::Reused(r) => {
                        stats.reused_blocks += 1;
                        r.hash
                    }
                    Added::Pending(h) => h,
                });
            }
            let rows = w.rows();
            rows_seen += rows;
            pending.push((
                BlockEntry {
                    table: read.table.clone(),
                    window: w.window.0,
                    rows,
                    columns,
                    parts: Vec::new(),
                },
                hashes,
            ));
        }
        pending_reads.push(read.key());
        done += 1;
        progress.update(
            "backup",
            Progress {
                done,
                total,
                rows: rows_seen,
                bytes: bytes_seen,
            },
        );
        if writer.pending_bytes() >= options.pack_target_bytes {
            commit_pack(
                repo,
                &mut writer,
                &mut pending,
                &mut pending_reads,
                &mut journal,
            )?;
            lock.heartbeat()?;
        }
    }
    pool.stop().await;
    // Journaled even when a read failed: the next run goes on from what was stored.
    let committed = commit_pack(
        repo,
        &mut writer,
        &mut pending,
        &mut pending_reads,
        &mut journal,
    );
    if let Some(e) = failure {
        return Err(e);
    }
    committed?;
    progress.finish("backup");
    info!(
        "backup {id}: reads done ({:.2} s in)",
        started.elapsed().as_secs_f64()
    );

    let mut blocks: BTreeMap<(String, i32), BlockEntry> = BTreeMap::new();
    for b in &journal.stored {
        blocks.insert((b.table.clone(), b.window), b.clone());
    }
    let blocks: Vec<BlockEntry> = blocks.into_values().collect();
    stats.blocks = blocks.len() as u64;
    stats.rows = blocks.iter().map(|b| b.rows).sum();
    stats.stored_bytes = writer.stored_bytes();
    let parent_manifest_blake3 = match &parent {
        Some(p) => Some(repo.manifest(p)?.1),
        None => None,
    };
    let tombstones = if full {
        Vec::new()
    } else {
        plan.all_tombstones()
    };
    let manifest = Manifest {
        format_version: tdibt_repository::manifest::MANIFEST_VERSION,
        id: id.clone(),
        parent: parent.clone(),
        parent_manifest_blake3,
        kind: if full {
            BackupKind::Full
        } else {
            BackupKind::Incremental
        },
        database: db.clone(),
        precision: entry.precision.as_str().to_string(),
        block_span: entry.block_span.units(),
        server_version,
        cut: cp.cut.vgroups.clone(),
        started_at_unix_ms: journal.started_at_unix_ms,
        finished_at_unix_ms: now_unix_ms(),
        ddl,
        blocks,
        tombstones,
        stats: stats.clone(),
        merged_from: None,
    };
    let tombstone_count = manifest.tombstones.len() as u64;
    // Still ours? A lock taken over means another writer (a prune) may have deleted packs.
    lock.heartbeat()?;
    repo.write_manifest(&manifest)?;
    fold(&mut cp, &manifest)?;
    cp.save(&path, now_unix_ms())?;
    drop(lock);
    Ok(BackupReport {
        backup: id,
        kind: manifest.kind,
        parent,
        resumed,
        reads: plan.reads.len() as u64,
        reads_skipped,
        tombstones: tombstone_count,
        stats,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A backup an earlier run left unfinished, to be taken up again.
struct Resume {
    id: BackupId,
    full: bool,
    parent: Option<BackupId>,
    journal: Option<Journal>,
}

/// Deals with what an earlier run left: a backup whose manifest exists is folded; one that
/// can still be finished is returned to resume; one that cannot (another repository, a
/// parent gone from the repository, or `--full` asked while it is an incremental) is
/// abandoned: its changes go back to the engine and its journal is discarded.
fn settle_unfinished(
    repo: &Repository,
    db: &str,
    cp: &mut Checkpoint,
    path: &std::path::Path,
    options: &BackupOptions,
) -> BackupResult<Option<Resume>> {
    let Some(prev) = cp.backups.in_progress.clone() else {
        if cp.engine.is_frozen() {
            abandon(cp);
        }
        return Ok(None);
    };
    let prev_id: BackupId = prev.parse()?;
    let same_repo = cp.backups.repository.as_deref() == Some(repo.config().id.as_str());
    if same_repo && repo.list_backups()?.contains(&prev_id) {
        info!("backup {prev_id} had been written before an interruption; recording it");
        fold(cp, &repo.manifest(&prev_id)?.0)?;
        cp.save(path, now_unix_ms())?;
        return Ok(None);
    }
    let why_not = if !same_repo {
        Some("it belongs to another repository".to_string())
    } else if !cp.engine.is_frozen() {
        Some("its changes are no longer frozen".to_string())
    } else if options.full && !cp.backups.in_progress_full {
        Some("it is an incremental and a full backup was asked for".to_string())
    } else {
        None
    };
    let journal = match why_not {
        None => repo.progress(&prev_id)?,
        Some(_) => None,
    };
    let full = cp.backups.in_progress_full;
    let parent = journal.as_ref().and_then(|j| j.parent.clone());
    let why_not = why_not.or_else(|| {
        let parent = parent.as_ref()?;
        repo.chain(parent).err().map(|e| {
            format!("its parent {parent} can no longer be read ({e}); a merge and prune may have removed it")
        })
    });
    if let Some(why) = why_not {
        warn!("the unfinished backup {prev_id} is abandoned ({why}); its changes go back to the engine");
        abandon(cp);
        if same_repo {
            repo.discard_progress(&prev_id)?;
        }
        cp.save(path, now_unix_ms())?;
        return Ok(None);
    }
    let parent = match (&journal, full) {
        (Some(_), _) | (None, true) => parent,
        (None, false) => choose_parent(repo, cp, db, options)?,
    };
    Ok(Some(Resume {
        id: prev_id,
        full,
        parent,
        journal,
    }))
}

/// What a resumed backup keeps of its journal: blocks of reads the plan still makes (a table
/// dropped meanwhile is not read, so its blocks would come without its statement), whose
/// every part reads back with its checksum (a pack deleted or damaged since is not trusted).
/// A read that lost a block is read again.
fn keep_what_the_plan_needs(repo: &Repository, journal: &mut Journal, reads: &[Read]) {
    let mut by_table: BTreeMap<&str, Vec<&Read>> = BTreeMap::new();
    for r in reads {
        by_table.entry(r.table.as_str()).or_default().push(r);
    }
    let covering = |table: &str, window: i32| -> Option<&Read> {
        by_table
            .get(table)?
            .iter()
            .copied()
            .find(|r| r.first.0 <= window && window <= r.last.0)
    };
    let mut read_again: BTreeSet<String> = BTreeSet::new();
    let before = journal.stored.len();
    journal.stored.retain(|b| {
        let Some(read) = covering(&b.table, b.window) else {
            return false;
        };
        let intact = b.parts.iter().all(|p| repo.read_block(p).is_ok());
        if !intact {
            read_again.insert(read.key());
        }
        intact
    });
    journal.finished_reads.retain(|k| !read_again.contains(k));
    let dropped = before - journal.stored.len();
    if dropped > 0 {
        warn!(
            "backup {}: {dropped} journaled block(s) not kept (table gone, or pack missing or damaged); {} read(s) run again",
            journal.backup_id,
            read_again.len()
        );
    }
}

/// Writes the pack being filled and journals what it completes.
fn commit_pack(
    repo: &Repository,
    writer: &mut tdibt_repository::BlockWriter<'_>,
    pending: &mut Vec<(BlockEntry, Vec<BlockHash>)>,
    pending_reads: &mut Vec<String>,
    journal: &mut Journal,
) -> BackupResult<()> {
    writer.flush()?;
    for (mut entry, hashes) in pending.drain(..) {
        for h in hashes {
            let r = writer.reference(&h).ok_or_else(|| {
                BackupError::Pipeline(format!("block {h} has no place after its pack"))
            })?;
            entry.parts.push(r);
        }
        journal.stored.push(entry);
    }
    journal.finished_reads.append(pending_reads);
    repo.save_progress(journal)?;
    Ok(())
}

/// Reads a table's run of windows.
struct Reader {
    db: String,
    span: BlockSpan,
}

impl ConnectionTask for Reader {
    type Job = Read;
    type Out = (Read, Vec<WindowRows>);

    async fn run(&self, conn: &Connection, read: Read) -> BackupResult<(Read, Vec<WindowRows>)> {
        let windows = read_windows(
            conn,
            &self.db,
            &read.table,
            self.span,
            read.first,
            read.last,
        )
        .await?;
        Ok((read, windows))
    }
}

/// The parent an incremental builds on, checked against what the engine's changes count
/// from; `None` (a full backup) when the repository has no backup of the database yet.
pub fn choose_parent(
    repo: &Repository,
    cp: &Checkpoint,
    db: &str,
    options: &BackupOptions,
) -> BackupResult<Option<BackupId>> {
    let Some(parent) = pick_backup(repo, Some(db), &options.since)? else {
        info!("no backup of {db} in the repository yet: taking a full backup");
        return Ok(None);
    };
    let parent = parent.id.clone();
    let linked = cp.backups.repository.as_deref() == Some(repo.config().id.as_str());
    let Some(last) = cp.backups.last.as_deref().filter(|_| linked) else {
        return Err(BackupError::Refused(format!(
            "the change engine has not taken a backup into {} yet, so it cannot say what changed since {parent}: take a --full backup",
            repo.describe()
        )));
    };
    let last: BackupId = last.parse()?;
    if on_chain_of(repo, &last, &parent)? {
        return Ok(Some(parent));
    }
    Err(BackupError::Refused(format!(
        "the change engine counts changes since backup {last}; {parent} is not on its chain: take a --full backup"
    )))
}

/// Whether `ancestor` is `last`, an ancestor of it, or a synthetic full merged from it.
fn on_chain_of(repo: &Repository, last: &BackupId, ancestor: &BackupId) -> BackupResult<bool> {
    let (m, _) = repo.manifest(ancestor)?;
    if m.merged_from.as_ref() == Some(last) {
        return Ok(true);
    }
    match repo.chain(last) {
        Ok(chain) => Ok(chain.iter().any(|m| &m.id == ancestor)),
        Err(tdibt_repository::RepoError::NoSuchBackup(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Windows the backups after `parent` (up to the engine's last) stored or emptied: an
/// incremental `--since` an older backup reads them again.
pub fn windows_after(
    repo: &Repository,
    cp: &Checkpoint,
    db: &str,
    parent: Option<&BackupId>,
) -> BackupResult<BlockSet> {
    let mut extra = BlockSet::new();
    let (Some(parent), Some(last)) = (parent, cp.backups.last.as_deref()) else {
        return Ok(extra);
    };
    let last: BackupId = last.parse()?;
    if &last == parent {
        return Ok(extra);
    }
    let chain = match repo.chain(&last) {
        Ok(c) => c,
        Err(_) => return Ok(extra),
    };
    let Some(pos) = chain.iter().position(|m| &m.id == parent) else {
        return Ok(extra);
    };
    for m in &chain[pos + 1..] {
        for b in &m.blocks {
            if let Some(t) = cp.catalog.id_of(db, &b.table) {
                extra.insert(BlockId::new(t, Window(b.window)));
            }
        }
        for t in &m.tombstones {
            if let (Some(id), Some((first, last))) = (cp.catalog.id_of(db, &t.table), t.windows) {
                extra.insert_range(
                    id,
                    tdibt_core::blockset::code_range(Window(first), Window(last)),
                );
            }
        }
    }
    Ok(extra)
}

/// The statements that recreate what the backup covers, each with its schema
/// (`DESCRIBE`): the database, its live super tables, and the tables a restore of this
/// backup needs a statement for that its chain does not have: every table for a full; for
/// an incremental (`previous`: its parent chain's merged DDL) the tables new to the chain or altered (which includes created again
/// after a drop: see the catalog), and the children of super tables whose tags changed
/// (their statements name the tags). Run on `jobs` connections: a full backup of many
/// tables asks for many statements. A table with a column the connector cannot read is
/// refused here, before any row is read.
async fn gather_ddl(
    settings: &ConnectionSettings,
    catalog: &Catalog,
    db: &str,
    previous: &[DdlEntry],
    full: bool,
    jobs: usize,
) -> BackupResult<Vec<DdlEntry>> {
    let chain_tables: BTreeSet<&str> = previous
        .iter()
        .filter(|d| d.kind == DdlKind::Table)
        .map(|d| d.name.as_str())
        .collect();
    let mut wanted = vec![(DdlKind::Database, db.to_string(), None)];
    if let Some(entry) = catalog.database(db) {
        wanted.extend(
            entry
                .super_tables
                .iter()
                .filter(|(_, st)| !st.dropped)
                .map(|(name, _)| (DdlKind::SuperTable, name.clone(), None)),
        );
    }
    let live = || catalog.tables().filter(|t| t.database == db && !t.dropped);
    for t in live() {
        if full || !chain_tables.contains(t.name.as_str()) || t.last_alter.is_some() {
            wanted.push((DdlKind::Table, t.name.clone(), t.super_table.clone()));
        }
    }
    let mut out = show_create_all(settings, db, wanted, jobs).await?;
    if !full {
        let changed = crate::schema::tags_changed(previous, &out);
        let have: BTreeSet<String> = out.iter().map(|d| d.name.clone()).collect();
        let more: Vec<_> = live()
            .filter(|t| !have.contains(&t.name))
            .filter(|t| t.super_table.as_ref().is_some_and(|s| changed.contains(s)))
            .map(|t| (DdlKind::Table, t.name.clone(), t.super_table.clone()))
            .collect();
        if !more.is_empty() {
            out.extend(show_create_all(settings, db, more, jobs).await?);
        }
    }
    crate::schema::refuse_unreadable(&out)?;
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(out)
}

/// The live tables an incremental reads whole because they (or their super table) lost a
/// column since the parent chain: see [`crate::schema::lost_columns`].
fn tables_that_lost_columns(
    catalog: &Catalog,
    db: &str,
    previous: &[DdlEntry],
    ddl: &[DdlEntry],
) -> BTreeSet<String> {
    let mut whole = BTreeSet::new();
    for (kind, name, lost) in crate::schema::lost_columns(previous, ddl) {
        info!(
            "{name:?} no longer has column(s) {lost:?} (dropped, or renamed: tdibt cannot tell): \
             it is read whole so this backup holds every row under the current column names"
        );
        if kind == DdlKind::SuperTable {
            whole.extend(
                catalog
                    .tables()
                    .filter(|t| t.database == db && !t.dropped)
                    .filter(|t| t.super_table.as_deref() == Some(name.as_str()))
                    .map(|t| t.name.clone()),
            );
        } else if kind == DdlKind::Table {
            whole.insert(name);
        }
    }
    whole
}

async fn show_create_all(
    settings: &ConnectionSettings,
    db: &str,
    wanted: Vec<(DdlKind, String, Option<String>)>,
    jobs: usize,
) -> BackupResult<Vec<DdlEntry>> {
    let task = Arc::new(ShowCreate { db: db.to_string() });
    let mut pool = Pool::start(task, settings, wanted, jobs);
    let mut out = Vec::new();
    while let Some(result) = pool.next().await {
        match result {
            Ok(entry) => out.push(entry),
            Err(e) => {
                pool.stop().await;
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// `SHOW CREATE ...` and `DESCRIBE` of one database, super table or table (with the super
/// table of a child).
struct ShowCreate {
    db: String,
}

impl ConnectionTask for ShowCreate {
    type Job = (DdlKind, String, Option<String>);
    type Out = DdlEntry;

    async fn run(
        &self,
        conn: &Connection,
        (kind, name, super_table): (DdlKind, String, Option<String>),
    ) -> BackupResult<DdlEntry> {
        let what = match kind {
            DdlKind::Database => export::DdlKind::Database,
            DdlKind::SuperTable => export::DdlKind::SuperTable,
            DdlKind::Table => export::DdlKind::Table,
        };
        let sql = export::show_create(conn, what, &self.db, &name).await?;
        let schema = match kind {
            DdlKind::Database => None,
            _ => {
                Some(crate::schema::describe(conn, &self.db, &name, super_table.as_deref()).await?)
            }
        };
        Ok(DdlEntry {
            kind,
            name,
            sql,
            schema,
        })
    }
}

/// Backup `m` is in the repository: the engine's frozen changes are now the chain's.
fn fold(cp: &mut Checkpoint, m: &Manifest) -> BackupResult<()> {
    let result = match m.kind {
        BackupKind::Full => {
            let mut stored = BlockSet::new();
            for b in &m.blocks {
                if let Some(t) = cp.catalog.id_of(&m.database, &b.table) {
                    stored.insert(BlockId::new(t, Window(b.window)));
                }
            }
            cp.engine.fold_frozen_as_full(stored)
        }
        BackupKind::Incremental => cp.engine.fold_frozen(),
    };
    result.map_err(|e| BackupError::Pipeline(e.to_string()))?;
    cp.backups.last = Some(m.id.to_string());
    cp.backups.in_progress = None;
    cp.backups.in_progress_full = false;
    Ok(())
}

/// Gives a frozen generation back to the engine (nothing lost).
fn abandon(cp: &mut Checkpoint) {
    if cp.engine.is_frozen() {
        let _ = cp.engine.restore_frozen();
    }
    cp.backups.in_progress = None;
    cp.backups.in_progress_full = false;
}

/// The blocks of a stored window, for restore and verify.
pub(crate) fn load_window(
    repo: &Repository,
    entry: &BlockEntry,
) -> BackupResult<Vec<ExportedBlock>> {
    let mut parts = Vec::with_capacity(entry.parts.len());
    let mut rows_left = entry.rows as usize;
    for (i, r) in entry.parts.iter().enumerate() {
        let bytes = repo.read_block(r)?;
        // The part's own row count is in its raw-block header; the entry holds the total.
        let rows = part_rows(&bytes).unwrap_or(if i + 1 == entry.parts.len() {
            rows_left
        } else {
            0
        });
        rows_left = rows_left.saturating_sub(rows);
        parts.push(ExportedBlock {
            bytes,
            rows,
            columns: entry.columns.clone(),
        });
    }
    Ok(parts)
}

/// [`load_window`] off the async threads (it reads files and decompresses).
pub(crate) async fn read_window(
    repo: &Repository,
    entry: &BlockEntry,
) -> BackupResult<Vec<ExportedBlock>> {
    let repo = repo.clone();
    let entry = entry.clone();
    tokio::task::spawn_blocking(move || load_window(&repo, &entry))
        .await
        .map_err(|e| BackupError::Pipeline(e.to_string()))?
}

/// Rows of a raw block, from its header (version u32, length u32, rows u32, ...).
fn part_rows(bytes: &[u8]) -> Option<usize> {
    let b: [u8; 4] = bytes.get(8..12)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

/// The database's precision, as recorded in a manifest.
pub(crate) fn manifest_precision(m: &Manifest) -> BackupResult<Precision> {
    m.precision
        .parse()
        .map_err(|e| BackupError::Refused(format!("backup {}: {e}", m.id)))
}
