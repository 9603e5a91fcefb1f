//! The table catalog: a dense [`TableId`] for every table tdibt has seen, and what it knows
//! of each database, super table and table.
//!
//! Ids are handed out in order of first sight and never reused for another (database,
//! table). A table dropped and created again under the same name gets its old id back: a
//! restore replaces windows as a whole, so the old and new table's blocks never mix.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::block::{BlockSpan, Precision, TableId};

/// Why the catalog refused a change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("database {0:?} is not in the catalog")]
    UnknownDatabase(String),
    #[error(
        "database {database:?} was recorded with {recorded} and block span {recorded_span}, \
         now {found} and {found_span}: block ids would change meaning"
    )]
    DatabaseChanged {
        database: String,
        recorded: Precision,
        recorded_span: i64,
        found: Precision,
        found_span: i64,
    },
    #[error("the catalog is full: all 2^32 table ids are used")]
    Full,
    #[error("catalog is inconsistent: {0}")]
    Inconsistent(String),
}

/// A database's properties that fix the meaning of its block ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    pub name: String,
    pub precision: Precision,
    pub block_span: BlockSpan,
    /// Super tables, with whether each is dropped.
    #[serde(default)]
    pub super_tables: BTreeMap<String, SuperTableEntry>,
}

/// A super table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuperTableEntry {
    pub dropped: bool,
    /// The last schema change seen (TDengine's meta JSON), if any since the catalog began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alter: Option<String>,
}

/// A child or normal table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub id: TableId,
    pub database: String,
    pub name: String,
    /// The super table of a child table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub super_table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vgroup_id: Option<i32>,
    #[serde(default)]
    pub dropped: bool,
    /// The last schema change seen (TDengine's meta JSON, or a note that the table was
    /// created again after a drop), if any: backups record such a table's statement again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alter: Option<String>,
}

/// The catalog. Serialises as its databases and its table list (index = id).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "CatalogData")]
pub struct Catalog {
    databases: BTreeMap<String, DatabaseEntry>,
    tables: Vec<TableEntry>,
    index: HashMap<(String, String), TableId>,
}

#[derive(Serialize, Deserialize)]
struct CatalogData {
    databases: BTreeMap<String, DatabaseEntry>,
    tables: Vec<TableEntry>,
}

impl TryFrom<CatalogData> for Catalog {
    type Error = CatalogError;
    fn try_from(data: CatalogData) -> Result<Self, CatalogError> {
        let mut index = HashMap::with_capacity(data.tables.len());
        for (i, t) in data.tables.iter().enumerate() {
            if t.id.0 as usize != i {
                return Err(CatalogError::Inconsistent(format!(
                    "table {:?} at position {i} has id {}",
                    t.name, t.id.0
                )));
            }
            if !data.databases.contains_key(&t.database) {
                return Err(CatalogError::Inconsistent(format!(
                    "table {:?} names unknown database {:?}",
                    t.name, t.database
                )));
            }
            if index
                .insert((t.database.clone(), t.name.clone()), t.id)
                .is_some()
            {
                return Err(CatalogError::Inconsistent(format!(
                    "table {}.{} appears twice",
                    t.database, t.name
                )));
            }
        }
        Ok(Catalog {
            databases: data.databases,
            tables: data.tables,
            index,
        })
    }
}

/// The persisted shape, borrowed: a checkpoint serialises the catalog every few seconds, and
/// cloning it (with its index) for that cost milliseconds at thousands of tables.
#[derive(Serialize)]
struct CatalogDataRef<'a> {
    databases: &'a BTreeMap<String, DatabaseEntry>,
    tables: &'a [TableEntry],
}

