//! A table's rows per block window: one range query for a run of consecutive windows, its
//! raw blocks cut at window boundaries at the byte level (`reshape::slice_rows`), never
//! decoded and re-encoded. A server block that lies inside one window is kept byte for byte.
//!
//! Several child tables of one super table with the same run of windows are read in one
//! query ([`read_tables_windows`]): per-query cost, not rows, is what an incremental of
//! scattered changes pays for.

use taos::{AsyncFetchable, ColumnView, RawBlock};
use tdibt_core::{BlockSpan, TsRange, Window};

use crate::connection::Connection;
use crate::discovery::{quote_ident, quote_literal};
use crate::error::{TdError, TdResult};
use crate::export::{next_block, query_with_columns, select_range, ExportedBlock};

/// The rows of one window of a table, in the raw blocks they came in (time order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowRows {
    pub window: Window,
    pub parts: Vec<ExportedBlock>,
}

impl WindowRows {
    pub fn rows(&self) -> u64 {
        self.parts.iter().map(|p| p.rows as u64).sum()
    }
}

/// Every row of `db.table` in windows `first..=last`, grouped by window; windows without
/// rows are absent.
pub async fn read_windows(
    conn: &Connection,
    db: &str,
    table: &str,
    span: BlockSpan,
    first: Window,
    last: Window,
) -> TdResult<Vec<WindowRows>> {
    let range = TsRange::new(span.range_of(first).start, span.range_of(last).end);
    let sql = select_range(db, table, range);
    let (mut rs, columns) = query_with_columns(conn, &sql).await?;
    let mut splitter = Splitter::new(span, columns, sql.clone());
    let mut blocks = rs.blocks();
    while let Some(block) = next_block(&mut blocks, conn, &sql).await? {
        splitter.push(&block)?;
    }
    Ok(splitter.out)
}

/// Several child tables of one super table, and the run of windows read of each.
#[derive(Clone, Copy, Debug)]
pub struct TablesRead<'a> {
    pub super_table: &'a str,
    /// The super table's columns, in order.
    pub columns: &'a [String],
    pub tables: &'a [String],
    pub first: Window,
    pub last: Window,
}

/// The rows of several child tables of super table `db.super_table` in windows
/// `first..=last`, per table (in the order asked) and window, read in one query:
/// `SELECT <columns>, tbname ... WHERE tbname IN (...) PARTITION BY tbname`. `columns` are
/// the super table's, in order: the blocks kept are exactly what `SELECT *` of each table
/// returns (the `tbname` selected last is cut off at the byte level). Each table's rows must
/// come in time order (`PARTITION BY tbname` makes each table a series of its own); rows of
/// one table may come in several blocks, and a block may hold several tables' runs.
pub async fn read_tables_windows(
    conn: &Connection,
    db: &str,
    span: BlockSpan,
    read: &TablesRead<'_>,
) -> TdResult<Vec<(String, Vec<WindowRows>)>> {
    let TablesRead {
        super_table,
        columns,
        tables,
        first,
        last,
    } = *read;
    let range = TsRange::new(span.range_of(first).start, span.range_of(last).end);
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let names: Vec<String> = tables.iter().map(|t| quote_literal(t)).collect();
    let sql = format!(
        "SELECT {}, tbname FROM {}.{} WHERE tbname IN ({}) AND _c0 >= {} AND _c0 <= {} PARTITION BY tbname",
        list.join(", "),
        quote_ident(db),
        quote_ident(super_table),
        names.join(", "),
        range.start,
        range.end
    );
    let (mut rs, _) = query_with_columns(conn, &sql).await?;
    let mut splitters: Vec<Splitter> = tables
        .iter()
        .map(|_| Splitter::new(span, columns.to_vec(), sql.clone()))
        .collect();
    let index = |name: &str| tables.iter().position(|t| t == name);
    let mut blocks = rs.blocks();
    while let Some(block) = next_block(&mut blocks, conn, &sql).await? {
        if block.ncols() != columns.len() + 1 {
            return Err(TdError::bad_answer(
                &sql,
                format!("{} columns, {} asked for", block.ncols(), columns.len() + 1),
            ));
        }
        for (name, rows) in table_runs(&block, &sql)? {
            let Some(i) = index(&name) else {
                return Err(TdError::bad_answer(
                    &sql,
                    format!("rows of table {name:?}, not asked for"),
                ));
            };
            let raw = block.as_raw_bytes();
            let run = if rows.len() == block.nrows() {
                raw.to_vec()
            } else {
                crate::reshape::slice_rows(raw, rows)
                    .map_err(|e| TdError::bad_answer(&sql, e.to_string()))?
            };
            let kept = crate::reshape::keep_columns(&run, columns.len())
                .map_err(|e| TdError::bad_answer(&sql, e.to_string()))?;
            let mut part = RawBlock::parse_from_raw_block(kept, block.precision());
            part.with_field_names(columns);
            splitters[i].push(&part)?;
        }
    }
    Ok(tables
        .iter()
        .cloned()
        .zip(splitters.into_iter().map(|s| s.out))
        .collect())
}

