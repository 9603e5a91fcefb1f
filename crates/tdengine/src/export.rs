//! Rows out and back in, in TDengine's own raw-block form: what a backup reads for a range of
//! windows, the DDL that recreates what it covers, and the write that restores it.
//!
//! A backup stores the bytes the server sent (`RawBlock::as_raw_bytes`: the block's header,
//! column types and lengths, bitmaps and data) and the column names beside them; nothing is
//! re-encoded row by row. A restore writes the bytes back with `write_raw_block`, naming the
//! columns so that a table whose schema grew since (ALTER TABLE ADD COLUMN) takes them by name.

use taos::{AsyncFetchable, AsyncQueryable, RawBlock, TryStreamExt};
use tdibt_core::{Precision, TsRange};

use crate::connection::Connection;
use crate::discovery::quote_ident;
use crate::error::{TdError, TdResult};

/// One raw block of a table's rows, as the server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedBlock {
    /// `RawBlock::as_raw_bytes()`: TDengine's block format.
    pub bytes: Vec<u8>,
    pub rows: usize,
    /// Column names, in the block's column order (raw bytes carry types, not names).
    pub columns: Vec<String>,
}

/// What can be recreated with `SHOW CREATE ...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DdlKind {
    Database,
    SuperTable,
    Table,
}

fn taos_precision(p: Precision) -> taos::Precision {
    match p {
        Precision::Millis => taos::Precision::Millisecond,
        Precision::Micros => taos::Precision::Microsecond,
        Precision::Nanos => taos::Precision::Nanosecond,
    }
}

/// The `WHERE` clause selecting an inclusive timestamp range on the primary timestamp column
/// (`_c0`, whatever the column is called); open-ended edges get no bound.
pub(crate) fn range_condition(range: TsRange) -> String {
    let mut parts = Vec::new();
    if range.start != i64::MIN {
        parts.push(format!("_c0 >= {}", range.start));
    }
    if range.end != i64::MAX {
        parts.push(format!("_c0 <= {}", range.end));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    }
}

/// `SELECT *` of `db.table` over an inclusive timestamp range.
pub(crate) fn select_range(db: &str, table: &str, range: TsRange) -> String {
    format!(
        "SELECT * FROM {}.{}{}",
        quote_ident(db),
        quote_ident(table),
        range_condition(range)
    )
}

/// Runs a query; the result set and its column names.
pub(crate) async fn query_with_columns(
    conn: &Connection,
    sql: &str,
) -> TdResult<(taos::ResultSet, Vec<String>)> {
    let rs = conn
        .taos()
        .query(sql)
        .await
        .map_err(|e| conn.classify(sql, e))?;
    let columns = rs.fields().iter().map(|f| f.name().to_string()).collect();
    Ok((rs, columns))
}

/// The non-empty raw blocks of a query's answer, one by one (`None` at the end).
pub(crate) async fn next_block<S>(
    blocks: &mut S,
    conn: &Connection,
    sql: &str,
) -> TdResult<Option<RawBlock>>
where
    S: futures_util::TryStream<Ok = RawBlock, Error = taos::Error> + Unpin,
{
    while let Some(block) = blocks.try_next().await.map_err(|e| conn.classify(sql, e))? {
        if block.nrows() > 0 {
            return Ok(Some(block));
        }
    }
    Ok(None)
}

/// Every row of `db.table` in `range`, as the server's raw blocks.
pub async fn read_range(
    conn: &Connection,
    db: &str,
    table: &str,
    range: TsRange,
) -> TdResult<Vec<ExportedBlock>> {
    let sql = select_range(db, table, range);
    let (mut rs, columns) = query_with_columns(conn, &sql).await?;
    let mut out = Vec::new();
    let mut blocks = rs.blocks();
    while let Some(block) = next_block(&mut blocks, conn, &sql).await? {
        out.push(ExportedBlock {
            bytes: block.as_raw_bytes().to_vec(),
            rows: block.nrows(),
            columns: columns.clone(),
        });
    }
    Ok(out)
}

