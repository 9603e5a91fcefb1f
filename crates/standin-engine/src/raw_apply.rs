//! `tmq_write_raw` of a raw meta (`source/client/src/clientRawBlockWrite.c`): the request
//! is decoded and carried out in the connection's current database, as the client library
//! does by turning it into the statement's own requests:
//!
//! - `taosCreateStb` (531, 533): creates the super table; when it exists, the mnode takes a
//!   create from taosX as an alter to the schema it carries (`mndProcessCreateStbReq`,
//!   `TD_REQ_FROM_TAOX`), so the stand-in alters the super table to that schema;
//! - `taosDropStb` (535): drops it, nothing when it is gone;
//! - `taosCreateTable` (515): creates each table if it does not exist; a child table whose
//!   super table is missing is skipped; the i-th bound tag name takes the i-th value of the
//!   `STag` and is matched to the target super table's tags by name;
//! - `taosDropTable` (519): drops each table, nothing for a missing one;
//! - `taosAlterTable` (517): the alter it names;
//! - `taosDeleteData` (579): runs `delete from `table` where `ts` >= skey and `ts` <= ekey`.
//!
//! The stand-in builds the statements as SQL and runs them through its own parser, so what
//! a raw meta does is exactly what the equivalent statement does.

use crate::error::TaosError;
use crate::meta::alter_type;
use crate::raw_meta::{raw_type, CHILD_TABLE, COL_IS_KEY, NORMAL_TABLE, TAG_JSON, TAG_LARGE};
use crate::tencode::Decoder;
use crate::value::{ColDef, ColType};

fn invalid(what: impl Into<String>) -> TaosError {
    TaosError::new(0x0115, format!("invalid raw meta: {}", what.into()))
}

/// The column type of a type code; DECIMAL takes its precision and scale from `type_mod`.
fn col_type(code: u8, type_mod: i64) -> Result<ColType, TaosError> {
    match code {
        17 | 21 => Ok(ColType::Decimal {
            precision: (type_mod >> 8) as u8,
            scale: (type_mod & 0xff) as u8,
        }),
        other => ColType::from_type_code(other).ok_or_else(|| invalid(format!("type {other}"))),
    }
}

/// One column of an `SSchemaWrapper`, with the flags that mark a composite key.
pub struct SchemaCol {
    pub code: u8,
    pub flags: i8,
    pub bytes: i32,
    pub name: String,
}

/// `tDecodeSSchemaWrapper`: the columns of a schema (a meta request's, or a raw data
/// message's block schema).
pub fn schema(d: &mut Decoder) -> Result<Vec<SchemaCol>, TaosError> {
    let n = d.count("schema column count")?;
    d.iv("schema version")?;
    (0..n)
        .map(|_| {
            let code = d.u8("column type")?;
            let flags = d.i8("column flags")?;
            let bytes = d.iv("column bytes")? as i32;
            d.iv("column id")?;
            let name = d.cstr("column name")?;
            Ok(SchemaCol {
                code,
                flags,
                bytes,
                name,
            })
        })
        .collect()
}

fn col_defs(cols: &[SchemaCol], type_mods: &[i64]) -> Result<Vec<ColDef>, TaosError> {
    cols.iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = col_type(c.code, type_mods.get(i).copied().unwrap_or(0))?;
            let mut def = ColDef::new(c.name.clone(), ty, ty.declared_len(c.bytes));
            def.primary_key = i > 0 && c.flags & COL_IS_KEY != 0;
            Ok(def)
        })
        .collect()
}

/// `hasExtSchema` and the type mods after it.
fn ext_schemas(d: &mut Decoder, n: usize) -> Result<Vec<i64>, TaosError> {
    if d.is_end() || d.i8("hasExtSchema")? == 0 {
        return Ok(Vec::new());
    }
    (0..n).map(|_| d.iv("type mod")).collect()
}

/// `SColCmprWrapper`: the count, the version, an id and an algorithm a column; the stand-in
/// keeps each type's default compression, so it reads past them.
fn skip_col_cmpr(f: &mut Decoder) -> Result<(), TaosError> {
    let n = f.count("colCmpr count")?;
    f.iv("colCmpr version")?;
    for _ in 0..n {
        f.iv("colCmpr id")?;
        f.u32("colCmpr alg")?;
    }
    Ok(())
}

