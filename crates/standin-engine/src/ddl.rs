//! Databases, super tables, tables, schema changes and topics, and the TMQ meta JSON each
//! writes to the log (the shapes of tdengine-interfaces.md §1.3, from TDengine's
//! `clientRawBlockWrite.c` as parsed by taos-query's `JsonMeta`).

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::ast::{AlterOp, CreateKind, Expr, Name, TopicSource};
use crate::convert::{cell, now_ms};
use crate::error::TaosError;
use crate::store::{Database, Precision, STable, Store, Table, Topic, WalEntry};
use crate::value::{Cell, ColDef, ColType};

pub fn field_json(c: &ColDef) -> Json {
    json!({"name": c.name, "type": c.ty.ty() as u8, "length": c.len})
}

fn cell_json(c: &Cell) -> Json {
    match c {
        Cell::Null => Json::Null,
        Cell::Bool(b) => json!(b),
        Cell::Int(v) => json!(v),
        Cell::UInt(v) => json!(v),
        Cell::Float(v) => json!(v),
        Cell::Str(s) => json!(s),
        Cell::Bytes(b) => json!(String::from_utf8_lossy(b)),
    }
}

pub fn create_child_meta(table: &Table, stable: &STable) -> Json {
    let tags: Vec<Json> = stable
        .tags
        .iter()
        .zip(&table.tags)
        .map(|(d, v)| json!({"name": d.name, "type": d.ty.ty() as u8, "value": cell_json(v)}))
        .collect();
    json!({"type": "create", "tableType": "child", "tableName": table.name,
           "using": stable.name, "tagNum": stable.tags.len(), "tags": tags})
}

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
                | "CACHESIZE" | "STT_TRIGGER" | "SINGLE_STABLE" | "TABLE_PREFIX" | "TABLE_SUFFIX",
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

fn check_schema(columns: &[ColDef]) -> Result<(), TaosError> {
    match columns.first() {
        Some(c) if c.ty == ColType::Timestamp => {}
        _ => return Err(TaosError::new(0x2614, "First column must be timestamp")),
    }
    let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(TaosError::new(0x2618, "Duplicated column names"));
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
    check_schema(&columns)?;
    let meta = json!({"type": "create", "tableType": "super", "tableName": name,
        "columns": columns.iter().map(field_json).collect::<Vec<_>>(),
        "tags": tags.iter().map(field_json).collect::<Vec<_>>()});
    db.stables.insert(
        name.to_string(),
        STable {
            name: name.to_string(),
            columns,
            tags,
            create_time_ms: now_ms(),
        },
    );
    for vg in db.vgroups.clone() {
        db.append(
            vg,
            WalEntry {
                metas: vec![meta.clone()],
                rows: vec![],
                stables: vec![name.to_string()],
            },
        );
    }
    Ok(())
}

/// Creates a child table from tag literals; returns its create meta (the caller logs it,
/// alone or with rows for an auto-create).
pub fn new_child(
    db: &mut Database,
    uid: i64,
    name: &str,
    stable: &str,
    tag_names: Option<&[String]>,
    tags: &[Expr],
) -> Result<Json, TaosError> {
    let st = db
        .stables
        .get(stable)
        .ok_or_else(TaosError::stable_not_exist)?;
    let mut values = vec![Cell::Null; st.tags.len()];
    match tag_names {
        Some(names) => {
            if names.len() != tags.len() {
                return Err(TaosError::new(0x2601, "Tags number not matched"));
            }
            for (n, e) in names.iter().zip(tags) {
                let i = st
                    .tags
                    .iter()
                    .position(|t| &t.name == n)
                    .ok_or_else(|| TaosError::invalid_column(n))?;
                values[i] = cell(e, &st.tags[i], db.precision)?;
            }
        }
        None => {
            if tags.len() != st.tags.len() {
                return Err(TaosError::new(0x2601, "Tags number not matched"));
            }
            for (i, e) in tags.iter().enumerate() {
                values[i] = cell(e, &st.tags[i], db.precision)?;
            }
        }
    }
    let table = Table {
        name: name.to_string(),
        stable: Some(stable.to_string()),
        tags: values,
        columns: Vec::new(),
        vgroup: db.vgroup_of(name),
        uid,
        create_time_ms: now_ms(),
        rows: BTreeMap::new(),
    };
    let meta = create_child_meta(&table, st);
    db.tables.insert(name.to_string(), table);
    Ok(meta)
}

pub fn create_tables(
    store: &mut Store,
    db_name: &str,
    if_not_exists: bool,
    tables: Vec<(Name, CreateKind)>,
) -> Result<(), TaosError> {
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
        let (meta, stable) = match kind {
            CreateKind::Normal(columns) => {
                check_schema(&columns)?;
                let meta = json!({"type": "create", "tableType": "normal", "tableName": name.name,
                    "columns": columns.iter().map(field_json).collect::<Vec<_>>(), "tags": []});
                let vgroup = db.vgroup_of(&name.name);
                db.tables.insert(
                    name.name.clone(),
                    Table {
                        name: name.name.clone(),
                        stable: None,
                        tags: vec![],
                        columns,
                        vgroup,
                        uid,
                        create_time_ms: now_ms(),
                        rows: BTreeMap::new(),
                    },
                );
                (meta, vec![])
            }
            CreateKind::Child {
                stable,
                tag_names,
                tags,
            } => {
                let meta = new_child(
                    db,
                    uid,
                    &name.name,
                    &stable.name,
                    tag_names.as_deref(),
                    &tags,
                )?;
                (meta, vec![stable.name])
            }
        };
        let vg = db.vgroup_of(&name.name);
        db.append(
            vg,
            WalEntry {
                metas: vec![meta],
                rows: vec![],
                stables: stable,
            },
        );
    }
    Ok(())
}

