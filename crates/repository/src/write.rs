//! Every write to a repository, as methods of the held lock ([`RepoLock`]): a manifest, a
//! resume journal, packs, deletions. [`Repository`](crate::Repository) itself only reads
//! (its `init` writes the config of a new repository, and the lock writes its own file),
//! so writing without the lock does not compile. Writes that change what a backup is
//! (manifests, deletions) first check that the lock is still this one.

use std::sync::Arc;

use crate::error::RepoResult;
use crate::handle::Handle;
use crate::ids::{BackupId, PackId};
use crate::known::KnownBlocks;
use crate::lock::RepoLock;
use crate::manifest::Manifest;
use crate::pack::Compression;
use crate::repo::{BlockWriter, ResumeJournal};
use crate::RepoError;

impl RepoLock {
    /// Makes a backup visible: the manifest, atomically, as the very last step; then its
    /// resume journal goes. Returns the manifest's checksum.
    pub fn write_manifest(&self, m: &Manifest) -> RepoResult<String> {
        self.check_still_ours()?;
        let file = Handle::manifest(&m.id);
        let (bytes, sum) = m.encode_with_sum();
        self.repo()
            .store()
            .write_atomic(&file, &bytes)
            .map_err(|e| RepoError::io(file.key(), e))?;
        let _ = self.repo().store().remove(&Handle::journal(&m.id));
        // The next incremental's parent: remembered, so a long-lived handle does not read
        // back what it just wrote.
        self.repo().remember(Arc::new(m.clone()), sum.clone());
        Ok(sum)
    }

    /// Records what a backup in progress stored so far.
    pub fn save_journal(&self, p: &ResumeJournal) -> RepoResult<()> {
        let file = Handle::journal(&p.backup_id);
        // An empty journal would read as "nothing stored yet" and redo every read: refuse to
        // write one rather than fall back to it.
        let bytes =
            serde_json::to_vec(p).map_err(|e| RepoError::corrupt(file.key(), e.to_string()))?;
        self.repo()
            .store()
            .write_atomic(&file, &bytes)
            .map_err(|e| RepoError::io(file.key(), e))
    }

    pub fn discard_journal(&self, id: &BackupId) -> RepoResult<()> {
        self.repo().remove(&Handle::journal(id))
    }

    /// Stores blocks for a backup; blocks already in the repository (by content) and read
    /// back intact are not written again. The writer borrows the lock: it cannot outlive it.
    pub fn block_writer(
        &self,
        known: impl Into<KnownBlocks>,
        compression: Compression,
        pack_target_bytes: usize,
    ) -> BlockWriter<'_> {
        BlockWriter::new(self.repo(), known.into(), compression, pack_target_bytes)
    }

    pub fn delete_pack(&self, id: &PackId) -> RepoResult<()> {
        self.check_still_ours()?;
        self.repo().remove(&Handle::pack(id))
    }

    pub fn delete_manifest(&self, id: &BackupId) -> RepoResult<()> {
        self.check_still_ours()?;
        self.repo().forget(id);
        self.repo().remove(&Handle::manifest(id))
    }
}
