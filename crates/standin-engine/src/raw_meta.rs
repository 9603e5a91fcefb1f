//! The raw form of TMQ meta messages: what `tmq_get_raw` hands a client for a meta message
//! (taosAdapter `fetch_raw` / `fetch_raw_data`) and what `tmq_write_raw` (`/ws` binary
//! action 3, `write_raw_meta` in the connectors) takes back. taosd puts the vnode request
//! itself in the message, as its write-ahead log holds it: `SMsgHead` (`vgId`, `contLen`,
//! both big endian) and the request encoded with `tencode` (`source/common/src/msg/tmsg.c`):
//!
//! | raw type | request | encoder |
//! |---|---|---|
//! | 515 `TDMT_VND_CREATE_TABLE` | `SVCreateTbBatchReq` | `tEncodeSVCreateTbBatchReq`, `tEncodeSVCreateTbReq` |
//! | 517 `TDMT_VND_ALTER_TABLE` | `SVAlterTbReq` | `tEncodeSVAlterTbReq` |
//! | 519 `TDMT_VND_DROP_TABLE` | `SVDropTbBatchReq` | `tEncodeSVDropTbBatchReq` |
//! | 531 / 533 `TDMT_VND_CREATE_STB` / `ALTER_STB` | `SVCreateStbReq` (the whole new schema) | `tEncodeSVCreateStbReq` |
//! | 535 `TDMT_VND_DROP_STB` | `SVDropStbReq` | `tEncodeSVDropStbReq` |
//! | 579 `TDMT_VND_DELETE` | `SDeleteRes` (unframed) | `tEncodeDeleteRes` |
//!
//! The numbers are `include/common/tmsgdef.h`'s: the vnode segment starts at `2 << 8` and
//! every `TD_DEF_MSG_TYPE` takes a request and a response number. A child table's tags are an
//! `STag` (`source/common/src/tdataformat.c` `tTagNew`, `tPutTagVal`).
//!
//! What the stand-in writes differently, because it keeps less than taosd: column ids are
//! positions (columns from 1, then tags), schema versions are 1, ids (`suid`, `uid`) are a
//! hash of the name, no column compression entries (`colCmpred` 0), `btime` and `ctimeMs` 0.

use serde::{Deserialize, Serialize};

use crate::error::TaosError;
use crate::meta::alter_type;
use crate::tencode::{Decoder, Encoder};
use crate::value::{Cell, ColDef, ColType};

/// `tmq_raw_data.raw_type` values (`tmsgdef.h` for vnode requests; `RES_TYPE__*` in
/// `source/client/inc/clientInt.h` for the rest).
pub mod raw_type {
    pub const DATA: u16 = 2;
    pub const METADATA: u16 = 4;
    pub const BATCH_META: u16 = 5;
    pub const CREATE_TABLE: u16 = 515;
    pub const ALTER_TABLE: u16 = 517;
    pub const DROP_TABLE: u16 = 519;
    pub const CREATE_STB: u16 = 531;
    pub const ALTER_STB: u16 = 533;
    pub const DROP_STB: u16 = 535;
    pub const DELETE: u16 = 579;
}

/// `ETableType` (`include/common/tdef.h`).
pub const CHILD_TABLE: i8 = 2;
pub const NORMAL_TABLE: i8 = 3;

/// `COL_SMA_ON`, `COL_IS_KEY` (`include/common/tmsg.h`).
const COL_SMA_ON: i8 = 1;
pub const COL_IS_KEY: i8 = 2;
/// `TD_TAG_JSON`, `TD_TAG_LARGE` (`include/common/tdataformat.h`).
pub const TAG_JSON: u8 = 0x40;
pub const TAG_LARGE: u8 = 0x20;
/// `sizeof(STag)`: flags, len, nTag, ver (packed).
pub const STAG_HEADER: usize = 9;

/// One raw meta: its type and the bytes after `tmq_raw_data`'s length and type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawMeta {
    pub ty: u16,
    pub bytes: Vec<u8>,
}

/// A stand-in id for a named object: TDengine's are generated; this one is the same each
/// time for a name, which is all a reader of the message can rely on.
pub fn id_of(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 1) as i64
}

/// `SMsgHead` and the request after it.
fn with_head(ty: u16, body: Encoder) -> RawMeta {
    let len = i32::try_from(body.buf.len() + 8).unwrap_or(i32::MAX);
    let mut bytes = Vec::with_capacity(body.buf.len() + 8);
    bytes.extend_from_slice(&2i32.to_be_bytes()); // vgId: the stand-in's one vgroup
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&body.buf);
    RawMeta { ty, bytes }
}

