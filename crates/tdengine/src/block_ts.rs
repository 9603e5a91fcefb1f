//! A type-agnostic reader of TDengine raw blocks that reads only what capture needs: the
//! primary timestamps in column 0.
//!
//! The layout is the one `taos_fetch_raw_block` hands out and taosAdapter forwards in a
//! `fetch_block` reply (TDengine `source/common/src/tdatablock.c`, `blockEncode`/`blockDecode`;
//! taosAdapter `driver/common/parser/block.go`), all little-endian:
//!
//! ```text
//! i32 version | i32 total_length | i32 rows | i32 cols | u32 flag | u64 group_id   (28 bytes)
//! cols × (i8 type, i32 bytes)                                                       (schema)
//! cols × i32 data length of each column
//! column 0: null bitmap ((rows+7)/8 bytes) then rows × i64   (fixed-size TIMESTAMP)
//! column 1.. (never read here)
//! ```
//!
//! Column 0 of every table is the primary TIMESTAMP, and its data comes first, so the other
//! columns' types (DECIMAL, BLOB, or any type a later TDengine adds) never need decoding:
//! no column type can stop capture. What is read is checked against the block's own
//! lengths, so a layout change is an error that names the block, never a silent misread.

/// TDengine's TIMESTAMP type code (`TSDB_DATA_TYPE_TIMESTAMP`).
const TYPE_TIMESTAMP: i8 = 9;
const HEADER: usize = 28;
const SCHEMA_ENTRY: usize = 5;

/// Why a block's timestamps could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("raw block of {len} bytes: {reason}")]
pub struct BlockError {
    pub len: usize,
    pub reason: String,
}

