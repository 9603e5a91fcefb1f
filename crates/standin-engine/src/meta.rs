//! The TMQ meta JSON, field for field as TDengine's client builds it from the vnode's log
//! (`source/client/src/clientRawBlockWrite.c`: `buildCreateTableJson`, `buildChildElement`,
//! `buildCreateCTableJson`, `buildAlterSTableJson`, `processAlterTable`, `processDropSTable`,
//! `processDropTable`, `processDeleteTable`; values through `dataConverToStr` in
//! `source/libs/qcom/src/queryUtil.c`). Keys come out in serde_json's order, not cJSON's
//! insertion order; the values are the same.

use serde_json::{json, Map, Value as Json};

use crate::value::{Cell, ColDef, ColType};

/// `length` is written for BINARY/VARCHAR, VARBINARY and GEOMETRY (bytes) and NCHAR
/// (characters) only; fixed types carry none.
fn var_length(c: &ColDef) -> Option<u32> {
    match c.ty {
        ColType::VarChar | ColType::VarBinary | ColType::Geometry | ColType::NChar => Some(c.len),
        _ => None,
    }
}

/// The default (encode, compress, level) of a column type: TDengine 3.3 docs,
/// 32-compress.md. DECIMAL is not in that table; it is given the string types' defaults.
fn default_compression(ty: ColType) -> (&'static str, &'static str, &'static str) {
    match ty {
        ColType::Int | ColType::UInt => ("simple8b", "lz4", "medium"),
        ColType::TinyInt | ColType::UTinyInt | ColType::SmallInt | ColType::USmallInt => {
            ("simple8b", "zlib", "medium")
        }
        ColType::BigInt | ColType::UBigInt | ColType::Timestamp => ("delta-i", "lz4", "medium"),
        ColType::Float | ColType::Double => ("delta-d", "lz4", "medium"),
        ColType::Bool => ("bit-packing", "zstd", "medium"),
        _ => ("disabled", "zstd", "medium"),
    }
}

/// A column of a create super/normal table message.
pub fn column_json(c: &ColDef) -> Json {
    let (encode, compress, level) = default_compression(c.ty);
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert("type".into(), json!(c.ty.type_code()));
    if let Some(len) = var_length(c) {
        m.insert("length".into(), json!(len));
    }
    m.insert("isPrimarykey".into(), json!(c.primary_key));
    m.insert("encode".into(), json!(encode));
    m.insert("compress".into(), json!(compress));
    m.insert("level".into(), json!(level));
    Json::Object(m)
}

/// A tag of a create super table message (no key flag, no compression).
pub fn tag_json(c: &ColDef) -> Json {
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert("type".into(), json!(c.ty.type_code()));
    if let Some(len) = var_length(c) {
        m.insert("length".into(), json!(len));
    }
    Json::Object(m)
}

/// `{"type":"create","tableType":"super"|"normal",...}`; a normal table's `tags` is empty.
pub fn create_table_json(
    table_type: &str,
    name: &str,
    columns: &[ColDef],
    tags: &[ColDef],
) -> Json {
    json!({"type": "create", "tableType": table_type, "tableName": name,
        "columns": columns.iter().map(column_json).collect::<Vec<_>>(),
        "tags": tags.iter().map(tag_json).collect::<Vec<_>>()})
}

/// A number as cJSON prints a double: integral values as integers (up to where `%1.15g`
/// still writes every digit), others as floats.
fn number_json(v: f64) -> Json {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
    }
}

/// A fixed-size value as `GET_TYPED_DATA(val, double, ...)` reads it.
fn as_double(c: &Cell) -> f64 {
    match c {
        Cell::Bool(b) => f64::from(u8::from(*b)),
        Cell::Int(v) => *v as f64,
        Cell::UInt(v) => *v as f64,
        Cell::Float(v) => *v,
        Cell::Decimal(v) => *v as f64,
        _ => 0.0,
    }
}

