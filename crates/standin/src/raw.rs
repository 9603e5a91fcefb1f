//! `tmq_get_raw`'s form of a TMQ message: what taosAdapter's `fetch_raw` and
//! `fetch_raw_data` carry, and what `tmq_write_raw` (`/ws` binary action 3) takes back.
//! Written from TDengine's source, each part naming where it is:
//!
//! - data, `RES_TYPE__TMQ` (2): `[i8 MQ_DATA_RSP_VERSION = 100][i32 offsetLen][SMqDataRsp]`
//!   (`source/client/src/clientRawBlockWrite.c` `encodeMqDataRsp`, `getOffSetLen`);
//! - `SMqDataRsp`: `source/common/src/msg/tmsg.c` `tEncodeMqDataRspCommon` (req/rsp offset,
//!   `blockNum`, `withTbName`, `withSchema`, per block the data as a binary, the schema
//!   wrapper and the table name) and `tEncodeMqDataRsp` (then `sleepTime`);
//! - data with auto-created tables, `RES_TYPE__TMQ_METADATA` (4): the same head before
//!   `tEncodeSTaosxRsp` (`tEncodeMqDataRspCommon`, then `createTableNum` and each table's
//!   `SVCreateTbReq` as a binary);
//! - several meta entries in one message, `RES_TYPE__TMQ_BATCH_META` (5): what follows the
//!   response offset in `tEncodeMqBatchMetaRsp` (`i32` count, each entry a binary holding
//!   `tEncodeMqMetaRsp`: offset, `i16` message type, the request);
//! - a meta entry alone: its vnode request (`taos_standin_engine::raw_meta`);
//! - an offset: `tmsg.c` `tEncodeSTqOffsetVal` (type `TQ_OFFSET_VERSION << 4 | LOG`, then the
//!   version);
//! - a block: `SRetrieveTableRspForTmq` (`include/common/tmsg.h`: `version`, `numOfRows`
//!   big-endian, `compressed`, `precision`, packed) before `blockEncode`'s raw block, as
//!   `source/dnode/vnode/src/tq/tqScan.c` `tqAddBlockDataToRsp` fills it;
//! - the schema: `tEncodeSSchemaWrapper` / `tEncodeSSchema` (`include/common/tmsg.h`).

use taos_standin_engine::raw_apply;
use taos_standin_engine::raw_meta::{raw_type, RawMeta};
use taos_standin_engine::tencode::{Decoder, Encoder};
use taos_standin_engine::{Column, TableRows, TaosError};

use crate::block;

/// `MQ_DATA_RSP_VERSION` (`include/common/tmsg.h`).
const MQ_DATA_RSP_VERSION: u8 = 100;
/// `TQ_OFFSET_VERSION << 4 | TMQ_OFFSET__LOG` (`tmsg.c` `tEncodeSTqOffsetVal`).
const OFFSET_LOG: u8 = (1 << 4) | 1;
/// `RETRIEVE_TABLE_RSP_TMQ_VERSION` (`include/common/tmsg.h`).
const RSP_TMQ_VERSION: i64 = 1;
/// The head `tqAddBlockDataToRsp` puts before a block: version, rows, compressed, precision.
const BLOCK_HEAD: usize = 18;
/// `COL_SMA_ON` / `COL_IS_KEY` (`include/common/tmsg.h`): every column has SMA on, the
/// timestamp is the key.
const COL_SMA_ON: i8 = 1;
const COL_IS_KEY: i8 = 2;