/// `SHOW CREATE DATABASE | STABLE | TABLE`: the statement that recreates it.
pub async fn show_create(
    conn: &Connection,
    kind: DdlKind,
    db: &str,
    name: &str,
) -> TdResult<String> {
    let (sql, column) = match kind {
        DdlKind::Database => (
            format!("SHOW CREATE DATABASE {}", quote_ident(db)),
            "create database",
        ),
        DdlKind::SuperTable => (
            format!(
                "SHOW CREATE STABLE {}.{}",
                quote_ident(db),
                quote_ident(name)
            ),
            "create table",
        ),
        DdlKind::Table => (
            format!(
                "SHOW CREATE TABLE {}.{}",
                quote_ident(db),
                quote_ident(name)
            ),
            "create table",
        ),
    };
    let rows = conn.query(&sql).await?;
    if rows.is_empty() {
        return Err(TdError::bad_answer(&sql, "no row"));
    }
    rows.text(0, column)?
        .ok_or_else(|| TdError::bad_answer(&sql, format!("{column:?} is NULL")))
}

/// One row of `DESCRIBE`: a column, or a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    pub name: String,
    /// The type's name as the server prints it (`VARCHAR`, `INT UNSIGNED`, ...).
    pub ty: String,
    pub length: i32,
    pub is_tag: bool,
}

/// `DESCRIBE db.name`: the columns, then the tags, of a table or super table.
pub async fn describe(conn: &Connection, db: &str, name: &str) -> TdResult<Vec<Described>> {
    let sql = format!("DESCRIBE {}.{}", quote_ident(db), quote_ident(name));
    let rows = conn.query(&sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in 0..rows.len() {
        let field = |column: &str| -> TdResult<String> {
            rows.text(row, column)?
                .ok_or_else(|| TdError::bad_answer(&sql, format!("row {row}: {column} is NULL")))
        };
        let length = rows.integer(row, "length")?.unwrap_or(0);
        out.push(Described {
            name: field("field")?,
            ty: field("type")?,
            length: i32::try_from(length)
                .map_err(|_| TdError::bad_answer(&sql, format!("row {row}: length {length}")))?,
            is_tag: rows
                .text(row, "note")?
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("TAG")),
        });
    }
    if out.is_empty() {
        return Err(TdError::bad_answer(&sql, "no column"));
    }
    Ok(out)
}

/// Writes a block into `table` of the connection's current database (TDengine resolves a
/// raw block's table name against it: `USE` the target database on this connection first).
pub async fn write_block(
    conn: &Connection,
    table: &str,
    block: &ExportedBlock,
    precision: Precision,
) -> TdResult<()> {
    let what = format!("write_raw_block into {table}");
    let mut raw = RawBlock::parse_from_raw_block(block.bytes.clone(), taos_precision(precision));
    if raw.ncols() != block.columns.len() || raw.nrows() != block.rows {
        return Err(TdError::bad_answer(
            &what,
            format!(
                "the stored block has {} columns and {} rows, its record says {} and {}",
                raw.ncols(),
                raw.nrows(),
                block.columns.len(),
                block.rows
            ),
        ));
    }
    raw.with_field_names(&block.columns);
    raw.with_table_name(table);
    conn.taos()
        .write_raw_block(&raw)
        .await
        .map_err(|e| conn.classify(&what, e))
}

/// Rows and a digest of their values, independent of how the rows are cut into raw blocks
/// (what `verify --against` compares between a stored block and the live table).
pub fn digest_rows(parts: &[ExportedBlock], precision: Precision) -> TdResult<(u64, [u8; 32])> {
    let mut hasher = blake3::Hasher::new();
    let mut rows = 0u64;
    for part in parts {
        let raw = RawBlock::parse_from_raw_block(part.bytes.clone(), taos_precision(precision));
        if raw.ncols() != part.columns.len() || raw.nrows() != part.rows {
            return Err(TdError::bad_answer(
                "a stored block",
                format!(
                    "{} columns and {} rows, its record says {} and {}",
                    raw.ncols(),
                    raw.nrows(),
                    part.columns.len(),
                    part.rows
                ),
            ));
        }
        for row in 0..raw.nrows() {
            for col in 0..raw.ncols() {
                // Debug of a borrowed value names its type and value: stable for equal rows.
                hasher.update(format!("{:?}\u{1f}", raw.get_ref(row, col)).as_bytes());
            }
            hasher.update(b"\x1e");
            rows += 1;
        }
    }
    Ok((rows, *hasher.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_edges_get_no_bound() {
        assert_eq!(
            range_condition(TsRange::new(5, 9)),
            " WHERE _c0 >= 5 AND _c0 <= 9"
        );
        assert_eq!(
            range_condition(TsRange::new(i64::MIN, 9)),
            " WHERE _c0 <= 9"
        );
        assert_eq!(
            range_condition(TsRange::new(-3, i64::MAX)),
            " WHERE _c0 >= -3"
        );
        assert_eq!(range_condition(TsRange::new(i64::MIN, i64::MAX)), "");
    }
}