/// A decoded super table request.
pub struct StableReq {
    pub name: String,
    pub columns: Vec<ColDef>,
    pub tags: Vec<ColDef>,
}

fn stable_req(d: &mut Decoder) -> Result<StableReq, TaosError> {
    d.frame("SVCreateStbReq", |f| {
        let name = f.cstr("super table name")?;
        f.i64("suid")?;
        if f.i8("rollup")? != 0 {
            return Err(invalid("rollup super tables are not modelled"));
        }
        let columns = schema(f)?;
        let tags = schema(f)?;
        let mut type_mods = Vec::new();
        if f.i32("alterOriDataLen")? > 0 {
            f.binary("alterOriData")?;
        }
        if !f.is_end() {
            f.i8("source")?;
            if !f.is_end() {
                f.i8("colCmpred")?;
            }
            if !f.is_end() {
                skip_col_cmpr(f)?;
            }
            if !f.is_end() {
                f.i64("keep")?;
            }
            type_mods = ext_schemas(f, columns.len())?;
        }
        Ok(StableReq {
            name,
            columns: col_defs(&columns, &type_mods)?,
            tags: col_defs(&tags, &[])?,
        })
    })
}

/// A decoded `SVCreateTbReq`.
pub enum TableReq {
    Child {
        name: String,
        stable: String,
        /// (type code, value bytes) of the `STag`'s values, in id order.
        values: Vec<TagValue>,
        /// A JSON tag's text.
        json: Option<String>,
        bound: Vec<String>,
    },
    Normal {
        name: String,
        columns: Vec<ColDef>,
    },
}

pub fn table_req(d: &mut Decoder) -> Result<TableReq, TaosError> {
    d.frame("SVCreateTbReq", |f| {
        f.iv("flags")?;
        let name = f.cstr("table name")?;
        f.i64("uid")?;
        f.i64("btime")?;
        f.i32("ttl")?;
        let ty = f.i8("table type")?;
        if f.i32("commentLen")? > 0 {
            f.cstr("comment")?;
        }
        match ty {
            CHILD_TABLE => {
                let stable = f.cstr("super table name")?;
                f.u8("tagNum")?;
                f.i64("suid")?;
                let tag = f.binary("STag")?;
                let (values, json) = stag_values(tag)?;
                let n = f.i32("tag name count")?;
                let n = usize::try_from(n).map_err(|_| invalid("tag name count"))?;
                let bound = (0..n.min(f.rest().len()))
                    .map(|_| f.cstr("tag name"))
                    .collect::<Result<_, _>>()?;
                Ok(TableReq::Child {
                    name,
                    stable,
                    values,
                    json,
                    bound,
                })
            }
            NORMAL_TABLE => {
                let cols = schema(f)?;
                let mut type_mods = Vec::new();
                if !f.is_end() {
                    if f.i32("sqlLen")? > 0 {
                        f.binary("sql")?;
                    }
                    if !f.is_end() {
                        skip_col_cmpr(f)?;
                    }
                    if !f.is_end() {
                        type_mods = ext_schemas(f, cols.len())?;
                    }
                }
                Ok(TableReq::Normal {
                    name,
                    columns: col_defs(&cols, &type_mods)?,
                })
            }
            other => Err(invalid(format!("table type {other}"))),
        }
    })
}

/// A tag value as an `STag` holds it: its type code and bytes.
pub type TagValue = (u8, Vec<u8>);

