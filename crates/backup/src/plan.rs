//! What a backup reads and what it records as gone, from the frozen generation (or, for a
//! full backup, from the catalog alone).
//!
//! - NEW and DIRTY windows, merged into runs of consecutive windows per table, become range
//!   reads of at most `batch_size` windows each; a run of [`WHOLE_RUN_WINDOWS`] or more
//!   (a table marked wholly changed) is one open-ended read.
//! - Every read also tombstones its own windows: what it reads replaces what the chain held
//!   there, so a window that reads back empty (its rows deleted piece by piece) is emptied.
//! - DELETED windows become window tombstones; a table dropped since the chain last saw it
//!   becomes a whole-table tombstone.

use std::collections::BTreeSet;

use tdibt_core::{runs_of, BlockSet, Catalog, Window};
use tdibt_repository::Tombstone;

/// Runs of at least this many windows are read in one query: no table holds data in that
/// many windows (over a century of hours), so such a run comes from a table marked wholly
/// changed, and its real span is whatever the server has.
pub const WHOLE_RUN_WINDOWS: i64 = 1 << 20;

/// One range query: windows `first..=last` of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub table: String,
    pub first: Window,
    pub last: Window,
}

impl Read {
    /// The whole of a table (a full backup reads each table in one query).
    pub fn whole(table: &str) -> Read {
        Read {
            table: table.to_string(),
            first: Window(i32::MIN),
            last: Window(i32::MAX),
        }
    }

    /// Names the read in the resume journal.
    pub fn key(&self) -> String {
        format!("{}@{}..{}", self.table, self.first.0, self.last.0)
    }

