//! `incremental_blocks.json`: the backup planner's view of what changed, for tools that are
//! not tdibt (taosdump, above all). Documented in the crate's README (format
//! `tdibt-incremental-blocks`, version 1).
//!
//! Ranges come from [`tdibt_backup::plan::incremental`], the planner `tdibt backup` uses,
//! asked never to cut a run into batches: one range per run of consecutive NEW or DIRTY
//! windows of a table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tdibt_backup::plan;
use tdibt_core::{runs_of, BlockSet, BlockSpan, Catalog, Cut, Precision, Window};

use crate::error::{TaosdumpError, TaosdumpResult};

pub const FORMAT: &str = "tdibt-incremental-blocks";
pub const VERSION: u32 = 1;

/// The whole document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlocksDoc {
    pub format: String,
    pub version: u32,
    pub generated_at: String,
    pub database: String,
    pub precision: Precision,
    /// Block span in the database's precision.
    pub block_span: i64,
    pub since: Since,
    pub cut: CutInfo,
    pub counts: Counts,
    /// Tables with something to read or to delete, by name.
    pub tables: Vec<TableChanges>,
    /// Tables the backup chain (or the catalog) knew that are gone now.
    pub dropped_tables: Vec<String>,
    pub schema_changes: Vec<SchemaChange>,
}

/// What the changes count from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Since {
    /// The backup the plan builds on; `None`: the change engine's last backup (or its
    /// `init`, when it has taken none).
    pub backup: Option<String>,
    pub description: String,
}

/// The point the plan was taken at: the checkpoint's per-vgroup WAL offsets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutInfo {
    pub topic: Option<String>,
    pub vgroups: BTreeMap<i32, i64>,
    pub checkpoint_written_at_unix_ms: i64,
    pub checkpoint_written_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub tables: u64,
    pub ranges: u64,
    pub new_blocks: u64,
    pub dirty_blocks: u64,
    pub deleted_blocks: u64,
    pub deleted_ranges: u64,
    pub dropped_tables: u64,
    pub schema_changes: u64,
}

/// One table's changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableChanges {
    pub name: String,
    pub super_table: Option<String>,
    pub new_blocks: u64,
    pub dirty_blocks: u64,
    pub deleted_blocks: u64,
    /// Merged NEW/DIRTY windows: what must be read again.
    pub ranges: Vec<Range>,
    /// DELETED windows: emptied since, nothing to read.
    pub deleted: Vec<Range>,
}

/// Windows `first_window..=last_window` as timestamps: `start` inclusive, `end` exclusive,
/// in the database's precision; `None` is open-ended (a table re-read whole).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Range {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub start_iso: Option<String>,
    pub end_iso: Option<String>,
    pub first_window: i32,
    pub last_window: i32,
}

impl Range {
    /// Windows `first..=last` of `span`.
    pub fn of_windows(span: BlockSpan, precision: Precision, first: Window, last: Window) -> Range {
        let start = (first.0 != i32::MIN).then(|| span.range_of(first).start);
        let end = (last.0 != i32::MAX).then(|| span.range_of(last).end.saturating_add(1));
        Range {
            start,
            end,
            start_iso: start.map(|t| iso(t, precision)),
            end_iso: end.map(|t| iso(t, precision)),
            first_window: first.0,
            last_window: last.0,
        }
    }

    /// The last timestamp inside the range (taosdump's `-E` is inclusive).
    pub fn last_ts(&self) -> Option<i64> {
        self.end.map(|e| e - 1)
    }

    pub fn contains(&self, ts: i64) -> bool {
        self.start.is_none_or(|s| ts >= s) && self.end.is_none_or(|e| ts < e)
    }

    /// `[start, end)` for messages.
    pub fn describe(&self) -> String {
        format!(
            "[{}, {})",
            self.start_iso.as_deref().unwrap_or("-inf"),
            self.end_iso.as_deref().unwrap_or("+inf")
        )
    }
}

/// A schema or tag change the catalog recorded, as TDengine's meta JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaChange {
    /// `table` or `super_table`.
    pub kind: String,
    pub name: String,
    pub meta: String,
}