/// A schema's `bytes` for a column.
pub fn schema_bytes(c: &ColDef) -> i32 {
    c.ty.bytes_for(c.len)
}

/// `decimalCalcTypeMod`: precision and scale of a DECIMAL in an ext schema.
fn type_mod(c: &ColDef) -> i64 {
    match c.ty {
        ColType::Decimal { precision, scale } => (i64::from(precision) << 8) | i64::from(scale),
        _ => 0,
    }
}

/// `tEncodeSSchemaWrapper`: count, version, then per column type, flags, bytes, id, name.
fn schema(e: &mut Encoder, defs: &[ColDef], first_id: i64, tags: bool) {
    e.iv(defs.len() as i64).iv(1);
    for (i, c) in defs.iter().enumerate() {
        let flags = match (tags, c.primary_key) {
            (true, _) => 0,
            (false, true) => COL_SMA_ON | COL_IS_KEY,
            (false, false) => COL_SMA_ON,
        };
        e.u8(c.ty.type_code())
            .i8(flags)
            .iv(i64::from(schema_bytes(c)));
        e.iv(first_id + i as i64).cstr(&c.name);
    }
}

/// `hasExtSchema` and, for a schema with a DECIMAL, every column's type mod.
fn ext_schemas(e: &mut Encoder, defs: &[ColDef]) {
    if defs.iter().any(|c| matches!(c.ty, ColType::Decimal { .. })) {
        e.i8(1);
        for c in defs {
            e.iv(type_mod(c));
        }
    } else {
        e.i8(0);
    }
}

/// `SVCreateStbReq` of a super table as it now is: 531 when created, 533 after an alter.
pub fn stable(ty: u16, name: &str, columns: &[ColDef], tags: &[ColDef]) -> RawMeta {
    let mut e = Encoder::new();
    e.frame(|f| {
        f.cstr(name).i64(id_of(name)).i8(0); // rollup
        schema(f, columns, 1, false);
        schema(f, tags, columns.len() as i64 + 1, true);
        f.i32(0).i8(0); // alterOriDataLen, source
        f.i8(0).iv(0).iv(0); // colCmpred, colCmpr { nCols, version }
        f.i64(0); // keep
        ext_schemas(f, columns);
        f.i8(0); // virtualStb
    });
    with_head(ty, e)
}

pub fn drop_stable(name: &str) -> RawMeta {
    let mut e = Encoder::new();
    e.frame(|f| {
        f.cstr(name).i64(id_of(name));
    });
    with_head(raw_type::DROP_STB, e)
}

/// A table one `CREATE TABLE` (or an insert's `USING`) creates.
pub enum NewTable<'a> {
    Child {
        name: &'a str,
        stable: &'a str,
        /// The super table's tags and this table's values, in tag order.
        tag_defs: &'a [ColDef],
        values: &'a [Cell],
        /// The tag names the statement bound, in its order (all of them when it named none).
        bound: &'a [String],
        /// The super table's column count: tag ids follow the columns'.
        columns: usize,
    },
    Normal {
        name: &'a str,
        columns: &'a [ColDef],
    },
}

/// `tEncodeSVCreateTbReq`, framed: what a batch holds and what a data message with
/// auto-created tables carries one by one.
pub fn create_table_req(t: &NewTable) -> Vec<u8> {
    let mut e = Encoder::new();
    e.frame(|f| match t {
        NewTable::Child {
            name,
            stable,
            tag_defs,
            values,
            bound,
            columns,
        } => {
            f.iv(0).cstr(name).i64(id_of(name)).i64(0).i32(0);
            f.i8(CHILD_TABLE).i32(-1); // type, commentLen (none)
            f.cstr(stable)
                .u8(u8::try_from(tag_defs.len()).unwrap_or(u8::MAX))
                .i64(id_of(stable));
            f.binary(&stag(tag_defs, values, *columns as i16 + 1));
            f.i32(bound.len() as i32);
            for n in *bound {
                f.cstr(n);
            }
            f.i32(0).i8(0); // sqlLen, hasExtSchema
        }
        NewTable::Normal { name, columns } => {
            f.iv(0).cstr(name).i64(id_of(name)).i64(0).i32(0);
            f.i8(NORMAL_TABLE).i32(-1);
            schema(f, columns, 1, false);
            f.i32(0).iv(0).iv(0); // sqlLen, colCmpr { nCols, version }
            ext_schemas(f, columns);
        }
    });
    e.buf
}

