//! Databases, super tables, tables and topics, and the TMQ meta each writes to the log
//! (built by `meta`, as taosd builds it). Schema changes are in `alter`.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::ast::{CreateKind, Expr, Name, TopicSource};
use crate::convert::{cell, now_ms, Zone};
use crate::error::TaosError;
use crate::meta;
use crate::raw_meta;
use crate::store::{Database, Precision, STable, Store, Table, Topic, TopicQuery, WalEntry};
use crate::value::{Cell, ColDef, ColType};

pub fn create_database(
    store: &mut Store,
    name: &str,
    if_not_exists: bool,
    options: &[(String, Expr)],
) -> Result<(), TaosError> {
    if store.databases.contains_key(name) {
        return if if_not_exists {
            Ok(())
        } else {
            Err(TaosError::db_exists())
        };
    }
    let mut precision = Precision::Millis;
    let mut vgroups = 2u32;
    let mut wal_retention_period = 3600i64;
    let mut keep = "3650d".to_string();
    let mut duration = "10d".to_string();
    for (key, value) in options {
        match (key.as_str(), value) {
            ("PRECISION", Expr::Str(s)) => precision = Precision::parse(s)?,
            ("VGROUPS", Expr::Int(n)) if (1..=1024).contains(n) => vgroups = *n as u32,
            ("WAL_RETENTION_PERIOD", Expr::Int(n)) if *n >= -1 => wal_retention_period = *n as i64,
            ("KEEP", v) => keep = expr_text(v),
            ("DURATION", v) => duration = expr_text(v),
            (
                "REPLICA" | "BUFFER" | "PAGES" | "PAGESIZE" | "MINROWS" | "MAXROWS" | "COMP"
                | "WAL_LEVEL" | "WAL_FSYNC_PERIOD" | "WAL_RETENTION_SIZE" | "CACHEMODEL"
                | "CACHESIZE" | "STT_TRIGGER" | "SINGLE_STABLE" | "TABLE_PREFIX" | "TABLE_SUFFIX"
                // The rest of what SHOW CREATE DATABASE prints (command.c), so its
                // statement runs again as taosd runs it.
                | "TSDB_PAGESIZE" | "KEEP_TIME_OFFSET" | "ENCRYPT_ALGORITHM" | "S3_CHUNKSIZE"
                | "S3_CHUNKPAGES" | "S3_KEEPLOCAL" | "S3_COMPACT" | "COMPACT_INTERVAL"
                | "COMPACT_TIME_RANGE" | "COMPACT_TIME_OFFSET",
                _,
            ) => {}
            (other, _) => return Err(TaosError::new(0x2640, format!("Invalid option {other}"))),
        }
    }
    if store.next_vgroup_id < 2 {
        store.next_vgroup_id = 2;
    }
    let ids: Vec<i32> = (0..vgroups as i32)
        .map(|i| store.next_vgroup_id + i)
        .collect();
    store.next_vgroup_id += vgroups as i32;
    let wal = ids.iter().map(|id| (*id, Default::default())).collect();
    store.databases.insert(
        name.to_string(),
        Database {
            name: name.to_string(),
            precision,
            vgroups: ids,
            wal_retention_period,
            keep,
            duration,
            create_time_ms: now_ms(),
            stables: BTreeMap::new(),
            tables: BTreeMap::new(),
            wal,
        },
    );
    Ok(())
}

fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Str(s) => s.clone(),
        Expr::Int(v) => v.to_string(),
        other => format!("{other:?}"),
    }
}

pub fn drop_database(store: &mut Store, name: &str, if_exists: bool) -> Result<(), TaosError> {
    if !store.databases.contains_key(name) {
        return if if_exists {
            Ok(())
        } else {
            Err(TaosError::db_not_exist(name))
        };
    }
    if store.topics.values().any(|t| t.db == name) {
        return Err(TaosError::topic_must_be_dropped());
    }
    store.databases.remove(name);
    Ok(())
}

/// A refusal of a schema TDengine does not accept; the message names the rule.
pub(crate) fn schema_error(message: impl Into<String>) -> TaosError {
    TaosError::new(0x2600, message)
}

