//! Keeping a repository small: `merge` writes a synthetic full backup from a chain (like
//! pg_combinebackup: no block is read or written again, the new manifest points at the
//! chain's blocks), and `prune` deletes backups no longer wanted, then the packs nothing
//! refers to any more.
//!
//! Both hold the repository's lock. Prune deletes manifests before packs, so a crash in
//! between leaves unreferenced packs (the next prune deletes them), never a manifest whose
//! packs are gone.

use std::collections::BTreeSet;

use serde::Serialize;
use tdibt_repository::{BackupId, BackupKind, BackupStats, Manifest, Repository};
use tracing::info;

use crate::ddl::merge_ddl;
use crate::error::{BackupError, BackupResult};
use crate::pick::newness;
use tdibt_core::clock::now_unix_ms;

#[derive(Clone, Debug, Serialize)]
pub struct MergeReport {
    /// The synthetic full backup written.
    pub backup: BackupId,
    pub merged_from: BackupId,
    /// The backups whose blocks it combines, full first.
    pub chain: Vec<BackupId>,
    pub blocks: u64,
    pub rows: u64,
}

/// Writes a full backup equal to `id`'s merged chain. Incrementals can then build on it
/// (the engine's changes since `id` are changes since it too).
pub fn merge(repo: &Repository, id: &BackupId) -> BackupResult<MergeReport> {
    let lock = repo.lock("merge")?;
    let chain = repo.chain(id)?;
    let newest = chain
        .last()
        .ok_or_else(|| BackupError::Refused(format!("backup {id} has an empty chain")))?;
    crate::stored::refuse_other_engine(&chain, "merged into a synthetic full")?;
    if chain.len() == 1 {
        return Err(BackupError::Refused(format!(
            "backup {id} is a full backup already: there is nothing to merge"
        )));
    }
    let blocks: Vec<_> = tdibt_repository::merge_chain(&chain)
        .into_values()
        .collect();
    let stats = BackupStats {
        blocks: blocks.len() as u64,
        rows: blocks.iter().map(|b| b.rows).sum(),
        raw_bytes: blocks
            .iter()
            .flat_map(|b| &b.parts)
            .map(|p| p.raw_length as u64)
            .sum(),
        stored_bytes: 0,
        reused_blocks: blocks.iter().map(|b| b.parts.len() as u64).sum(),
    };
    let now = now_unix_ms();
    let merged = Manifest {
        format_version: tdibt_repository::Engine::Tdibt.manifest_version(),
        id: BackupId::new(now, id.as_str().as_bytes()),
        parent: None,
        parent_manifest_blake3: None,
        kind: BackupKind::Full,
        database: newest.database.clone(),
        precision: newest.precision.clone(),
        block_span: newest.block_span,
        server_version: newest.server_version.clone(),
        cut: newest.cut.clone(),
        started_at_unix_ms: now,
        // A synthetic full holds the data as of `id`: for `--at` it counts as taken then.
        finished_at_unix_ms: newest.finished_at_unix_ms,
        ddl: merge_ddl(&chain),
        blocks,
        tombstones: Vec::new(),
        stats,
        merged_from: Some(id.clone()),
        engine: tdibt_repository::Engine::Tdibt,
        files: Vec::new(),
    };
    lock.write_manifest(&merged)?;
    info!(
        "backup {id} merged into synthetic full backup {}",
        merged.id
    );
    Ok(MergeReport {
        backup: merged.id,
        merged_from: id.clone(),
        chain: chain.iter().map(|m| m.id.clone()).collect(),
        blocks: merged.stats.blocks,
        rows: merged.stats.rows,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct PruneReport {
    pub kept: Vec<BackupId>,
    pub deleted: Vec<BackupId>,
    pub packs_deleted: u64,
    pub dry_run: bool,
}

/// Keeps the newest `keep_last` backups of each database and every backup their chains
/// need; deletes the rest, then the packs no remaining backup or journal refers to.
pub fn prune(repo: &Repository, keep_last: usize, dry_run: bool) -> BackupResult<PruneReport> {
    if keep_last == 0 {
        return Err(BackupError::Refused(
            "--keep-last must be at least 1 (deleting every backup is `rm -r`, not pruning)".into(),
        ));
    }
    let lock = repo.lock("prune")?;
    let mut by_db: std::collections::BTreeMap<String, Vec<std::sync::Arc<Manifest>>> =
        Default::default();
    for id in repo.list_backups()? {
        let (m, _) = repo.manifest(&id)?;
        by_db.entry(m.database.clone()).or_default().push(m);
    }
    for backups in by_db.values_mut() {
        backups.sort_by_key(|m| newness(m));
    }
    let mut kept = BTreeSet::new();
    for ids in by_db.values() {
        for newest in ids.iter().rev().take(keep_last) {
            // A broken chain is refused here: pruning must not guess what a backup needs.
            for m in repo.chain(&newest.id)? {
                kept.insert(m.id.clone());
            }
        }
    }
    let deleted: Vec<BackupId> = by_db
        .into_values()
        .flatten()
        .map(|m| m.id.clone())
        .filter(|id| !kept.contains(id))
        .collect();
    let mut packs_deleted = 0;
    if !dry_run {
        // Deleting is the one thing never to do without the lock.
        lock.heartbeat()?;
        for id in &deleted {
            lock.delete_manifest(id)?;
        }
        for pack in repo.unreferenced_packs()? {
            lock.delete_pack(&pack)?;
            packs_deleted += 1;
        }
    }
    Ok(PruneReport {
        kept: kept.into_iter().collect(),
        deleted,
        packs_deleted,
        dry_run,
    })
}