/// `SVCreateTbBatchReq` of one vgroup's tables.
pub fn create_tables(reqs: &[Vec<u8>]) -> RawMeta {
    let mut e = Encoder::new();
    e.frame(|f| {
        f.iv(reqs.len() as i64);
        for r in reqs {
            f.buf.extend_from_slice(r);
        }
        f.i8(0); // source
    });
    with_head(raw_type::CREATE_TABLE, e)
}

/// The framed `SVCreateTbReq`s of a create batch, one by one (a data message with
/// auto-created tables lists them so).
pub fn batch_reqs(raw: &RawMeta) -> Result<Vec<Vec<u8>>, TaosError> {
    let body = raw.bytes.get(8..).unwrap_or_default();
    Decoder::new(body).frame("SVCreateTbBatchReq", |f| {
        let n = f.count("table count")?;
        (0..n)
            .map(|_| {
                let len = f.i32("SVCreateTbReq length")?;
                let body = f.bytes(usize::try_from(len).unwrap_or(usize::MAX), "SVCreateTbReq")?;
                let mut framed = len.to_le_bytes().to_vec();
                framed.extend_from_slice(body);
                Ok(framed)
            })
            .collect()
    })
}

pub fn drop_tables(names: &[String]) -> RawMeta {
    let mut e = Encoder::new();
    e.frame(|f| {
        f.iv(names.len() as i64);
        for n in names {
            f.frame(|t| {
                t.cstr(n).u64(0).i64(id_of(n)).i8(0).i8(0); // suid, uid, igNotExists, isVirtual
            });
        }
    });
    with_head(raw_type::DROP_TABLE, e)
}

/// `SDeleteRes` of a `DELETE` on `table` (a super table's name for all its children).
pub fn delete(table: &str, ts_col: &str, lo: i64, hi: i64) -> RawMeta {
    let mut e = Encoder::new();
    e.u64(0).iv(0).i64(lo).i64(hi).iv(0); // suid, no uids, skey, ekey, affectedRows
    e.cstr(table).cstr(ts_col).i64(0).i8(0);
    with_head(raw_type::DELETE, e)
}

