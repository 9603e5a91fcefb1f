//! A repository: its config, packs, manifests, resume journals and lock, over a [`Store`]
//! (the layout: [`crate::handle`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{RepoError, RepoResult};
use crate::handle::{FileKind, Handle};
use crate::ids::{BackupId, BlockHash, PackId};
use crate::known::{KnownBlocks, Memo};
use crate::lock::{self, LockInfo, RepoLock};
use crate::manifest::{BlockEntry, Manifest};
use crate::pack::{self, BlockRef, Compression, PackBuilder};
use crate::store::Store;
use std::borrow::Borrow;
use std::sync::Arc;

/// The repository format this build writes and reads.
pub const REPO_VERSION: u32 = 1;
const FORMAT_NAME: &str = "tdibt-repository";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub format: String,
    pub version: u32,
    /// Random-ish id telling repositories apart.
    pub id: String,
    pub created_at_unix_ms: i64,
}

/// The resume journal of a backup in progress: what it already stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumeJournal {
    pub backup_id: BackupId,
    pub parent: Option<BackupId>,
    pub started_at_unix_ms: i64,
    /// Blocks stored so far, in packs already written.
    pub stored: Vec<BlockEntry>,
    /// Reads (`table@first..last`) whose every block is in `stored`: a resumed backup does
    /// not read them again.
    #[serde(default)]
    pub finished_reads: Vec<String>,
}

type ManifestCache = HashMap<BackupId, (Arc<Manifest>, String)>;

/// A handle on a repository; clones share the store (for parallel readers).
#[derive(Clone)]
pub struct Repository {
    store: std::sync::Arc<dyn Store>,
    config: RepoConfig,
    /// Manifests read through this handle, by id: a manifest never changes once written,
    /// and one backup run needs its chain's several times (a full's manifest can be
    /// megabytes of JSON).
    manifests: Arc<std::sync::Mutex<ManifestCache>>,
    /// The finished backups' blocks, for the next backup's deduplication.
    reusable: Arc<std::sync::Mutex<Memo>>,
}

impl Repository {
    /// Makes `store` a new, empty repository.
    pub fn init(store: Box<dyn Store>, now_unix_ms: i64) -> RepoResult<Repository> {
        let where_ = store.describe();
        if store
            .exists(&Handle::config())
            .map_err(|e| RepoError::io(&where_, e))?
        {
            return Err(RepoError::AlreadyARepository(where_));
        }
        if !store.is_empty().map_err(|e| RepoError::io(&where_, e))? {
            return Err(RepoError::NotEmpty(where_));
        }
        let config = RepoConfig {
            format: FORMAT_NAME.into(),
            version: REPO_VERSION,
            id: blake3::hash(format!("{where_}{now_unix_ms}{}", std::process::id()).as_bytes())
                .to_hex()[..32]
                .to_string(),
            created_at_unix_ms: now_unix_ms,
        };
        let bytes = serde_json::to_vec_pretty(&config).unwrap_or_default();
        store
            .write_atomic(&Handle::config(), &bytes)
            .map_err(|e| RepoError::io(format!("{where_}/{}", Handle::config()), e))?;
        Ok(Repository {
            store: store.into(),
            config,
            manifests: Default::default(),
            reusable: Default::default(),
        })
    }

