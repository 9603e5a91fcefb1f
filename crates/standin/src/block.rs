//! TDengine's raw block format, written from its definition and not from a connector's
//! encoder, so the stand-in's side and a client's side cannot share a mistake.
//!
//! Layout (TDengine `source/common/src/tdatablock.c` `blockEncode`/`blockDecode`, taosAdapter
//! `driver/common/parser/block.go`), little endian unless said:
//!
//! ```text
//! i32 version (1) | i32 total length | i32 rows | i32 columns | i32 flag (1 << 31)
//! u64 group id | columns x (i8 type, i32 bytes) | columns x i32 data length
//! per column: var types: rows x i32 offset (-1 = NULL), then per value u16 length + bytes;
//!             fixed types: null bitmap ((rows + 7) / 8 bytes, bit 7 - r%8 of byte r/8 set =
//!             NULL), then rows x bytes
//! ```
//!
//! `blockEncode` writes the data lengths big endian (`htonl`); the client library turns them
//! to host order before `taos_fetch_raw_block` hands the block out (`clientImpl.c`
//! `setResultDataPtr`), and `taos_write_raw_block` reads them in host order
//! (`rawBlockBindData(..., needChangeLength = false)`), so over taosAdapter's WebSocket they
//! are little endian both ways — as taos-query and taosAdapter's `block.go` read them.
//!
//! NCHAR values are UCS-4 (little endian u32 code points) inside a block, both in what a
//! fetch returns (`taos_fetch_raw_block` leaves the server's block unconverted:
//! `clientMain.c`, `doAsyncFetchRows(..., convertUcs4 = false)`) and in what
//! `taos_write_raw_block` takes (`parInsertUtil.c` `rawBlockBindData` copies the column as
//! stored, and taosd stores NCHAR as UCS-4). A column's `bytes` is the declared length plus
//! the 2-byte length prefix, times 4 for NCHAR's characters (`TSDB_NCHAR_SIZE`).

use taos_standin_engine::{Cell, ColType, Column, ResultSet, TaosError};

const HEADER: usize = 28;
const VERSION: i32 = 1;

/// TDengine's type ids (`include/common/ttypes.h`, `taos.h` `TSDB_DATA_TYPE_*`).
pub fn type_id(ty: ColType) -> u8 {
    match ty {
        ColType::Bool => 1,
        ColType::TinyInt => 2,
        ColType::SmallInt => 3,
        ColType::Int => 4,
        ColType::BigInt => 5,
        ColType::Float => 6,
        ColType::Double => 7,
        ColType::VarChar => 8,
        ColType::Timestamp => 9,
        ColType::NChar => 10,
        ColType::UTinyInt => 11,
        ColType::USmallInt => 12,
        ColType::UInt => 13,
        ColType::UBigInt => 14,
        ColType::Json => 15,
        ColType::VarBinary => 16,
        ColType::Geometry => 20,
        ColType::Decimal { .. } => ty.type_code(),
    }
}

/// The column type of a type id. DECIMAL (17) and DECIMAL64 (21) are refused by name: a
/// block's column schema carries only type and bytes, not the precision and scale a DECIMAL
/// column needs, and taosd takes them from the table's schema, which this decoder does not see.
fn col_type(id: u8) -> Result<ColType, TaosError> {
    ColType::from_type_code(id).ok_or_else(|| {
        let name = match id {
            17 => "DECIMAL",
            21 => "DECIMAL64",
            _ => "unknown",
        };
        TaosError::new(
            0x0118,
            format!("raw block column type {id} ({name}) is not supported by taos-standin"),
        )
    })
}

/// The `bytes` a block states for a column.
pub(crate) fn column_bytes(c: &Column) -> i32 {
    c.ty.bytes_for(c.len)
}

/// A value as a block stores it: fixed-width bytes, or a variable payload.
fn var_payload(ty: ColType, cell: &Cell) -> Option<Vec<u8>> {
    let text = |c: &Cell| match c {
        Cell::Str(s) => s.clone().into_bytes(),
        Cell::Bytes(b) => b.clone(),
        Cell::Null => Vec::new(),
        Cell::Bool(b) => b.to_string().into_bytes(),
        Cell::Int(v) => v.to_string().into_bytes(),
        Cell::UInt(v) => v.to_string().into_bytes(),
        Cell::Float(v) => v.to_string().into_bytes(),
        Cell::Decimal(v) => v.to_string().into_bytes(),
    };
    match cell {
        Cell::Null => None,
        c if ty == ColType::NChar => {
            let s = String::from_utf8_lossy(&text(c)).into_owned();
            Some(s.chars().flat_map(|ch| (ch as u32).to_le_bytes()).collect())
        }
        c => Some(text(c)),
    }
}

