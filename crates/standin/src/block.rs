//! Result sets to raw blocks and back, with the connector's own types (taos-query's
//! `ColumnView` and `RawBlock`): no second encoder of TDengine's block format here.

use taos_query::common::{ColumnView, Precision as TaosPrecision, RawBlock, Value};
use taos_standin_engine::{Cell, ColType, Column, Precision, ResultSet, TaosError};

pub fn taos_precision(p: Precision) -> TaosPrecision {
    match p {
        Precision::Millis => TaosPrecision::Millisecond,
        Precision::Micros => TaosPrecision::Microsecond,
        Precision::Nanos => TaosPrecision::Nanosecond,
    }
}

/// Encodes a result set as one raw block.
pub fn encode(rs: &ResultSet) -> Vec<u8> {
    let views: Vec<ColumnView> = rs
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            view(
                c.ty,
                rs.rows.iter().map(|r| r.get(i).unwrap_or(&Cell::Null)),
                rs.precision,
            )
        })
        .collect();
    RawBlock::from_views(&views, taos_precision(rs.precision))
        .as_raw_bytes()
        .to_vec()
}

fn int<'a>(cells: impl Iterator<Item = &'a Cell>) -> Vec<Option<i64>> {
    cells.map(|c| c.as_i64()).collect()
}

fn uint<'a>(cells: impl Iterator<Item = &'a Cell>) -> Vec<Option<u64>> {
    cells
        .map(|c| match c {
            Cell::UInt(v) => Some(*v),
            Cell::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        })
        .collect()
}

