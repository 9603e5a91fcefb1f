//! INSERT, raw-block writes and DELETE: rows into tables, one log entry per vgroup touched.
//!
//! TDengine's rules: a row whose timestamp exists overwrites it (upsert; columns the insert
//! does not name keep their old values — TDengine 3's partial-column update); any timestamp
//! order is accepted. A DELETE removes the rows of an inclusive timestamp range and is logged
//! as a meta message ``delete from `T` where `ts` >= a and `ts` <= b`` naming the table or
//! super table and its own timestamp column.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::ast::{InsertItem, Pred};
use crate::convert::{cell, Zone};
use crate::error::TaosError;
use crate::meta;
use crate::query::ts_bounds;
use crate::raw_meta;
use crate::store::{Database, RowKey, Store, WalEntry, WalRows};
use crate::value::{Cell, ColDef};

/// What one statement adds to each vgroup's log entry.
#[derive(Default)]
struct Pending {
    /// Auto-created child tables: one create message per vgroup, as taosd's
    /// `processAutoCreateTable` builds it from the submit's create requests.
    creates: Vec<Map<String, Json>>,
    /// Their `SVCreateTbReq`s.
    raw_creates: Vec<Vec<u8>>,
    rows: Vec<WalRows>,
    stables: Vec<String>,
}

