//! The stand-in's data: databases, super tables, tables with their rows, one write-ahead log
//! per vgroup, topics and committed offsets. Serialisable as a whole for `--data-dir`.

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
    /// Rows by primary timestamp; each row holds every column, the timestamp first.
    pub rows: BTreeMap<i64, Vec<Cell>>,
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