/// `tTagToValArray`: the values of an `STag` in its order; a JSON tag comes back as its
/// text.
fn stag_values(tag: &[u8]) -> Result<(Vec<TagValue>, Option<String>), TaosError> {
    let mut d = Decoder::new(tag);
    let flags = d.u8("STag flags")?;
    d.i16("STag len")?;
    let n = usize::try_from(d.i16("STag nTag")?).map_err(|_| invalid("STag nTag"))?;
    d.i32("STag version")?;
    let idx_width = if flags & TAG_LARGE != 0 { 2 } else { 1 };
    d.bytes(n * idx_width, "STag index")?;
    let json = flags & TAG_JSON != 0;
    let mut values = Vec::new();
    let mut object = serde_json::Map::new();
    for _ in 0..n {
        let key = if json {
            Some(d.cstr("JSON tag key")?)
        } else {
            d.iv("tag id")?;
            None
        };
        let code = d.u8("tag type")?;
        let bytes = match code {
            0 => Vec::new(),
            c => {
                let ty = col_type(c, 0)?;
                if ty.is_var() {
                    d.binary("tag value")?.to_vec()
                } else {
                    d.bytes(ty.fixed_len() as usize, "tag value")?.to_vec()
                }
            }
        };
        match key {
            Some(k) => {
                let v = match code {
                    10 => serde_json::Value::String(ucs4(&bytes)),
                    7 => serde_json::json!(f64::from_le_bytes(array(&bytes))),
                    1 => serde_json::Value::Bool(bytes.first() == Some(&1)),
                    _ => serde_json::Value::Null,
                };
                object.insert(k, v);
            }
            None => values.push((code, bytes)),
        }
    }
    Ok((
        values,
        json.then(|| serde_json::Value::Object(object).to_string()),
    ))
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, x) in out.iter_mut().zip(b) {
        *o = *x;
    }
    out
}

fn ucs4(b: &[u8]) -> String {
    b.chunks(4)
        .filter_map(|c| char::from_u32(u32::from_le_bytes(array(c))))
        .collect()
}

/// A SQL literal for a tag or alter value stored as taosd stores it.
pub fn literal(code: u8, bytes: &[u8]) -> Result<String, TaosError> {
    let quoted = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    Ok(match code {
        0 => "NULL".into(),
        1 => if bytes.first() == Some(&1) {
            "true"
        } else {
            "false"
        }
        .into(),
        2 => i8::from_le_bytes(array(bytes)).to_string(),
        3 => i16::from_le_bytes(array(bytes)).to_string(),
        4 => i32::from_le_bytes(array(bytes)).to_string(),
        5 | 9 => i64::from_le_bytes(array(bytes)).to_string(),
        6 => f32::from_le_bytes(array(bytes)).to_string(),
        7 => f64::from_le_bytes(array(bytes)).to_string(),
        11 => bytes.first().copied().unwrap_or(0).to_string(),
        12 => u16::from_le_bytes(array(bytes)).to_string(),
        13 => u32::from_le_bytes(array(bytes)).to_string(),
        14 => u64::from_le_bytes(array(bytes)).to_string(),
        8 | 15 => quoted(&String::from_utf8_lossy(bytes)),
        10 => quoted(&ucs4(bytes)),
        16 => {
            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
            format!("'\\x{hex}'")
        }
        20 => {
            return Err(invalid(
                "a GEOMETRY tag value (the stand-in writes GEOMETRY from WKT only)",
            ))
        }
        other => return Err(invalid(format!("a tag value of type {other}"))),
    })
}

/// What a raw meta asks for, read from its bytes (`SMsgHead` first).
pub enum RawMetaReq {
    Stable(StableReq),
    DropStable(String),
    CreateTables(Vec<TableReq>),
    DropTables(Vec<String>),
    /// The statement an `SVAlterTbReq` stands for.
    AlterTable(String),
    Delete {
        table: String,
        ts_col: String,
        lo: i64,
        hi: i64,
    },
}

pub fn decode(ty: u16, bytes: &[u8]) -> Result<RawMetaReq, TaosError> {
    let body = bytes
        .get(8..)
        .ok_or_else(|| invalid("shorter than SMsgHead"))?;
    let mut d = Decoder::new(body);
    Ok(match ty {
        raw_type::CREATE_STB | raw_type::ALTER_STB => RawMetaReq::Stable(stable_req(&mut d)?),
        raw_type::DROP_STB => RawMetaReq::DropStable(d.frame("SVDropStbReq", |f| f.cstr("name"))?),
        raw_type::CREATE_TABLE => RawMetaReq::CreateTables(d.frame("SVCreateTbBatchReq", |f| {
            let n = f.count("table count")?;
            (0..n).map(|_| table_req(f)).collect()
        })?),
        raw_type::DROP_TABLE => RawMetaReq::DropTables(d.frame("SVDropTbBatchReq", |f| {
            let n = f.count("table count")?;
            (0..n)
                .map(|_| f.frame("SVDropTbReq", |t| t.cstr("table name")))
                .collect()
        })?),
        raw_type::ALTER_TABLE => RawMetaReq::AlterTable(d.frame("SVAlterTbReq", alter_sql)?),
        raw_type::DELETE => {
            d.u64("suid")?;
            let n = d.count("uid count")?;
            for _ in 0..n {
                d.u64("uid")?;
            }
            let lo = d.i64("skey")?;
            let hi = d.i64("ekey")?;
            d.iv("affectedRows")?;
            let table = d.cstr("tableFName")?;
            let ts_col = d.cstr("tsColName")?;
            RawMetaReq::Delete {
                table,
                ts_col,
                lo,
                hi,
            }
        }
        other => return Err(invalid(format!("raw type {other} is not a meta request"))),
    })
}

fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// The `ALTER TABLE` statement of an `SVAlterTbReq`.
fn alter_sql(f: &mut Decoder) -> Result<String, TaosError> {
    let table = ident(&f.cstr("table name")?);
    let action = f.u8("alter action")?;
    f.i32("column id")?;
    let column = |f: &mut Decoder, with_flags: bool| -> Result<ColDef, TaosError> {
        let name = f.cstr("column name")?;
        let code = f.u8("column type")?;
        if with_flags {
            f.i8("column flags")?;
        }
        let bytes = f.iv("column bytes")? as i32;
        let ty = col_type(code, 0)?;
        Ok(ColDef::new(name, ty, ty.declared_len(bytes)))
    };
    let tag_value = |f: &mut Decoder| -> Result<String, TaosError> {
        let null = f.i8("isNull")? != 0;
        let code = f.u8("tag type")?;
        if null {
            return Ok("NULL".into());
        }
        let bytes = f.binary("tag value")?;
        if code == 15 {
            let (_, json) = stag_values(bytes)?;
            return literal(15, json.unwrap_or_default().as_bytes());
        }
        literal(code, bytes)
    };
    Ok(match action {
        alter_type::ADD_COLUMN => {
            format!("ALTER TABLE {table} ADD COLUMN {}", column(f, true)?.sql())
        }
        alter_type::DROP_COLUMN => format!(
            "ALTER TABLE {table} DROP COLUMN {}",
            ident(&f.cstr("column name")?)
        ),
        alter_type::UPDATE_COLUMN_BYTES => format!(
            "ALTER TABLE {table} MODIFY COLUMN {}",
            column(f, false)?.sql()
        ),
        alter_type::UPDATE_COLUMN_NAME => {
            let old = ident(&f.cstr("column name")?);
            let new = ident(&f.cstr("new column name")?);
            format!("ALTER TABLE {table} RENAME COLUMN {old} {new}")
        }
        alter_type::UPDATE_TAG_VAL => {
            let name = ident(&f.cstr("tag name")?);
            format!("ALTER TABLE {table} SET TAG {name} = {}", tag_value(f)?)
        }
        alter_type::UPDATE_MULTI_TAG_VAL => {
            let n = f.count("tag count")?;
            let sets = (0..n)
                .map(|_| {
                    f.iv("tag id")?;
                    let name = ident(&f.cstr("tag name")?);
                    Ok(format!("{name} = {}", tag_value(f)?))
                })
                .collect::<Result<Vec<_>, TaosError>>()?;
            format!("ALTER TABLE {table} SET TAG {}", sets.join(", "))
        }
        alter_type::UPDATE_OPTIONS => {
            let mut parts = Vec::new();
            if f.i8("updateTTL")? != 0 {
                parts.push(format!("TTL {}", f.iv("ttl")?));
            }
            let comment_len = f.iv("comment length")?;
            if comment_len > 0 {
                let c = f.cstr("comment")?;
                parts.push(format!(
                    "COMMENT '{}'",
                    c.replace('\\', "\\\\").replace('\'', "\\'")
                ));
            } else if comment_len == 0 {
                parts.push("COMMENT ''".into());
            }
            format!("ALTER TABLE {table} {}", parts.join(" "))
        }
        other => return Err(invalid(format!("alter action {other}"))),
    })
}

