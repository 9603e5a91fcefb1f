//! `tmq_get_raw`'s form of a data message: what taosAdapter's `fetch_raw` and
//! `fetch_raw_data` carry. Written from TDengine's source, each part naming where it is:
//!
//! - `[i8 MQ_DATA_RSP_VERSION = 100][i32 offsetLen][SMqDataRsp]`:
//!   `source/client/src/clientRawBlockWrite.c` `encodeMqDataRsp`, `getOffSetLen`;
//! - `SMqDataRsp`: `source/common/src/tmsg.c` `tEncodeMqDataRspCommon` (req/rsp offset,
//!   `blockNum`, `withTbName`, `withSchema`, per block the data as a binary, the schema
//!   wrapper and the table name) and `tEncodeMqDataRsp` (then `sleepTime`);
//! - an offset: `tmsg.c` `tEncodeSTqOffsetVal` (type `TQ_OFFSET_VERSION << 4 | LOG`, then the
//!   version);
//! - a block: `SRetrieveTableRspForTmq` (`include/common/tmsg.h`: `version`, `numOfRows`
//!   big-endian, `compressed`, `precision`, packed) before `blockEncode`'s raw block, as
//!   `source/dnode/vnode/src/tq/tqScan.c` `tqAddBlockDataToRsp` fills it;
//! - the schema: `tEncodeSSchemaWrapper` / `tEncodeSSchema` (`include/common/tmsg.h`).
//!
//! Integers follow TDengine's `SEncoder` (`include/util/tencode.h`): fixed-width ones
//! little-endian, `...v` ones as LEB128 varints, signed ones zigzagged first; a binary is its
//! `u32v` length then the bytes, a C string a binary including its NUL.

use taos_standin_engine::{Column, TableRows};

use crate::block;

/// `MQ_DATA_RSP_VERSION` (`include/common/tmsg.h`).
const MQ_DATA_RSP_VERSION: u8 = 100;
/// `TQ_OFFSET_VERSION << 4 | TMQ_OFFSET__LOG` (`tmsg.c` `tEncodeSTqOffsetVal`).
const OFFSET_LOG: u8 = (1 << 4) | 1;
/// `RETRIEVE_TABLE_RSP_TMQ_VERSION` (`include/common/tmsg.h`).
const RSP_TMQ_VERSION: i64 = 1;
/// `tmq_raw_data.raw_type` of a data message: `RES_TYPE__TMQ` (`source/client/inc/clientInt.h`:
/// QUERY = 1, TMQ, TMQ_META, TMQ_METADATA).
pub const RAW_TYPE_DATA: u16 = 2;
/// `COL_SMA_ON` / `COL_IS_KEY` (`include/common/tmsg.h`): every column has SMA on, the
/// timestamp is the key.
const COL_SMA_ON: u8 = 1;
const COL_IS_KEY: u8 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn binary(out: &mut Vec<u8>, bytes: &[u8]) {
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64 + 1);
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn offset(out: &mut Vec<u8>, version: i64) {
    out.push(OFFSET_LOG);
    out.extend_from_slice(&version.to_le_bytes());
}

/// One block as `tqAddBlockDataToRsp` lays it out.
fn block_data(t: &TableRows) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&RSP_TMQ_VERSION.to_le_bytes());
    out.extend_from_slice(&(t.rows.rows.len() as i64).to_be_bytes());
    out.push(0); // compressed
    out.push(t.rows.precision.code());
    out.extend_from_slice(&block::encode(&t.rows));
    out
}

/// `tEncodeSSchemaWrapper`: column ids from 1 in table order, schema version 0 (the
/// stand-in keeps none).
fn schema(out: &mut Vec<u8>, columns: &[Column]) {
    zigzag(out, columns.len() as i64);
    zigzag(out, 0);
    for (i, c) in columns.iter().enumerate() {
        out.push(block::type_id(c.ty));
        out.push(if i == 0 {
            COL_SMA_ON | COL_IS_KEY
        } else {
            COL_SMA_ON
        });
        zigzag(out, i64::from(block::column_bytes(c)));
        zigzag(out, i as i64 + 1);
        cstr(out, &c.name);
    }
}