/// What an `ALTER TABLE` on a normal or child table changes.
pub enum TableAlter<'a> {
    /// Add a column (5) or widen one (7): the column as it now is.
    AddColumn(&'a ColDef),
    WidenColumn(&'a ColDef),
    DropColumn(&'a str),
    RenameColumn(&'a str, &'a str),
    /// TTL and/or COMMENT (9).
    Options {
        ttl: Option<i64>,
        comment: Option<&'a str>,
    },
    /// SET TAG of one (4) or several (15) tags: definition, tag id, value.
    Tags(Vec<(&'a ColDef, i16, &'a Cell)>),
}

/// `SVAlterTbReq`.
pub fn alter_table(name: &str, alter: &TableAlter) -> RawMeta {
    let mut e = Encoder::new();
    e.frame(|f| {
        f.cstr(name);
        let mut type_mod_after = None;
        match alter {
            TableAlter::AddColumn(c) => {
                f.i8(alter_type::ADD_COLUMN as i8)
                    .i32(0)
                    .cstr(&c.name)
                    .u8(c.ty.type_code())
                    .i8(COL_SMA_ON);
                f.iv(i64::from(schema_bytes(c)));
                type_mod_after = Some(type_mod(c));
            }
            TableAlter::DropColumn(n) => {
                f.i8(alter_type::DROP_COLUMN as i8).i32(0).cstr(n);
            }
            TableAlter::WidenColumn(c) => {
                f.i8(alter_type::UPDATE_COLUMN_BYTES as i8)
                    .i32(0)
                    .cstr(&c.name)
                    .u8(c.ty.type_code());
                f.iv(i64::from(schema_bytes(c)));
            }
            TableAlter::RenameColumn(old, new) => {
                f.i8(alter_type::UPDATE_COLUMN_NAME as i8)
                    .i32(0)
                    .cstr(old)
                    .cstr(new);
            }
            TableAlter::Options { ttl, comment } => {
                f.i8(alter_type::UPDATE_OPTIONS as i8)
                    .i32(0)
                    .i8(i8::from(ttl.is_some()));
                if let Some(t) = ttl {
                    f.iv(*t);
                }
                match comment {
                    Some(c) if !c.is_empty() => {
                        f.iv(c.len() as i64).cstr(c);
                    }
                    Some(_) => {
                        f.iv(0);
                    }
                    None => {
                        f.iv(-1);
                    }
                }
            }
            TableAlter::Tags(tags) => match tags.as_slice() {
                [(def, id, value)] => {
                    f.i8(alter_type::UPDATE_TAG_VAL as i8)
                        .i32(i32::from(*id))
                        .cstr(&def.name);
                    tag_value(f, def, *id, value);
                }
                _ => {
                    f.i8(alter_type::UPDATE_MULTI_TAG_VAL as i8)
                        .i32(0)
                        .iv(tags.len() as i64);
                    for (def, id, value) in tags {
                        f.iv(i64::from(*id)).cstr(&def.name);
                        tag_value(f, def, *id, value);
                    }
                }
            },
        }
        f.i64(0).i8(0); // ctimeMs, source
        if let Some(m) = type_mod_after {
            f.i32(m as i32);
        }
    });
    with_head(raw_type::ALTER_TABLE, e)
}

/// `isNull`, `tagType` and, for a value, its bytes (a JSON tag's as an `STag`).
fn tag_value(f: &mut Encoder, def: &ColDef, id: i16, value: &Cell) {
    let null = *value == Cell::Null;
    f.i8(i8::from(null)).u8(def.ty.type_code());
    if !null {
        if def.ty == ColType::Json {
            f.binary(&stag(
                std::slice::from_ref(def),
                std::slice::from_ref(value),
                id,
            ));
        } else {
            f.binary(&value_bytes(def.ty, value));
        }
    }
}

/// A value as taosd stores it in a tag: fixed types little endian at their size, NCHAR as
/// UCS-4, other strings and binaries as they are.
pub fn value_bytes(ty: ColType, v: &Cell) -> Vec<u8> {
    match (ty, v) {
        (ColType::NChar, Cell::Str(s)) => {
            s.chars().flat_map(|c| (c as u32).to_le_bytes()).collect()
        }
        (_, Cell::Str(s)) => s.as_bytes().to_vec(),
        (_, Cell::Bytes(b)) => b.clone(),
        (ColType::Float, Cell::Float(x)) => (*x as f32).to_le_bytes().to_vec(),
        (ColType::Double, Cell::Float(x)) => x.to_le_bytes().to_vec(),
        (_, Cell::Bool(b)) => vec![u8::from(*b)],
        (t, Cell::Int(x)) => x.to_le_bytes()[..t.fixed_len() as usize].to_vec(),
        (t, Cell::UInt(x)) => x.to_le_bytes()[..t.fixed_len() as usize].to_vec(),
        (t, Cell::Decimal(x)) => x.to_le_bytes()[..(t.fixed_len() as usize).min(16)].to_vec(),
        (_, Cell::Float(x)) => x.to_le_bytes().to_vec(),
        (_, Cell::Null) => Vec::new(),
    }
}

/// One value of an `STag`: its key (a tag id, or a JSON key) and type, then the value.
fn put_tag_val(out: &mut Encoder, key: Result<i16, &str>, type_code: u8, value: &[u8], var: bool) {
    match key {
        Ok(id) => out.iv(i64::from(id)),
        Err(k) => out.cstr(k),
    };
    out.u8(type_code);
    if var {
        out.binary(value);
    } else {
        out.buf.extend_from_slice(value);
    }
}

/// `tTagNew`: the non-NULL tags sorted by id (a JSON tag's keys sorted), an index of offsets
/// (one byte each while the values fit in 127 bytes, else two), then the values.
pub fn stag(defs: &[ColDef], values: &[Cell], first_id: i16) -> Vec<u8> {
    let json = defs.first().is_some_and(|d| d.ty == ColType::Json);
    let mut items: Vec<Vec<u8>> = Vec::new();
    if json {
        let text = match values.first() {
            Some(Cell::Str(s)) => s.clone(),
            _ => String::new(),
        };
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text)
        {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                let mut e = Encoder::new();
                match &map[k] {
                    serde_json::Value::String(s) => {
                        let ucs4 = value_bytes(ColType::NChar, &Cell::Str(s.clone()));
                        put_tag_val(&mut e, Err(k), ColType::NChar.type_code(), &ucs4, true);
                    }
                    serde_json::Value::Number(n) => {
                        let x = n.as_f64().unwrap_or(0.0).to_le_bytes();
                        put_tag_val(&mut e, Err(k), ColType::Double.type_code(), &x, false);
                    }
                    serde_json::Value::Bool(b) => {
                        put_tag_val(
                            &mut e,
                            Err(k),
                            ColType::Bool.type_code(),
                            &[u8::from(*b)],
                            false,
                        );
                    }
                    _ => put_tag_val(&mut e, Err(k), 0, &[], false),
                }
                items.push(e.buf);
            }
        }
    } else {
        for (i, (d, v)) in defs.iter().zip(values).enumerate() {
            if *v == Cell::Null {
                continue;
            }
            let mut e = Encoder::new();
            let id = first_id + i as i16;
            put_tag_val(
                &mut e,
                Ok(id),
                d.ty.type_code(),
                &value_bytes(d.ty, v),
                d.ty.is_var(),
            );
            items.push(e.buf);
        }
    }
    let values_len: usize = items.iter().map(Vec::len).sum();
    let large = values_len > 127;
    let idx_width = if large { 2 } else { 1 };
    let len = STAG_HEADER + idx_width * items.len() + values_len;
    let mut flags = 0u8;
    if json {
        flags |= TAG_JSON;
    }
    if large {
        flags |= TAG_LARGE;
    }
    let mut out = Vec::with_capacity(len);
    out.push(flags);
    out.extend_from_slice(&(len as i16).to_le_bytes());
    out.extend_from_slice(&(items.len() as i16).to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes()); // ver
    let mut offset = 0usize;
    for item in &items {
        if large {
            out.extend_from_slice(&(offset as i16).to_le_bytes());
        } else {
            out.push(offset as u8);
        }
        offset += item.len();
    }
    for item in items {
        out.extend_from_slice(&item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_apply::{decode, RawMetaReq};

    /// `tTagNew`: header (flags, len, nTag, ver), one-byte offsets, then per value the
    /// zigzag id, the type and the value (`tPutTagVal`); NULL tags are absent.
    #[test]
    fn stag_is_laid_out_as_tag_new_lays_it_out() {
        let defs = [
            ColDef::new("i", ColType::Int, 4),
            ColDef::new("n", ColType::Int, 4),
            ColDef::new("s", ColType::VarChar, 8),
        ];
        let tag = stag(
            &defs,
            &[Cell::Int(7), Cell::Null, Cell::Str("ab".into())],
            3,
        );
        let want: Vec<u8> = [
            vec![0u8],
            22i16.to_le_bytes().to_vec(),
            2i16.to_le_bytes().to_vec(),
            1i32.to_le_bytes().to_vec(),
            vec![0, 6],
            vec![6, 4, 7, 0, 0, 0],
            vec![10, 8, 2, b'a', b'b'],
        ]
        .concat();
        assert_eq!(tag, want);
    }

    #[test]
    fn a_long_stag_takes_two_byte_offsets() {
        let defs = [ColDef::new("s", ColType::VarChar, 200)];
        let tag = stag(&defs, &[Cell::Str("x".repeat(150))], 2);
        assert_eq!(tag[0], TAG_LARGE);
        assert_eq!(i16::from_le_bytes([tag[1], tag[2]]) as usize, tag.len());
        assert_eq!(&tag[9..11], &0i16.to_le_bytes());
    }

    #[test]
    fn requests_decode_back_to_their_statements() {
        let c = ColDef::new("label", ColType::VarChar, 9);
        let raw = alter_table("n", &TableAlter::WidenColumn(&c));
        assert_eq!(raw.ty, raw_type::ALTER_TABLE);
        assert_eq!(&raw.bytes[4..8], &(raw.bytes.len() as i32).to_be_bytes());
        match decode(raw.ty, &raw.bytes).unwrap() {
            RawMetaReq::AlterTable(sql) => {
                assert_eq!(sql, "ALTER TABLE `n` MODIFY COLUMN `label` VARCHAR(9)")
            }
            _ => panic!("not an alter"),
        }
        let raw = delete("st", "ts", -5, 9);
        match decode(raw.ty, &raw.bytes).unwrap() {
            RawMetaReq::Delete {
                table,
                ts_col,
                lo,
                hi,
            } => {
                assert_eq!(
                    (table.as_str(), ts_col.as_str(), lo, hi),
                    ("st", "ts", -5, 9)
                )
            }
            _ => panic!("not a delete"),
        }
        assert!(decode(raw_type::DROP_STB, &raw.bytes[..6]).is_err());
    }
}