pub fn insert(
    store: &mut Store,
    session_db: Option<&str>,
    items: Vec<InsertItem>,
    tz: &Zone,
) -> Result<usize, TaosError> {
    // All items are checked and converted before anything is stored, so a bad row changes
    // nothing (TDengine rejects the whole statement too).
    let mut per_db: BTreeMap<String, BTreeMap<i32, Pending>> = BTreeMap::new();
    let mut total = 0;
    // (database, table, rows, the columns the insert names)
    type Staged = (String, String, Vec<Vec<Cell>>, Option<Vec<usize>>);
    let mut staged: Vec<Staged> = Vec::new();
    for item in items {
        let db_name = item
            .table
            .db
            .clone()
            .or_else(|| session_db.map(str::to_string))
            .ok_or_else(TaosError::no_db)?;
        store.next_uid += 1;
        let uid = store.next_uid;
        let db = store.db_mut(&db_name)?;
        let exists = db.tables.contains_key(&item.table.name);
        if !exists {
            let Some((stable, tag_names, tags)) = &item.using else {
                return Err(TaosError::table_not_exist(&item.table.name));
            };
            // Auto-create: the create travels with the rows (a MetaData message).
            let (element, raw) = crate::ddl::new_child(
                db,
                uid,
                &item.table.name,
                &stable.name,
                tag_names.as_deref(),
                tags,
                tz,
            )?;
            let vg = db.vgroup_of(&item.table.name);
            let p = per_db
                .entry(db_name.clone())
                .or_default()
                .entry(vg)
                .or_default();
            p.creates.push(element);
            p.raw_creates.push(raw);
            p.stables.push(stable.name.clone());
        }
        let table = db
            .tables
            .get(&item.table.name)
            .ok_or_else(|| TaosError::table_not_exist(&item.table.name))?;
        let columns = db.columns_of(table);
        let positions: Option<Vec<usize>> = match &item.columns {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        columns
                            .iter()
                            .position(|c| &c.name == n)
                            .ok_or_else(|| TaosError::invalid_column(n))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        if positions.as_ref().is_some_and(|p| !p.contains(&0)) {
            return Err(TaosError::new(
                0x2614,
                "Primary timestamp column should not be null",
            ));
        }
        if columns.get(1).is_some_and(|c| c.primary_key)
            && positions.as_ref().is_some_and(|p| !p.contains(&1))
        {
            return Err(TaosError::new(
                0x2614,
                format!("Primary key column {} should not be null", columns[1].name),
            ));
        }
        let mut rows = Vec::with_capacity(item.rows.len());
        for values in &item.rows {
            let targets: Vec<usize> = match &positions {
                Some(p) => p.clone(),
                None => (0..columns.len()).collect(),
            };
            if values.len() != targets.len() {
                return Err(TaosError::new(0x2601, "Illegal number of columns"));
            }
            let mut row = vec![Cell::Null; columns.len()];
            for (v, &i) in values.iter().zip(&targets) {
                row[i] = cell(v, &columns[i], db.precision, tz)?;
            }
            if RowKey::of(&row, &columns).is_none() {
                return Err(TaosError::new(
                    0x2614,
                    "Primary timestamp column (or primary key column) should not be null",
                ));
            }
            rows.push(row);
        }
        total += rows.len();
        staged.push((db_name, item.table.name.clone(), rows, positions));
    }
    for (db_name, table, rows, positions) in staged {
        let db = store.db_mut(&db_name)?;
        let columns = db
            .tables
            .get(&table)
            .map(|t| db.columns_of(t))
            .unwrap_or_default();
        let (vg, stable) = store_rows(db, &table, &rows, positions.as_deref())?;
        let p = per_db.entry(db_name).or_default().entry(vg).or_default();
        p.rows.push(WalRows {
            table,
            columns,
            rows,
        });
        p.stables.extend(stable);
    }
    append_pending(store, per_db);
    Ok(total)
}

/// Upserts rows into a table; returns its vgroup and super table.
fn store_rows(
    db: &mut Database,
    table: &str,
    rows: &[Vec<Cell>],
    positions: Option<&[usize]>,
) -> Result<(i32, Option<String>), TaosError> {
    let columns = db
        .tables
        .get(table)
        .map(|t| db.columns_of(t))
        .unwrap_or_default();
    let t = db
        .tables
        .get_mut(table)
        .ok_or_else(|| TaosError::table_not_exist(table))?;
    for row in rows {
        let Some(key) = RowKey::of(row, &columns) else {
            return Err(TaosError::new(
                0x2614,
                "Primary timestamp column (or primary key column) should not be null",
            ));
        };
        match (t.rows.get_mut(&key), positions) {
            (Some(old), Some(pos)) => {
                for &i in pos {
                    if let (Some(slot), Some(v)) = (old.get_mut(i), row.get(i)) {
                        *slot = v.clone();
                    }
                }
            }
            _ => {
                t.rows.insert(key, row.clone());
            }
        }
    }
    Ok((t.vgroup, t.stable.clone()))
}

fn append_pending(store: &mut Store, per_db: BTreeMap<String, BTreeMap<i32, Pending>>) {
    for (db_name, vgroups) in per_db {
        if let Some(db) = store.databases.get_mut(&db_name) {
            for (vg, mut p) in vgroups {
                p.stables.sort();
                p.stables.dedup();
                let (metas, raw_metas) = if p.creates.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    (
                        vec![meta::create_child_json(&p.creates)],
                        vec![raw_meta::create_tables(&p.raw_creates)],
                    )
                };
                db.append(
                    vg,
                    WalEntry {
                        metas,
                        raw_metas,
                        rows: p.rows,
                        stables: p.stables,
                    },
                );
            }
        }
    }
}

/// Rows already in column form (write_raw_block). Without names the block has every column
/// in table order; with names (`write_raw_block_with_fields`) each block column goes to the
/// table column of its name and the others are NULL (TDengine `parInsertUtil.c`
/// `rawBlockBindData`). A block column the table does not have, a name given twice, or no
/// timestamp column is refused (`bindFileds`: TSDB_CODE_PAR_INVALID_COLUMN), never shifted.
pub fn write_rows(
    store: &mut Store,
    db_name: &str,
    table: &str,
    columns: &[ColDef],
    rows: Vec<Vec<Cell>>,
    named: bool,
) -> Result<usize, TaosError> {
    let db = store.db_mut(db_name)?;
    let t = db
        .tables
        .get(table)
        .ok_or_else(|| TaosError::table_not_exist(table))?;
    let schema = db.columns_of(t);
    let targets = block_targets(table, &schema, columns, named)?;
    let rows: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|r| {
            let mut full = vec![Cell::Null; schema.len()];
            for (cell, to) in r.into_iter().zip(&targets) {
                full[*to] = cell;
            }
            full
        })
        .collect();
    let n = rows.len();
    let (vg, stable) = store_rows(db, table, &rows, None)?;
    db.append(
        vg,
        WalEntry {
            metas: vec![],
            raw_metas: vec![],
            rows: vec![WalRows {
                table: table.to_string(),
                columns: schema,
                rows,
            }],
            stables: stable.into_iter().collect(),
        },
    );
    Ok(n)
}

