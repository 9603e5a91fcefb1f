//! ALTER TABLE / ALTER STABLE: what TDengine allows on which kind of table (docs
//! 03-table.md and 04-stable.md; parser `parTranslater.c`, error texts from `terror.c`),
//! the stored rows and tags following the change, and the alter message each logs
//! (`meta::alter_json`, as `buildAlterSTableJson` / `processAlterTable` build it).

use crate::ast::{AlterOp, Expr, Name};
use crate::convert::{cell, Zone};
use crate::error::TaosError;
use crate::meta::{self, alter_type, AlterDetail};
use crate::raw_meta::{self, RawMeta, TableAlter};
use crate::store::{Database, Store, WalEntry};
use crate::value::{Cell, ColDef, ColType};

/// TSDB_CODE_PAR_INVALID_ALTER_TABLE, naming what was refused.
fn invalid_alter(what: impl std::fmt::Display) -> TaosError {
    TaosError::new(0x2649, format!("Invalid alter table statement: {what}"))
}

/// The longest a column may be (bytes; NCHAR counts 4 per character) and a tag (docs
/// 01-data-type.md: 65,517 for columns, 16,382 for tags).
const MAX_COLUMN_BYTES: u32 = 65_517;
const MAX_TAG_BYTES: u32 = 16_382;
/// At most 128 tags (docs 04-stable.md).
const MAX_TAGS: usize = 128;
/// Table comments are at most 1024 bytes (docs 03-table.md).
const MAX_COMMENT: usize = 1024;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Super,
    Child,
    Normal,
}

/// How the stored rows (or child tags) follow a schema change.
enum Reshape {
    None,
    AddColumn,
    DropColumn(usize),
    AddTag,
    DropTag(usize),
}

pub fn alter(
    store: &mut Store,
    session_db: &str,
    name: &Name,
    stable_kw: bool,
    op: AlterOp,
    tz: &Zone,
) -> Result<(), TaosError> {
    let db_name = name.db.as_deref().unwrap_or(session_db).to_string();
    let used_by_topics = topic_fields(store, &db_name, &name.name);
    let db = store.db_mut(&db_name)?;
    let kind = if db.stables.contains_key(&name.name) {
        Kind::Super
    } else if let Some(t) = db.tables.get(&name.name) {
        if stable_kw {
            return Err(invalid_alter(format!(
                "ALTER STABLE on {}, which is not a super table",
                name.name
            )));
        }
        if t.stable.is_some() {
            Kind::Child
        } else {
            Kind::Normal
        }
    } else if stable_kw {
        return Err(TaosError::stable_not_exist());
    } else {
        return Err(TaosError::table_not_exist(&name.name));
    };
    check_allowed(kind, &op, &name.name)?;
    check_topics(&op, &used_by_topics)?;
    match kind {
        Kind::Super => alter_stable(db, &name.name, op),
        Kind::Normal => alter_normal(db, &name.name, op),
        Kind::Child => alter_child(db, &name.name, op, tz),
    }
}

/// Which clause each kind of table takes: a child table only SET TAG and TTL/COMMENT; a
/// normal table no tag clause; a super table no RENAME COLUMN, SET TAG or TTL.
fn check_allowed(kind: Kind, op: &AlterOp, table: &str) -> Result<(), TaosError> {
    let clause = match op {
        AlterOp::AddColumn(_) => "ADD COLUMN",
        AlterOp::DropColumn(_) => "DROP COLUMN",
        AlterOp::ModifyColumn(_) => "MODIFY COLUMN",
        AlterOp::RenameColumn(..) => "RENAME COLUMN",
        AlterOp::AddTag(_) => "ADD TAG",
        AlterOp::DropTag(_) => "DROP TAG",
        AlterOp::ModifyTag(_) => "MODIFY TAG",
        AlterOp::RenameTag(..) => "RENAME TAG",
        AlterOp::SetTags(_) => "SET TAG",
        AlterOp::Options { ttl: Some(_), .. } => "TTL",
        AlterOp::Options { .. } => "COMMENT",
    };
    let allowed = match kind {
        Kind::Child => matches!(op, AlterOp::SetTags(_) | AlterOp::Options { .. }),
        Kind::Normal => matches!(
            op,
            AlterOp::AddColumn(_)
                | AlterOp::DropColumn(_)
                | AlterOp::ModifyColumn(_)
                | AlterOp::RenameColumn(..)
                | AlterOp::Options { .. }
        ),
        Kind::Super => !matches!(
            op,
            AlterOp::RenameColumn(..) | AlterOp::SetTags(_) | AlterOp::Options { ttl: Some(_), .. }
        ),
    };
    if allowed {
        return Ok(());
    }
    let what = match kind {
        Kind::Child => "a child table (alter its super table's schema instead)",
        Kind::Normal => "a normal table, which has no tags",
        Kind::Super => "a super table",
    };
    Err(invalid_alter(format!(
        "{clause} on {table}: not allowed on {what}"
    )))
}

