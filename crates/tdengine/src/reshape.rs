//! A stored raw block rewritten to a table's schema by column name, at the byte level.
//!
//! A backup stores each block with the columns the table had when it was read. A later
//! backup of the same chain may have another schema (ADD/DROP COLUMN, a widened VARCHAR,
//! a column dropped and added again with another type). Restore writes every block in the
//! exact column order of the target schema, so that nothing depends on how a server matches
//! a block's columns to a table's (taosd's `rawBlockBindData` matches named fields but does
//! not step over a field it cannot find, shifting the data of every later column).
//!
//! Columns are moved as whole sections of the block (bitmap or offsets, then data), never
//! decoded: NCHAR stays UCS-4 as taosd sent it, and types the connector cannot decode are
//! carried unchanged. A target column the block does not have, or has with another type
//! (dropped and added again: its old values are gone), becomes a NULL column.
//!
//! Block layout (TDengine `tdatablock.c`, `blockEncode`; read back in
//! `parInsertUtil.c`, `rawBlockBindData`): a 28-byte header (version, total length, rows,
//! columns, flag, group id), per column its type (i8) and bytes (i32), per column the length
//! of its data, then per column a null bitmap (fixed-size types) or one i32 offset per row
//! (−1 for NULL, variable-size types) followed by that many bytes of data.

use std::ops::Range;

const HEADER: usize = 28;

/// A column of the schema a block is rewritten to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    /// TDengine's type code (`TSDB_DATA_TYPE_*`).
    pub type_code: u8,
    /// The column's bytes as a raw block's schema carries them (see [`schema_bytes`]).
    pub bytes: i32,
}

/// Why a block cannot be rewritten.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReshapeError {
    #[error("the stored block is malformed: {0}")]
    Malformed(String),
    #[error("the block has no column {0:?}, which the table needs (its primary timestamp)")]
    NoTimestamp(String),
    #[error("column {column:?} has type code {code}, which tdibt cannot write as NULL")]
    UnknownType { column: String, code: u8 },
}

/// Whether a type's values have variable size (offsets instead of a bitmap).
fn is_var(code: u8) -> bool {
    // VARCHAR/BINARY 8, NCHAR 10, JSON 15, VARBINARY 16, BLOB 18, MEDIUMBLOB 19, GEOMETRY 20.
    matches!(code, 8 | 10 | 15 | 16 | 18 | 19 | 20)
}

/// The size of one value of a fixed-size type (TDengine `tDataTypes`).
fn fixed_size(code: u8) -> Option<usize> {
    Some(match code {
        1 | 2 | 11 => 1,     // BOOL, TINYINT, UTINYINT
        3 | 12 => 2,         // SMALLINT, USMALLINT
        4 | 6 | 13 => 4,     // INT, FLOAT, UINT
        5 | 7 | 9 | 14 => 8, // BIGINT, DOUBLE, TIMESTAMP, UBIGINT
        _ => return None,
    })
}

/// A type's code from the name `DESCRIBE` prints (`VARCHAR`, `INT UNSIGNED`,
/// `DECIMAL(10, 2)`...); `None` for a name tdibt does not know.
pub fn type_code(type_name: &str) -> Option<u8> {
    let base = type_name
        .split('(')
        .next()
        .unwrap_or(type_name)
        .trim()
        .to_ascii_uppercase();
    Some(match base.as_str() {
        "BOOL" => 1,
        "TINYINT" => 2,
        "SMALLINT" => 3,
        "INT" | "INTEGER" => 4,
        "BIGINT" => 5,
        "FLOAT" => 6,
        "DOUBLE" => 7,
        "VARCHAR" | "BINARY" => 8,
        "TIMESTAMP" => 9,
        "NCHAR" => 10,
        "TINYINT UNSIGNED" => 11,
        "SMALLINT UNSIGNED" => 12,
        "INT UNSIGNED" => 13,
        "BIGINT UNSIGNED" => 14,
        "JSON" => 15,
        "VARBINARY" => 16,
        "DECIMAL" => 17,
        "BLOB" => 18,
        "MEDIUMBLOB" => 19,
        "GEOMETRY" => 20,
        _ => return None,
    })
}