/// TDengine's rules for a new table's columns and tags (docs 03-table.md, 04-stable.md,
/// 01-data-type.md): a TIMESTAMP first; unique names; `PRIMARY KEY` only on the second
/// column, of INT/BIGINT (UNSIGNED) or VARCHAR; JSON only as the sole tag; DECIMAL only
/// as a column.
pub(crate) fn check_schema(columns: &[ColDef], tags: &[ColDef]) -> Result<(), TaosError> {
    match columns.first() {
        Some(c) if c.ty == ColType::Timestamp && !c.primary_key => {}
        _ => return Err(TaosError::new(0x2641, "First column must be timestamp")),
    }
    let mut names: Vec<&str> = columns
        .iter()
        .chain(tags)
        .map(|c| c.name.as_str())
        .collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(TaosError::new(0x263C, "Duplicated column names"));
    }
    for (i, c) in columns.iter().enumerate() {
        if c.primary_key && i != 1 {
            return Err(schema_error(format!(
                "PRIMARY KEY on column {}: only the second column can be the composite primary key",
                c.name
            )));
        }
        if c.primary_key && !c.ty.can_be_primary_key() {
            return Err(schema_error(format!(
                "PRIMARY KEY on column {} of type {}: the composite key must be INT, INT UNSIGNED, BIGINT, BIGINT UNSIGNED or VARCHAR",
                c.name,
                c.ty.sql_name()
            )));
        }
        if c.ty == ColType::Json {
            return Err(TaosError::new(0x2652, "Only tag can be json type"));
        }
    }
    for t in tags {
        if t.primary_key {
            return Err(schema_error(format!("PRIMARY KEY on tag {}", t.name)));
        }
        if matches!(t.ty, ColType::Decimal { .. }) {
            return Err(schema_error(format!(
                "DECIMAL tag {}: DECIMAL is a column type only",
                t.name
            )));
        }
        if t.ty == ColType::Json && tags.len() > 1 {
            return Err(schema_error(format!(
                "JSON tag {} with other tags: a JSON tag must be the only tag",
                t.name
            )));
        }
    }
    Ok(())
}

pub fn create_stable(
    db: &mut Database,
    name: &str,
    if_not_exists: bool,
    columns: Vec<ColDef>,
    tags: Vec<ColDef>,
) -> Result<(), TaosError> {
    if db.stables.contains_key(name) || db.tables.contains_key(name) {
        return if if_not_exists {
            Ok(())
        } else {
            Err(TaosError::table_exists())
        };
    }
    check_schema(&columns, &tags)?;
    if tags.is_empty() {
        return Err(TaosError::new(0x2643, "Invalid number of tag columns"));
    }
    let meta = meta::create_table_json("super", name, &columns, &tags);
    let raw = raw_meta::stable(raw_meta::raw_type::CREATE_STB, name, &columns, &tags);
    db.stables.insert(
        name.to_string(),
        STable {
            name: name.to_string(),
            columns,
            tags,
            create_time_ms: now_ms(),
            comment: None,
        },
    );
    for vg in db.vgroups.clone() {
        db.append(
            vg,
            WalEntry {
                metas: vec![meta.clone()],
                raw_metas: vec![raw.clone()],
                rows: vec![],
                stables: vec![name.to_string()],
            },
        );
    }
    Ok(())
}

/// Creates a child table from tag literals; returns its element of a create message (the
/// caller batches the elements of one vgroup into one message, alone or with rows).
pub fn new_child(
    db: &mut Database,
    uid: i64,
    name: &str,
    stable: &str,
    tag_names: Option<&[String]>,
    tags: &[Expr],
    tz: &Zone,
) -> Result<(Map<String, Json>, Vec<u8>), TaosError> {
    let st = db
        .stables
        .get(stable)
        .ok_or_else(TaosError::stable_not_exist)?;
    let mut values = vec![Cell::Null; st.tags.len()];
    let bound: Vec<String> = match tag_names {
        Some(names) => names.to_vec(),
        None => st.tags.iter().map(|t| t.name.clone()).collect(),
    };
    if bound.len() != tags.len() {
        return Err(TaosError::new(0x2601, "Tags number not matched"));
    }
    for (n, e) in bound.iter().zip(tags) {
        let i = st
            .tags
            .iter()
            .position(|t| &t.name == n)
            .ok_or_else(|| TaosError::invalid_column(n))?;
        values[i] = cell(e, &st.tags[i], db.precision, tz)?;
    }
    let element = meta::child_element(name, stable, &st.tags, &values, &bound);
    let raw = raw_meta::create_table_req(&raw_meta::NewTable::Child {
        name,
        stable,
        tag_defs: &st.tags,
        values: &values,
        bound: &bound,
        columns: st.columns.len(),
    });
    let table = Table {
        name: name.to_string(),
        stable: Some(stable.to_string()),
        tags: values,
        columns: Vec::new(),
        vgroup: db.vgroup_of(name),
        uid,
        create_time_ms: now_ms(),
        rows: BTreeMap::new(),
        ttl: 0,
        comment: None,
    };
    db.tables.insert(name.to_string(), table);
    Ok((element, raw))
}

/// What one CREATE TABLE statement logs to one vgroup: taosd sends each vgroup one batch
/// request, and `processCreateTable` turns a batch into one message — child tables into
/// one `create` with `createList`, a normal table's batch into the first table's create.
#[derive(Default)]
struct CreateBatch {
    children: Vec<Map<String, Json>>,
    normal: Option<Json>,
    first_is_normal: bool,
    stables: Vec<String>,
    /// Every table's `SVCreateTbReq`, in the statement's order: the raw batch.
    raw_reqs: Vec<Vec<u8>>,
}