/// The columns and tags query topics on this table (or its super table) project: those
/// cannot be dropped, modified or renamed (docs 40-tmq.md; mndStb.c
/// `mndCheckColAndTagModifiable`, TSDB_CODE_MND_FIELD_CONFLICT_WITH_TOPIC).
fn topic_fields(store: &Store, db: &str, table: &str) -> Vec<String> {
    store
        .topics
        .values()
        .filter(|t| t.db == db)
        .filter_map(|t| t.query.as_ref())
        .filter(|q| q.table == table)
        .flat_map(|q| q.columns.iter().cloned())
        .collect()
}

fn check_topics(op: &AlterOp, used: &[String]) -> Result<(), TaosError> {
    let touched = match op {
        AlterOp::DropColumn(c) | AlterOp::DropTag(c) => c,
        AlterOp::ModifyColumn(c) | AlterOp::ModifyTag(c) => &c.name,
        AlterOp::RenameColumn(c, _) | AlterOp::RenameTag(c, _) => c,
        _ => return Ok(()),
    };
    if used.iter().any(|u| u == touched) {
        return Err(TaosError::new(
            0x03C4,
            format!("Field used by topic: {touched}"),
        ));
    }
    Ok(())
}

fn alter_stable(db: &mut Database, name: &str, op: AlterOp) -> Result<(), TaosError> {
    let st = db
        .stables
        .get_mut(name)
        .ok_or_else(TaosError::stable_not_exist)?;
    let (message, reshape) = match op {
        AlterOp::Options { comment, .. } => {
            st.comment = comment
                .map(checked_comment)
                .transpose()?
                .or(st.comment.take());
            (
                meta::alter_json(true, name, alter_type::UPDATE_OPTIONS, AlterDetail::Nothing),
                Reshape::None,
            )
        }
        AlterOp::AddTag(t) => {
            add_tag(&st.columns, &st.tags, &t)?;
            let m = meta::alter_json(true, name, alter_type::ADD_TAG, AlterDetail::Field(&t));
            st.tags.push(t);
            (m, Reshape::AddTag)
        }
        AlterOp::DropTag(t) => {
            let i = tag_index(&st.tags, &t)?;
            if st.tags.len() == 1 {
                return Err(invalid_alter(format!(
                    "DROP TAG {t}: a super table keeps at least one tag"
                )));
            }
            st.tags.remove(i);
            let m = meta::alter_json(true, name, alter_type::DROP_TAG, AlterDetail::Name(&t));
            (m, Reshape::DropTag(i))
        }
        AlterOp::ModifyTag(t) => {
            let i = tag_index(&st.tags, &t.name)?;
            widen(&mut st.tags[i], &t, MAX_TAG_BYTES)?;
            let m = meta::alter_json(
                true,
                name,
                alter_type::UPDATE_TAG_BYTES,
                AlterDetail::Field(&st.tags[i]),
            );
            (m, Reshape::None)
        }
        AlterOp::RenameTag(old, new) => {
            let i = tag_index(&st.tags, &old)?;
            if st.tags.iter().any(|x| x.name == new) {
                return Err(TaosError::new(0x0369, format!("Tag already exists: {new}")));
            }
            if st.columns.iter().any(|x| x.name == new) {
                return Err(TaosError::new(
                    0x036B,
                    format!("Column already exists: {new}"),
                ));
            }
            st.tags[i].name = new.clone();
            let m = meta::alter_json(
                true,
                name,
                alter_type::UPDATE_TAG_NAME,
                AlterDetail::Rename(&old, &new),
            );
            (m, Reshape::None)
        }
        column_op => {
            let (m, reshape) = alter_columns(&mut st.columns, &st.tags, true, name, column_op)?;
            (m, reshape)
        }
    };
    // A super table's alter reaches the vnodes as the whole new schema (`TDMT_VND_ALTER_STB`).
    let raw = raw_meta::stable(raw_meta::raw_type::ALTER_STB, name, &st.columns, &st.tags);
    for t in db.tables.values_mut() {
        if t.stable.as_deref() != Some(name) {
            continue;
        }
        match reshape {
            Reshape::AddTag => t.tags.push(Cell::Null),
            Reshape::DropTag(i) if i < t.tags.len() => {
                t.tags.remove(i);
            }
            _ => reshape_rows(&mut t.rows, &reshape),
        }
    }
    let stables = vec![name.to_string()];
    for vg in db.vgroups.clone() {
        db.append(
            vg,
            WalEntry {
                metas: vec![message.clone()],
                raw_metas: vec![raw.clone()],
                rows: vec![],
                stables: stables.clone(),
            },
        );
    }
    Ok(())
}

