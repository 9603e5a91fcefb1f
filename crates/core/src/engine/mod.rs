//! The bitmap engine: which blocks changed since the last backup, and how.
//!
//! States (docs/DESIGN.md): a block is CLEAN (in no change set), NEW (not in the backup chain and
//! written since), DIRTY (in the chain and written since) or DELETED (in the chain and wholly
//! deleted since). `present` holds every block the chain contains. Events, all legal in every
//! state and idempotent:
//!
//! | event | block in chain | block not in chain |
//! | --- | --- | --- |
//! | write | DIRTY | NEW |
//! | delete of the whole window, or drop | DELETED | CLEAN |
//! | delete of part of the window | DIRTY (a DELETED block stays DELETED) | unchanged |
//!
//! A DELETED block has no rows, so deleting part of it changes nothing: it stays DELETED
//! (reading it again would find nothing). This keeps the outcome of an event sequence
//! independent of where a backup's freeze falls in it.
//!
//! "In chain" is judged against the *effective* present: while a generation is frozen for a
//! backup, `present ∪ frozen.new ∪ frozen.dirty − frozen.deleted`, which is what the chain
//! will hold if that backup succeeds (see [`generation`]). While a *full* backup runs, every
//! window counts as in the chain: the full stores what it reads, which includes windows no
//! mark names (rows older than the change feed), so a delete or write that lands on a window
//! after the full read it must be recorded (see [`Engine::freeze_full`]).

mod generation;
mod memory;
mod query;

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::block::{BlockId, BlockSpan, BlockState, TableId, TsRange, Window};
use crate::blockset::{code_range, BlockSet, CodeRange, ALL_CODES};

pub use generation::{FrozenGeneration, GenerationError};
pub use query::{runs_of, ChangeKind, StateCounts, WindowRun};

/// The change sets of one generation: disjoint NEW, DIRTY and DELETED blocks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generation {
    pub new: BlockSet,
    pub dirty: BlockSet,
    pub deleted: BlockSet,
}

impl Generation {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.dirty.is_empty() && self.deleted.is_empty()
    }

    fn state(&self, id: BlockId) -> BlockState {
        if self.new.contains(id) {
            BlockState::New
        } else if self.dirty.contains(id) {
            BlockState::Dirty
        } else if self.deleted.contains(id) {
            BlockState::Deleted
        } else {
            BlockState::Clean
        }
    }

    fn heap_bytes(&self) -> u64 {
        self.new.heap_bytes() + self.dirty.heap_bytes() + self.deleted.heap_bytes()
    }

    fn optimize(&mut self) {
        self.new.optimize();
        self.dirty.optimize();
        self.deleted.optimize();
    }
}

/// Counters the engine keeps about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineCounters {
    /// Mark calls applied (a batch counts its blocks).
    pub events_applied: u64,
    /// Times a table's marks were coarsened to stay under the memory limit.
    pub coarsened_tables: u64,
}