    pub fn tombstone(&self) -> Tombstone {
        Tombstone {
            table: self.table.clone(),
            windows: Some((self.first.0, self.last.0)),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub reads: Vec<Read>,
    /// Tombstones besides the reads' own.
    pub tombstones: Vec<Tombstone>,
}

impl Plan {
    /// Reads `tables` whole instead of by their changed windows: the whole read's tombstone
    /// replaces everything the chain held of them.
    pub fn read_whole(&mut self, tables: &BTreeSet<String>) {
        self.reads.retain(|r| !tables.contains(&r.table));
        self.reads.extend(tables.iter().map(|t| Read::whole(t)));
    }

    /// Every tombstone the manifest records: the reads' and the deletions'.
    pub fn all_tombstones(&self) -> Vec<Tombstone> {
        let mut all: Vec<Tombstone> = self.reads.iter().map(Read::tombstone).collect();
        all.extend(self.tombstones.iter().cloned());
        all
    }
}

/// A full backup: every live table of `db`, whole.
pub fn full(catalog: &Catalog, db: &str) -> Plan {
    let tables: BTreeSet<&str> = catalog
        .tables()
        .filter(|t| t.database == db && !t.dropped)
        .map(|t| t.name.as_str())
        .collect();
    Plan {
        reads: tables.into_iter().map(Read::whole).collect(),
        tombstones: Vec::new(),
    }
}

/// The frozen changes an incremental backup covers.
pub struct Changes<'a> {
    pub new: &'a BlockSet,
    pub dirty: &'a BlockSet,
    pub deleted: &'a BlockSet,
}

/// An incremental backup of `db` on top of a chain whose recorded tables are
/// `chain_tables`; `extra` are windows to read again besides the marks (`--since` an older
/// backup: what the backups after it stored).
pub fn incremental(
    catalog: &Catalog,
    db: &str,
    changes: Changes<'_>,
    chain_tables: &BTreeSet<String>,
    extra: &BlockSet,
    batch_size: u32,
) -> Plan {
    let mut plan = Plan::default();
    let mut changed = changes.new.clone();
    changed.union_with(changes.dirty);
    changed.union_with(extra);
    let batch = i64::from(batch_size.max(1));
    for run in runs_of(&changed) {
        let Some(t) = catalog.table(run.table) else {
            continue;
        };
        if t.database != db || t.dropped {
            continue;
        }
        let mut first = i64::from(run.first.0);
        let last = i64::from(run.last.0);
        if last - first >= WHOLE_RUN_WINDOWS {
            // A table marked wholly changed (a resync after the WAL expired): one query over
            // its whole span, not 2^32 / batch_size of them.
            plan.reads.push(Read {
                table: t.name.clone(),
                first: run.first,
                last: run.last,
            });
            continue;
        }
        while first <= last {
            let end = (first + batch - 1).min(last);
            plan.reads.push(Read {
                table: t.name.clone(),
                first: Window(first as i32),
                last: Window(end as i32),
            });
            first = end + 1;
        }
    }
    let mut dropped = BTreeSet::new();
    for run in runs_of(changes.deleted) {
        let Some(t) = catalog.table(run.table) else {
            continue;
        };
        if t.database != db {
            continue;
        }
        if t.dropped {
            dropped.insert(t.name.clone());
        } else {
            plan.tombstones.push(Tombstone {
                table: t.name.clone(),
                windows: Some((run.first.0, run.last.0)),
            });
        }
    }
    // A table the chain knows that is gone now, whether or not it had blocks.
    for name in chain_tables {
        let gone = match catalog.id_of(db, name).and_then(|id| catalog.table(id)) {
            Some(t) => t.dropped,
            None => true,
        };
        if gone {
            dropped.insert(name.clone());
        }
    }
    plan.tombstones
        .extend(dropped.into_iter().map(|table| Tombstone {
            table,
            windows: None,
        }));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use tdibt_core::{BlockId, BlockSpan, Precision};

    fn catalog() -> (Catalog, [tdibt_core::TableId; 3]) {
        let mut c = Catalog::new();
        c.add_database(
            "db",
            Precision::Millis,
            BlockSpan::one_hour(Precision::Millis),
        )
        .unwrap();
        let a = c.add_table("db", "a", None, Some(2)).unwrap();
        let b = c.add_table("db", "b", None, Some(2)).unwrap();
        let d = c.add_table("db", "d", None, Some(3)).unwrap();
        c.mark_dropped(d);
        (c, [a, b, d])
    }

    fn set(ids: &[(tdibt_core::TableId, i32)]) -> BlockSet {
        let mut s = BlockSet::new();
        for (t, w) in ids {
            s.insert(BlockId::new(*t, Window(*w)));
        }
        s
    }

    #[test]
    fn runs_are_merged_then_cut_into_batches_and_tombstone_themselves() {
        let (c, [a, b, d]) = catalog();
        let new = set(&[(a, -1), (a, 0), (a, 1), (a, 2), (a, 3), (b, 7)]);
        let dirty = set(&[(a, 4), (b, 9)]);
        let deleted = set(&[(b, 20), (b, 21), (d, 0)]);
        let plan = incremental(
            &c,
            "db",
            Changes {
                new: &new,
                dirty: &dirty,
                deleted: &deleted,
            },
            &BTreeSet::from(["gone".to_string()]),
            &BlockSet::new(),
            4,
        );
        let reads: Vec<String> = plan.reads.iter().map(Read::key).collect();
        assert_eq!(reads, ["a@-1..2", "a@3..4", "b@7..7", "b@9..9"]);
        assert_eq!(
            plan.tombstones,
            vec![
                Tombstone {
                    table: "b".into(),
                    windows: Some((20, 21))
                },
                Tombstone {
                    table: "d".into(),
                    windows: None
                },
                Tombstone {
                    table: "gone".into(),
                    windows: None
                },
            ]
        );
        assert_eq!(plan.all_tombstones().len(), 7);
        let read_tables: BTreeSet<&str> = plan.reads.iter().map(|r| r.table.as_str()).collect();
        assert_eq!(read_tables, BTreeSet::from(["a", "b"]));
    }

    #[test]
    fn a_full_plan_reads_every_live_table_whole() {
        let (c, _) = catalog();
        let plan = full(&c, "db");
        let reads: Vec<String> = plan.reads.iter().map(Read::key).collect();
        assert_eq!(
            reads,
            [
                format!("a@{}..{}", i32::MIN, i32::MAX),
                format!("b@{}..{}", i32::MIN, i32::MAX)
            ]
        );
        assert!(plan.tombstones.is_empty());
    }

    /// Issue 16.7: a WAL-expiry resync marks every window of a table; cut into
    /// `batch_size` reads that is 2^32 / batch_size queries. It must be one read.
    #[test]
    fn a_resync_of_a_whole_table_is_one_read() {
        let (c, [a, _, _]) = catalog();
        let mut engine = tdibt_core::Engine::new();
        engine.mark_table_written(a);
        let frozen = engine.freeze().unwrap();
        let plan = incremental(
            &c,
            "db",
            Changes {
                new: frozen.new_blocks(),
                dirty: frozen.dirty_blocks(),
                deleted: frozen.deleted_blocks(),
            },
            &BTreeSet::new(),
            &BlockSet::new(),
            8,
        );
        assert_eq!(plan.reads, vec![Read::whole("a")]);
    }
}
