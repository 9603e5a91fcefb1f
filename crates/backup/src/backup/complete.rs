//! Phase 4: the manifest, written last and atomically: from here on the backup exists.

use std::collections::BTreeMap;

use tdibt_core::clock::now_unix_ms;
use tdibt_repository::lock::RepoLock;
use tdibt_repository::{BackupKind, BlockEntry, Engine, Manifest};

use super::record::Recorded;
use super::store::Stored;
use super::Started;
use crate::error::BackupResult;

/// Builds the manifest of what was stored and writes it, if the repository lock is still
/// ours (a lock taken over means another writer, a prune, may have deleted packs).
pub fn write_manifest(
    lock: &RepoLock,
    started: &Started,
    recorded: Recorded,
    stored: &mut Stored,
) -> BackupResult<Manifest> {
    let mut blocks: BTreeMap<(String, i32), BlockEntry> = BTreeMap::new();
    for b in &stored.journal.stored {
        blocks.insert((b.table.clone(), b.window), b.clone());
    }
    let blocks: Vec<BlockEntry> = blocks.into_values().collect();
    stored.stats.blocks = blocks.len() as u64;
    stored.stats.rows = blocks.iter().map(|b| b.rows).sum();
    let mut manifest = manifest_of(
        lock,
        started,
        recorded,
        Engine::Tdibt,
        stored.journal.started_at_unix_ms,
    )?;
    manifest.blocks = blocks;
    manifest.stats = stored.stats.clone();
    lock.write_manifest(&manifest)?;
    Ok(manifest)
}

/// The manifest of backup `started` as any engine writes it, without its blocks, files
/// and figures (the engine adds those): identity, chain link, database, cut, DDL, and the
/// plan's tombstones for an incremental.
pub fn manifest_of(
    lock: &RepoLock,
    started: &Started,
    recorded: Recorded,
    engine: Engine,
    started_at_unix_ms: i64,
) -> BackupResult<Manifest> {
    let parent_manifest_blake3 = match &started.parent {
        Some(p) => Some(lock.repo().manifest(p)?.1),
        None => None,
    };
    let tombstones = if started.full {
        Vec::new()
    } else {
        started.plan.all_tombstones()
    };
    Ok(Manifest {
        format_version: engine.manifest_version(),
        id: started.id.clone(),
        parent: started.parent.clone(),
        parent_manifest_blake3,
        kind: if started.full {
            BackupKind::Full
        } else {
            BackupKind::Incremental
        },
        database: started.db.clone(),
        precision: started.precision.as_str().to_string(),
        block_span: started.span.units(),
        server_version: recorded.server_version,
        cut: started.cut.clone(),
        started_at_unix_ms,
        finished_at_unix_ms: now_unix_ms(),
        ddl: recorded.ddl,
        blocks: Vec::new(),
        tombstones,
        stats: Default::default(),
        merged_from: None,
        engine,
        files: Vec::new(),
    })
}