/// The block's rows as runs of one table each (its last column is the table name).
fn table_runs(block: &RawBlock, what: &str) -> TdResult<Vec<(String, std::ops::Range<usize>)>> {
    let last = block.ncols() - 1;
    let mut runs: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    for row in 0..block.nrows() {
        let value = block.get_ref(row, last);
        let name: &str = match &value {
            Some(taos::BorrowedValue::VarChar(s)) => s,
            Some(taos::BorrowedValue::NChar(s)) => s,
            other => {
                return Err(TdError::bad_answer(
                    what,
                    format!("row {row} has no table name ({other:?})"),
                ))
            }
        };
        // Rows of one table come together: a name is owned once per run, not per row.
        match runs.last_mut() {
            Some((n, r)) if n == name => r.end = row + 1,
            _ => runs.push((name.to_string(), row..row + 1)),
        }
    }
    Ok(runs)
}

/// Cuts a stream of raw blocks (one table, ascending timestamps) at window boundaries.
struct Splitter {
    span: BlockSpan,
    columns: Vec<String>,
    what: String,
    last_ts: Option<i64>,
    out: Vec<WindowRows>,
}

impl Splitter {
    fn new(span: BlockSpan, columns: Vec<String>, what: String) -> Self {
        Splitter {
            span,
            columns,
            what,
            last_ts: None,
            out: Vec::new(),
        }
    }

    /// The block's timestamps. Read one by one (`get` reads unaligned): the column's bytes
    /// sit at any offset in the block, so `as_raw_slice` would make a misaligned slice.
    fn timestamps(&self, block: &RawBlock) -> TdResult<Vec<i64>> {
        let Some(ColumnView::Timestamp(view)) = block.column_views().first() else {
            return Err(TdError::bad_answer(
                &self.what,
                "the first column of the result is not a timestamp",
            ));
        };
        (0..view.len())
            .map(|row| match view.get(row) {
                Some(Some(ts)) => Ok(ts.as_raw_i64()),
                _ => Err(TdError::bad_answer(
                    &self.what,
                    format!("row {row} has no timestamp"),
                )),
            })
            .collect()
    }

    /// Row ranges of `block` per window, in order.
    fn windows_of(&self, block: &RawBlock) -> TdResult<Vec<(Window, std::ops::Range<usize>)>> {
        let ts = self.timestamps(block)?;
        let mut segments: Vec<(Window, std::ops::Range<usize>)> = Vec::new();
        for (row, t) in ts.into_iter().enumerate() {
            let w = self.span.window_of(t);
            match segments.last_mut() {
                Some((last, r)) if *last == w => r.end = row + 1,
                _ => segments.push((w, row..row + 1)),
            }
        }
        Ok(segments)
    }

    fn push(&mut self, block: &RawBlock) -> TdResult<()> {
        let ts = self.timestamps(block)?;
        // A table's rows come in time order; anything else would put a window's rows in two
        // places, so it is refused rather than stored wrongly. Equal timestamps are rows of a
        // composite primary key (TDengine 3.3: the timestamp plus a second key column).
        let mut prev = self.last_ts;
        for &t in &ts {
            if prev.is_some_and(|p| t < p) {
                return Err(TdError::bad_answer(
                    &self.what,
                    format!("rows are not in timestamp order at {t}"),
                ));
            }
            prev = Some(t);
        }
        self.last_ts = prev;
        let segments = self.windows_of(block)?;
        let whole = segments.len() == 1;
        for (window, rows) in segments {
            let part = if whole {
                ExportedBlock {
                    bytes: block.as_raw_bytes().to_vec(),
                    rows: block.nrows(),
                    columns: self.columns.clone(),
                }
            } else {
                let bytes = crate::reshape::slice_rows(block.as_raw_bytes(), rows.clone())
                    .map_err(|e| TdError::bad_answer(&self.what, e.to_string()))?;
                ExportedBlock {
                    bytes,
                    rows: rows.len(),
                    columns: self.columns.clone(),
                }
            };
            match self.out.last_mut() {
                Some(last) if last.window == window => last.parts.push(part),
                _ => self.out.push(WindowRows {
                    window,
                    parts: vec![part],
                }),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ts: Vec<i64>) -> RawBlock {
        let n = ts.len();
        let views = [
            ColumnView::from_millis_timestamp(ts.into_iter().map(Some).collect::<Vec<_>>()),
            ColumnView::from_ints((0..n as i32).map(Some).collect::<Vec<_>>()),
        ];
        RawBlock::from_views(&views, taos::Precision::Millisecond)
    }

    #[test]
    fn equal_timestamps_of_a_composite_key_stay_together_and_disorder_is_refused() {
        let span = BlockSpan::from_units(10).unwrap();
        let mut s = Splitter::new(span, vec!["ts".into(), "k".into()], "q".into());
        s.push(&block(vec![1, 5, 5, 12])).unwrap();
        s.push(&block(vec![12, 13])).unwrap();
        let rows: Vec<(i32, u64)> = s.out.iter().map(|w| (w.window.0, w.rows())).collect();
        assert_eq!(rows, [(0, 3), (1, 3)]);
        assert!(s.push(&block(vec![11])).is_err());
    }
}