fn fixed_bytes(ty: ColType, cell: &Cell, out: &mut Vec<u8>) {
    let i = cell.as_i64().unwrap_or(0);
    let u = match cell {
        Cell::UInt(v) => *v,
        _ => i as u64,
    };
    let f = match cell {
        Cell::Float(v) => *v,
        Cell::Int(v) => *v as f64,
        Cell::UInt(v) => *v as f64,
        _ => 0.0,
    };
    match ty {
        ColType::Bool => out.push(u8::from(matches!(cell, Cell::Bool(true)))),
        ColType::TinyInt => out.extend_from_slice(&(i as i8).to_le_bytes()),
        ColType::SmallInt => out.extend_from_slice(&(i as i16).to_le_bytes()),
        ColType::Int => out.extend_from_slice(&(i as i32).to_le_bytes()),
        ColType::BigInt | ColType::Timestamp => out.extend_from_slice(&i.to_le_bytes()),
        ColType::UTinyInt => out.push(u as u8),
        ColType::USmallInt => out.extend_from_slice(&(u as u16).to_le_bytes()),
        ColType::UInt => out.extend_from_slice(&(u as u32).to_le_bytes()),
        ColType::UBigInt => out.extend_from_slice(&u.to_le_bytes()),
        ColType::Float => out.extend_from_slice(&(f as f32).to_le_bytes()),
        ColType::Double => out.extend_from_slice(&f.to_le_bytes()),
        // The unscaled value: DECIMAL64 as i64, DECIMAL as i128 (TDengine `decimal.h`
        // `Decimal64`/`Decimal128`), little endian like every fixed column.
        ColType::Decimal { .. } => {
            let v = match cell {
                Cell::Decimal(v) => *v,
                _ => i128::from(i),
            };
            if ty.fixed_len() == 16 {
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.extend_from_slice(&(v as i64).to_le_bytes());
            }
        }
        ColType::VarChar
        | ColType::NChar
        | ColType::VarBinary
        | ColType::Geometry
        | ColType::Json => {}
    }
}

/// One column's data section.
fn encode_column(ty: ColType, cells: &[&Cell]) -> Vec<u8> {
    let rows = cells.len();
    let mut out = Vec::new();
    if ty.is_var() {
        let mut data = Vec::new();
        let mut offsets = Vec::with_capacity(rows * 4);
        for c in cells {
            match var_payload(ty, c) {
                Some(p) => {
                    offsets.extend_from_slice(&(data.len() as i32).to_le_bytes());
                    data.extend_from_slice(&(p.len() as u16).to_le_bytes());
                    data.extend_from_slice(&p);
                }
                None => offsets.extend_from_slice(&(-1i32).to_le_bytes()),
            }
        }
        out.extend_from_slice(&offsets);
        out.extend_from_slice(&data);
    } else {
        let mut bitmap = vec![0u8; rows.div_ceil(8)];
        let mut data = Vec::with_capacity(rows * ty.fixed_len() as usize);
        for (r, c) in cells.iter().enumerate() {
            if matches!(c, Cell::Null) {
                bitmap[r / 8] |= 1 << (7 - r % 8);
                data.resize(data.len() + ty.fixed_len() as usize, 0);
            } else {
                fixed_bytes(ty, c, &mut data);
            }
        }
        out.extend_from_slice(&bitmap);
        out.extend_from_slice(&data);
    }
    out
}