impl CreateBatch {
    fn into_entry(self) -> WalEntry {
        let meta = if self.first_is_normal {
            self.normal
        } else {
            Some(meta::create_child_json(&self.children))
        };
        WalEntry {
            metas: meta.into_iter().collect(),
            raw_metas: vec![raw_meta::create_tables(&self.raw_reqs)],
            rows: vec![],
            stables: self.stables,
        }
    }
}

pub fn create_tables(
    store: &mut Store,
    db_name: &str,
    if_not_exists: bool,
    tables: Vec<(Name, CreateKind)>,
    tz: &Zone,
) -> Result<(), TaosError> {
    let mut batches: BTreeMap<(String, i32), CreateBatch> = BTreeMap::new();
    for (name, kind) in tables {
        let db_name = name.db.clone().unwrap_or_else(|| db_name.to_string());
        store.next_uid += 1;
        let uid = store.next_uid;
        let db = store.db_mut(&db_name)?;
        if db.tables.contains_key(&name.name) || db.stables.contains_key(&name.name) {
            if if_not_exists {
                continue;
            }
            return Err(TaosError::table_exists());
        }
        let vg = db.vgroup_of(&name.name);
        let batch = batches.entry((db_name, vg)).or_default();
        let fresh = batch.children.is_empty() && batch.normal.is_none();
        match kind {
            CreateKind::Normal(columns) => {
                check_schema(&columns, &[])?;
                let meta = meta::create_table_json("normal", &name.name, &columns, &[]);
                batch
                    .raw_reqs
                    .push(raw_meta::create_table_req(&raw_meta::NewTable::Normal {
                        name: &name.name,
                        columns: &columns,
                    }));
                db.tables.insert(
                    name.name.clone(),
                    Table {
                        name: name.name.clone(),
                        stable: None,
                        tags: vec![],
                        columns,
                        vgroup: vg,
                        uid,
                        create_time_ms: now_ms(),
                        rows: BTreeMap::new(),
                        ttl: 0,
                        comment: None,
                    },
                );
                if fresh {
                    batch.first_is_normal = true;
                    batch.normal = Some(meta);
                }
            }
            CreateKind::Child {
                stable,
                tag_names,
                tags,
            } => {
                let (element, raw) = new_child(
                    db,
                    uid,
                    &name.name,
                    &stable.name,
                    tag_names.as_deref(),
                    &tags,
                    tz,
                )?;
                batch.children.push(element);
                batch.raw_reqs.push(raw);
                batch.stables.push(stable.name);
            }
        }
    }
    for ((db_name, vg), mut batch) in batches {
        batch.stables.sort();
        batch.stables.dedup();
        store.db_mut(&db_name)?.append(vg, batch.into_entry());
    }
    Ok(())
}

/// Drops tables; each vgroup gets one drop message naming its tables of the statement
/// (taosd sends one batch per vgroup, `processDropTable`).
pub fn drop_tables(
    store: &mut Store,
    db_name: &str,
    names: &[Name],
    if_exists: bool,
) -> Result<(), TaosError> {
    // parTranslater.c rewriteDropTable: a super table named alone is dropped as by DROP
    // STABLE (with its checks); among other names it is TSDB_CODE_PAR_INVALID_DROP_STABLE.
    let is_stable = |store: &mut Store, name: &Name| -> Result<bool, TaosError> {
        let d = name.db.as_deref().unwrap_or(db_name);
        Ok(store.db_mut(d)?.stables.contains_key(&name.name))
    };
    if let [only] = names {
        if is_stable(store, only)? {
            return drop_stable(store, db_name, only, if_exists);
        }
    }
    // Refused at translation, before any table is dropped.
    for name in names {
        if is_stable(store, name)? {
            return Err(TaosError::new(0x263A, "Cannot drop super table in batch"));
        }
    }
    let mut batches: BTreeMap<(String, i32), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for name in names {
        let d = name.db.as_deref().unwrap_or(db_name).to_string();
        let db = store.db_mut(&d)?;
        match db.tables.remove(&name.name) {
            Some(t) => {
                let b = batches.entry((d, t.vgroup)).or_default();
                b.0.push(t.name);
                b.1.extend(t.stable);
            }
            None if if_exists => {}
            None => return Err(TaosError::table_not_exist(&name.name)),
        }
    }
    for ((d, vg), (tables, mut stables)) in batches {
        stables.sort();
        stables.dedup();
        store.db_mut(&d)?.append(
            vg,
            WalEntry {
                metas: vec![meta::drop_tables_json(&tables)],
                raw_metas: vec![raw_meta::drop_tables(&tables)],
                rows: vec![],
                stables,
            },
        );
    }
    Ok(())
}