fn view<'a>(ty: ColType, cells: impl Iterator<Item = &'a Cell>, p: Precision) -> ColumnView {
    let cells: Vec<&Cell> = cells.collect();
    let it = || cells.iter().copied();
    let text = || -> Vec<Option<String>> {
        it().map(|c| match c {
            Cell::Str(s) => Some(s.clone()),
            Cell::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Cell::Null => None,
            other => Some(taos_standin_engine_text(other)),
        })
        .collect()
    };
    match ty {
        ColType::Timestamp => match p {
            Precision::Millis => ColumnView::from_millis_timestamp(int(it())),
            Precision::Micros => ColumnView::from_micros_timestamp(int(it())),
            Precision::Nanos => ColumnView::from_nanos_timestamp(int(it())),
        },
        ColType::Bool => ColumnView::from_bools(
            it().map(|c| match c {
                Cell::Bool(b) => Some(*b),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ),
        ColType::TinyInt => ColumnView::from_tiny_ints(
            int(it())
                .into_iter()
                .map(|v| v.map(|v| v as i8))
                .collect::<Vec<_>>(),
        ),
        ColType::SmallInt => ColumnView::from_small_ints(
            int(it())
                .into_iter()
                .map(|v| v.map(|v| v as i16))
                .collect::<Vec<_>>(),
        ),
        ColType::Int => ColumnView::from_ints(
            int(it())
                .into_iter()
                .map(|v| v.map(|v| v as i32))
                .collect::<Vec<_>>(),
        ),
        ColType::BigInt => ColumnView::from_big_ints(int(it())),
        ColType::UTinyInt => ColumnView::from_unsigned_tiny_ints(
            uint(it())
                .into_iter()
                .map(|v| v.map(|v| v as u8))
                .collect::<Vec<_>>(),
        ),
        ColType::USmallInt => ColumnView::from_unsigned_small_ints(
            uint(it())
                .into_iter()
                .map(|v| v.map(|v| v as u16))
                .collect::<Vec<_>>(),
        ),
        ColType::UInt => ColumnView::from_unsigned_ints(
            uint(it())
                .into_iter()
                .map(|v| v.map(|v| v as u32))
                .collect::<Vec<_>>(),
        ),
        ColType::UBigInt => ColumnView::from_unsigned_big_ints(uint(it())),
        ColType::Float => ColumnView::from_floats(
            it().map(|c| match c {
                Cell::Float(f) => Some(*f as f32),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ),
        ColType::Double => ColumnView::from_doubles(
            it().map(|c| match c {
                Cell::Float(f) => Some(*f),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ),
        ColType::VarChar => ColumnView::from_varchar::<String, _, _, _>(text()),
        ColType::NChar => ColumnView::from_nchar::<String, _, _, _>(text()),
        ColType::Json => ColumnView::from_json::<String, _, _, _>(text()),
        ColType::VarBinary => ColumnView::from_bytes::<Vec<u8>, _, _, _>(
            it().map(|c| match c {
                Cell::Bytes(b) => Some(b.clone()),
                Cell::Str(s) => Some(s.as_bytes().to_vec()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ),
        ColType::Geometry => ColumnView::from_geobytes::<Vec<u8>, _, _, _>(
            it().map(|c| match c {
                Cell::Bytes(b) => Some(b.clone()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ),
        // taos-query 0.12 cannot encode DECIMAL (its views panic on it): until the
        // stand-in's own block codec carries types 17/21, a DECIMAL travels as its exact
        // text in a VARCHAR column.
        ColType::Decimal { scale, .. } => ColumnView::from_varchar::<String, _, _, _>(
            it().map(|c| match c {
                Cell::Decimal(v) => Some(taos_standin_engine::value::decimal_text(*v, scale)),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ),
    }
}

fn taos_standin_engine_text(c: &Cell) -> String {
    match c {
        Cell::Bool(b) => b.to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Float(v) => v.to_string(),
        _ => String::new(),
    }
}

/// Decodes a raw block a client wrote (write_raw_block) into columns and rows.
///
/// What follows the block in `bytes` is, for `write_raw_block_with_fields`, one 72-byte C
/// `TAOS_FIELD_E`-like record per column (name[65], type u8, pad, bytes i32) naming them.
/// Columns are matched to the table by position either way, as taosd does for raw blocks.
pub fn decode(
    bytes: &[u8],
    precision: Precision,
) -> Result<(Vec<Column>, Vec<Vec<Cell>>), TaosError> {
    // The block's own header says how long it is; check before handing it to the parser.
    if bytes.len() < 28 {
        return Err(TaosError::new(0x0118, "raw block too short"));
    }
    let total = i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if total < 28 || total as usize > bytes.len() {
        return Err(TaosError::new(
            0x0118,
            "raw block length does not match its header",
        ));
    }
    let mut block =
        RawBlock::parse_from_raw_block(bytes[..total as usize].to_vec(), taos_precision(precision));
    // A block parsed from bytes carries no names, and taos-query's row iterators index the
    // names without bounds checks: name every column before reading rows.
    let names = field_names(&bytes[total as usize..]);
    let ncols = block.ncols();
    block.with_field_names(
        (0..ncols).map(|i| names.get(i).cloned().unwrap_or_else(|| format!("c{i}"))),
    );
    let mut columns = Vec::new();
    for f in block.fields() {
        let ty = ColType::from_ty(f.ty()).ok_or_else(|| {
            TaosError::new(0x0118, format!("unsupported column type {:?}", f.ty()))
        })?;
        columns.push(Column {
            name: f.name().to_string(),
            ty,
            len: f.bytes(),
        });
    }
    let rows = block
        .to_values()
        .into_iter()
        .map(|r| r.into_iter().map(cell).collect())
        .collect();
    Ok((columns, rows))
}

/// Column names from the trailing field records of `write_raw_block_with_fields`.
fn field_names(trailer: &[u8]) -> Vec<String> {
    trailer
        .chunks_exact(72)
        .map(|f| {
            let name = &f[..65];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        })
        .collect()
}

fn cell(v: Value) -> Cell {
    match v {
        Value::Null(_) => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::TinyInt(v) => Cell::Int(v.into()),
        Value::SmallInt(v) => Cell::Int(v.into()),
        Value::Int(v) => Cell::Int(v.into()),
        Value::BigInt(v) => Cell::Int(v),
        Value::UTinyInt(v) => Cell::UInt(v.into()),
        Value::USmallInt(v) => Cell::UInt(v.into()),
        Value::UInt(v) => Cell::UInt(v.into()),
        Value::UBigInt(v) => Cell::UInt(v),
        Value::Float(v) => Cell::Float(v.into()),
        Value::Double(v) => Cell::Float(v),
        Value::Timestamp(ts) => Cell::Int(ts.as_raw_i64()),
        Value::VarChar(s) | Value::NChar(s) => Cell::Str(s),
        Value::Json(j) => Cell::Str(j.to_string()),
        Value::VarBinary(b) | Value::Geometry(b) => Cell::Bytes(b.to_vec()),
        other => Cell::Str(other.to_string().unwrap_or_default()),
    }
}