/// The engine. Cheap to query; every mutation is an idempotent event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Engine {
    present: BlockSet,
    current: Generation,
    frozen: Option<Generation>,
    /// The frozen generation belongs to a full backup: every window counts as in the chain
    /// until it folds (see [`Engine::freeze_full`]).
    frozen_full: bool,
    memory_limit: Option<u64>,
    counters: EngineCounters,
    marks_since_memory_check: u64,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine that coarsens its marks rather than grow past `bytes` (never drops one).
    pub fn with_memory_limit(bytes: u64) -> Self {
        Engine {
            memory_limit: Some(bytes),
            ..Self::default()
        }
    }

    /// Rebuilds an engine from its parts (the checkpoint's decoder).
    pub fn from_parts(
        present: BlockSet,
        current: Generation,
        frozen: Option<Generation>,
        counters: EngineCounters,
    ) -> Self {
        Engine {
            present,
            current,
            frozen,
            frozen_full: false,
            memory_limit: None,
            counters,
            marks_since_memory_check: 0,
        }
    }

    pub fn set_memory_limit(&mut self, bytes: Option<u64>) {
        self.memory_limit = bytes;
    }

    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// Blocks the backup chain contains (as of the last successful backup).
    pub fn present(&self) -> &BlockSet {
        &self.present
    }

    /// The generation taking events now.
    pub fn current(&self) -> &Generation {
        &self.current
    }

    /// Whether `id` is in the chain as events are judged now (see the module docs).
    fn effectively_present(&self, id: BlockId) -> bool {
        if self.frozen_full {
            return true;
        }
        match &self.frozen {
            None => self.present.contains(id),
            Some(f) => {
                if f.deleted.contains(id) {
                    false
                } else {
                    self.present.contains(id) || f.new.contains(id) || f.dirty.contains(id)
                }
            }
        }
    }

    /// The table's effectively present codes inside `codes`.
    fn effective_present_range(&self, table: TableId, codes: CodeRange) -> RoaringBitmap {
        if self.frozen_full {
            let mut all = RoaringBitmap::new();
            all.insert_range(codes);
            return all;
        }
        let mut p = self.present.range_of(table, codes.clone());
        if let Some(f) = &self.frozen {
            p |= f.new.range_of(table, codes.clone());
            p |= f.dirty.range_of(table, codes.clone());
            p -= f.deleted.range_of(table, codes);
        }
        p
    }

    /// A write to one block.
    pub fn mark_write(&mut self, id: BlockId) {
        self.counters.events_applied += 1;
        self.write_one(id);
        self.after_marks(1);
    }

    fn write_one(&mut self, id: BlockId) {
        if self.effectively_present(id) {
            self.current.deleted.remove(id);
            self.current.dirty.insert(id);
        } else {
            self.current.new.insert(id);
        }
    }

    /// Writes to many blocks; ids in ascending order are fastest (one table lookup per run).
    pub fn mark_writes<I: IntoIterator<Item = BlockId>>(&mut self, ids: I) {
        let mut count = 0u64;
        let mut run_table: Option<TableId> = None;
        let mut run: Vec<u32> = Vec::new();
        for id in ids {
            count += 1;
            if run_table != Some(id.table()) {
                if let Some(t) = run_table {
                    self.write_run(t, &mut run);
                }
                run_table = Some(id.table());
            }
            run.push(id.window().code());
        }
        if let Some(t) = run_table {
            self.write_run(t, &mut run);
        }
        self.counters.events_applied += count;
        self.after_marks(count);
    }

    /// One table's writes. With no chain for the table (the common case before the first
    /// backup, and for new windows) they all go to NEW in one bulk insert.
    fn write_run(&mut self, table: TableId, codes: &mut Vec<u32>) {
        let table_in_chain = self.frozen_full
            || self.present.table(table).is_some()
            || self.frozen.as_ref().is_some_and(|f| {
                f.new.table(table).is_some()
                    || f.dirty.table(table).is_some()
                    || f.deleted.table(table).is_some()
            });
        if !table_in_chain {
            codes.sort_unstable();
            let new = self.current.new.table_mut(table);
            // `append` needs strictly ascending input; duplicates are common (many rows, one window).
            codes.dedup();
            if new.append(codes.iter().copied()).is_err() {
                new.extend(codes.iter().copied());
            }
        } else {
            for &code in codes.iter() {
                self.write_one(BlockId::new(table, Window::from_code(code)));
            }
        }
        codes.clear();
    }

    /// A DELETE of the inclusive timestamp range on one table (a super-table delete is one
    /// call per child). Whole windows become DELETED (or CLEAN); the partly covered windows at
    /// either end become DIRTY (or stay as they are). Range operations only, so deleting
    /// `i64::MIN..=i64::MAX` is as cheap as one window.
    pub fn mark_delete(&mut self, table: TableId, range: TsRange, span: BlockSpan) {
        self.counters.events_applied += 1;
        if range.is_empty() {
            return;
        }
        let (first, last) = span.windows_of(range);
        let whole_first = if span.covers_window(range, first) {
            Some(first)
        } else {
            first.next().filter(|w| *w <= last)
        };
        let whole_last = if span.covers_window(range, last) {
            Some(last)
        } else {
            last.0.checked_sub(1).map(Window).filter(|w| *w >= first)
        };
        if let (Some(a), Some(b)) = (whole_first, whole_last) {
            if a <= b {
                self.delete_whole(table, code_range(a, b));
            }
        }
        for edge in [first, last] {
            if !span.covers_window(range, edge) {
                self.delete_part(BlockId::new(table, edge));
            }
        }
        self.after_marks(1);
    }

    /// A DROP of a table: every window of it, whole.
    pub fn mark_drop(&mut self, table: TableId) {
        self.counters.events_applied += 1;
        self.delete_whole(table, ALL_CODES);
        self.after_marks(1);
    }

    /// Marks every window of a table written: used when changes may have been missed (the
    /// WAL expired past the cut), so the next backup re-reads the table whole.
    pub fn mark_table_written(&mut self, table: TableId) {
        self.counters.events_applied += 1;
        self.write_whole(table, ALL_CODES);
        self.after_marks(1);
    }

    /// Whole-window deletes over a run of codes: effectively present ones become DELETED,
    /// everything else in the run CLEAN.
    fn delete_whole(&mut self, table: TableId, codes: CodeRange) {
        let present = self.effective_present_range(table, codes.clone());
        self.current.new.remove_range(table, codes.clone());
        self.current.dirty.remove_range(table, codes);
        if !present.is_empty() {
            *self.current.deleted.table_mut(table) |= present;
        }
    }

    /// Writes over a run of codes.
    fn write_whole(&mut self, table: TableId, codes: CodeRange) {
        let present = self.effective_present_range(table, codes.clone());
        let mut absent = RoaringBitmap::new();
        absent.insert_range(codes.clone());
        absent -= &present;
        self.current.deleted.remove_range(table, codes);
        if !present.is_empty() {
            *self.current.dirty.table_mut(table) |= present;
        }
        if !absent.is_empty() {
            *self.current.new.table_mut(table) |= absent;
        }
    }

    fn delete_part(&mut self, id: BlockId) {
        if self.effectively_present(id) && !self.current.deleted.contains(id) {
            self.current.dirty.insert(id);
        }
    }

    /// The state of a block in the current generation.
    pub fn state(&self, id: BlockId) -> BlockState {
        self.current.state(id)
    }

    /// Heap bytes of every bitmap the engine holds.
    pub fn heap_bytes(&self) -> u64 {
        self.present.heap_bytes()
            + self.current.heap_bytes()
            + self.frozen.as_ref().map_or(0, |f| f.heap_bytes())
    }

    /// Run containers where smaller; call before serialising.
    pub fn optimize(&mut self) {
        self.present.optimize();
        self.current.optimize();
        if let Some(f) = &mut self.frozen {
            f.optimize();
        }
    }
}

#[cfg(test)]
mod tests;