    /// Opens an existing repository.
    pub fn open(store: Box<dyn Store>) -> RepoResult<Repository> {
        let where_ = store.describe();
        let bytes = match store.read(&Handle::config()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RepoError::NotARepository(where_))
            }
            Err(e) => return Err(RepoError::io(format!("{where_}/{}", Handle::config()), e)),
        };
        let path = format!("{where_}/{}", Handle::config());
        let config: RepoConfig =
            serde_json::from_slice(&bytes).map_err(|e| RepoError::corrupt(&path, e.to_string()))?;
        if config.format != FORMAT_NAME {
            return Err(RepoError::NotARepository(where_));
        }
        if config.version > REPO_VERSION {
            return Err(RepoError::FutureVersion {
                path,
                found: config.version,
                supported: REPO_VERSION,
            });
        }
        Ok(Repository {
            store: store.into(),
            config,
            manifests: Default::default(),
            reusable: Default::default(),
        })
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Takes the writer lock for `operation` (backup, merge, prune): the handle every
    /// write goes through.
    pub fn lock(&self, operation: &str) -> RepoResult<RepoLock> {
        lock::acquire(self, operation)
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Remembers a manifest this handle wrote or read.
    pub(crate) fn remember(&self, m: Arc<Manifest>, sum: String) {
        if let Ok(mut cache) = self.manifests.lock() {
            cache.insert(m.id.clone(), (m, sum));
        }
    }

    /// Forgets one manifest (deleted).
    pub(crate) fn forget(&self, id: &BackupId) {
        if let Ok(mut cache) = self.manifests.lock() {
            cache.remove(id);
        }
    }

    /// Who holds the lock, if anyone.
    pub fn lock_holder(&self) -> RepoResult<Option<LockInfo>> {
        lock::read(self.store.as_ref())
    }

    /// Removes the lock on a user's explicit request: one whose holder is provably gone
    /// (see [`LockInfo::is_stale`]), or any with `force`.
    pub fn break_lock(&self, force: bool) -> RepoResult<()> {
        if let Some(h) = self.lock_holder()? {
            if !force && !h.is_stale() {
                return Err(RepoError::LockHeld {
                    operation: h.operation,
                    host: h.host,
                    pid: h.pid,
                });
            }
        }
        self.store
            .remove(&Handle::lock())
            .map_err(|e| RepoError::io(Handle::lock().key(), e))
    }

    /// Finished backups, oldest first.
    pub fn list_backups(&self) -> RepoResult<Vec<BackupId>> {
        let files = self
            .store
            .list(FileKind::Manifest)
            .map_err(|e| RepoError::io(FileKind::Manifest.folder(), e))?;
        let mut ids: Vec<BackupId> = files.iter().filter_map(Handle::backup_id).collect();
        ids.sort();
        Ok(ids)
    }

    /// A manifest and its checksum.
    pub fn load_manifest(&self, id: &BackupId) -> RepoResult<(Manifest, String)> {
        let (m, sum) = self.manifest(id)?;
        Ok(((*m).clone(), sum))
    }

    /// Forgets the manifests read so far: the next reads come from the store (a check must
    /// see what is stored now).
    pub(crate) fn forget_manifests(&self) {
        if let Ok(mut cache) = self.manifests.lock() {
            cache.clear();
        }
    }

    /// A manifest and its checksum, shared: read once per handle, never copied. A manifest
    /// never changes once written, but another process may delete it (`prune`): a
    /// long-lived handle (a monitor's) checks that a remembered one still exists.
    pub fn manifest(&self, id: &BackupId) -> RepoResult<(Arc<Manifest>, String)> {
        let file = Handle::manifest(id);
        let key = file.key();
        if let Some(hit) = self.manifests.lock().ok().and_then(|c| c.get(id).cloned()) {
            match self.store.exists(&file) {
                Ok(true) => return Ok(hit),
                Ok(false) => {
                    if let Ok(mut cache) = self.manifests.lock() {
                        cache.remove(id);
                    }
                    return Err(RepoError::NoSuchBackup(id.clone()));
                }
                Err(e) => return Err(RepoError::io(&key, e)),
            }
        }
        let bytes = match self.store.read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RepoError::NoSuchBackup(id.clone()))
            }
            Err(e) => return Err(RepoError::io(&key, e)),
        };
        let (m, sum) = Manifest::decode(&bytes, &key)?;
        if &m.id != id {
            return Err(RepoError::corrupt(&key, format!("names backup {}", m.id)));
        }
        let m = Arc::new(m);
        if let Ok(mut cache) = self.manifests.lock() {
            cache.insert(id.clone(), (Arc::clone(&m), sum.clone()));
        }
        Ok((m, sum))
    }

    /// The chain from its full backup to `id`, oldest first, every link checked: the parent
    /// exists and its manifest's checksum is the one the child recorded.
    pub fn chain(&self, id: &BackupId) -> RepoResult<Vec<Arc<Manifest>>> {
        let mut chain = Vec::new();
        let (mut m, _) = self.manifest(id)?;
        loop {
            let Some(parent) = m.parent.clone() else {
                chain.push(m);
                break;
            };
            let (p, sum) = match self.manifest(&parent) {
                Ok(x) => x,
                Err(RepoError::NoSuchBackup(_)) => {
                    return Err(RepoError::BrokenChain {
                        backup: m.id.clone(),
                        reason: format!("its parent {parent} is missing"),
                    })
                }
                Err(e) => return Err(e),
            };
            if m.parent_manifest_blake3.as_deref() != Some(sum.as_str()) {
                return Err(RepoError::BrokenChain {
                    backup: m.id.clone(),
                    reason: format!("its parent {parent} is not the manifest it was made on"),
                });
            }
            if chain.len() > 100_000 {
                return Err(RepoError::BrokenChain {
                    backup: id.clone(),
                    reason: "the chain loops".into(),
                });
            }
            chain.push(m);
            m = p;
        }
        chain.reverse();
        Ok(chain)
    }

    /// What restoring `id` produces: per (table, window) the newest stored block of the
    /// chain, with tombstones applied in order (a dropped table loses its older windows).
    pub fn merged_view(&self, id: &BackupId) -> RepoResult<BTreeMap<(String, i32), BlockEntry>> {
        Ok(merge_chain(&self.chain(id)?))
    }

    /// Every stored block of every finished backup and journal, by content: what a new
    /// backup need not write again.
    pub fn known_blocks(&self) -> RepoResult<HashMap<BlockHash, BlockRef>> {
        let mut known = HashMap::new();
        for id in self.list_backups()? {
            known.extend(self.manifest(&id)?.0.parts().map(|(_, r)| (r.hash, *r)));
        }
        for p in self.list_journals()? {
            for b in p.stored {
                known.extend(b.parts.iter().map(|r| (r.hash, *r)));
            }
        }
        Ok(known)
    }

    /// [`Repository::known_blocks`] of the manifests and journals that read: what a backup
    /// may deduplicate against (after checking each block it reuses, see
    /// [`BlockWriter::add`]). A damaged manifest hides its blocks, it blocks no backup. The
    /// finished backups' part is memoised per handle (see [`crate::known`]).
    pub fn reusable_blocks(&self) -> KnownBlocks {
        let listed = self.list_backups().unwrap_or_default();
        let mut memo = match self.reusable.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        memo.update(&listed, |id| self.manifest(id).ok().map(|(m, _)| m));
        let mut journaled = HashMap::new();
        let journals = self.store.list(FileKind::Journal).unwrap_or_default();
        for p in journals.iter().filter_map(|f| self.journal_at(f).ok()) {
            journaled.extend(p.stored.iter().flat_map(|b| &b.parts).map(|r| (r.hash, *r)));
        }
        memo.known(journaled)
    }

    /// Reads a block back, decompressed and checked against its hash.
    pub fn read_block(&self, r: &BlockRef) -> RepoResult<Vec<u8>> {
        let file = Handle::pack(&r.pack);
        let stored = self
            .store
            .read_range(&file, r.offset, r.length as usize)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => RepoError::MissingPack {
                    pack: r.pack,
                    block: r.hash,
                },
                std::io::ErrorKind::UnexpectedEof => RepoError::BadBlock {
                    block: r.hash,
                    pack: r.pack,
                    reason: "the pack is shorter than the block's place in it".into(),
                },
                _ => RepoError::io(file.key(), e),
            })?;
        pack::unpack_block(r, &stored)
    }

    /// Journals of unfinished backups, oldest first.
    pub fn list_journals(&self) -> RepoResult<Vec<ResumeJournal>> {
        let mut out = Vec::new();
        for file in self
            .store
            .list(FileKind::Journal)
            .map_err(|e| RepoError::io(FileKind::Journal.folder(), e))?
        {
            out.push(self.journal_at(&file)?);
        }
        out.sort_by(|a, b| a.backup_id.cmp(&b.backup_id));
        Ok(out)
    }

    /// The journal of backup `id`, if it has one.
    pub fn journal(&self, id: &BackupId) -> RepoResult<Option<ResumeJournal>> {
        match self.journal_at(&Handle::journal(id)) {
            Ok(p) => Ok(Some(p)),
            Err(RepoError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn journal_at(&self, file: &Handle) -> RepoResult<ResumeJournal> {
        let bytes = self
            .store
            .read(file)
            .map_err(|e| RepoError::io(file.key(), e))?;
        serde_json::from_slice(&bytes).map_err(|e| RepoError::corrupt(file.key(), e.to_string()))
    }

    /// Every pack in the repository.
    pub fn packs(&self) -> RepoResult<Vec<PackId>> {
        Ok(self
            .store
            .list(FileKind::Pack)
            .map_err(|e| RepoError::io(FileKind::Pack.folder(), e))?
            .iter()
            .filter_map(Handle::pack_id)
            .collect())
    }

    /// Packs that no manifest and no journal refers to (left by an abandoned backup, or
    /// freed by pruning).
    pub fn unreferenced_packs(&self) -> RepoResult<Vec<PackId>> {
        let used: std::collections::HashSet<PackId> =
            self.known_blocks()?.values().map(|r| r.pack).collect();
        Ok(self
            .packs()?
            .into_iter()
            .filter(|p| !used.contains(p))
            .collect())
    }

    pub(crate) fn remove(&self, file: &Handle) -> RepoResult<()> {
        self.store
            .remove(file)
            .map_err(|e| RepoError::io(file.key(), e))
    }
}

/// Applies a chain (oldest first) into one view; see [`Repository::merged_view`].
pub fn merge_chain<M: Borrow<Manifest>>(chain: &[M]) -> BTreeMap<(String, i32), BlockEntry> {
    merge_chain_with_writers(chain)
        .into_iter()
        .map(|(key, (entry, _))| (key, entry))
        .collect()
}

/// [`merge_chain`], with the backup that wrote each block (what a report names).
pub fn merge_chain_with_writers<M: Borrow<Manifest>>(
    chain: &[M],
) -> BTreeMap<(String, i32), (BlockEntry, &BackupId)> {
    let mut view: BTreeMap<(String, i32), (BlockEntry, &BackupId)> = BTreeMap::new();
    for m in chain {
        let m: &Manifest = m.borrow();
        for t in &m.tombstones {
            let (first, last) = t.windows.unwrap_or((i32::MIN, i32::MAX));
            if first > last {
                // Covers no window (and `range` would panic on it).
                continue;
            }
            let gone: Vec<(String, i32)> = view
                .range((t.table.clone(), first)..=(t.table.clone(), last))
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                view.remove(&k);
            }
        }
        for b in &m.blocks {
            view.insert((b.table.clone(), b.window), (b.clone(), &m.id));
        }
    }
    view
}

/// Packs blocks for one backup. Call [`BlockWriter::flush`] to make what was added durable
/// (a pack is written whenever it reaches its target size, and at the end).
pub struct BlockWriter<'a> {
    repo: &'a Repository,
    known: KnownBlocks,
    compression: Compression,
    pack_target_bytes: usize,
    builder: PackBuilder,
    /// Known blocks read back intact by this writer, or written by it.
    verified: std::collections::HashSet<BlockHash>,
    /// Blocks in the builder, not yet in a written pack.
    pending: Vec<BlockHash>,
    stored_bytes: u64,
}