/// The bytes a raw block's schema gives a column of `length` (as `DESCRIBE` prints it):
/// the value size for fixed types, the declared length plus the 2-byte length header for
/// variable ones (NCHAR counts 4 bytes per character), as taosd's schemas do.
pub fn schema_bytes(type_code: u8, length: i32) -> i32 {
    match fixed_size(type_code) {
        Some(size) => size as i32,
        None if type_code == 10 => length.saturating_mul(4).saturating_add(2),
        None => length.saturating_add(2),
    }
}

/// One column of a parsed block.
struct Section {
    code: u8,
    bytes: i32,
    length: i32,
    /// Bitmap or offsets, then data.
    body: Range<usize>,
}

struct Parsed<'a> {
    raw: &'a [u8],
    rows: usize,
    columns: Vec<Section>,
}

fn read_i32(raw: &[u8], at: usize) -> Result<i32, ReshapeError> {
    raw.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes)
        .ok_or_else(|| ReshapeError::Malformed(format!("cut short at byte {at}")))
}

fn parse(raw: &[u8]) -> Result<Parsed<'_>, ReshapeError> {
    let bad = |what: String| ReshapeError::Malformed(what);
    let total = read_i32(raw, 4)?;
    if total < HEADER as i32 || total as usize > raw.len() {
        return Err(bad(format!(
            "its header says {total} bytes, {} stored",
            raw.len()
        )));
    }
    let raw = &raw[..total as usize];
    let rows = usize::try_from(read_i32(raw, 8)?).map_err(|_| bad("negative rows".into()))?;
    let ncols = usize::try_from(read_i32(raw, 12)?).map_err(|_| bad("negative columns".into()))?;
    let mut at = HEADER + ncols.saturating_mul(9);
    if at > raw.len() {
        return Err(bad(format!("{ncols} columns do not fit in {total} bytes")));
    }
    let mut columns = Vec::with_capacity(ncols);
    for c in 0..ncols {
        let code = raw[HEADER + c * 5];
        let bytes = read_i32(raw, HEADER + c * 5 + 1)?;
        let length = read_i32(raw, HEADER + ncols * 5 + c * 4)?;
        let prefix = if is_var(code) {
            rows * 4
        } else {
            rows.div_ceil(8)
        };
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| at.checked_add(prefix)?.checked_add(l))
            .filter(|&end| end <= raw.len())
            .ok_or_else(|| bad(format!("column {c} runs past the block's end")))?;
        columns.push(Section {
            code,
            bytes,
            length,
            body: at..end,
        });
        at = end;
    }
    Ok(Parsed { raw, rows, columns })
}