/// Column 0's timestamps, in the block's order.
pub fn block_timestamps(block: &[u8]) -> Result<Vec<i64>, BlockError> {
    let fail = |reason: String| BlockError {
        len: block.len(),
        reason,
    };
    let rows = read_i32(block, 8).ok_or_else(|| fail("shorter than its header".into()))?;
    let cols = read_i32(block, 12).ok_or_else(|| fail("shorter than its header".into()))?;
    let total = read_i32(block, 4).ok_or_else(|| fail("shorter than its header".into()))?;
    let (rows, cols) = match (usize::try_from(rows), usize::try_from(cols)) {
        (Ok(r), Ok(c)) => (r, c),
        _ => return Err(fail(format!("negative size: {rows} rows, {cols} columns"))),
    };
    if usize::try_from(total).ok().is_none_or(|t| t > block.len()) {
        return Err(fail(format!("header says {total} bytes")));
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    if cols == 0 {
        return Err(fail(format!("{rows} rows but no columns")));
    }
    let ty = block
        .get(HEADER)
        .map(|&b| b as i8)
        .ok_or_else(|| fail("no column schema".into()))?;
    let bytes = read_i32(block, HEADER + 1).ok_or_else(|| fail("no column schema".into()))?;
    if ty != TYPE_TIMESTAMP || bytes != 8 {
        return Err(fail(format!(
            "column 0 is type {ty} of {bytes} bytes, not the primary TIMESTAMP"
        )));
    }
    let lengths_at = cols
        .checked_mul(SCHEMA_ENTRY)
        .and_then(|s| s.checked_add(HEADER))
        .ok_or_else(|| fail(format!("{cols} columns")))?;
    let data_len = read_i32(block, lengths_at).ok_or_else(|| fail("no column lengths".into()))?;
    let expected = rows
        .checked_mul(8)
        .ok_or_else(|| fail(format!("{rows} rows")))?;
    if usize::try_from(data_len).ok() != Some(expected) {
        return Err(fail(format!(
            "column 0 holds {data_len} bytes for {rows} timestamps"
        )));
    }
    let bitmap_at = cols
        .checked_mul(4)
        .and_then(|l| l.checked_add(lengths_at))
        .ok_or_else(|| fail(format!("{cols} columns")))?;
    let bitmap_len = rows.div_ceil(8);
    let bitmap = block
        .get(bitmap_at..bitmap_at + bitmap_len)
        .ok_or_else(|| fail("column 0's null bitmap is cut off".into()))?;
    // MSB-first, a set bit means NULL; a primary key is never NULL.
    if let Some(row) = (0..rows).find(|&r| bitmap[r / 8] & (0x80 >> (r % 8)) != 0) {
        return Err(fail(format!("row {row}'s primary timestamp is NULL")));
    }
    let values_at = bitmap_at + bitmap_len;
    let values = block
        .get(values_at..values_at + expected)
        .ok_or_else(|| fail("column 0's values are cut off".into()))?;
    Ok(values
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One hand-built column: (type code, bytes, data section).
    pub(crate) struct Col {
        pub ty: i8,
        pub bytes: i32,
        pub data: Vec<u8>,
    }

    /// A block in TDengine's layout (see the module docs), built by hand from the format's
    /// definition rather than by any codec.
    pub(crate) fn build(rows: usize, cols: &[Col]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&1i32.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes()); // total length, patched below
        out.extend_from_slice(&(rows as i32).to_le_bytes());
        out.extend_from_slice(&(cols.len() as i32).to_le_bytes());
        out.extend_from_slice(&(1u32 << 31).to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        for c in cols {
            out.push(c.ty as u8);
            out.extend_from_slice(&c.bytes.to_le_bytes());
        }
        for c in cols {
            let len = if is_var(c.ty) {
                c.data.len() - 4 * rows
            } else {
                c.data.len() - rows.div_ceil(8)
            };
            out.extend_from_slice(&(len as i32).to_le_bytes());
        }
        for c in cols {
            out.extend_from_slice(&c.data);
        }
        let total = out.len() as i32;
        out[4..8].copy_from_slice(&total.to_le_bytes());
        out
    }

    fn is_var(ty: i8) -> bool {
        // VARCHAR, NCHAR, JSON, VARBINARY, BLOB, GEOMETRY, MEDIUMBLOB
        matches!(ty, 8 | 10 | 15 | 16 | 18 | 19 | 20)
    }

    pub(crate) fn ts_col(ts: &[i64]) -> Col {
        let mut data = vec![0u8; ts.len().div_ceil(8)];
        for t in ts {
            data.extend_from_slice(&t.to_le_bytes());
        }
        Col {
            ty: TYPE_TIMESTAMP,
            bytes: 8,
            data,
        }
    }

    /// A variable-size column (offsets, then u16-length-prefixed values).
    fn var_col(ty: i8, values: &[&[u8]]) -> Col {
        let mut offsets = Vec::new();
        let mut area = Vec::new();
        for v in values {
            offsets.extend_from_slice(&(area.len() as i32).to_le_bytes());
            area.extend_from_slice(&(v.len() as u16).to_le_bytes());
            area.extend_from_slice(v);
        }
        offsets.extend(area);
        Col {
            ty,
            bytes: 64,
            data: offsets,
        }
    }

    #[test]
    fn reads_timestamps_past_decimal_blob_and_unknown_columns() {
        let ts = [1_700_000_000_000i64, -5, i64::MAX];
        // DECIMAL (type 17, 16 bytes fixed), BLOB (18, variable), and a type code no
        // TDengine has yet (99): none of them is decoded.
        let mut decimal = vec![0u8; 1];
        decimal.extend_from_slice(&[7u8; 48]);
        let cols = [
            ts_col(&ts),
            Col {
                ty: 17,
                bytes: 16,
                data: decimal,
            },
            var_col(18, &[b"a", b"", b"\xff\x00blob"]),
            Col {
                ty: 99,
                bytes: 3,
                data: vec![0xAB; 10],
            },
        ];
        let block = build(3, &cols);
        assert_eq!(block_timestamps(&block).unwrap(), ts.to_vec());
    }

    #[test]
    fn an_empty_block_has_no_timestamps() {
        assert_eq!(block_timestamps(&build(0, &[])).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn damaged_blocks_are_errors_not_guesses() {
        let good = build(2, &[ts_col(&[1, 2])]);
        // Cut off anywhere.
        for cut in [0, 10, 27, 33, 38, good.len() - 1] {
            assert!(block_timestamps(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Column 0 not a timestamp.
        let mut not_ts = good.clone();
        not_ts[HEADER] = 4;
        assert!(block_timestamps(&not_ts)
            .unwrap_err()
            .reason
            .contains("type 4"));
        // A NULL primary key.
        let mut null = good.clone();
        null[HEADER + SCHEMA_ENTRY + 4] = 0x40;
        assert!(block_timestamps(&null)
            .unwrap_err()
            .reason
            .contains("row 1"));
        // Lengths disagreeing with the row count.
        let mut wrong_len = good.clone();
        wrong_len[HEADER + SCHEMA_ENTRY..HEADER + SCHEMA_ENTRY + 4]
            .copy_from_slice(&8i32.to_le_bytes());
        assert!(block_timestamps(&wrong_len).is_err());
        // Negative counts.
        let mut negative = good;
        negative[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(block_timestamps(&negative).is_err());
    }

    /// A data message's blocks come from the server: whatever their bytes, reading the
    /// timestamps answers with timestamps or an error, never a panic.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use tdibt_testkit::mutated;

        fn sample() -> Vec<u8> {
            build(3, &[ts_col(&[1, 2, 3]), var_col(8, &[b"a", b"bc", b""])])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn mutated_blocks(raw in mutated(sample())) {
                if let Ok(ts) = block_timestamps(&raw) {
                    // What a header claims is checked: never more rows than bytes.
                    prop_assert!(ts.len() * 8 <= raw.len());
                }
            }

            #[test]
            fn arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..128)) {
                let _ = block_timestamps(&raw);
            }
        }
    }
}