/// Encodes a result set as one raw block.
pub fn encode(rs: &ResultSet) -> Vec<u8> {
    let rows = rs.rows.len();
    let cols = rs.columns.len();
    let mut out = Vec::with_capacity(HEADER + cols * 9);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // total length, set below
    out.extend_from_slice(&(rows as i32).to_le_bytes());
    out.extend_from_slice(&(cols as i32).to_le_bytes());
    out.extend_from_slice(&i32::MIN.to_le_bytes()); // flag: 1 << 31
    out.extend_from_slice(&0u64.to_le_bytes()); // group id
    for c in &rs.columns {
        out.push(type_id(c.ty));
        out.extend_from_slice(&column_bytes(c).to_le_bytes());
    }
    let sections: Vec<(Vec<u8>, usize)> = rs
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cells: Vec<&Cell> = rs
                .rows
                .iter()
                .map(|r| r.get(i).unwrap_or(&Cell::Null))
                .collect();
            let section = encode_column(c.ty, &cells);
            let meta = if c.ty.is_var() {
                rows * 4
            } else {
                rows.div_ceil(8)
            };
            let data_len = section.len() - meta;
            (section, data_len)
        })
        .collect();
    for (_, data_len) in &sections {
        out.extend_from_slice(&(*data_len as i32).to_le_bytes());
    }
    for (section, _) in sections {
        out.extend_from_slice(&section);
    }
    let total = out.len() as i32;
    out[4..8].copy_from_slice(&total.to_le_bytes());
    out
}

/// Reads a raw block; every failure names what is wrong (`TSDB_CODE_INVALID_PARA`).
struct Reader<'a> {
    bytes: &'a [u8],
}

fn bad(what: impl Into<String>) -> TaosError {
    TaosError::new(0x0118, format!("invalid raw block: {}", what.into()))
}

impl<'a> Reader<'a> {
    fn take(&self, at: usize, n: usize, what: &str) -> Result<&'a [u8], TaosError> {
        at.checked_add(n)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| bad(format!("{what} runs past the block's end")))
    }

    fn i32_at(&self, at: usize, what: &str) -> Result<i32, TaosError> {
        let b = self.take(at, 4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A decoded block: its columns (named `c0`, `c1`... unless named by the caller) and rows.
#[derive(Debug)]
pub struct Decoded {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// How many bytes the block took (`write_raw_block_with_fields` puts its field list
    /// after it).
    pub len: usize,
}

fn decode_value(ty: ColType, raw: &[u8], row: usize) -> Result<Cell, TaosError> {
    let arr = |n: usize| -> Result<[u8; 8], TaosError> {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(
            raw.get(..n)
                .ok_or_else(|| bad(format!("row {row} is short")))?,
        );
        Ok(a)
    };
    Ok(match ty {
        ColType::Bool => Cell::Bool(arr(1)?[0] != 0),
        ColType::TinyInt => Cell::Int(i64::from(arr(1)?[0] as i8)),
        ColType::SmallInt => Cell::Int(i64::from(i16::from_le_bytes([arr(2)?[0], arr(2)?[1]]))),
        ColType::Int => {
            let a = arr(4)?;
            Cell::Int(i64::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]])))
        }
        ColType::BigInt | ColType::Timestamp => Cell::Int(i64::from_le_bytes(arr(8)?)),
        ColType::UTinyInt => Cell::UInt(u64::from(arr(1)?[0])),
        ColType::USmallInt => Cell::UInt(u64::from(u16::from_le_bytes([arr(2)?[0], arr(2)?[1]]))),
        ColType::UInt => {
            let a = arr(4)?;
            Cell::UInt(u64::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]])))
        }
        ColType::UBigInt => Cell::UInt(u64::from_le_bytes(arr(8)?)),
        ColType::Float => {
            let a = arr(4)?;
            Cell::Float(f64::from(f32::from_le_bytes([a[0], a[1], a[2], a[3]])))
        }
        ColType::Double => Cell::Float(f64::from_le_bytes(arr(8)?)),
        ColType::NChar => {
            if !raw.len().is_multiple_of(4) {
                return Err(bad(format!(
                    "NCHAR value of row {row} is {} bytes, not UCS-4",
                    raw.len()
                )));
            }
            let s: Option<String> = raw
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            Cell::Str(s.ok_or_else(|| bad(format!("NCHAR value of row {row} is not UCS-4")))?)
        }
        ColType::VarChar | ColType::Json => Cell::Str(
            String::from_utf8(raw.to_vec())
                .map_err(|_| bad(format!("text of row {row} is not UTF-8")))?,
        ),
        ColType::VarBinary | ColType::Geometry => Cell::Bytes(raw.to_vec()),
        ColType::Decimal { .. } => return Err(bad("DECIMAL columns cannot be decoded")),
    })
}