fn alter_normal(db: &mut Database, name: &str, op: AlterOp) -> Result<(), TaosError> {
    let t = db
        .tables
        .get_mut(name)
        .ok_or_else(|| TaosError::table_not_exist(name))?;
    let (message, raw) = match op {
        AlterOp::Options { ttl, comment } => {
            let raw = options_raw(name, ttl, comment.as_deref());
            set_options(&mut t.ttl, &mut t.comment, ttl, comment)?;
            let m = meta::alter_json(
                false,
                name,
                alter_type::UPDATE_OPTIONS,
                AlterDetail::Nothing,
            );
            (m, raw)
        }
        column_op => {
            let (m, reshape) = alter_columns(&mut t.columns, &[], false, name, column_op)?;
            reshape_rows(&mut t.rows, &reshape);
            let raw = column_alter_raw(name, &m, &t.columns);
            (m, raw)
        }
    };
    let vg = t.vgroup;
    db.append(
        vg,
        WalEntry {
            metas: vec![message],
            raw_metas: vec![raw],
            rows: vec![],
            stables: vec![],
        },
    );
    Ok(())
}

fn alter_child(db: &mut Database, name: &str, op: AlterOp, tz: &Zone) -> Result<(), TaosError> {
    let precision = db.precision;
    let t = db
        .tables
        .get(name)
        .ok_or_else(|| TaosError::table_not_exist(name))?;
    let stable = t.stable.clone().unwrap_or_default();
    let (tag_defs, column_count) = db
        .stables
        .get(&stable)
        .map(|s| (s.tags.clone(), s.columns.len()))
        .ok_or_else(TaosError::stable_not_exist)?;
    let t = db
        .tables
        .get_mut(name)
        .ok_or_else(|| TaosError::table_not_exist(name))?;
    let (message, raw) = match op {
        AlterOp::Options { ttl, comment } => {
            let raw = options_raw(name, ttl, comment.as_deref());
            set_options(&mut t.ttl, &mut t.comment, ttl, comment)?;
            let m = meta::alter_json(
                false,
                name,
                alter_type::UPDATE_OPTIONS,
                AlterDetail::Nothing,
            );
            (m, raw)
        }
        AlterOp::SetTags(values) => {
            let set = tag_values(&tag_defs, &values, precision, tz)?;
            for (i, v) in &set {
                t.tags[*i] = v.clone();
            }
            let raw = raw_meta::alter_table(
                name,
                &TableAlter::Tags(
                    set.iter()
                        .map(|(i, v)| (&tag_defs[*i], (column_count + i + 1) as i16, v))
                        .collect(),
                ),
            );
            let m = match set.as_slice() {
                [(i, v)] => meta::alter_json(
                    false,
                    name,
                    alter_type::UPDATE_TAG_VAL,
                    AlterDetail::TagValue(&tag_defs[*i], v),
                ),
                _ => meta::alter_json(
                    false,
                    name,
                    alter_type::UPDATE_MULTI_TAG_VAL,
                    AlterDetail::Nothing,
                ),
            };
            (m, raw)
        }
        other => return Err(invalid_alter(format!("{other:?} on child table {name}"))),
    };
    let vg = t.vgroup;
    db.append(
        vg,
        WalEntry {
            metas: vec![message],
            raw_metas: vec![raw],
            rows: vec![],
            stables: vec![stable],
        },
    );
    Ok(())
}