/// `dataConverToStr`: strings and geometry between double quotes (nothing escaped),
/// VARBINARY as `"\x"` and upper-case hex, numbers with `%d`/`%e`, BOOL `true`/`false`.
pub fn converted_str(c: &Cell, ty: ColType) -> String {
    match (c, ty) {
        (Cell::Null, _) => "null".into(),
        (Cell::Bytes(b), ColType::VarBinary) => {
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("\"\\x{hex}\"")
        }
        (Cell::Bytes(b), _) => format!("\"{}\"", String::from_utf8_lossy(b)),
        (Cell::Str(s), _) => format!("\"{s}\""),
        (Cell::Bool(b), _) => b.to_string(),
        (Cell::Float(v), _) => format_e(*v),
        (Cell::Int(v), _) => v.to_string(),
        (Cell::UInt(v), _) => v.to_string(),
        (Cell::Decimal(v), _) => v.to_string(),
    }
}

/// C's `%e`: six decimals and a signed two-digit-at-least exponent (`1.500000e+00`).
fn format_e(v: f64) -> String {
    let s = format!("{v:.6e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// A child table's create element: `tableName`, `using`, `tagNum` and the non-NULL tags.
///
/// taosd pairs the i-th tag name the statement bound (NULLs skipped, in the statement's
/// order) with the i-th non-NULL tag value in tag-id order (`parseTagValue` in
/// parInsertSql.c pushes names; `tTagToValArray` returns values sorted by id), so a
/// statement naming its tags out of schema order gets names and values paired as taosd
/// pairs them.
pub fn child_element(
    name: &str,
    stable: &str,
    tag_defs: &[ColDef],
    values: &[Cell],
    bound_names: &[String],
) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("tableName".into(), json!(name));
    m.insert("using".into(), json!(stable));
    m.insert("tagNum".into(), json!(tag_defs.len()));
    let present: Vec<(&ColDef, &Cell)> = tag_defs
        .iter()
        .zip(values)
        .filter(|(_, v)| **v != Cell::Null)
        .collect();
    let names: Vec<&String> = bound_names
        .iter()
        .filter(|n| {
            tag_defs
                .iter()
                .zip(values)
                .any(|(d, v)| &&d.name == n && *v != Cell::Null)
        })
        .collect();
    let tags: Vec<Json> = if tag_defs.first().is_some_and(|d| d.ty == ColType::Json) {
        // A JSON tag is the only tag; NULL leaves the list empty.
        present
            .iter()
            .zip(&names)
            .map(|((_, v), n)| json!({"name": n, "type": ColType::Json.type_code(), "value": json_tag_text(v)}))
            .collect()
    } else {
        present
            .iter()
            .zip(&names)
            .map(|((d, v), n)| {
                let value = if d.ty.is_var() {
                    json!(converted_str(v, d.ty))
                } else {
                    number_json(as_double(v))
                };
                json!({"name": n, "type": d.ty.type_code(), "value": value})
            })
            .collect()
    };
    m.insert("tags".into(), Json::Array(tags));
    m
}

/// A JSON tag as `parseTagDatatoJson` prints it (keys sorted, as the tag stores them).
fn json_tag_text(v: &Cell) -> String {
    match v {
        Cell::Str(s) => serde_json::from_str::<Json>(s)
            .map(|j| j.to_string())
            .unwrap_or_else(|_| s.clone()),
        other => converted_str(other, ColType::Json),
    }
}

/// One create message for the child tables of one vgroup's batch: the first table's
/// element at the top level and, when the batch has more than one, every element in
/// `createList` (which is present and empty for a single table).
pub fn create_child_json(elements: &[Map<String, Json>]) -> Json {
    let mut top = Map::new();
    top.insert("type".into(), json!("create"));
    top.insert("tableType".into(), json!("child"));
    if let Some(first) = elements.first() {
        top.extend(first.clone());
    }
    let list: Vec<Json> = if elements.len() > 1 {
        elements.iter().cloned().map(Json::Object).collect()
    } else {
        Vec::new()
    };
    top.insert("createList".into(), Json::Array(list));
    Json::Object(top)
}

/// TDengine's alter types (`TSDB_ALTER_TABLE_*` in include/common/tmsg.h).
pub mod alter_type {
    pub const ADD_TAG: u8 = 1;
    pub const DROP_TAG: u8 = 2;
    pub const UPDATE_TAG_NAME: u8 = 3;
    pub const UPDATE_TAG_VAL: u8 = 4;
    pub const ADD_COLUMN: u8 = 5;
    pub const DROP_COLUMN: u8 = 6;
    pub const UPDATE_COLUMN_BYTES: u8 = 7;
    pub const UPDATE_TAG_BYTES: u8 = 8;
    pub const UPDATE_OPTIONS: u8 = 9;
    pub const UPDATE_COLUMN_NAME: u8 = 10;
    pub const UPDATE_MULTI_TAG_VAL: u8 = 15;
}

/// What an alter message says beyond its type.
pub enum AlterDetail<'a> {
    /// Add column/tag, modify column/tag length: name, type and (var types) length.
    Field(&'a ColDef),
    /// Drop column/tag.
    Name(&'a str),
    /// Rename column/tag.
    Rename(&'a str, &'a str),
    /// One tag set on a child table (type 4).
    TagValue(&'a ColDef, &'a Cell),
    /// TTL/COMMENT (9) and several tags at once (15): no further fields.
    Nothing,
}

/// An alter message. A super table's come from `buildAlterSTableJson` (tableType
/// "super"); a table's from `processAlterTable`, which writes tableType "child" for a
/// single tag value and "normal" for everything else, child tables included.
pub fn alter_json(super_table: bool, table: &str, alter_type: u8, detail: AlterDetail) -> Json {
    let table_type = match (super_table, alter_type) {
        (true, _) => "super",
        (false, alter_type::UPDATE_TAG_VAL) => "child",
        (false, _) => "normal",
    };
    let mut m = Map::new();
    m.insert("type".into(), json!("alter"));
    m.insert("tableType".into(), json!(table_type));
    m.insert("tableName".into(), json!(table));
    m.insert("alterType".into(), json!(alter_type));
    match detail {
        AlterDetail::Field(c) => {
            m.insert("colName".into(), json!(c.name));
            m.insert("colType".into(), json!(c.ty.type_code()));
            if let Some(len) = var_length(c) {
                m.insert("colLength".into(), json!(len));
            }
        }
        AlterDetail::Name(n) => {
            m.insert("colName".into(), json!(n));
        }
        AlterDetail::Rename(old, new) => {
            m.insert("colName".into(), json!(old));
            m.insert("colNewName".into(), json!(new));
        }
        AlterDetail::TagValue(def, value) => {
            m.insert("colName".into(), json!(def.name));
            let is_null = *value == Cell::Null;
            if !is_null {
                let text = if def.ty == ColType::Json {
                    json_tag_text(value)
                } else {
                    converted_str(value, def.ty)
                };
                m.insert("colValue".into(), json!(text));
            }
            m.insert("colValueNull".into(), json!(is_null));
        }
        AlterDetail::Nothing => {}
    }
    Json::Object(m)
}

/// Dropping child/normal tables: the names of one vgroup's batch.
pub fn drop_tables_json(names: &[String]) -> Json {
    json!({"type": "drop", "tableNameList": names})
}

pub fn drop_stable_json(name: &str) -> Json {
    json!({"type": "drop", "tableType": "super", "tableName": name})
}

/// taosd's `char sql[256]` for the delete statement.
const DELETE_SQL_BUFFER: usize = 256;

/// The delete statement, cut where `snprintf` into taosd's 256-byte buffer cuts it (255
/// bytes and the terminator); a cut through a multi-byte character leaves a replacement
/// character where taosd leaves the partial bytes.
pub fn delete_json(table: &str, ts_col: &str, lo: i64, hi: i64) -> Json {
    let full = format!("delete from `{table}` where `{ts_col}` >= {lo} and `{ts_col}` <= {hi}");
    let bytes = full.as_bytes();
    let cut = &bytes[..bytes.len().min(DELETE_SQL_BUFFER - 1)];
    json!({"type": "delete", "sql": String::from_utf8_lossy(cut)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_format_is_c_like() {
        assert_eq!(format_e(1.5), "1.500000e+00");
        assert_eq!(format_e(-0.00012), "-1.200000e-04");
        assert_eq!(format_e(1e100), "1.000000e+100");
    }
}
