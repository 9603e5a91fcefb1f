//! Phase 1, with the engine in hand: settle what an earlier run left, choose the backup's id
//! and parent, freeze the changes it takes, and plan its reads. The caller makes the
//! checkpoint durable right after (the standalone path saves it; through a monitor, the
//! monitor writes it at a cut), and the later phases work from the [`Started`] snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use tdibt_core::clock::now_unix_ms;
use tdibt_core::engine::Generation;
use tdibt_core::{BlockId, BlockSet, BlockSpan, Catalog, Checkpoint, Precision, Window};
use tdibt_repository::lock::RepoLock;
use tdibt_repository::{
    BackupId, BackupKind, Engine, Manifest, Repository, ResumeJournal as Journal,
};
use tracing::{info, warn};

use super::BackupOptions;
use crate::error::{BackupError, BackupResult};
use crate::pick::pick_backup;
use crate::plan::{self, Plan};

/// A backup after [`begin`]: what it is, and the engine's view it was planned from, carried
/// through the phases that run without the engine.
pub struct Started {
    pub id: BackupId,
    pub full: bool,
    pub parent: Option<BackupId>,
    /// The journal of the interrupted run this one resumes.
    pub journal: Option<Journal>,
    pub db: String,
    pub precision: Precision,
    pub span: BlockSpan,
    /// The catalog at the freeze (tables and their ids, for the DDL and the plan).
    pub catalog: Catalog,
    /// The engine's offsets at the freeze: what the backup holds is at or after them.
    pub cut: BTreeMap<i32, i64>,
    pub plan: Plan,
    /// The frozen changes the plan was made from (what each window's mark was).
    pub frozen: Generation,
    /// The parent's chain, oldest first (empty for a full backup).
    pub parent_chain: Vec<Arc<Manifest>>,
}

/// Settles, chooses, freezes and plans (see the module docs). `cp` may be changed even when
/// this fails (an earlier backup folded or abandoned): save it either way.
pub fn begin(
    lock: &RepoLock,
    cp: &mut Checkpoint,
    db: &str,
    options: &BackupOptions,
    batch_size: u32,
) -> BackupResult<Started> {
    let entry = cp
        .catalog
        .database(db)
        .ok_or_else(|| BackupError::UnknownDatabase(db.to_string()))?
        .clone();
    let repo = lock.repo();
    let clock = std::time::Instant::now();
    let (id, full, parent, journal) = match settle_unfinished(lock, db, cp, options)? {
        Some(r) => {
            info!("resuming backup {}", r.id);
            (r.id, r.full, r.parent, r.journal)
        }
        None => {
            let parent = if options.full {
                None
            } else {
                choose_parent(repo, cp, db, options)?
            };
            let id = BackupId::new(now_unix_ms(), format!("{}", std::process::id()).as_bytes());
            freeze(repo, cp, &id, parent.is_none())?;
            (id, parent.is_none(), parent, None)
        }
    };
    let settled = clock.elapsed();
    let parent_chain = match &parent {
        Some(p) => repo.chain(p)?,
        None => Vec::new(),
    };
    let chained = clock.elapsed();
    let plan = plan_reads(
        repo,
        cp,
        db,
        full,
        parent.as_ref(),
        &parent_chain,
        batch_size,
    )?;
    tracing::debug!(
        "begin: {:.1} ms settle, parent and freeze, {:.1} ms the chain, {:.1} ms the plan",
        settled.as_secs_f64() * 1e3,
        (chained - settled).as_secs_f64() * 1e3,
        (clock.elapsed() - chained).as_secs_f64() * 1e3
    );
    Ok(Started {
        id,
        full,
        parent,
        journal,
        db: db.to_string(),
        precision: entry.precision,
        span: entry.block_span,
        catalog: cp.catalog.clone(),
        cut: cp.cut.vgroups.clone(),
        plan,
        frozen: cp.engine.frozen().cloned().unwrap_or_default(),
        parent_chain,
    })
}

/// Freezes the current changes for backup `id` and records it as in progress.
fn freeze(repo: &Repository, cp: &mut Checkpoint, id: &BackupId, full: bool) -> BackupResult<()> {
    let frozen = if full {
        cp.engine.freeze_full()
    } else {
        cp.engine.freeze()
    };
    frozen.map_err(|e| BackupError::Pipeline(e.to_string()))?;
    cp.backups.repository = Some(repo.config().id.clone());
    cp.backups.in_progress = Some(id.to_string());
    cp.backups.in_progress_full = full;
    Ok(())
}

/// The reads and tombstones: every table for a full, the frozen changes (and what backups
/// after `parent` stored, for `--since` an older one) for an incremental.
fn plan_reads(
    repo: &Repository,
    cp: &Checkpoint,
    db: &str,
    full: bool,
    parent: Option<&BackupId>,
    parent_chain: &[Arc<Manifest>],
    batch_size: u32,
) -> BackupResult<Plan> {
    if full {
        return Ok(plan::full(&cp.catalog, db));
    }
    // The tables the parent's chain has statements for.
    let chain_tables = crate::ddl::chain_tables(parent_chain);
    let extra = windows_after(repo, cp, db, parent)?;
    let frozen = cp
        .engine
        .frozen_generation()
        .ok_or_else(|| BackupError::Pipeline("no frozen generation".into()))?;
    Ok(plan::incremental(
        &cp.catalog,
        db,
        plan::Changes {
            new: frozen.new_blocks(),
            dirty: frozen.dirty_blocks(),
            deleted: frozen.deleted_blocks(),
        },
        &chain_tables,
        &extra,
        batch_size,
    ))
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
    lock: &RepoLock,
    db: &str,
    cp: &mut Checkpoint,
    options: &BackupOptions,
) -> BackupResult<Option<Resume>> {
    let Some(prev) = cp.backups.in_progress.clone() else {
        if cp.engine.is_frozen() {
            abandon(cp);
        }
        return Ok(None);
    };
    let prev_id: BackupId = prev.parse()?;
    let repo = lock.repo();
    let same_repo = cp.backups.repository.as_deref() == Some(repo.config().id.as_str());
    if same_repo && repo.list_backups()?.contains(&prev_id) {
        info!("backup {prev_id} had been written before an interruption; recording it");
        fold(cp, &repo.manifest(&prev_id)?.0)?;
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
        None => repo.journal(&prev_id)?,
        Some(_) => None,
    };
    // Only tdibt's engine keeps a journal: another engine cannot take up its reads.
    let why_not = why_not.or_else(|| {
        (journal.is_some() && options.engine != Engine::Tdibt).then(|| {
            format!(
                "tdibt's engine had stored part of it and this run stores with {}",
                options.engine
            )
        })
    });
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
            lock.discard_journal(&prev_id)?;
        }
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
    let stored_by = repo.manifest(&parent)?.0.engine;
    if stored_by != options.engine {
        return Err(BackupError::Refused(format!(
            "backup {parent}, the newest of {db}, was stored by {stored_by} and this backup stores with {}: a chain never mixes engines, so take a --full backup to start a {} chain",
            options.engine, options.engine
        )));
    }
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

/// Phase 5, with the engine in hand again: backup `m` is in the repository, so the engine's
/// frozen changes are now the chain's. The caller makes the checkpoint durable.
pub fn fold(cp: &mut Checkpoint, m: &Manifest) -> BackupResult<()> {
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