pub fn drop_tables(
    store: &mut Store,
    db_name: &str,
    names: &[Name],
    if_exists: bool,
) -> Result<(), TaosError> {
    for name in names {
        let db = store.db_mut(name.db.as_deref().unwrap_or(db_name))?;
        match db.tables.remove(&name.name) {
            Some(t) => {
                let meta = json!({"type": "drop", "tableNameList": [t.name]});
                db.append(
                    t.vgroup,
                    WalEntry {
                        metas: vec![meta],
                        rows: vec![],
                        stables: t.stable.into_iter().collect(),
                    },
                );
            }
            None if if_exists => {}
            None => return Err(TaosError::table_not_exist(&name.name)),
        }
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
        .any(|t| t.db == db_name && t.stable.as_deref() == Some(name.name.as_str()))
    {
        return Err(TaosError::new(
            0x03EF,
            "Stable is used by a topic, drop the topic first",
        ));
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
    let meta = json!({"type": "drop", "tableName": name.name});
    for vg in db.vgroups.clone() {
        db.append(
            vg,
            WalEntry {
                metas: vec![meta.clone()],
                rows: vec![],
                stables: vec![name.name.clone()],
            },
        );
    }
    Ok(())
}

pub fn alter(store: &mut Store, db_name: &str, name: &Name, op: AlterOp) -> Result<(), TaosError> {
    let db = store.db_mut(name.db.as_deref().unwrap_or(db_name))?;
    let (columns, vgroups, stables, table_type) = if let Some(st) = db.stables.get_mut(&name.name) {
        (
            &mut st.columns,
            db.vgroups.clone(),
            vec![name.name.clone()],
            "super",
        )
    } else if let Some(t) = db.tables.get_mut(&name.name) {
        if t.stable.is_some() {
            return Err(TaosError::new(0x2649, "Invalid alter table statement: alter a child table's columns through its super table"));
        }
        (&mut t.columns, vec![t.vgroup], vec![], "normal")
    } else {
        return Err(TaosError::table_not_exist(&name.name));
    };
    let (meta, position, added) = match op {
        AlterOp::AddColumn(c) => {
            if columns.iter().any(|x| x.name == c.name) {
                return Err(TaosError::new(0x036B, "Column already exists"));
            }
            let meta = json!({"type": "alter", "tableType": table_type, "tableName": name.name,
                "alterType": 5, "colName": c.name, "colType": c.ty.ty() as u8, "colLength": c.len});
            columns.push(c);
            (meta, columns.len() - 1, true)
        }
        AlterOp::DropColumn(c) => {
            let i = columns
                .iter()
                .position(|x| x.name == c)
                .ok_or_else(|| TaosError::invalid_column(&c))?;
            if i == 0 {
                return Err(TaosError::new(
                    0x2649,
                    "Cannot drop the primary timestamp column",
                ));
            }
            let meta = json!({"type": "alter", "tableType": table_type, "tableName": name.name,
                "alterType": 6, "colName": c});
            columns.remove(i);
            (meta, i, false)
        }
    };
    // Stored rows follow the new schema.
    let affected: Vec<String> = if table_type == "super" {
        db.tables
            .values()
            .filter(|t| t.stable.as_deref() == Some(name.name.as_str()))
            .map(|t| t.name.clone())
            .collect()
    } else {
        vec![name.name.clone()]
    };
    for t in affected {
        if let Some(t) = db.tables.get_mut(&t) {
            for row in t.rows.values_mut() {
                if added {
                    row.push(Cell::Null);
                } else if position < row.len() {
                    row.remove(position);
                }
            }
        }
    }
    for vg in vgroups {
        db.append(
            vg,
            WalEntry {
                metas: vec![meta.clone()],
                rows: vec![],
                stables: stables.clone(),
            },
        );
    }
    Ok(())
}

pub fn create_topic(
    store: &mut Store,
    name: &str,
    if_not_exists: bool,
    with_meta: bool,
    source: TopicSource,
) -> Result<(), TaosError> {
    if store.topics.contains_key(name) {
        return if if_not_exists {
            Ok(())
        } else {
            Err(TaosError::topic_exists())
        };
    }
    let (db, stable) = match source {
        TopicSource::Database(db) => (db, None),
        TopicSource::STable(n) => {
            let db = n.db.ok_or_else(TaosError::no_db)?;
            (db, Some(n.name))
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
        name.to_string(),
        Topic {
            name: name.to_string(),
            db,
            with_meta,
            stable,
            create_time_ms: now_ms(),
        },
    );
    Ok(())
}

pub fn drop_topic(store: &mut Store, name: &str, if_exists: bool) -> Result<(), TaosError> {
    if store.topics.remove(name).is_none() && !if_exists {
        return Err(TaosError::topic_not_exist());
    }
    let prefix = format!("{name}/");
    store.committed.retain(|k, _| !k.starts_with(&prefix));
    Ok(())
}