/// What [`BlockWriter::add`] did with a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Already stored (by content): nothing written.
    Reused(BlockRef),
    /// Written to the pack being filled; its reference comes with the pack.
    Pending(BlockHash),
}

impl<'a> BlockWriter<'a> {
    /// A writer into `repo`; made by [`RepoLock::block_writer`] only, so packs are written
    /// under a held lock.
    pub(crate) fn new(
        repo: &'a Repository,
        known: KnownBlocks,
        compression: Compression,
        pack_target_bytes: usize,
    ) -> Self {
        BlockWriter {
            repo,
            known,
            compression,
            pack_target_bytes,
            builder: PackBuilder::default(),
            verified: Default::default(),
            pending: Vec::new(),
            stored_bytes: 0,
        }
    }

    /// Adds a block; returns the refs of a pack it caused to be written, if any.
    pub fn add(&mut self, raw: &[u8]) -> RepoResult<(Added, Vec<BlockRef>)> {
        let hash = BlockHash::of(raw);
        if let Some(r) = self.known.get(&hash) {
            // Reused only once read back intact: a manifest or journal naming a block proves
            // nothing about its pack now (deleted, damaged). A bad one is written again.
            if self.verified.contains(&hash) || self.repo.read_block(&r).is_ok() {
                self.verified.insert(hash);
                return Ok((Added::Reused(r), Vec::new()));
            }
            self.known.remove(&hash);
        }
        if self.pending.contains(&hash) {
            return Ok((Added::Pending(hash), Vec::new()));
        }
        self.builder.add(raw, self.compression)?;
        self.pending.push(hash);
        let written = if self.builder.len_bytes() >= self.pack_target_bytes {
            self.flush()?
        } else {
            Vec::new()
        };
        Ok((Added::Pending(hash), written))
    }

    /// Writes the pack being filled (if any) atomically; returns its blocks' references.
    pub fn flush(&mut self) -> RepoResult<Vec<BlockRef>> {
        if self.builder.is_empty() {
            return Ok(Vec::new());
        }
        let (id, bytes, refs) = std::mem::take(&mut self.builder).finish();
        let file = Handle::pack(&id);
        self.repo
            .store
            .write_atomic(&file, &bytes)
            .map_err(|e| RepoError::io(file.key(), e))?;
        self.stored_bytes += bytes.len() as u64;
        for r in &refs {
            self.known.insert(*r);
            self.verified.insert(r.hash);
        }
        self.pending.clear();
        Ok(refs)
    }

    /// The reference of a block added before, once its pack is written.
    pub fn reference(&self, hash: &BlockHash) -> Option<BlockRef> {
        self.known.get(hash)
    }

    /// Bytes added to the pack being filled, not yet written.
    pub fn pending_bytes(&self) -> usize {
        self.builder.len_bytes()
    }

    /// Bytes of packs this writer wrote.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }
}