pub fn drop_stable(
    store: &mut Store,
    db_name: &str,
    name: &Name,
    if_exists: bool,
) -> Result<(), TaosError> {
    let db_name = name.db.as_deref().unwrap_or(db_name).to_string();
    if store
        .topics
        .values()
        .any(|t| t.db == db_name && t.source_table() == Some(name.name.as_str()))
    {
        // mndStb.c mndProcessDropStbReq: TSDB_CODE_MND_TOPIC_MUST_BE_DELETED.
        return Err(TaosError::topic_must_be_dropped());
    }
    let db = store.db_mut(&db_name)?;
    if db.stables.remove(&name.name).is_none() {
        return if if_exists {
            Ok(())
        } else {
            Err(TaosError::stable_not_exist())
        };
    }
    db.tables
        .retain(|_, t| t.stable.as_deref() != Some(name.name.as_str()));
    let meta = meta::drop_stable_json(&name.name);
    let raw = raw_meta::drop_stable(&name.name);
    for vg in db.vgroups.clone() {
        db.append(
            vg,
            WalEntry {
                metas: vec![meta.clone()],
                raw_metas: vec![raw.clone()],
                rows: vec![],
                stables: vec![name.name.clone()],
            },
        );
    }
    Ok(())
}

pub fn create_topic(
    store: &mut Store,
    session_db: Option<&str>,
    stmt: TopicStmt,
) -> Result<(), TaosError> {
    if store.topics.contains_key(&stmt.name) {
        return if stmt.if_not_exists {
            Ok(())
        } else {
            Err(TaosError::topic_exists())
        };
    }
    let qualified = |n: Name| -> Result<(String, String), TaosError> {
        let db =
            n.db.or_else(|| session_db.map(str::to_string))
                .ok_or_else(TaosError::no_db)?;
        Ok((db, n.name))
    };
    let (db, stable, query) = match stmt.source {
        TopicSource::Database(db) => (db, None, None),
        TopicSource::STable(n) => {
            let (db, st) = qualified(n)?;
            (db, Some(st), None)
        }
        TopicSource::Query { columns, from } => {
            let (db, table) = qualified(from)?;
            let q = topic_query(store.db(&db)?, &table, columns)?;
            (db, None, Some(q))
        }
    };
    let d = store.db(&db)?;
    if d.wal_retention_period == 0 {
        return Err(TaosError::new(0x038C, "WAL retention period is zero"));
    }
    if let Some(s) = &stable {
        if !d.stables.contains_key(s) {
            return Err(TaosError::stable_not_exist());
        }
    }
    store.topics.insert(
        stmt.name.clone(),
        Topic {
            name: stmt.name,
            db,
            with_meta: stmt.with_meta,
            stable,
            create_time_ms: now_ms(),
            only_meta: stmt.only_meta,
            query,
            sql: stmt.sql,
        },
    );
    Ok(())
}

/// A CREATE TOPIC statement's parts.
pub struct TopicStmt {
    pub name: String,
    pub if_not_exists: bool,
    pub with_meta: bool,
    pub only_meta: bool,
    pub source: TopicSource,
    pub sql: String,
}

/// Fixes a query topic's projection: `*` becomes the columns (and a super table's tags)
/// as they are now.
fn topic_query(db: &Database, table: &str, columns: Vec<String>) -> Result<TopicQuery, TaosError> {
    let (cols, tags, is_stable) = if let Some(st) = db.stables.get(table) {
        (st.columns.clone(), st.tags.clone(), true)
    } else if let Some(t) = db.tables.get(table) {
        let tags = t
            .stable
            .as_ref()
            .and_then(|s| db.stables.get(s))
            .map(|s| s.tags.clone())
            .unwrap_or_default();
        (db.columns_of(t), tags, false)
    } else {
        return Err(TaosError::table_not_exist(table));
    };
    let mut out = Vec::new();
    for c in columns {
        if c == "*" {
            out.extend(cols.iter().map(|c| c.name.clone()));
            if is_stable {
                out.extend(tags.iter().map(|c| c.name.clone()));
            }
        } else if c == "tbname" || cols.iter().chain(&tags).any(|x| x.name == c) {
            out.push(c);
        } else {
            return Err(TaosError::invalid_column(&c));
        }
    }
    Ok(TopicQuery {
        table: table.to_string(),
        is_stable,
        columns: out,
    })
}

pub fn drop_topic(store: &mut Store, name: &str, if_exists: bool) -> Result<(), TaosError> {
    if store.topics.remove(name).is_none() && !if_exists {
        return Err(TaosError::topic_not_exist());
    }
    let prefix = format!("{name}/");
    store.committed.retain(|k, _| !k.starts_with(&prefix));
    Ok(())
}