/// The table column each block column goes to.
fn block_targets(
    table: &str,
    schema: &[ColDef],
    columns: &[ColDef],
    named: bool,
) -> Result<Vec<usize>, TaosError> {
    let mismatch = |c: &ColDef, s: &ColDef| {
        TaosError::new(
            0x0118,
            format!(
                "block column {} is {} but column {} of table {table} is {}",
                c.name,
                c.ty.sql_name(),
                s.name,
                s.ty.sql_name()
            ),
        )
    };
    if !named {
        if schema.len() != columns.len() {
            return Err(TaosError::new(
                0x0118,
                format!(
                    "the block has {} columns, table {table} has {}",
                    columns.len(),
                    schema.len()
                ),
            ));
        }
        for (c, s) in columns.iter().zip(schema) {
            if c.ty != s.ty {
                return Err(mismatch(c, s));
            }
        }
        return Ok((0..schema.len()).collect());
    }
    let mut targets = Vec::with_capacity(columns.len());
    for c in columns {
        let i = schema
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(&c.name))
            .ok_or_else(|| {
                TaosError::invalid_column(&format!("{} (not a column of table {table})", c.name))
            })?;
        if targets.contains(&i) {
            return Err(TaosError::invalid_column(&format!(
                "{} (given twice in the block)",
                c.name
            )));
        }
        if c.ty != schema[i].ty {
            return Err(mismatch(c, &schema[i]));
        }
        targets.push(i);
    }
    if !targets.contains(&0) {
        return Err(TaosError::invalid_column(&format!(
            "{} (the primary timestamp column is missing from the block)",
            schema.first().map(|s| s.name.as_str()).unwrap_or("ts")
        )));
    }
    Ok(targets)
}

pub fn delete(
    store: &mut Store,
    db_name: &str,
    table: &str,
    preds: &[Pred],
    tz: &Zone,
) -> Result<usize, TaosError> {
    let db = store.db_mut(db_name)?;
    let (targets, ts_col, stable): (Vec<String>, String, Option<String>) =
        if let Some(st) = db.stables.get(table) {
            let children = db
                .tables
                .values()
                .filter(|t| t.stable.as_deref() == Some(table))
                .map(|t| t.name.clone())
                .collect();
            (
                children,
                st.columns[0].name.clone(),
                Some(table.to_string()),
            )
        } else if let Some(t) = db.tables.get(table) {
            let cols = db.columns_of(t);
            let ts = cols
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| "ts".into());
            (vec![table.to_string()], ts, t.stable.clone())
        } else {
            return Err(TaosError::table_not_exist(table));
        };
    let (lo, hi) = ts_bounds(preds, &ts_col, db.precision, true, tz)?;
    let mut removed = 0;
    let mut vgroups: Vec<i32> = Vec::new();
    for name in &targets {
        if let Some(t) = db.tables.get_mut(name) {
            let keys: Vec<RowKey> = if lo <= hi {
                t.rows
                    .range(RowKey::range(lo, hi))
                    .map(|(k, _)| k.clone())
                    .collect()
            } else {
                Vec::new()
            };
            removed += keys.len();
            for k in keys {
                t.rows.remove(&k);
            }
            vgroups.push(t.vgroup);
        }
    }
    vgroups.sort_unstable();
    vgroups.dedup();
    // One delete record per vgroup the table (or the super table's children) lives in.
    let meta = meta::delete_json(table, &ts_col, lo, hi);
    let raw = raw_meta::delete(table, &ts_col, lo, hi);
    for vg in vgroups {
        db.append(
            vg,
            WalEntry {
                metas: vec![meta.clone()],
                raw_metas: vec![raw.clone()],
                rows: vec![],
                stables: stable.clone().into_iter().collect(),
            },
        );
    }
    Ok(removed)
}
