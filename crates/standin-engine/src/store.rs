//! The stand-in's data: databases, super tables, tables with their rows, one write-ahead log
//! per vgroup, topics and committed offsets. Serialisable as a whole for `--data-dir`.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::TaosError;
use crate::value::{Cell, ColDef};

/// Timestamp precision of a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    Millis,
    Micros,
    Nanos,
}

impl Precision {
    pub fn parse(s: &str) -> Result<Precision, TaosError> {
        match s.to_ascii_lowercase().as_str() {
            "ms" => Ok(Precision::Millis),
            "us" => Ok(Precision::Micros),
            "ns" => Ok(Precision::Nanos),
            _ => Err(TaosError::new(
                0x2640,
                format!("Invalid option precision: {s}"),
            )),
        }
    }

    /// 0 ms, 1 us, 2 ns: the WebSocket protocol's code.
    pub fn code(self) -> u8 {
        match self {
            Precision::Millis => 0,
            Precision::Micros => 1,
            Precision::Nanos => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Millis => "ms",
            Precision::Micros => "us",
            Precision::Nanos => "ns",
        }
    }

    /// Nanoseconds per unit.
    pub fn ns_per_unit(self) -> i64 {
        match self {
            Precision::Millis => 1_000_000,
            Precision::Micros => 1_000,
            Precision::Nanos => 1,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Store {
    pub databases: BTreeMap<String, Database>,
    pub topics: BTreeMap<String, Topic>,
    /// Committed offsets: "topic/group" -> vgroup -> next version to read.
    pub committed: BTreeMap<String, BTreeMap<i32, i64>>,
    pub next_uid: i64,
    pub next_vgroup_id: i32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    pub precision: Precision,
    pub vgroups: Vec<i32>,
    pub wal_retention_period: i64,
    pub keep: String,
    pub duration: String,
    pub create_time_ms: i64,
    pub stables: BTreeMap<String, STable>,
    pub tables: BTreeMap<String, Table>,
    pub wal: BTreeMap<i32, Wal>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct STable {
    pub name: String,
    pub columns: Vec<ColDef>,
    pub tags: Vec<ColDef>,
    pub create_time_ms: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub stable: Option<String>,
    pub tags: Vec<Cell>,
    /// A normal table's columns (a child table's come from its super table).
    pub columns: Vec<ColDef>,
    pub vgroup: i32,
    pub uid: i64,
    pub create_time_ms: i64,
    /// Rows by primary key (timestamp, and the composite key's value when the table has one);
    /// each row holds every column, the timestamp first.
    #[serde(with = "rows_as_seq")]
    pub rows: BTreeMap<RowKey, Vec<Cell>>,
    /// TTL in days (0: never expires; TDengine 3.3 docs, 03-table.md).
    #[serde(default)]
    pub ttl: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A row's primary key: the timestamp, then the composite key column's value. TDengine
/// upserts on the whole key, so one table can hold several rows at one timestamp.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowKey {
    pub ts: i64,
    pub pk: PkValue,
}

/// The composite key value; `None` for tables without one. `Max` only bounds ranges.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PkValue {
    None,
    Int(i64),
    UInt(u64),
    Str(String),
    Max,
}

impl RowKey {
    /// The key of a row whose schema is `columns` (None when the timestamp is missing).
    pub fn of(row: &[Cell], columns: &[ColDef]) -> Option<RowKey> {
        let ts = row.first()?.as_i64()?;
        let pk = match columns.get(1).filter(|c| c.primary_key).map(|_| row.get(1)) {
            None => PkValue::None,
            Some(Some(Cell::Int(v))) => PkValue::Int(*v),
            Some(Some(Cell::UInt(v))) => PkValue::UInt(*v),
            Some(Some(Cell::Str(s))) => PkValue::Str(s.clone()),
            Some(_) => return None,
        };
        Some(RowKey { ts, pk })
    }

    /// Every key with a timestamp in `lo..=hi`.
    pub fn range(lo: i64, hi: i64) -> std::ops::RangeInclusive<RowKey> {
        RowKey {
            ts: lo,
            pk: PkValue::None,
        }..=RowKey {
            ts: hi,
            pk: PkValue::Max,
        }
    }
}

/// JSON maps need string keys, so the rows are kept on disk as a list of (key, row).
mod rows_as_seq {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::RowKey;
    use crate::value::Cell;

    pub fn serialize<S: Serializer>(
        rows: &BTreeMap<RowKey, Vec<Cell>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(rows.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<RowKey, Vec<Cell>>, D::Error> {
        let pairs: Vec<(RowKey, Vec<Cell>)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

/// One vgroup's log; the version of `entries[i]` is `first + i`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Wal {
    pub first: i64,
    pub entries: VecDeque<WalEntry>,
}

impl Wal {
    /// The version the next entry gets (one past the last).
    pub fn end(&self) -> i64 {
        self.first + self.entries.len() as i64
    }

    pub fn get(&self, version: i64) -> Option<&WalEntry> {
        let i = usize::try_from(version - self.first).ok()?;
        self.entries.get(i)
    }
}

/// What one statement wrote to one vgroup. An entry with neither metas nor rows stands for
/// the WAL versions taosd writes and TMQ never delivers (offset commits, subscription
/// changes: `vnodeSvr.c` `vnodeProcessWriteMsg`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WalEntry {
    /// Create/alter/drop/delete descriptions (TMQ meta JSON), in order.
    pub metas: Vec<serde_json::Value>,
    /// The same changes in their raw form (`raw_meta`), one per meta; absent in logs an
    /// older stand-in wrote.
    #[serde(default)]
    pub raw_metas: Vec<crate::raw_meta::RawMeta>,
    /// Rows written, per table.
    pub rows: Vec<WalRows>,
    /// The super table the entry concerns, for `AS STABLE` topics.
    pub stables: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WalRows {
    pub table: String,
    /// The table's columns when the rows were written.
    pub columns: Vec<ColDef>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub db: String,
    pub with_meta: bool,
    pub stable: Option<String>,
    pub create_time_ms: i64,
    /// `ONLY META`: meta messages and no data (TDengine 3.3 sql.y `with_meta`).
    #[serde(default)]
    pub only_meta: bool,
    /// A query topic (`AS SELECT`): its fixed projection.
    #[serde(default)]
    pub query: Option<TopicQuery>,
    /// The statement as written, for ins_topics.
    #[serde(default)]
    pub sql: String,
}

/// What a query topic delivers: the named columns of one table or super table, fixed when
/// the topic is created (TDengine docs 40-tmq.md: "the structure of the subscribed data is
/// fixed"; `*` expands to the columns then, plus the tags of a super table).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopicQuery {
    pub table: String,
    pub is_stable: bool,
    /// Projected names: columns, tags, or `tbname`.
    pub columns: Vec<String>,
}

impl Topic {
    /// The rows of a log entry's table the topic delivers: none for `ONLY META`; a query
    /// topic's projection of its table (columns as they were written, tags and `tbname` as
    /// they are now); all of them otherwise.
    pub fn rows_of<'a>(&self, db: &Database, rows: &'a WalRows) -> Option<Cow<'a, WalRows>> {
        if self.only_meta {
            return None;
        }
        let Some(q) = &self.query else {
            return Some(Cow::Borrowed(rows));
        };
        let table = db.tables.get(&rows.table);
        let of_source = if q.is_stable {
            table.and_then(|t| t.stable.as_deref()) == Some(q.table.as_str())
        } else {
            rows.table == q.table
        };
        if !of_source {
            return None;
        }
        let tag_defs = table
            .and_then(|t| t.stable.as_ref())
            .and_then(|s| db.stables.get(s))
            .map(|s| s.tags.as_slice())
            .unwrap_or_default();
        let mut columns = Vec::new();
        // Each projected name: a written column's index, or a fixed value (tag, tbname).
        let mut picks: Vec<Result<usize, Cell>> = Vec::new();
        for name in &q.columns {
            if let Some(i) = rows.columns.iter().position(|c| &c.name == name) {
                columns.push(rows.columns[i].clone());
                picks.push(Ok(i));
            } else if let Some(i) = tag_defs.iter().position(|c| &c.name == name) {
                columns.push(tag_defs[i].clone());
                let value = table.and_then(|t| t.tags.get(i)).cloned();
                picks.push(Err(value.unwrap_or(Cell::Null)));
            } else if name == "tbname" {
                columns.push(ColDef::new("tbname", crate::value::ColType::VarChar, 192));
                picks.push(Err(Cell::Str(rows.table.clone())));
            } else {
                // Dropped since the topic was made: TDengine refuses that drop; a column
                // added back under the name reads NULL until written.
                columns.push(ColDef::new(name.clone(), crate::value::ColType::Int, 4));
                picks.push(Err(Cell::Null));
            }
        }
        let projected = rows
            .rows
            .iter()
            .map(|r| {
                picks
                    .iter()
                    .map(|p| match p {
                        Ok(i) => r.get(*i).cloned().unwrap_or(Cell::Null),
                        Err(v) => v.clone(),
                    })
                    .collect()
            })
            .collect();
        Some(Cow::Owned(WalRows {
            table: rows.table.clone(),
            columns,
            rows: projected,
        }))
    }

    /// The super table or table the topic reads from, when not a whole database.
    pub fn source_table(&self) -> Option<&str> {
        self.stable
            .as_deref()
            .or(self.query.as_ref().map(|q| q.table.as_str()))
    }
}

impl Database {
    /// The vgroup a table name hashes to (FNV-1a; TDengine hashes names too, with its own
    /// function, so the spread differs but is as stable).
    pub fn vgroup_of(&self, table: &str) -> i32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in table.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        let n = self.vgroups.len().max(1);
        self.vgroups.get(h as usize % n).copied().unwrap_or(2)
    }

    /// A table's columns (its super table's for a child).
    pub fn columns_of(&self, table: &Table) -> Vec<ColDef> {
        match &table.stable {
            Some(s) => self
                .stables
                .get(s)
                .map(|s| s.columns.clone())
                .unwrap_or_default(),
            None => table.columns.clone(),
        }
    }

    /// Appends an entry to a vgroup's log.
    pub fn append(&mut self, vgroup: i32, entry: WalEntry) {
        self.wal.entry(vgroup).or_default().entries.push_back(entry);
    }
}

impl Store {
    pub fn db(&self, name: &str) -> Result<&Database, TaosError> {
        self.databases
            .get(name)
            .ok_or_else(|| TaosError::db_not_exist(name))
    }

    pub fn db_mut(&mut self, name: &str) -> Result<&mut Database, TaosError> {
        self.databases
            .get_mut(name)
            .ok_or_else(|| TaosError::db_not_exist(name))
    }

    pub fn group_key(topic: &str, group: &str) -> String {
        format!("{topic}/{group}")
    }
}