/// SET TAG's values converted to their tags' types; every tag must exist and appear once.
fn tag_values(
    defs: &[ColDef],
    values: &[(String, Expr)],
    precision: crate::store::Precision,
    tz: &Zone,
) -> Result<Vec<(usize, Cell)>, TaosError> {
    let mut out: Vec<(usize, Cell)> = Vec::new();
    for (n, e) in values {
        let i = defs
            .iter()
            .position(|d| &d.name == n)
            .ok_or_else(|| TaosError::new(0x260E, format!("Invalid tag name: {n}")))?;
        if out.iter().any(|(j, _)| *j == i) {
            return Err(invalid_alter(format!("SET TAG names tag {n} twice")));
        }
        out.push((i, cell(e, &defs[i], precision, tz)?));
    }
    Ok(out)
}

fn checked_comment(c: String) -> Result<String, TaosError> {
    if c.len() > MAX_COMMENT {
        return Err(TaosError::new(0x264E, "Comment too long"));
    }
    Ok(c)
}

/// The raw `SVAlterTbReq` of a TTL/COMMENT change.
fn options_raw(name: &str, ttl: Option<i64>, comment: Option<&str>) -> RawMeta {
    raw_meta::alter_table(name, &TableAlter::Options { ttl, comment })
}

/// The raw `SVAlterTbReq` of a normal table's column change, read from the alter message
/// just built and the columns as they now are.
fn column_alter_raw(name: &str, message: &serde_json::Value, columns: &[ColDef]) -> RawMeta {
    let col = message["colName"].as_str().unwrap_or_default();
    let now = columns.iter().find(|c| c.name == col);
    let alter = match (message["alterType"].as_u64().map(|t| t as u8), now) {
        (Some(alter_type::ADD_COLUMN), Some(c)) => TableAlter::AddColumn(c),
        (Some(alter_type::UPDATE_COLUMN_BYTES), Some(c)) => TableAlter::WidenColumn(c),
        (Some(alter_type::UPDATE_COLUMN_NAME), _) => {
            TableAlter::RenameColumn(col, message["colNewName"].as_str().unwrap_or_default())
        }
        _ => TableAlter::DropColumn(col),
    };
    raw_meta::alter_table(name, &alter)
}

fn set_options(
    ttl_slot: &mut i64,
    comment_slot: &mut Option<String>,
    ttl: Option<i64>,
    comment: Option<String>,
) -> Result<(), TaosError> {
    if let Some(c) = comment {
        *comment_slot = Some(checked_comment(c)?);
    }
    if let Some(t) = ttl {
        *ttl_slot = t;
    }
    Ok(())
}

/// Column clauses shared by super and normal tables; returns the message and how stored
/// rows change.
fn alter_columns(
    columns: &mut Vec<ColDef>,
    tags: &[ColDef],
    super_table: bool,
    table: &str,
    op: AlterOp,
) -> Result<(serde_json::Value, Reshape), TaosError> {
    let out = match op {
        AlterOp::AddColumn(c) => {
            if c.primary_key {
                return Err(invalid_alter(format!(
                    "ADD COLUMN {} PRIMARY KEY: the composite key is set when the table is created",
                    c.name
                )));
            }
            if c.ty == ColType::Json {
                return Err(TaosError::new(0x2652, "Only tag can be json type"));
            }
            if columns.iter().chain(tags).any(|x| x.name == c.name) {
                return Err(TaosError::new(
                    0x036B,
                    format!("Column already exists: {}", c.name),
                ));
            }
            check_length(&c, MAX_COLUMN_BYTES)?;
            let m = meta::alter_json(
                super_table,
                table,
                alter_type::ADD_COLUMN,
                AlterDetail::Field(&c),
            );
            columns.push(c);
            (m, Reshape::AddColumn)
        }
        AlterOp::DropColumn(c) => {
            let i = column_index(columns, &c)?;
            if i == 0 || columns[i].primary_key {
                return Err(TaosError::new(
                    0x264A,
                    format!("Primary timestamp column cannot be dropped: {c} is part of the primary key"),
                ));
            }
            if columns.len() <= 2 {
                return Err(TaosError::new(
                    0x2651,
                    format!("No columns can be dropped: {table} keeps at least one column besides the timestamp"),
                ));
            }
            columns.remove(i);
            let m = meta::alter_json(
                super_table,
                table,
                alter_type::DROP_COLUMN,
                AlterDetail::Name(&c),
            );
            (m, Reshape::DropColumn(i))
        }
        AlterOp::ModifyColumn(c) => {
            let i = column_index(columns, &c.name)?;
            if columns[i].primary_key || i == 0 {
                return Err(invalid_alter(format!(
                    "MODIFY COLUMN {}: primary key columns cannot be modified",
                    c.name
                )));
            }
            widen(&mut columns[i], &c, MAX_COLUMN_BYTES)?;
            let m = meta::alter_json(
                super_table,
                table,
                alter_type::UPDATE_COLUMN_BYTES,
                AlterDetail::Field(&columns[i]),
            );
            (m, Reshape::None)
        }
        AlterOp::RenameColumn(old, new) => {
            let i = column_index(columns, &old)?;
            if i == 0 || columns[i].primary_key {
                return Err(invalid_alter(format!(
                    "RENAME COLUMN {old}: primary key columns cannot be renamed"
                )));
            }
            if columns.iter().any(|x| x.name == new) {
                return Err(TaosError::new(
                    0x036B,
                    format!("Column already exists: {new}"),
                ));
            }
            columns[i].name = new.clone();
            let m = meta::alter_json(
                super_table,
                table,
                alter_type::UPDATE_COLUMN_NAME,
                AlterDetail::Rename(&old, &new),
            );
            (m, Reshape::None)
        }
        other => return Err(invalid_alter(format!("{other:?} on {table}"))),
    };
    Ok(out)
}