/// `CREATE TABLE IF NOT EXISTS` of a decoded table; `tags` is the target super table's tag
/// schema (a child table of a missing super table is `None`: taosd skips it).
pub fn create_sql(req: &TableReq, tags: Option<&[ColDef]>) -> Result<Option<String>, TaosError> {
    Ok(match req {
        TableReq::Normal { name, columns } => Some(format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            ident(name),
            columns
                .iter()
                .map(ColDef::sql)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        TableReq::Child {
            name,
            stable,
            values,
            json,
            bound,
        } => {
            let Some(tags) = tags else { return Ok(None) };
            let (names, lits): (Vec<String>, Vec<String>) = if let Some(text) = json {
                let name = tags.first().map(|t| t.name.clone()).unwrap_or_default();
                let lit = if text == "{}" {
                    "NULL".into()
                } else {
                    literal(15, text.as_bytes())?
                };
                (vec![ident(&name)], vec![lit])
            } else {
                let mut names = Vec::new();
                let mut lits = Vec::new();
                for (n, (code, bytes)) in bound.iter().zip(values) {
                    if tags.iter().any(|t| &t.name == n) {
                        names.push(ident(n));
                        lits.push(literal(*code, bytes)?);
                    }
                }
                (names, lits)
            };
            if names.is_empty() {
                let nulls = vec!["NULL"; tags.len()].join(", ");
                Some(format!(
                    "CREATE TABLE IF NOT EXISTS {} USING {} TAGS ({nulls})",
                    ident(name),
                    ident(stable)
                ))
            } else {
                Some(format!(
                    "CREATE TABLE IF NOT EXISTS {} USING {} ({}) TAGS ({})",
                    ident(name),
                    ident(stable),
                    names.join(", "),
                    lits.join(", ")
                ))
            }
        }
    })
}

/// The statements that take super table `old` to the schema `new` carries, one change each.
pub fn stable_alters(old: &StableReq, new: &StableReq) -> Vec<String> {
    let table = ident(&new.name);
    let mut out = Vec::new();
    diff(&old.columns, &new.columns, "COLUMN", &table, &mut out);
    diff(&old.tags, &new.tags, "TAG", &table, &mut out);
    out
}

/// One list's changes: a same-length list with one name changed is a rename; otherwise
/// names gone are dropped, names new are added, and a longer type is a widening.
fn diff(old: &[ColDef], new: &[ColDef], what: &str, table: &str, out: &mut Vec<String>) {
    if old.len() == new.len() {
        let renamed: Vec<(&ColDef, &ColDef)> = old
            .iter()
            .zip(new)
            .filter(|(o, n)| o.name != n.name)
            .collect();
        if let [(o, n)] = renamed.as_slice() {
            if o.ty == n.ty && !new.iter().any(|x| x.name == o.name) {
                out.push(format!(
                    "ALTER STABLE {table} RENAME {what} {} {}",
                    ident(&o.name),
                    ident(&n.name)
                ));
            }
        }
        if !renamed.is_empty() {
            return;
        }
    }
    for o in old {
        if !new.iter().any(|n| n.name == o.name) {
            out.push(format!(
                "ALTER STABLE {table} DROP {what} {}",
                ident(&o.name)
            ));
        }
    }
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => out.push(format!("ALTER STABLE {table} ADD {what} {}", n.sql())),
            Some(o) if o.len < n.len && o.ty == n.ty && n.ty != ColType::Json && n.ty.is_var() => {
                out.push(format!("ALTER STABLE {table} MODIFY {what} {}", n.sql()))
            }
            Some(_) => {}
        }
    }
}

/// `CREATE STABLE` of a decoded super table.
pub fn create_stable_sql(req: &StableReq) -> String {
    let list = |defs: &[ColDef]| defs.iter().map(ColDef::sql).collect::<Vec<_>>().join(", ");
    format!(
        "CREATE STABLE IF NOT EXISTS {} ({}) TAGS ({})",
        ident(&req.name),
        list(&req.columns),
        list(&req.tags)
    )
}

/// `DROP TABLE IF EXISTS` of each table, `DROP STABLE IF EXISTS`, `DELETE FROM`.
pub fn drop_tables_sql(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| ident(n)).collect();
    format!("DROP TABLE IF EXISTS {}", list.join(", "))
}

pub fn drop_stable_sql(name: &str) -> String {
    format!("DROP STABLE IF EXISTS {}", ident(name))
}

pub fn delete_sql(table: &str, ts_col: &str, lo: i64, hi: i64) -> String {
    let c = ident(ts_col);
    format!(
        "DELETE FROM {} WHERE {c} >= {lo} AND {c} <= {hi}",
        ident(table)
    )
}