/// A timestamp in `precision` as RFC 3339 in UTC, with the precision's digits.
pub fn iso(ts: i64, precision: Precision) -> String {
    let (t, digits) = match precision {
        Precision::Millis => (
            DateTime::<Utc>::from_timestamp_millis(ts),
            SecondsFormat::Millis,
        ),
        Precision::Micros => (
            DateTime::<Utc>::from_timestamp_micros(ts),
            SecondsFormat::Micros,
        ),
        Precision::Nanos => (
            Some(DateTime::<Utc>::from_timestamp_nanos(ts)),
            SecondsFormat::Nanos,
        ),
    };
    t.map(|t| t.to_rfc3339_opts(digits, true))
        .unwrap_or_else(|| format!("{ts}{}", precision.as_str()))
}

/// What [`build`] needs: the catalog, the changes, and where they count from.
pub struct Inputs<'a> {
    pub catalog: &'a Catalog,
    pub database: &'a str,
    pub new: &'a BlockSet,
    pub dirty: &'a BlockSet,
    pub deleted: &'a BlockSet,
    /// Tables the chain the plan builds on has statements for.
    pub chain_tables: &'a BTreeSet<String>,
    /// Windows to read again besides the marks (`--since` an older backup).
    pub extra: &'a BlockSet,
    pub cut: &'a Cut,
    pub checkpoint_written_at_unix_ms: i64,
    pub since: Since,
    pub generated_at_unix_ms: i64,
}

/// The document for `inputs`.
pub fn build(inputs: Inputs<'_>) -> TaosdumpResult<BlocksDoc> {
    let planned = plan::incremental(
        inputs.catalog,
        inputs.database,
        plan::Changes {
            new: inputs.new,
            dirty: inputs.dirty,
            deleted: inputs.deleted,
        },
        inputs.chain_tables,
        inputs.extra,
        u32::MAX,
    );
    of_plan(inputs, &planned)
}

/// The document of a plan already made (`tdibt backup --engine taosdump` plans as every
/// backup does, never cutting a run): `inputs`' changes give the counts, its
/// `chain_tables` and `extra` are not used.
pub fn of_plan(inputs: Inputs<'_>, planned: &plan::Plan) -> TaosdumpResult<BlocksDoc> {
    let db = inputs
        .catalog
        .database(inputs.database)
        .ok_or_else(|| TaosdumpError::UnknownDatabase(inputs.database.to_string()))?;
    let (precision, span) = (db.precision, db.block_span);
    let mut tables: BTreeMap<String, TableChanges> = BTreeMap::new();
    for read in &planned.reads {
        table_entry(&mut tables, &inputs, &read.table)
            .ranges
            .push(Range::of_windows(span, precision, read.first, read.last));
    }
    let mut dropped = Vec::new();
    for tomb in &planned.tombstones {
        match tomb.windows {
            Some((first, last)) => {
                table_entry(&mut tables, &inputs, &tomb.table)
                    .deleted
                    .push(Range::of_windows(
                        span,
                        precision,
                        Window(first),
                        Window(last),
                    ))
            }
            None => dropped.push(tomb.table.clone()),
        }
    }
    count_blocks(&inputs, &mut tables, |t| &mut t.new_blocks, inputs.new);
    count_blocks(&inputs, &mut tables, |t| &mut t.dirty_blocks, inputs.dirty);
    count_blocks(
        &inputs,
        &mut tables,
        |t| &mut t.deleted_blocks,
        inputs.deleted,
    );
    let schema_changes = schema_changes(inputs.catalog, inputs.database);
    let tables: Vec<TableChanges> = tables.into_values().collect();
    let counts = Counts {
        tables: tables.len() as u64,
        ranges: tables.iter().map(|t| t.ranges.len() as u64).sum(),
        new_blocks: tables.iter().map(|t| t.new_blocks).sum(),
        dirty_blocks: tables.iter().map(|t| t.dirty_blocks).sum(),
        deleted_blocks: tables.iter().map(|t| t.deleted_blocks).sum(),
        deleted_ranges: tables.iter().map(|t| t.deleted.len() as u64).sum(),
        dropped_tables: dropped.len() as u64,
        schema_changes: schema_changes.len() as u64,
    };
    Ok(BlocksDoc {
        format: FORMAT.to_string(),
        version: VERSION,
        generated_at: iso(inputs.generated_at_unix_ms, Precision::Millis),
        database: inputs.database.to_string(),
        precision,
        block_span: span.units(),
        since: inputs.since,
        cut: CutInfo {
            topic: inputs.cut.topic.clone(),
            vgroups: inputs.cut.vgroups.clone(),
            checkpoint_written_at_unix_ms: inputs.checkpoint_written_at_unix_ms,
            checkpoint_written_at: iso(inputs.checkpoint_written_at_unix_ms, Precision::Millis),
        },
        counts,
        tables,
        dropped_tables: dropped,
        schema_changes,
    })
}