fn decode_column(
    r: &Reader<'_>,
    at: usize,
    ty: ColType,
    rows: usize,
    data_len: usize,
) -> Result<Vec<Cell>, TaosError> {
    // Every take comes before the allocation: `rows` is the sender's word until the bytes
    // it implies are there.
    if ty.is_var() {
        let offsets = r.take(at, rows * 4, "offsets")?;
        let data = r.take(at + rows * 4, data_len, "column data")?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let o = &offsets[row * 4..row * 4 + 4];
            let off = i32::from_le_bytes([o[0], o[1], o[2], o[3]]);
            if off < 0 {
                out.push(Cell::Null);
                continue;
            }
            let off = off as usize;
            let len = data
                .get(off..off + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                .ok_or_else(|| bad(format!("offset of row {row} is outside the column")))?;
            let raw = data
                .get(off + 2..off + 2 + len)
                .ok_or_else(|| bad(format!("value of row {row} is outside the column")))?;
            out.push(decode_value(ty, raw, row)?);
        }
        Ok(out)
    } else {
        let width = ty.fixed_len() as usize;
        let bitmap = r.take(at, rows.div_ceil(8), "null bitmap")?;
        let data = r.take(at + rows.div_ceil(8), rows * width, "column data")?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            if bitmap[row / 8] & (1 << (7 - row % 8)) != 0 {
                out.push(Cell::Null);
            } else {
                out.push(decode_value(
                    ty,
                    &data[row * width..(row + 1) * width],
                    row,
                )?);
            }
        }
        Ok(out)
    }
}

/// Decodes a raw block a client wrote (`write_raw_block`).
pub fn decode(bytes: &[u8]) -> Result<Decoded, TaosError> {
    let r = Reader { bytes };
    let total = r.i32_at(4, "header")?;
    let rows = usize::try_from(r.i32_at(8, "header")?).map_err(|_| bad("negative rows"))?;
    let cols = usize::try_from(r.i32_at(12, "header")?).map_err(|_| bad("negative columns"))?;
    if usize::try_from(total).map_or(true, |t| t < HEADER || t > bytes.len()) {
        return Err(bad(format!(
            "its length {total} does not fit the {} bytes sent",
            bytes.len()
        )));
    }
    // The schema (5 bytes a column) and the lengths (4) must fit in what was sent before
    // anything is allocated for them; rows need a column to live in.
    if cols.saturating_mul(9).saturating_add(HEADER) > bytes.len() {
        return Err(bad(format!(
            "{cols} columns do not fit the {} bytes sent",
            bytes.len()
        )));
    }
    if cols == 0 && rows > 0 {
        return Err(bad(format!("{rows} rows without a column")));
    }
    let mut columns = Vec::with_capacity(cols);
    for i in 0..cols {
        let at = HEADER + i * 5;
        let id = r.take(at, 1, "column schema")?[0];
        let ty = col_type(id)?;
        let b = r.i32_at(at + 1, "column schema")?;
        columns.push(Column {
            name: format!("c{i}"),
            ty,
            len: ty.declared_len(b),
        });
    }
    let lengths_at = HEADER + cols * 5;
    let mut at = lengths_at + cols * 4;
    let mut by_column = Vec::with_capacity(cols);
    for (i, c) in columns.iter().enumerate() {
        let l = r.take(lengths_at + i * 4, 4, "column lengths")?;
        let data_len = usize::try_from(i32::from_le_bytes([l[0], l[1], l[2], l[3]]))
            .map_err(|_| bad(format!("column {i} has a negative length")))?;
        by_column.push(decode_column(&r, at, c.ty, rows, data_len)?);
        at += if c.ty.is_var() {
            rows * 4
        } else {
            rows.div_ceil(8)
        } + data_len;
    }
    let rows = (0..rows)
        .map(|row| by_column.iter().map(|col| col[row].clone()).collect())
        .collect();
    Ok(Decoded {
        columns,
        rows,
        len: total as usize,
    })
}