/// `raw` (a block whose columns are named `names`) rewritten to `target`; `None` when it
/// already has the target's columns, names and types in order (it is then written as
/// stored, byte for byte: a widened VARCHAR/NCHAR needs no rewrite, since taosd checks a
/// raw block column's type, and its values fit the wider column).
pub fn conform(
    raw: &[u8],
    names: &[String],
    target: &[TargetColumn],
) -> Result<Option<Vec<u8>>, ReshapeError> {
    let parsed = parse(raw)?;
    if parsed.columns.len() != names.len() {
        return Err(ReshapeError::Malformed(format!(
            "{} columns, {} names recorded",
            parsed.columns.len(),
            names.len()
        )));
    }
    // Per target column, the block's column it takes (same name and type), if any.
    let sources: Vec<Option<&Section>> = target
        .iter()
        .map(|t| {
            names
                .iter()
                .position(|n| *n == t.name)
                .map(|i| &parsed.columns[i])
                .filter(|s| s.code == t.type_code)
        })
        .collect();
    if let (Some(first), Some(None)) = (target.first(), sources.first()) {
        return Err(ReshapeError::NoTimestamp(first.name.clone()));
    }
    let unchanged = target.len() == parsed.columns.len()
        && target
            .iter()
            .zip(names)
            .zip(&parsed.columns)
            .all(|((t, n), s)| t.name == *n && t.type_code == s.code);
    if unchanged {
        return Ok(None);
    }
    let rows = parsed.rows;
    let mut schema = Vec::with_capacity(target.len() * 5);
    let mut lengths = Vec::with_capacity(target.len() * 4);
    let mut bodies = Vec::new();
    for (t, source) in target.iter().zip(&sources) {
        schema.push(t.type_code);
        match source {
            Some(s) => {
                // A widened VARCHAR/NCHAR: the values fit, the schema says the new width.
                let bytes = if is_var(t.type_code) {
                    t.bytes.max(s.bytes)
                } else {
                    s.bytes
                };
                schema.extend_from_slice(&bytes.to_le_bytes());
                lengths.extend_from_slice(&s.length.to_le_bytes());
                bodies.extend_from_slice(&parsed.raw[s.body.clone()]);
            }
            None => {
                schema.extend_from_slice(&t.bytes.to_le_bytes());
                let length = null_column(t, rows, &mut bodies)?;
                lengths.extend_from_slice(&length.to_le_bytes());
            }
        }
    }
    let total = HEADER + schema.len() + lengths.len() + bodies.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&parsed.raw[..4]);
    out.extend_from_slice(&(total as i32).to_le_bytes());
    out.extend_from_slice(&parsed.raw[8..12]);
    out.extend_from_slice(&(target.len() as i32).to_le_bytes());
    out.extend_from_slice(&parsed.raw[16..HEADER]);
    out.extend_from_slice(&schema);
    out.extend_from_slice(&lengths);
    out.extend_from_slice(&bodies);
    Ok(Some(out))
}

/// Rows `range` of a raw block, as a block of their own (header, schema and group id
/// kept). Byte level, like [`conform`]: taos-query 0.12's `ColumnView::slice` cannot be used
/// for this (it marks a sliced NCHAR view as decoded while its data is still UCS-4, so the
/// block built from it holds every UCS-4 byte as a character, and it is `todo!()` for
/// VARBINARY and GEOMETRY).
pub fn slice_rows(raw: &[u8], range: Range<usize>) -> Result<Vec<u8>, ReshapeError> {
    let parsed = parse(raw)?;
    if range.start > range.end || range.end > parsed.rows {
        return Err(ReshapeError::Malformed(format!(
            "rows {range:?} of a block of {} rows",
            parsed.rows
        )));
    }
    let n = range.len();
    let mut lengths = Vec::with_capacity(parsed.columns.len() * 4);
    let mut bodies = Vec::new();
    for c in &parsed.columns {
        let body = &parsed.raw[c.body.clone()];
        let length = if is_var(c.code) {
            slice_var(body, parsed.rows, range.clone(), &mut bodies)?
        } else {
            let size = fixed_size(c.code).unwrap_or(usize::try_from(c.bytes).unwrap_or(0));
            let bitmap_len = parsed.rows.div_ceil(8);
            let mut bitmap = vec![0u8; n.div_ceil(8)];
            for (i, row) in range.clone().enumerate() {
                if body[row >> 3] & (0x80 >> (row & 7)) != 0 {
                    bitmap[i >> 3] |= 0x80 >> (i & 7);
                }
            }
            // The column's stored length is checked against its rows here, where the
            // value size is known: a short column is an error, not a read past its end.
            let values = body.get(bitmap_len..).and_then(|data| {
                data.get(range.start.checked_mul(size)?..range.end.checked_mul(size)?)
            });
            let values = values.ok_or_else(|| {
                ReshapeError::Malformed(format!(
                    "a column of type {} holds {} bytes, short of {} rows of {size}",
                    c.code,
                    body.len() - bitmap_len,
                    parsed.rows
                ))
            })?;
            bodies.extend_from_slice(&bitmap);
            bodies.extend_from_slice(values);
            (n * size) as i32
        };
        lengths.extend_from_slice(&length.to_le_bytes());
    }
    let ncols = parsed.columns.len();
    let total = HEADER + ncols * 5 + lengths.len() + bodies.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&parsed.raw[..4]);
    out.extend_from_slice(&(total as i32).to_le_bytes());
    out.extend_from_slice(&(n as i32).to_le_bytes());
    out.extend_from_slice(&parsed.raw[12..HEADER + ncols * 5]);
    out.extend_from_slice(&lengths);
    out.extend_from_slice(&bodies);
    Ok(out)
}