fn table_entry<'t>(
    tables: &'t mut BTreeMap<String, TableChanges>,
    inputs: &Inputs<'_>,
    name: &str,
) -> &'t mut TableChanges {
    tables
        .entry(name.to_string())
        .or_insert_with(|| TableChanges {
            name: name.to_string(),
            super_table: inputs
                .catalog
                .id_of(inputs.database, name)
                .and_then(|id| inputs.catalog.table(id))
                .and_then(|t| t.super_table.clone()),
            new_blocks: 0,
            dirty_blocks: 0,
            deleted_blocks: 0,
            ranges: Vec::new(),
            deleted: Vec::new(),
        })
}

/// Adds each live table's blocks of `set` to its counter (tables already listed only: a
/// block of a dropped table is covered by the drop).
fn count_blocks(
    inputs: &Inputs<'_>,
    tables: &mut BTreeMap<String, TableChanges>,
    field: impl Fn(&mut TableChanges) -> &mut u64,
    set: &BlockSet,
) {
    for run in runs_of(set) {
        let Some(t) = inputs.catalog.table(run.table) else {
            continue;
        };
        if t.database != inputs.database {
            continue;
        }
        if let Some(entry) = tables.get_mut(&t.name) {
            *field(entry) += (i64::from(run.last.0) - i64::from(run.first.0) + 1) as u64;
        }
    }
}

fn schema_changes(catalog: &Catalog, db: &str) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    if let Some(entry) = catalog.database(db) {
        for (name, st) in &entry.super_tables {
            if let (Some(meta), false) = (&st.last_alter, st.dropped) {
                out.push(SchemaChange {
                    kind: "super_table".into(),
                    name: name.clone(),
                    meta: meta.clone(),
                });
            }
        }
    }
    for t in catalog.tables() {
        if let (true, false, Some(meta)) = (t.database == db, t.dropped, &t.last_alter) {
            out.push(SchemaChange {
                kind: "table".into(),
                name: t.name.clone(),
                meta: meta.clone(),
            });
        }
    }
    out
}

impl BlocksDoc {
    /// Reads and checks a document written by [`BlocksDoc::to_json`].
    pub fn read(path: &Path) -> TaosdumpResult<BlocksDoc> {
        let bytes = std::fs::read(path).map_err(|e| TaosdumpError::io("read", path, e))?;
        let doc: BlocksDoc = serde_json::from_slice(&bytes).map_err(|e| {
            TaosdumpError::bad_file(
                path,
                format!("not an incremental_blocks.json written by `tdibt blocks`: {e}"),
            )
        })?;
        if doc.format != FORMAT || doc.version != VERSION {
            return Err(TaosdumpError::bad_file(
                path,
                format!(
                    "format {:?} version {}; this tdibt reads {FORMAT:?} version {VERSION}",
                    doc.format, doc.version
                ),
            ));
        }
        doc.check()
            .map_err(|what| TaosdumpError::bad_file(path, what))?;
        Ok(doc)
    }