/// `tmq_get_raw` of a data message whose request offset is `req` and next offset `rsp`.
pub fn data_rsp(req: i64, rsp: i64, blocks: &[TableRows]) -> Vec<u8> {
    let mut offsets = Vec::new();
    offset(&mut offsets, req);
    offset(&mut offsets, rsp);
    let mut out = vec![MQ_DATA_RSP_VERSION];
    out.extend_from_slice(&(offsets.len() as i32).to_le_bytes());
    out.extend_from_slice(&offsets);
    out.extend_from_slice(&(blocks.len() as i32).to_le_bytes());
    if !blocks.is_empty() {
        out.push(1); // withTbName: database and super table topics name each block's table
        out.push(1); // withSchema
        for t in blocks {
            binary(&mut out, &block_data(t));
            schema(&mut out, &t.rows.columns);
            cstr(&mut out, &t.table_name);
        }
    }
    out.extend_from_slice(&0i64.to_le_bytes()); // sleepTime
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use taos_standin_engine::{Cell, ColType, Precision, ResultSet};

    /// Reads the encoding back field by field, as TDengine's decoders do
    /// (`clientRawBlockWrite.c` `decodeRawData`, `tmsg.c` `tDecodeMqDataRspCommon`).
    struct Cursor<'a>(&'a [u8]);

    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> &'a [u8] {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        }
        fn u8(&mut self) -> u8 {
            self.take(1)[0]
        }
        fn i32(&mut self) -> i32 {
            i32::from_le_bytes(self.take(4).try_into().unwrap())
        }
        fn i64(&mut self) -> i64 {
            i64::from_le_bytes(self.take(8).try_into().unwrap())
        }
        fn varint(&mut self) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = self.u8();
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return v;
                }
                shift += 7;
            }
        }
        fn zigzag(&mut self) -> i64 {
            let v = self.varint();
            (v >> 1) as i64 ^ -((v & 1) as i64)
        }
        fn cstr(&mut self) -> String {
            let n = self.varint() as usize;
            let b = self.take(n);
            assert_eq!(b[n - 1], 0, "a C string ends in NUL");
            String::from_utf8(b[..n - 1].to_vec()).unwrap()
        }
    }

    fn table(name: &str, rows: Vec<Vec<Cell>>) -> TableRows {
        TableRows {
            table_name: name.into(),
            rows: ResultSet {
                columns: vec![
                    Column {
                        name: "ts".into(),
                        ty: ColType::Timestamp,
                        len: 8,
                    },
                    Column {
                        name: "v".into(),
                        ty: ColType::Int,
                        len: 4,
                    },
                    Column {
                        name: "s".into(),
                        ty: ColType::VarChar,
                        len: 10,
                    },
                ],
                precision: Precision::Micros,
                rows,
            },
        }
    }

    /// `encodeMqDataRsp`: version 100, the length of the two offsets, then `SMqDataRsp`
    /// (`tEncodeMqDataRspCommon` + `sleepTime`); each block an `SRetrieveTableRspForTmq`
    /// head before `blockEncode`'s block, then `tEncodeSSchemaWrapper`, then the table name.
    #[test]
    fn data_rsp_reads_back_as_tdengine_lays_it_out() {
        let rows = vec![
            vec![Cell::Int(1_000), Cell::Int(-7), Cell::Str("ab".into())],
            vec![Cell::Int(2_000), Cell::Null, Cell::Null],
        ];
        let blocks = vec![
            table("t1", rows.clone()),
            table("t2", vec![rows[0].clone()]),
        ];
        let raw = data_rsp(5, 9, &blocks);
        let mut c = Cursor(&raw);
        assert_eq!(c.u8(), 100, "MQ_DATA_RSP_VERSION");
        assert_eq!(c.i32(), 18, "two log offsets of type byte + i64");
        assert_eq!((c.u8(), c.i64()), (0x11, 5), "reqOffset");
        assert_eq!((c.u8(), c.i64()), (0x11, 9), "rspOffset");
        assert_eq!(c.i32(), 2, "blockNum");
        assert_eq!((c.u8(), c.u8()), (1, 1), "withTbName, withSchema");
        for (name, want) in [("t1", rows.clone()), ("t2", vec![rows[0].clone()])] {
            let len = c.varint() as usize;
            let mut b = Cursor(c.take(len));
            assert_eq!(b.i64(), 1, "RETRIEVE_TABLE_RSP_TMQ_VERSION");
            let n = i64::from_be_bytes(b.take(8).try_into().unwrap());
            assert_eq!(n as usize, want.len(), "numOfRows, big-endian");
            assert_eq!((b.u8(), b.u8()), (0, 1), "not compressed, microseconds");
            let decoded = block::decode(b.0).unwrap();
            assert_eq!(decoded.len, b.0.len(), "the block fills the binary");
            assert_eq!(decoded.rows, want);
            assert_eq!((c.zigzag(), c.zigzag()), (3, 0), "nCols, sver");
            for (i, (col, ty, bytes)) in [("ts", 9u8, 8i64), ("v", 4, 4), ("s", 8, 12)]
                .into_iter()
                .enumerate()
            {
                assert_eq!(c.u8(), ty);
                assert_eq!(c.u8(), if i == 0 { 3 } else { 1 }, "flags");
                assert_eq!(c.zigzag(), bytes);
                assert_eq!(c.zigzag(), i as i64 + 1, "colId");
                assert_eq!(c.cstr(), col);
            }
            assert_eq!(c.cstr(), name);
        }
        assert_eq!(c.i64(), 0, "sleepTime");
        assert!(c.0.is_empty());
    }

    /// With no block, `tEncodeMqDataRspCommon` writes neither `withTbName` nor `withSchema`.
    #[test]
    fn empty_rsp_has_no_flags() {
        let raw = data_rsp(3, 3, &[]);
        assert_eq!(raw.len(), 1 + 4 + 18 + 4 + 8);
        assert_eq!(&raw[23..27], &0i32.to_le_bytes());
    }
}
