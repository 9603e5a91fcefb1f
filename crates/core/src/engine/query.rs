//! Queries: blocks in a state, by table and time, as merged runs, and counts.

use serde::{Deserialize, Serialize};

use crate::block::{BlockId, BlockState, TableId, Window};
use crate::blockset::{code_range, BlockSet};

use super::{Engine, Generation};

/// A state a block can be listed by (CLEAN is the complement and is never listed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    New,
    Dirty,
    Deleted,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 3] = [ChangeKind::New, ChangeKind::Dirty, ChangeKind::Deleted];
}

impl From<ChangeKind> for BlockState {
    fn from(k: ChangeKind) -> BlockState {
        match k {
            ChangeKind::New => BlockState::New,
            ChangeKind::Dirty => BlockState::Dirty,
            ChangeKind::Deleted => BlockState::Deleted,
        }
    }
}

/// A run of consecutive windows of one table, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRun {
    pub table: TableId,
    pub first: Window,
    pub last: Window,
}

impl WindowRun {
    /// Number of windows in the run.
    pub fn len(&self) -> u64 {
        (self.last.0 as i64 - self.first.0 as i64 + 1) as u64
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Counts per state, computed from the bitmaps' cardinalities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    pub new: u64,
    pub dirty: u64,
    pub deleted: u64,
    /// Blocks the backup chain holds.
    pub present: u64,
    /// Blocks the chain holds that have not changed since.
    pub present_clean: u64,
    /// Tables with at least one NEW, DIRTY or DELETED block.
    pub tables_with_changes: u64,
}

impl Generation {
    /// The set of one kind.
    pub fn set(&self, kind: ChangeKind) -> &BlockSet {
        match kind {
            ChangeKind::New => &self.new,
            ChangeKind::Dirty => &self.dirty,
            ChangeKind::Deleted => &self.deleted,
        }
    }
}

impl Engine {
    /// The current generation's blocks of one kind, in block-id order.
    pub fn blocks(&self, kind: ChangeKind) -> impl Iterator<Item = BlockId> + '_ {
        self.current.set(kind).iter()
    }

    /// One table's blocks of one kind, in time order.
    pub fn blocks_of_table(
        &self,
        kind: ChangeKind,
        table: TableId,
    ) -> impl Iterator<Item = BlockId> + '_ {
        self.current
            .set(kind)
            .table(table)
            .into_iter()
            .flat_map(move |b| {
                b.iter()
                    .map(move |c| BlockId::new(table, Window::from_code(c)))
            })
    }

    /// One table's blocks of one kind with windows in `first..=last`, in time order.
    pub fn blocks_in_windows(
        &self,
        kind: ChangeKind,
        table: TableId,
        first: Window,
        last: Window,
    ) -> Vec<BlockId> {
        if first > last {
            return Vec::new();
        }
        self.current
            .set(kind)
            .range_of(table, code_range(first, last))
            .iter()
            .map(|c| BlockId::new(table, Window::from_code(c)))
            .collect()
    }

    /// The current generation's blocks of one kind as runs of consecutive windows per table,
    /// in block-id order: what a backup reads with one range query each.
    pub fn runs(&self, kind: ChangeKind) -> impl Iterator<Item = WindowRun> + '_ {
        runs_of(self.current.set(kind))
    }

    /// Counts per state of the current generation.
    pub fn counts(&self) -> StateCounts {
        let c = &self.current;
        let present = self.present.len();
        let changed_in_present =
            self.present.intersection_len(&c.dirty) + self.present.intersection_len(&c.deleted);
        let mut tables: Vec<TableId> = c
            .new
            .table_ids()
            .chain(c.dirty.table_ids())
            .chain(c.deleted.table_ids())
            .collect();
        tables.sort_unstable();
        tables.dedup();
        StateCounts {
            new: c.new.len(),
            dirty: c.dirty.len(),
            deleted: c.deleted.len(),
            present,
            present_clean: present.saturating_sub(changed_in_present),
            tables_with_changes: tables.len() as u64,
        }
    }

    /// Counts of the frozen generation, if one is frozen.
    pub fn frozen_counts(&self) -> Option<StateCounts> {
        self.frozen.as_ref().map(|f| StateCounts {
            new: f.new.len(),
            dirty: f.dirty.len(),
            deleted: f.deleted.len(),
            present: self.present.len(),
            present_clean: 0,
            tables_with_changes: 0,
        })
    }
}

/// Merges a set's windows into runs of consecutive windows, per table, in id order. Runs
/// come straight from the bitmaps' run iteration, so a dropped table's 2^32 windows are one
/// run, not four billion steps.
pub fn runs_of(set: &BlockSet) -> impl Iterator<Item = WindowRun> + '_ {
    set.tables().flat_map(|(table, bitmap)| {
        let mut iter = bitmap.iter();
        std::iter::from_fn(move || iter.next_range()).map(move |codes| WindowRun {
            table,
            first: Window::from_code(*codes.start()),
            last: Window::from_code(*codes.end()),
        })
    })
}