impl Serialize for Catalog {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CatalogDataRef {
            databases: &self.databases,
            tables: &self.tables,
        }
        .serialize(serializer)
    }
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a database; running again with the same properties changes nothing, with
    /// different ones is refused (existing block ids would change meaning).
    pub fn add_database(
        &mut self,
        name: &str,
        precision: Precision,
        block_span: BlockSpan,
    ) -> Result<(), CatalogError> {
        if let Some(db) = self.databases.get(name) {
            if db.precision != precision || db.block_span != block_span {
                return Err(CatalogError::DatabaseChanged {
                    database: name.to_string(),
                    recorded: db.precision,
                    recorded_span: db.block_span.units(),
                    found: precision,
                    found_span: block_span.units(),
                });
            }
            return Ok(());
        }
        self.databases.insert(
            name.to_string(),
            DatabaseEntry {
                name: name.to_string(),
                precision,
                block_span,
                super_tables: BTreeMap::new(),
            },
        );
        Ok(())
    }

    pub fn database(&self, name: &str) -> Option<&DatabaseEntry> {
        self.databases.get(name)
    }

    pub fn databases(&self) -> impl Iterator<Item = &DatabaseEntry> {
        self.databases.values()
    }

    fn database_mut(&mut self, name: &str) -> Result<&mut DatabaseEntry, CatalogError> {
        self.databases
            .get_mut(name)
            .ok_or_else(|| CatalogError::UnknownDatabase(name.to_string()))
    }

    /// Records a super table (again: un-drops it).
    pub fn add_super_table(&mut self, db: &str, name: &str) -> Result<(), CatalogError> {
        let entry = self
            .database_mut(db)?
            .super_tables
            .entry(name.to_string())
            .or_default();
        entry.dropped = false;
        Ok(())
    }

    pub fn is_super_table(&self, db: &str, name: &str) -> bool {
        self.databases
            .get(db)
            .is_some_and(|d| d.super_tables.contains_key(name))
    }

    /// Marks a super table dropped (its children are dropped separately).
    pub fn drop_super_table(&mut self, db: &str, name: &str) {
        if let Some(s) = self
            .databases
            .get_mut(db)
            .and_then(|d| d.super_tables.get_mut(name))
        {
            s.dropped = true;
        }
    }

    /// Records a table created by a statement that says what it is (a create in the change
    /// feed, or the server's table list): unlike [`Self::add_table`], `super_table: None`
    /// means "a normal table", so a normal table created under a former child table's name
    /// no longer counts as that super table's child (a later DROP STABLE must not drop it).
    pub fn create_table(
        &mut self,
        db: &str,
        name: &str,
        super_table: Option<&str>,
        vgroup_id: Option<i32>,
    ) -> Result<TableId, CatalogError> {
        let id = self.add_table(db, name, super_table, vgroup_id)?;
        self.tables[id.0 as usize].super_table = super_table.map(str::to_string);
        Ok(id)
    }

    /// Records a table and returns its id (an existing one is updated and un-dropped). A
    /// `super_table` of `None` means "not known here" and keeps what was recorded: use
    /// [`Self::create_table`] when the kind is known.
    pub fn add_table(
        &mut self,
        db: &str,
        name: &str,
        super_table: Option<&str>,
        vgroup_id: Option<i32>,
    ) -> Result<TableId, CatalogError> {
        if !self.databases.contains_key(db) {
            return Err(CatalogError::UnknownDatabase(db.to_string()));
        }
        if let Some(id) = self.id_of(db, name) {
            let t = &mut self.tables[id.0 as usize];
            if t.dropped {
                // Its new statement (tags, schema) is not the one backups recorded.
                t.last_alter = Some("created again after a drop".into());
            }
            t.dropped = false;
            if super_table.is_some() {
                t.super_table = super_table.map(str::to_string);
            }
            if vgroup_id.is_some() {
                t.vgroup_id = vgroup_id;
            }
            return Ok(id);
        }
        let id = u32::try_from(self.tables.len())
            .map(TableId)
            .map_err(|_| CatalogError::Full)?;
        self.tables.push(TableEntry {
            id,
            database: db.to_string(),
            name: name.to_string(),
            super_table: super_table.map(str::to_string),
            vgroup_id,
            dropped: false,
            last_alter: None,
        });
        self.index.insert((db.to_string(), name.to_string()), id);
        Ok(id)
    }

    pub fn id_of(&self, db: &str, name: &str) -> Option<TableId> {
        self.index.get(&(db.to_string(), name.to_string())).copied()
    }

    pub fn table(&self, id: TableId) -> Option<&TableEntry> {
        self.tables.get(id.0 as usize)
    }

    pub fn mark_dropped(&mut self, id: TableId) {
        if let Some(t) = self.tables.get_mut(id.0 as usize) {
            t.dropped = true;
        }
    }

    /// Records a schema change of a table or super table.
    pub fn record_alter(&mut self, db: &str, name: &str, meta: String) {
        if let Some(id) = self.id_of(db, name) {
            self.tables[id.0 as usize].last_alter = Some(meta);
        } else if let Some(s) = self
            .databases
            .get_mut(db)
            .and_then(|d| d.super_tables.get_mut(name))
        {
            s.last_alter = Some(meta);
        }
    }

    /// The live (not dropped) children of a super table.
    pub fn children_of(&self, db: &str, super_table: &str) -> Vec<TableId> {
        self.tables
            .iter()
            .filter(|t| {
                !t.dropped && t.database == db && t.super_table.as_deref() == Some(super_table)
            })
            .map(|t| t.id)
            .collect()
    }

    /// The live tables of a database.
    pub fn live_tables_of(&self, db: &str) -> Vec<TableId> {
        self.tables
            .iter()
            .filter(|t| !t.dropped && t.database == db)
            .map(|t| t.id)
            .collect()
    }

    /// The live tables of a vgroup.
    pub fn tables_in_vgroup(&self, db: &str, vgroup_id: i32) -> Vec<TableId> {
        self.tables
            .iter()
            .filter(|t| !t.dropped && t.database == db && t.vgroup_id == Some(vgroup_id))
            .map(|t| t.id)
            .collect()
    }

    /// Every table ever seen, dropped ones included, by id.
    pub fn tables(&self) -> impl Iterator<Item = &TableEntry> {
        self.tables.iter()
    }

    /// Number of tables ever seen.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Number of live tables.
    pub fn live_tables(&self) -> usize {
        self.tables.iter().filter(|t| !t.dropped).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let mut c = Catalog::new();
        c.add_database(
            "db",
            Precision::Millis,
            BlockSpan::one_hour(Precision::Millis),
        )
        .unwrap();
        c
    }

    #[test]
    fn ids_are_dense_and_stable() {
        let mut c = catalog();
        let a = c.add_table("db", "a", None, Some(2)).unwrap();
        let b = c.add_table("db", "b", Some("meters"), Some(3)).unwrap();
        assert_eq!((a, b), (TableId(0), TableId(1)));
        assert_eq!(c.add_table("db", "a", None, None).unwrap(), a);
        assert_eq!(c.id_of("db", "b"), Some(b));
        assert_eq!(c.table(b).unwrap().vgroup_id, Some(3));
        assert_eq!(c.id_of("db", "zz"), None);
    }

    #[test]
    fn a_recreated_table_gets_its_old_id() {
        let mut c = catalog();
        let a = c.add_table("db", "a", None, None).unwrap();
        c.mark_dropped(a);
        assert!(c.table(a).unwrap().dropped);
        assert_eq!(c.live_tables(), 0);
        assert_eq!(c.add_table("db", "a", None, None).unwrap(), a);
        assert!(!c.table(a).unwrap().dropped);
    }

    #[test]
    fn children_and_vgroups() {
        let mut c = catalog();
        c.add_super_table("db", "meters").unwrap();
        let d0 = c.add_table("db", "d0", Some("meters"), Some(1)).unwrap();
        let d1 = c.add_table("db", "d1", Some("meters"), Some(2)).unwrap();
        let n = c.add_table("db", "n", None, Some(1)).unwrap();
        assert!(c.is_super_table("db", "meters"));
        assert_eq!(c.children_of("db", "meters"), vec![d0, d1]);
        assert_eq!(c.tables_in_vgroup("db", 1), vec![d0, n]);
        c.mark_dropped(d0);
        assert_eq!(c.children_of("db", "meters"), vec![d1]);
    }

    #[test]
    fn a_normal_table_created_under_a_former_child_name_leaves_the_super_table() {
        let mut c = catalog();
        c.add_super_table("db", "meters").unwrap();
        let d1 = c.create_table("db", "d1", Some("meters"), Some(1)).unwrap();
        c.mark_dropped(d1);
        assert_eq!(c.create_table("db", "d1", None, Some(1)).unwrap(), d1);
        assert_eq!(c.table(d1).unwrap().super_table, None);
        assert!(c.children_of("db", "meters").is_empty());
        // A table first seen in data (kind unknown) keeps what was recorded.
        let d2 = c.create_table("db", "d2", Some("meters"), Some(1)).unwrap();
        c.add_table("db", "d2", None, Some(1)).unwrap();
        assert_eq!(c.table(d2).unwrap().super_table.as_deref(), Some("meters"));
    }

    #[test]
    fn unknown_or_changed_databases_are_refused() {
        let mut c = catalog();
        assert_eq!(
            c.add_table("other", "a", None, None),
            Err(CatalogError::UnknownDatabase("other".into()))
        );
        assert!(c
            .add_database(
                "db",
                Precision::Millis,
                BlockSpan::one_hour(Precision::Millis)
            )
            .is_ok());
        assert!(matches!(
            c.add_database(
                "db",
                Precision::Micros,
                BlockSpan::one_hour(Precision::Micros)
            ),
            Err(CatalogError::DatabaseChanged { .. })
        ));
    }

    #[test]
    fn serde_round_trip_rebuilds_the_index() {
        let mut c = catalog();
        c.add_super_table("db", "meters").unwrap();
        let d0 = c.add_table("db", "d0", Some("meters"), Some(1)).unwrap();
        c.record_alter("db", "d0", "{\"alterType\":5}".into());
        let json = serde_json::to_string(&c).unwrap();
        let back: Catalog = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.id_of("db", "d0"), Some(d0));
    }

    #[test]
    fn inconsistent_serialised_catalogs_are_refused() {
        let bad_id = r#"{"databases":{"db":{"name":"db","precision":"ms","block_span":3600000}},
            "tables":[{"id":5,"database":"db","name":"a"}]}"#;
        assert!(serde_json::from_str::<Catalog>(bad_id).is_err());
        let dup = r#"{"databases":{"db":{"name":"db","precision":"ms","block_span":3600000}},
            "tables":[{"id":0,"database":"db","name":"a"},{"id":1,"database":"db","name":"a"}]}"#;
        assert!(serde_json::from_str::<Catalog>(dup).is_err());
        let bad_span = r#"{"databases":{"db":{"name":"db","precision":"ms","block_span":0}},
            "tables":[]}"#;
        assert!(serde_json::from_str::<Catalog>(bad_span).is_err());
    }
}