fn column_index(columns: &[ColDef], name: &str) -> Result<usize, TaosError> {
    columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| TaosError::invalid_column(name))
}

fn tag_index(tags: &[ColDef], name: &str) -> Result<usize, TaosError> {
    tags.iter()
        .position(|c| c.name == name)
        .ok_or_else(|| TaosError::new(0x036A, format!("Tag does not exist: {name}")))
}

fn add_tag(columns: &[ColDef], tags: &[ColDef], t: &ColDef) -> Result<(), TaosError> {
    if tags.iter().any(|x| x.name == t.name) {
        return Err(TaosError::new(
            0x0369,
            format!("Tag already exists: {}", t.name),
        ));
    }
    if columns.iter().any(|x| x.name == t.name) {
        return Err(TaosError::new(
            0x036B,
            format!("Column already exists: {}", t.name),
        ));
    }
    if tags.len() >= MAX_TAGS {
        return Err(TaosError::new(0x0364, "Too many tags"));
    }
    let mut all = tags.to_vec();
    all.push(t.clone());
    crate::ddl::check_schema(columns, &all)?;
    check_length(t, MAX_TAG_BYTES)
}

/// Bytes a var-length definition takes (NCHAR stores 4 per character).
fn bytes_of(c: &ColDef) -> u32 {
    if c.ty == ColType::NChar {
        c.len.saturating_mul(4)
    } else {
        c.len
    }
}

fn check_length(c: &ColDef, max: u32) -> Result<(), TaosError> {
    if c.ty.is_var() && c.ty != ColType::Json && (c.len == 0 || bytes_of(c) > max) {
        return Err(TaosError::new(
            0x2642,
            format!(
                "Invalid binary/nchar column/tag length: {} ({})",
                c.name, c.len
            ),
        ));
    }
    Ok(())
}

/// MODIFY COLUMN/TAG: only BINARY/VARCHAR, NCHAR, VARBINARY and GEOMETRY, same type, longer.
fn widen(slot: &mut ColDef, new: &ColDef, max: u32) -> Result<(), TaosError> {
    let var = matches!(
        slot.ty,
        ColType::VarChar | ColType::NChar | ColType::VarBinary | ColType::Geometry
    );
    if !var || new.ty != slot.ty || new.len <= slot.len {
        return Err(TaosError::new(
            0x264B,
            format!(
                "Only varbinary/binary/nchar/geometry column length could be modified, and the length can only be increased, not decreased: {} {} to {}",
                slot.name,
                slot.type_sql(),
                new.type_sql()
            ),
        ));
    }
    check_length(new, max)?;
    slot.len = new.len;
    Ok(())
}

fn reshape_rows(
    rows: &mut std::collections::BTreeMap<crate::store::RowKey, Vec<Cell>>,
    reshape: &Reshape,
) {
    match reshape {
        Reshape::AddColumn => rows.values_mut().for_each(|r| r.push(Cell::Null)),
        Reshape::DropColumn(i) => rows.values_mut().for_each(|r| {
            if *i < r.len() {
                r.remove(*i);
            }
        }),
        _ => {}
    }
}
