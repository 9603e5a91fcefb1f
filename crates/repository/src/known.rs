//! The blocks a backup may reuse, by content, and the per-handle memo that makes finding
//! them cost what the repository gained since the last backup, not its whole history.
//!
//! Listing them meant walking every part of every manifest into a map at each backup
//! (28,000 blocks: 7-10 ms, a third of a 3-block incremental's time through a monitor).
//! A long-lived handle (a monitor's) keeps the map of the manifests it has seen, shared,
//! and adds only the manifests that are new; a manifest gone (pruned) rebuilds it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::ids::{BackupId, BlockHash};
use crate::manifest::Manifest;
use crate::pack::BlockRef;

type Map = HashMap<BlockHash, BlockRef>;

/// Blocks known to be stored: a shared base (the finished backups') and what one writer
/// learnt or disproved since.
#[derive(Clone, Debug, Default)]
pub struct KnownBlocks {
    base: Arc<Map>,
    added: Map,
    dropped: HashSet<BlockHash>,
}

impl KnownBlocks {
    pub fn get(&self, hash: &BlockHash) -> Option<BlockRef> {
        if let Some(r) = self.added.get(hash) {
            return Some(*r);
        }
        if self.dropped.contains(hash) {
            return None;
        }
        self.base.get(hash).copied()
    }

    pub fn insert(&mut self, r: BlockRef) {
        self.dropped.remove(&r.hash);
        self.added.insert(r.hash, r);
    }

    /// Forgets a block (its pack is gone or damaged): it is written again.
    pub fn remove(&mut self, hash: &BlockHash) {
        self.added.remove(hash);
        self.dropped.insert(*hash);
    }
}

impl From<Map> for KnownBlocks {
    fn from(added: Map) -> Self {
        KnownBlocks {
            added,
            ..KnownBlocks::default()
        }
    }
}

/// The finished backups' blocks as of the manifests in `backups`.
#[derive(Default)]
pub(crate) struct Memo {
    backups: BTreeSet<BackupId>,
    map: Arc<Map>,
}

impl Memo {
    /// The memo brought up to `listed` (the manifests now in the repository): manifests it
    /// has not seen are read through `manifest` (`None`: unreadable now, tried again next
    /// time); if one it holds is gone, it starts over.
    pub(crate) fn update(
        &mut self,
        listed: &[BackupId],
        mut manifest: impl FnMut(&BackupId) -> Option<Arc<Manifest>>,
    ) {
        let now: BTreeSet<&BackupId> = listed.iter().collect();
        if !self.backups.iter().all(|b| now.contains(b)) {
            *self = Memo::default();
        }
        for id in listed {
            if self.backups.contains(id) {
                continue;
            }
            if let Some(m) = manifest(id) {
                Arc::make_mut(&mut self.map).extend(m.parts().map(|(_, r)| (r.hash, *r)));
                self.backups.insert(id.clone());
            }
        }
    }

    /// A writer's view: the shared map, plus `more` (journals' blocks).
    pub(crate) fn known(&self, more: Map) -> KnownBlocks {
        KnownBlocks {
            base: Arc::clone(&self.map),
            added: more,
            dropped: HashSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PackId;

    fn part(content: &[u8]) -> BlockRef {
        BlockRef {
            hash: BlockHash::of(content),
            pack: PackId::of(b"p"),
            offset: 0,
            length: 1,
            raw_length: 1,
            compressed: false,
        }
    }

    #[test]
    fn new_manifests_are_added_a_gone_one_rebuilds_and_an_unreadable_one_is_retried() {
        let id = |n: i64| BackupId::new(n, b"x");
        let manifests: HashMap<BackupId, Arc<Manifest>> = [(1, b"a"), (2, b"b"), (3, b"c")]
            .into_iter()
            .map(|(n, content)| {
                let mut m = crate::manifest::tests::sample(id(n), None);
                m.blocks[0].parts = vec![part(content)];
                (id(n), Arc::new(m))
            })
            .collect();
        let calls = std::cell::RefCell::new(Vec::new());
        let read = |listed: &[BackupId], memo: &mut Memo, readable: bool| {
            memo.update(listed, |i| {
                calls.borrow_mut().push(i.clone());
                readable.then(|| Arc::clone(&manifests[i]))
            })
        };
        let mut memo = Memo::default();
        read(&[id(1), id(2)], &mut memo, true);
        read(&[id(1), id(2), id(3)], &mut memo, false);
        read(&[id(1), id(2), id(3)], &mut memo, true);
        // Each readable manifest read once; the unreadable one again on the next call.
        assert_eq!(*calls.borrow(), [id(1), id(2), id(3), id(3)]);
        let known = memo.known(HashMap::new());
        for c in [b"a", b"b", b"c"] {
            assert!(known.get(&BlockHash::of(c)).is_some());
        }
        // A pruned manifest: everything read again, its blocks no longer known.
        calls.borrow_mut().clear();
        read(&[id(2), id(3)], &mut memo, true);
        assert_eq!(*calls.borrow(), [id(2), id(3)]);
        let mut known = memo.known(HashMap::new());
        assert!(known.get(&BlockHash::of(b"a")).is_none());
        // A writer's changes stay its own.
        known.remove(&BlockHash::of(b"b"));
        known.insert(part(b"z"));
        assert!(known.get(&BlockHash::of(b"b")).is_none());
        assert!(memo
            .known(HashMap::new())
            .get(&BlockHash::of(b"b"))
            .is_some());
        assert!(memo
            .known(HashMap::new())
            .get(&BlockHash::of(b"z"))
            .is_none());
    }
}
