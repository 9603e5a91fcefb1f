//! Staying under the memory limit without ever losing a change.
//!
//! When the engine's bitmaps grow past the limit, the tables with the most scattered marks are
//! *coarsened*: all their changed windows in the current generation are replaced by one
//! contiguous run from the first to the last, written (absent windows NEW, present ones DIRTY,
//! DELETED ones DIRTY too). A run container costs a few bytes however long the run, and every
//! change is still covered: the backup reads more windows than strictly changed, and a
//! DIRTY window that reads back empty restores as an empty window, which is what DELETED meant.

use roaring::RoaringBitmap;

use crate::blockset::code_range;

use super::Engine;

/// Marks between two measurements of the heap (measuring walks every bitmap).
const CHECK_EVERY_MARKS: u64 = 1 << 16;

impl Engine {
    /// Called after every mark; measures now and then and coarsens when over the limit.
    pub(super) fn after_marks(&mut self, marks: u64) {
        let Some(limit) = self.memory_limit else {
            return;
        };
        self.marks_since_memory_check += marks;
        if self.marks_since_memory_check < CHECK_EVERY_MARKS {
            return;
        }
        self.marks_since_memory_check = 0;
        self.enforce_memory_limit(limit);
    }

    /// Coarsens the costliest tables until the engine fits in `limit` bytes or nothing more
    /// can be coarsened. Returns how many tables were coarsened.
    pub fn enforce_memory_limit(&mut self, limit: u64) -> u64 {
        if self.heap_bytes() <= limit {
            return 0;
        }
        self.optimize();
        if self.heap_bytes() <= limit {
            return 0;
        }
        // Costliest tables first: the bytes their change bitmaps take.
        let mut costs: Vec<(u64, crate::block::TableId)> = self
            .current
            .new
            .tables()
            .chain(self.current.dirty.tables())
            .chain(self.current.deleted.tables())
            .map(|(t, b)| (b.serialized_size() as u64, t))
            .collect();
        costs.sort_unstable_by(|a, b| b.cmp(a));
        costs.dedup_by_key(|c| c.1);
        let mut coarsened = 0;
        for (_, table) in costs {
            if self.coarsen_table(table) {
                coarsened += 1;
                self.counters.coarsened_tables += 1;
            }
            if self.heap_bytes() <= limit {
                break;
            }
        }
        coarsened
    }

    /// Replaces a table's changes with one written run over their span. Returns whether
    /// anything changed (a table already one run is left alone).
    pub fn coarsen_table(&mut self, table: crate::block::TableId) -> bool {
        let mut all = RoaringBitmap::new();
        for set in [
            &self.current.new,
            &self.current.dirty,
            &self.current.deleted,
        ] {
            if let Some(b) = set.table(table) {
                all |= b;
            }
        }
        let (Some(min), Some(max)) = (all.min(), all.max()) else {
            return false;
        };
        if all.len() == u64::from(max - min) + 1 && self.current.deleted.table(table).is_none() {
            return false;
        }
        let first = crate::block::Window::from_code(min);
        let last = crate::block::Window::from_code(max);
        self.write_whole(table, code_range(first, last));
        for set in [
            &mut self.current.new,
            &mut self.current.dirty,
            &mut self.current.deleted,
        ] {
            if let Some(b) = set.table(table) {
                let mut b = b.clone();
                b.optimize();
                set.set_table(table, b);
            }
        }
        true
    }
}