/// Column names from the `TAOS_FIELD` records `write_raw_block_with_fields` sends after the
/// block: 72 bytes each, `char name[65]`, `int8 type`, padding, `int32 bytes`.
pub fn field_names(trailer: &[u8], count: usize) -> Result<Vec<String>, TaosError> {
    if trailer.len() < count * 72 {
        return Err(bad(format!(
            "{count} field records need {} bytes after the block, {} were sent",
            count * 72,
            trailer.len()
        )));
    }
    Ok(trailer
        .chunks_exact(72)
        .take(count)
        .map(|f| {
            let name = &f[..65];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use taos_standin_engine::Precision;

    fn rs(ty: ColType, len: u32, cells: Vec<Cell>) -> ResultSet {
        ResultSet {
            columns: vec![Column {
                name: "c".into(),
                ty,
                len,
            }],
            precision: Precision::Millis,
            rows: cells.into_iter().map(|c| vec![c]).collect(),
        }
    }

    /// The bytes of a NCHAR block are UCS-4, as taosd sends and takes them.
    #[test]
    fn nchar_is_ucs4_on_the_wire() {
        let b = encode(&rs(
            ColType::NChar,
            20,
            vec![Cell::Str("温度80".into()), Cell::Null],
        ));
        let data_at = HEADER + 5 + 4 + 2 * 4;
        let len = u16::from_le_bytes([b[data_at], b[data_at + 1]]);
        assert_eq!(len, 16, "four characters of four bytes");
        assert_eq!(&b[data_at + 2..data_at + 6], &(0x6e29u32).to_le_bytes());
        let back = decode(&b).unwrap();
        assert_eq!(
            back.rows,
            vec![vec![Cell::Str("温度80".into())], vec![Cell::Null]]
        );
        assert_eq!(back.columns[0].len, 20);
    }

    /// Column lengths in host (little endian) order as the client library hands blocks
    /// over, and the null bitmap most significant bit first (tdatablock.c
    /// `colDataSetNull_f`).
    #[test]
    fn lengths_are_little_endian_and_nulls_msb_first() {
        let b = encode(&rs(
            ColType::Int,
            4,
            vec![Cell::Int(7), Cell::Null, Cell::Int(-1)],
        ));
        let lengths_at = HEADER + 5;
        assert_eq!(&b[lengths_at..lengths_at + 4], &12i32.to_le_bytes());
        assert_eq!(b[lengths_at + 4], 0b0100_0000);
        assert_eq!(
            decode(&b).unwrap().rows,
            vec![vec![Cell::Int(7)], vec![Cell::Null], vec![Cell::Int(-1)]]
        );
    }

    #[test]
    fn every_type_round_trips() {
        let cases = vec![
            (ColType::Timestamp, 8, Cell::Int(1_700_000_000_000)),
            (ColType::Bool, 1, Cell::Bool(true)),
            (ColType::TinyInt, 1, Cell::Int(-8)),
            (ColType::SmallInt, 2, Cell::Int(-300)),
            (ColType::Int, 4, Cell::Int(70_000)),
            (ColType::BigInt, 8, Cell::Int(i64::MIN)),
            (ColType::UTinyInt, 1, Cell::UInt(255)),
            (ColType::USmallInt, 2, Cell::UInt(65_535)),
            (ColType::UInt, 4, Cell::UInt(u32::MAX.into())),
            (ColType::UBigInt, 8, Cell::UInt(u64::MAX)),
            (ColType::Float, 4, Cell::Float(1.5)),
            (ColType::Double, 8, Cell::Float(-2.25)),
            (ColType::VarChar, 10, Cell::Str("abc".into())),
            (ColType::VarBinary, 10, Cell::Bytes(vec![0, 255, 1])),
            (ColType::Json, 0, Cell::Str("{\"k\":1}".into())),
        ];
        for (ty, len, cell) in cases {
            let back = decode(&encode(&rs(ty, len, vec![cell.clone(), Cell::Null]))).unwrap();
            assert_eq!(
                back.rows,
                vec![vec![cell.clone()], vec![Cell::Null]],
                "{ty:?}"
            );
        }
    }

    #[test]
    fn types_the_engine_lacks_and_truncated_blocks_are_refused_by_name() {
        let mut b = encode(&rs(ColType::Int, 4, vec![Cell::Int(1)]));
        b[HEADER] = 21;
        assert!(decode(&b).unwrap_err().message.contains("DECIMAL64"));
        let b = encode(&rs(ColType::Int, 4, vec![Cell::Int(1)]));
        assert!(decode(&b[..b.len() - 2]).is_err());
    }
}