/// The first `n` columns of a raw block, as a block of their own: what a multi-table read
/// keeps after the `tbname` it selected last (header, rows and group id kept).
pub fn keep_columns(raw: &[u8], n: usize) -> Result<Vec<u8>, ReshapeError> {
    let parsed = parse(raw)?;
    let total_cols = parsed.columns.len();
    if n == 0 || n > total_cols {
        return Err(ReshapeError::Malformed(format!(
            "the first {n} of {total_cols} columns"
        )));
    }
    let kept = &parsed.columns[..n];
    let schema = &parsed.raw[HEADER..HEADER + n * 5];
    let mut lengths = Vec::with_capacity(n * 4);
    let mut bodies = Vec::new();
    for c in kept {
        lengths.extend_from_slice(&c.length.to_le_bytes());
        bodies.extend_from_slice(&parsed.raw[c.body.clone()]);
    }
    let total = HEADER + schema.len() + lengths.len() + bodies.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&parsed.raw[..4]);
    out.extend_from_slice(&(total as i32).to_le_bytes());
    out.extend_from_slice(&parsed.raw[8..12]);
    out.extend_from_slice(&(n as i32).to_le_bytes());
    out.extend_from_slice(&parsed.raw[16..HEADER]);
    out.extend_from_slice(schema);
    out.extend_from_slice(&lengths);
    out.extend_from_slice(&bodies);
    Ok(out)
}

/// Appends rows `range` of a variable-size column (`rows` offsets, then values of a u16
/// length and that many bytes); returns the new data length.
fn slice_var(
    body: &[u8],
    rows: usize,
    range: Range<usize>,
    out: &mut Vec<u8>,
) -> Result<i32, ReshapeError> {
    let data = &body[rows * 4..];
    let mut offsets = Vec::with_capacity(range.len() * 4);
    let mut values = Vec::new();
    for row in range {
        let offset = read_i32(body, row * 4)?;
        if offset < 0 {
            offsets.extend_from_slice(&(-1i32).to_le_bytes());
            continue;
        }
        let start = offset as usize;
        let len = data
            .get(start..start + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| ReshapeError::Malformed(format!("row {row}: offset {offset}")))?;
        let value = data
            .get(start..start + 2 + len)
            .ok_or_else(|| ReshapeError::Malformed(format!("row {row}: value past the end")))?;
        offsets.extend_from_slice(&(values.len() as i32).to_le_bytes());
        values.extend_from_slice(value);
    }
    out.extend_from_slice(&offsets);
    out.extend_from_slice(&values);
    Ok(values.len() as i32)
}