fn offset(e: &mut Encoder, version: i64) {
    e.u8(OFFSET_LOG).i64(version);
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
fn schema(e: &mut Encoder, columns: &[Column]) {
    e.iv(columns.len() as i64).iv(0);
    for (i, c) in columns.iter().enumerate() {
        let flags = if i == 0 {
            COL_SMA_ON | COL_IS_KEY
        } else {
            COL_SMA_ON
        };
        e.u8(block::type_id(c.ty)).i8(flags);
        e.iv(i64::from(block::column_bytes(c))).iv(i as i64 + 1);
        e.cstr(&c.name);
    }
}

/// The version byte, the offsets' length and `tEncodeMqDataRspCommon`.
fn data_rsp_common(req: i64, rsp: i64, blocks: &[TableRows]) -> Encoder {
    let mut offsets = Encoder::new();
    offset(&mut offsets, req);
    offset(&mut offsets, rsp);
    let mut e = Encoder::new();
    e.u8(MQ_DATA_RSP_VERSION).i32(offsets.buf.len() as i32);
    e.buf.extend_from_slice(&offsets.buf);
    e.i32(blocks.len() as i32);
    if !blocks.is_empty() {
        e.i8(1).i8(1); // withTbName (database and super table topics), withSchema
        for t in blocks {
            e.binary(&block_data(t));
            schema(&mut e, &t.rows.columns);
            e.cstr(&t.table_name);
        }
    }
    e
}

/// `tmq_get_raw` of a data message whose request offset is `req` and next offset `rsp`.
pub fn data_rsp(req: i64, rsp: i64, blocks: &[TableRows]) -> Vec<u8> {
    let mut e = data_rsp_common(req, rsp, blocks);
    e.i64(0); // sleepTime
    e.buf
}

/// `tmq_get_raw` of a data message with auto-created tables: `creates` are the raw create
/// batches of its entries, whose tables it lists one by one.
pub fn metadata_rsp(
    req: i64,
    rsp: i64,
    blocks: &[TableRows],
    creates: &[RawMeta],
) -> Result<Vec<u8>, TaosError> {
    let mut reqs = Vec::new();
    for c in creates {
        reqs.extend(taos_standin_engine::raw_meta::batch_reqs(c)?);
    }
    let mut e = data_rsp_common(req, rsp, blocks);
    e.i32(reqs.len() as i32);
    for r in &reqs {
        e.binary(r);
    }
    Ok(e.buf)
}

/// `tmq_get_raw` of a meta message: its entry's request, or several as a batch.
pub fn meta_rsp(version: i64, metas: &[RawMeta]) -> Result<RawMeta, TaosError> {
    match metas {
        [] => Err(TaosError::new(
            0xFFFF,
            "this meta message was logged by an older stand-in, which kept no raw form",
        )),
        [one] => Ok(one.clone()),
        several => {
            let mut e = Encoder::new();
            e.i32(several.len() as i32);
            for m in several {
                let mut item = Encoder::new();
                offset(&mut item, version);
                item.i16(m.ty as i16).binary(&m.bytes);
                e.binary(&item.buf);
            }
            Ok(RawMeta {
                ty: raw_type::BATCH_META,
                bytes: e.buf,
            })
        }
    }
}

/// A block of a raw data message: its table and the raw block with column names.
pub struct RawBlock<'a> {
    pub table: String,
    pub block: &'a [u8],
    pub names: Vec<String>,
}

/// Reads `encodeMqDataRsp`'s head and `tDecodeMqDataRspCommon`; the decoder is left after
/// the blocks.
fn read_data_rsp<'a>(d: &mut Decoder<'a>) -> Result<Vec<RawBlock<'a>>, TaosError> {
    d.u8("MQ_DATA_RSP_VERSION")?;
    let len = d.i32("offset length")?;
    d.bytes(usize::try_from(len).unwrap_or(usize::MAX), "offsets")?;
    let n = d.i32("blockNum")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let with_name = d.i8("withTbName")? != 0;
    let with_schema = d.i8("withSchema")? != 0;
    let n = usize::try_from(n).unwrap_or(0).min(d.rest().len());
    let mut blocks = Vec::with_capacity(n);
    for _ in 0..n {
        let data = d.binary("block")?;
        let block = data
            .get(BLOCK_HEAD..)
            .ok_or_else(|| TaosError::new(0x0115, "invalid raw data: a block without its head"))?;
        let names = if with_schema {
            raw_apply::schema(d)?.into_iter().map(|c| c.name).collect()
        } else {
            Vec::new()
        };
        let table = if with_name {
            d.cstr("table name")?
        } else {
            String::new()
        };
        blocks.push(RawBlock {
            table,
            block,
            names,
        });
    }
    Ok(blocks)
}

/// What `tmq_write_raw` is given, read back.
pub enum RawWrite<'a> {
    /// Blocks to write, after the tables to create (framed `SVCreateTbReq`s).
    Data {
        creates: Vec<&'a [u8]>,
        blocks: Vec<RawBlock<'a>>,
    },
    /// Meta requests, each with its raw type.
    Metas(Vec<(u16, &'a [u8])>),
}

pub fn read(ty: u16, raw: &[u8]) -> Result<RawWrite<'_>, TaosError> {
    let mut d = Decoder::new(raw);
    Ok(match ty {
        raw_type::DATA => RawWrite::Data {
            creates: Vec::new(),
            blocks: read_data_rsp(&mut d)?,
        },
        raw_type::METADATA => {
            let blocks = read_data_rsp(&mut d)?;
            let n = d.i32("createTableNum")?;
            let n = usize::try_from(n).unwrap_or(0).min(d.rest().len());
            let creates = (0..n)
                .map(|_| d.binary("createTableReq"))
                .collect::<Result<_, _>>()?;
            RawWrite::Data { creates, blocks }
        }
        raw_type::BATCH_META => {
            let n = d.i32("batch count")?;
            let n = usize::try_from(n).unwrap_or(0).min(d.rest().len());
            let mut metas = Vec::with_capacity(n);
            for _ in 0..n {
                let mut item = Decoder::new(d.binary("batch entry")?);
                item.u8("offset type")?;
                item.i64("offset")?;
                let t = item.i16("message type")? as u16;
                metas.push((t, item.binary("request")?));
            }
            RawWrite::Metas(metas)
        }
        other => RawWrite::Metas(vec![(other, raw)]),
    })
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