    /// Structural checks a hand-edited file could break.
    fn check(&self) -> Result<(), String> {
        for t in &self.tables {
            for r in t.ranges.iter().chain(&t.deleted) {
                if let (Some(s), Some(e)) = (r.start, r.end) {
                    if s >= e {
                        return Err(format!(
                            "table {:?}: range start {s} is not before its end {e}",
                            t.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tdibt_core::{BlockId, BlockSpan};

    #[test]
    fn ranges_are_merged_runs_with_exclusive_ends_in_each_precision() {
        for (precision, digits) in [
            (Precision::Millis, "2023-11-14T22:00:00.000Z"),
            (Precision::Micros, "2023-11-14T22:00:00.000000Z"),
            (Precision::Nanos, "2023-11-14T22:00:00.000000000Z"),
        ] {
            let span = BlockSpan::one_hour(precision);
            let w = Window(1_700_000_000 / 3600);
            let r = Range::of_windows(span, precision, w, Window(w.0 + 2));
            let hour = precision.units_per_second() * 3600;
            assert_eq!(r.start, Some(i64::from(w.0) * hour));
            assert_eq!(r.end, Some(i64::from(w.0 + 3) * hour));
            assert_eq!(r.last_ts(), Some(i64::from(w.0 + 3) * hour - 1));
            assert_eq!(r.start_iso.as_deref(), Some(digits));
            assert!(r.contains(i64::from(w.0) * hour));
            assert!(!r.contains(i64::from(w.0 + 3) * hour));
        }
        let whole = Range::of_windows(
            BlockSpan::one_hour(Precision::Millis),
            Precision::Millis,
            Window(i32::MIN),
            Window(i32::MAX),
        );
        assert_eq!((whole.start, whole.end), (None, None));
        assert!(whole.contains(i64::MIN) && whole.contains(i64::MAX));
    }

    #[test]
    fn the_document_lists_ranges_deletes_drops_and_counts() {
        let mut c = Catalog::new();
        let span = BlockSpan::one_hour(Precision::Millis);
        c.add_database("db", Precision::Millis, span).unwrap();
        let a = c.add_table("db", "a", Some("st"), Some(2)).unwrap();
        let b = c.add_table("db", "b", None, Some(2)).unwrap();
        let d = c.add_table("db", "d", None, Some(2)).unwrap();
        c.mark_dropped(d);
        let set = |ids: &[(tdibt_core::TableId, i32)]| {
            let mut s = BlockSet::new();
            for (t, w) in ids {
                s.insert(BlockId::new(*t, Window(*w)));
            }
            s
        };
        let new = set(&[(a, 1), (a, 2), (a, 5)]);
        let dirty = set(&[(a, 3), (b, 7)]);
        let deleted = set(&[(b, 9), (b, 10), (d, 1)]);
        let doc = build(Inputs {
            catalog: &c,
            database: "db",
            new: &new,
            dirty: &dirty,
            deleted: &deleted,
            chain_tables: &BTreeSet::new(),
            extra: &BlockSet::new(),
            cut: &Cut::new("topic"),
            checkpoint_written_at_unix_ms: 0,
            since: Since {
                backup: None,
                description: "test".into(),
            },
            generated_at_unix_ms: 0,
        })
        .unwrap();
        let ranges: Vec<(String, i32, i32)> = doc
            .tables
            .iter()
            .flat_map(|t| {
                t.ranges
                    .iter()
                    .map(|r| (t.name.clone(), r.first_window, r.last_window))
            })
            .collect();
        assert_eq!(
            ranges,
            [
                ("a".to_string(), 1, 3),
                ("a".to_string(), 5, 5),
                ("b".to_string(), 7, 7)
            ]
        );
        assert_eq!(doc.tables[0].super_table.as_deref(), Some("st"));
        assert_eq!(doc.tables[1].deleted[0].first_window, 9);
        assert_eq!(doc.tables[1].deleted[0].last_window, 10);
        assert_eq!(doc.dropped_tables, ["d"]);
        assert_eq!(
            doc.counts,
            Counts {
                tables: 2,
                ranges: 3,
                new_blocks: 3,
                dirty_blocks: 2,
                deleted_blocks: 2,
                deleted_ranges: 1,
                dropped_tables: 1,
                schema_changes: 0,
            }
        );
        let back: BlocksDoc = serde_json::from_slice(&doc.to_json()).unwrap();
        assert_eq!(back, doc);
    }
}