/// Appends an all-NULL column of `rows` rows; returns its data length.
fn null_column(t: &TargetColumn, rows: usize, out: &mut Vec<u8>) -> Result<i32, ReshapeError> {
    if is_var(t.type_code) {
        for _ in 0..rows {
            out.extend_from_slice(&(-1i32).to_le_bytes());
        }
        return Ok(0);
    }
    let size = fixed_size(t.type_code).ok_or_else(|| ReshapeError::UnknownType {
        column: t.name.clone(),
        code: t.type_code,
    })?;
    out.extend(std::iter::repeat_n(0xFFu8, rows.div_ceil(8)));
    out.extend(std::iter::repeat_n(0u8, rows * size));
    Ok((rows * size) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taos::{ColumnView, RawBlock};

    fn col(name: &str, ty: &str, len: i32) -> TargetColumn {
        let code = type_code(ty).unwrap();
        TargetColumn {
            name: name.into(),
            type_code: code,
            bytes: schema_bytes(code, len),
        }
    }

    fn block(views: &[ColumnView]) -> Vec<u8> {
        RawBlock::from_views(views, taos::Precision::Millisecond)
            .as_raw_bytes()
            .to_vec()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn type_names_as_describe_prints_them() {
        assert_eq!(type_code("INT UNSIGNED"), Some(13));
        assert_eq!(type_code("varchar"), Some(8));
        assert_eq!(type_code("DECIMAL(10, 2)"), Some(17));
        assert_eq!(type_code("NCHAR"), Some(10));
        assert_eq!(type_code("UNHEARD_OF"), None);
        assert_eq!(schema_bytes(10, 20), 82);
        assert_eq!(schema_bytes(8, 16), 18);
        assert_eq!(schema_bytes(4, 4), 4);
    }

    #[test]
    fn columns_move_by_name_added_are_null_dropped_are_gone() {
        let raw = block(&[
            ColumnView::from_millis_timestamp(vec![Some(1), Some(2), Some(3)]),
            ColumnView::from_ints(vec![Some(7), None, Some(9)]),
            ColumnView::from_nchar::<&str, _, _, _>(vec![Some("温度80"), None, Some("x")]),
        ]);
        let stored = names(&["ts", "dropped", "msg"]);
        let target = vec![
            col("ts", "TIMESTAMP", 8),
            col("msg", "NCHAR", 20),
            col("added", "BIGINT", 8),
            col("later", "VARCHAR", 8),
        ];
        let out = conform(&raw, &stored, &target).unwrap().unwrap();
        let mut back = RawBlock::parse_from_raw_block(out, taos::Precision::Millisecond);
        // taos-query reads names without bounds checks: name the columns before reading.
        back.with_field_names(["ts", "msg", "added", "later"]);
        assert_eq!(back.ncols(), 4);
        assert_eq!(back.nrows(), 3);
        let values = back.to_values();
        assert_eq!(values[0][1], taos::Value::NChar("温度80".into()));
        assert_eq!(values[1][1], taos::Value::Null(taos::Ty::NChar));
        assert_eq!(values[2][1], taos::Value::NChar("x".into()));
        for row in &values {
            assert!(row[2].is_null() && row[3].is_null(), "{row:?}");
        }
    }

    #[test]
    fn the_same_schema_keeps_the_bytes_and_a_changed_type_is_null() {
        let raw = block(&[
            ColumnView::from_millis_timestamp(vec![Some(1)]),
            ColumnView::from_ints(vec![Some(7)]),
        ]);
        let stored = names(&["ts", "v"]);
        let same = vec![col("ts", "TIMESTAMP", 8), col("v", "INT", 4)];
        assert_eq!(conform(&raw, &stored, &same).unwrap(), None);
        let text = block(&[
            ColumnView::from_millis_timestamp(vec![Some(1)]),
            ColumnView::from_varchar::<&str, _, _, _>(vec![Some("abc")]),
        ]);
        let widened = vec![col("ts", "TIMESTAMP", 8), col("v", "VARCHAR", 64)];
        assert_eq!(conform(&text, &stored, &widened).unwrap(), None);
        // `v` dropped and added again as DOUBLE: its old values are gone.
        let retyped = vec![col("ts", "TIMESTAMP", 8), col("v", "DOUBLE", 8)];
        let out = conform(&raw, &stored, &retyped).unwrap().unwrap();
        let mut back = RawBlock::parse_from_raw_block(out, taos::Precision::Millisecond);
        back.with_field_names(["ts", "v"]);
        assert!(back.to_values()[0][1].is_null());
        let no_ts = vec![col("other", "TIMESTAMP", 8)];
        assert!(matches!(
            conform(&raw, &stored, &no_ts),
            Err(ReshapeError::NoTimestamp(_))
        ));
        assert!(conform(&raw[..20], &stored, &same).is_err());
    }

    /// A multi-table read selects `tbname` last and keeps the columns before it.
    #[test]
    fn the_leading_columns_are_kept_byte_for_byte() {
        let table = [
            ColumnView::from_millis_timestamp(vec![Some(1), Some(2)]),
            ColumnView::from_nchar::<&str, _, _, _>(vec![Some("温度"), None]),
        ];
        let with_name = [
            table[0].clone(),
            table[1].clone(),
            ColumnView::from_varchar::<&str, _, _, _>(vec![Some("d1"), Some("d1")]),
        ];
        let out = keep_columns(&block(&with_name), 2).unwrap();
        assert_eq!(out, block(&table));
        assert!(keep_columns(&block(&with_name), 4).is_err());
        assert!(keep_columns(&block(&with_name), 0).is_err());
    }

    #[test]
    fn rows_are_sliced_without_decoding() {
        let raw = block(&[
            ColumnView::from_millis_timestamp(vec![Some(1), Some(2), Some(3), Some(4)]),
            ColumnView::from_ints(vec![Some(7), None, Some(9), Some(10)]),
            ColumnView::from_nchar::<&str, _, _, _>(vec![
                Some("温度80"),
                Some("温A"),
                None,
                Some("z"),
            ]),
            ColumnView::from_varchar::<&str, _, _, _>(vec![None, Some("b"), Some("cc"), None]),
        ]);
        let out = slice_rows(&raw, 1..3).unwrap();
        let mut back = RawBlock::parse_from_raw_block(out, taos::Precision::Millisecond);
        back.with_field_names(["ts", "i", "n", "v"]);
        let values = back.to_values();
        assert_eq!(values.len(), 2);
        assert!(values[0][1].is_null());
        assert_eq!(values[0][2], taos::Value::NChar("温A".into()));
        assert_eq!(values[0][3], taos::Value::VarChar("b".into()));
        assert_eq!(values[1][1], taos::Value::Int(9));
        assert!(values[1][2].is_null());
        assert_eq!(values[1][3], taos::Value::VarChar("cc".into()));
        assert!(slice_rows(&raw, 2..9).is_err());
    }

    /// Stored blocks come from a repository's packs: whatever their bytes, reshaping and
    /// slicing answer with a block or an error, never a panic.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use tdibt_testkit::mutated;

        fn sample() -> Vec<u8> {
            block(&[
                ColumnView::from_millis_timestamp(vec![Some(1), Some(2), Some(3), Some(4)]),
                ColumnView::from_ints(vec![Some(7), None, Some(9), Some(10)]),
                ColumnView::from_nchar::<&str, _, _, _>(vec![Some("温度"), None, Some("x"), None]),
                ColumnView::from_varchar::<&str, _, _, _>(vec![None, Some("b"), Some("cc"), None]),
                ColumnView::from_doubles(vec![Some(1.5), None, None, Some(-2.0)]),
            ])
        }

        fn exercise(raw: &[u8], start: usize, len: usize) {
            let stored = names(&["ts", "i", "n", "v", "d"]);
            let target = vec![
                col("ts", "TIMESTAMP", 8),
                col("v", "VARCHAR", 16),
                col("added", "BIGINT", 8),
                col("n", "NCHAR", 4),
                col("s", "VARCHAR", 8),
            ];
            let _ = conform(raw, &stored, &target);
            let _ = slice_rows(raw, start..start + len);
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn mutated_blocks(raw in mutated(sample()), start in 0usize..6, len in 0usize..6) {
                exercise(&raw, start, len);
            }

            #[test]
            fn arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..256), start in 0usize..6, len in 0usize..6) {
                exercise(&raw, start, len);
            }
        }
    }
}
