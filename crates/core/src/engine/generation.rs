//! Generations: a backup freezes the current changes and works from them while new events
//! go to a fresh generation; success folds the frozen one into `present`, failure merges it
//! back so that nothing is lost.
//!
//! Events arriving while frozen are judged against the effective present `P' = P ∪ F.new ∪
//! F.dirty − F.deleted` (what the chain holds once the backup succeeds), so on success the
//! current generation is already right and `present` simply becomes `P'`.
//!
//! On failure, the frozen generation F and the current C must merge into what one
//! uninterrupted generation would have been against the old present P. Per block:
//!
//! | C | in P | result |
//! | --- | --- | --- |
//! | CLEAN | either | F |
//! | NEW or DIRTY | yes | DIRTY |
//! | NEW or DIRTY | no | NEW |
//! | DELETED | yes | DELETED |
//! | DELETED | no | CLEAN |
//!
//! (C's own NEW/DIRTY split was relative to P', which differs from P exactly where F
//! changed the chain; C's latest event decides the outcome, and only whether the block is
//! in P decides its name.)
//!
//! A full backup is frozen with [`Engine::freeze_full`]: it stores whatever it reads, marked
//! or not, so P' is unknown until it ends and every window counts as present meanwhile (a
//! write makes DIRTY, a whole-window delete DELETED). Its fold sets `present` to what it
//! stored and renames the current generation against that: DIRTY outside it becomes NEW,
//! DELETED outside it CLEAN. The failure rule above holds unchanged.

use crate::block::BlockState;
use crate::blockset::BlockSet;

use super::{Engine, Generation};

/// Why a generation operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenerationError {
    #[error("a generation is already frozen for a backup in progress")]
    AlreadyFrozen,
    #[error("no generation is frozen")]
    NotFrozen,
}

/// Read access to the frozen generation, for the backup planner.
pub struct FrozenGeneration<'a> {
    generation: &'a Generation,
}

impl<'a> FrozenGeneration<'a> {
    pub fn new_blocks(&self) -> &'a BlockSet {
        &self.generation.new
    }

    pub fn dirty_blocks(&self) -> &'a BlockSet {
        &self.generation.dirty
    }

    pub fn deleted_blocks(&self) -> &'a BlockSet {
        &self.generation.deleted
    }

    pub fn state(&self, id: crate::block::BlockId) -> BlockState {
        self.generation.state(id)
    }
}

impl Engine {
    /// Starts a backup: the current changes are frozen and a new generation takes events.
    pub fn freeze(&mut self) -> Result<FrozenGeneration<'_>, GenerationError> {
        if self.frozen.is_some() {
            return Err(GenerationError::AlreadyFrozen);
        }
        self.frozen = Some(std::mem::take(&mut self.current));
        self.frozen_full = false;
        self.frozen_generation().ok_or(GenerationError::NotFrozen)
    }

    /// Starts a full backup: as [`Engine::freeze`], and until the fold every window counts
    /// as in the chain (see the module docs).
    pub fn freeze_full(&mut self) -> Result<FrozenGeneration<'_>, GenerationError> {
        self.freeze()?;
        self.frozen_full = true;
        self.frozen_generation().ok_or(GenerationError::NotFrozen)
    }

    /// Whether the frozen generation belongs to a full backup.
    pub fn is_frozen_full(&self) -> bool {
        self.frozen.is_some() && self.frozen_full
    }

    /// Marks the frozen generation as a full backup's (the checkpoint records it as the
    /// in-progress backup's kind); nothing when no generation is frozen.
    pub fn set_frozen_full(&mut self, full: bool) {
        self.frozen_full = full && self.frozen.is_some();
    }

    /// The frozen generation, if a backup is in progress.
    pub fn frozen_generation(&self) -> Option<FrozenGeneration<'_>> {
        self.frozen
            .as_ref()
            .map(|generation| FrozenGeneration { generation })
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// The frozen generation's sets (for the checkpoint).
    pub fn frozen(&self) -> Option<&Generation> {
        self.frozen.as_ref()
    }

    /// The backup succeeded: the chain now holds `P ∪ F.new ∪ F.dirty − F.deleted`.
    pub fn fold_frozen(&mut self) -> Result<(), GenerationError> {
        let f = self.frozen.take().ok_or(GenerationError::NotFrozen)?;
        self.frozen_full = false;
        self.present.union_with(&f.new);
        self.present.union_with(&f.dirty);
        self.present.subtract(&f.deleted);
        Ok(())
    }

    /// A full backup succeeded: the chain now holds exactly the blocks it stored (read from
    /// the database, not derived from marks), whatever `present` said before.
    /// Events during the full were judged as if every window were present; the current
    /// generation is renamed against what the chain now holds.
    pub fn fold_frozen_as_full(&mut self, stored: BlockSet) -> Result<(), GenerationError> {
        self.frozen.take().ok_or(GenerationError::NotFrozen)?;
        self.frozen_full = false;
        self.present = stored;
        let c = &mut self.current;
        let mut dirty_outside = c.dirty.clone();
        dirty_outside.subtract(&self.present);
        c.dirty.subtract(&dirty_outside);
        c.new.union_with(&dirty_outside);
        let mut deleted_outside = c.deleted.clone();
        deleted_outside.subtract(&self.present);
        c.deleted.subtract(&deleted_outside);
        Ok(())
    }

    /// The backup failed: merge the frozen changes back (see the module docs for the rule).
    pub fn restore_frozen(&mut self) -> Result<(), GenerationError> {
        let f = self.frozen.take().ok_or(GenerationError::NotFrozen)?;
        self.frozen_full = false;
        let c = std::mem::take(&mut self.current);
        let p = &self.present;
        // Blocks C touched: C decides, named against P.
        let mut touched = c.new.clone();
        touched.union_with(&c.dirty);
        let mut merged = Generation::default();
        for (table, codes) in touched.tables() {
            let in_p = p.table(table).map(|b| codes & b).unwrap_or_default();
            let not_p = codes - &in_p;
            merged.dirty.set_table(table, in_p);
            merged.new.set_table(table, not_p);
        }
        for (table, codes) in c.deleted.tables() {
            let in_p = p.table(table).map(|b| codes & b).unwrap_or_default();
            merged.deleted.set_table(table, in_p);
        }
        // Blocks C did not touch keep F's state.
        let mut c_all = touched;
        c_all.union_with(&c.deleted);
        for (mine, theirs) in [
            (&mut merged.new, &f.new),
            (&mut merged.dirty, &f.dirty),
            (&mut merged.deleted, &f.deleted),
        ] {
            let mut keep = theirs.clone();
            keep.subtract(&c_all);
            mine.union_with(&keep);
        }
        self.current = merged;
        Ok(())
    }
}
