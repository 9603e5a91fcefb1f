//! `tdibt verify-taosdump`: what taosdump wrote, against the plan.
//!
//! taosdump's layout (see the README's sources): each `-o` folder holds `dbs.sql` and
//! `data*/` folders of `*.avro` files whose records carry the table's name (`tbname`) and
//! the timestamp (`ts`) first, then `col0..`; `*.avro-tbtags` and `*.avro-ntb` hold tags
//! and table schemas, not rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apache_avro::types::Value;
use serde::Serialize;

use crate::blocks::{BlocksDoc, Range};
use crate::error::{TaosdumpError, TaosdumpResult};
use crate::script::{CallsDoc, CALLS_FILE, CALLS_FORMAT};

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub database: String,
    pub dir: PathBuf,
    pub calls: u64,
    pub avro_files: u64,
    pub rows: u64,
    /// Rows per table and range found in the dump.
    pub ranges: Vec<RangeCount>,
    pub problems: Vec<String>,
    /// Planned ranges with no row in the dump: right when the range was emptied since,
    /// checked against the database with `--against`.
    pub empty_ranges: Vec<String>,
    /// Whether counts were compared with the live database.
    pub against: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RangeCount {
    pub table: String,
    pub folder: String,
    pub range: Range,
    pub rows: u64,
    /// Rows the live database holds in the range (`--against`).
    pub live_rows: Option<u64>,
}

/// Checks the dump folder `dir` against `doc`: every call's folder is there and is a
/// taosdump output, every row belongs to a planned table and falls in its call's range.
pub fn check_dump(dir: &Path, doc: &BlocksDoc) -> TaosdumpResult<VerifyReport> {
    check_dump_with(dir, doc, &mut |_, _| {})
}

/// Rows per table and window.
pub type RowsByWindow = BTreeMap<(String, i32), u64>;

/// [`check_dump`], also counting the dump's rows per table and window of `span`: what a
/// backup taosdump stored holds, window by window (the change engine's fold needs it).
pub fn check_dump_by_window(
    dir: &Path,
    doc: &BlocksDoc,
    span: tdibt_core::BlockSpan,
) -> TaosdumpResult<(VerifyReport, RowsByWindow)> {
    let mut windows = RowsByWindow::new();
    let report = check_dump_with(dir, doc, &mut |table, ts| {
        *windows
            .entry((table.to_string(), span.window_of(ts).0))
            .or_default() += 1;
    })?;
    Ok((report, windows))
}

/// [`check_dump`], calling `on_row` with each row's table and timestamp.
fn check_dump_with(
    dir: &Path,
    doc: &BlocksDoc,
    on_row: &mut dyn FnMut(&str, i64),
) -> TaosdumpResult<VerifyReport> {
    let calls = read_calls(dir, doc)?;
    let mut report = VerifyReport {
        database: doc.database.clone(),
        dir: dir.to_path_buf(),
        calls: calls.calls.len() as u64,
        ..VerifyReport::default()
    };
    planned_everything(doc, &calls, &mut report);
    for call in &calls.calls {
        let folder = dir.join(&call.folder);
        if !folder.join("dbs.sql").is_file() {
            report.problems.push(format!(
                "{}: missing or not a taosdump output (no dbs.sql): tables {} range {} were not dumped",
                folder.display(),
                call.tables.join(", "),
                call.range.describe()
            ));
            continue;
        }
        let mut rows: BTreeMap<&str, u64> = call.tables.iter().map(|t| (t.as_str(), 0)).collect();
        for file in avro_files(&folder)? {
            report.avro_files += 1;
            read_avro(&file, call, &mut rows, &mut report, on_row)?;
        }
        for (table, n) in rows {
            if n == 0 {
                report.empty_ranges.push(format!(
                    "table {table} range {} ({}): no rows in the dump",
                    call.range.describe(),
                    call.folder
                ));
            }
            report.ranges.push(RangeCount {
                table: table.to_string(),
                folder: call.folder.clone(),
                range: call.range.clone(),
                rows: n,
                live_rows: None,
            });
        }
    }
    report.ok = report.problems.is_empty();
    Ok(report)
}

/// The calls file of a dump folder, checked to be one for `doc`'s database.
pub(crate) fn read_calls(dir: &Path, doc: &BlocksDoc) -> TaosdumpResult<CallsDoc> {
    let path = dir.join(CALLS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| TaosdumpError::io("read", &path, e))?;
    let calls: CallsDoc = serde_json::from_slice(&bytes).map_err(|e| {
        TaosdumpError::bad_file(
            &path,
            format!("not a call list written by backup_script.sh: {e}"),
        )
    })?;
    if calls.format != CALLS_FORMAT || calls.database != doc.database {
        return Err(TaosdumpError::bad_file(
            &path,
            format!(
                "format {:?} for database {:?}; expected {CALLS_FORMAT:?} for {:?}",
                calls.format, calls.database, doc.database
            ),
        ));
    }
    Ok(calls)
}

/// Every planned (table, range) is in some call.
fn planned_everything(doc: &BlocksDoc, calls: &CallsDoc, report: &mut VerifyReport) {
    for t in &doc.tables {
        for r in &t.ranges {
            let covered = calls
                .calls
                .iter()
                .any(|c| &c.range == r && c.tables.iter().any(|n| n == &t.name));
            if !covered {
                report.problems.push(format!(
                    "table {} range {}: planned but in no taosdump call",
                    t.name,
                    r.describe()
                ));
            }
        }
    }
}

/// Data files: `*.avro` anywhere under the folder (not `.avro-tbtags` / `.avro-ntb`).
fn avro_files(folder: &Path) -> TaosdumpResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| TaosdumpError::io("list", &dir, e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| TaosdumpError::io("list", &dir, e))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "avro") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_avro(
    file: &Path,
    call: &crate::script::Call,
    rows: &mut BTreeMap<&str, u64>,
    report: &mut VerifyReport,
    on_row: &mut dyn FnMut(&str, i64),
) -> TaosdumpResult<()> {
    let f = std::fs::File::open(file).map_err(|e| TaosdumpError::io("open", file, e))?;
    let reader = apache_avro::Reader::new(std::io::BufReader::new(f))
        .map_err(|e| TaosdumpError::bad_file(file, format!("not an Avro file: {e}")))?;
    for record in reader {
        let record =
            record.map_err(|e| TaosdumpError::bad_file(file, format!("unreadable record: {e}")))?;
        let (table, ts) = table_and_ts(&record).ok_or_else(|| {
            TaosdumpError::bad_file(file, "a record without taosdump's `tbname` and `ts` fields")
        })?;
        report.rows += 1;
        on_row(&table, ts);
        let Some(n) = rows.get_mut(table.as_str()) else {
            report.problems.push(format!(
                "{}: rows of table {table}, which call {} did not ask for",
                file.display(),
                call.folder
            ));
            continue;
        };
        *n += 1;
        if !call.range.contains(ts) {
            report.problems.push(format!(
                "{}: table {table} row at {ts} is outside its planned range {}",
                file.display(),
                call.range.describe()
            ));
        }
    }
    Ok(())
}

fn table_and_ts(record: &Value) -> Option<(String, i64)> {
    let Value::Record(fields) = record else {
        return None;
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| unwrap_union(v))
    };
    let table = match field("tbname")? {
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let ts = match field("ts")? {
        Value::Long(t) => *t,
        Value::TimestampMillis(t) | Value::TimestampMicros(t) => *t,
        _ => return None,
    };
    Some((table, ts))
}

fn unwrap_union(v: &Value) -> &Value {
    match v {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

/// `--against`: each range's row count in the dump against the live database's.
pub async fn compare_live(
    conn: &tdibt_tdengine::Connection,
    report: &mut VerifyReport,
) -> TaosdumpResult<()> {
    report.against = true;
    let db = report.database.clone();
    for rc in &mut report.ranges {
        let n = live_rows(conn, &db, rc).await?;
        rc.live_rows = Some(n);
        if n != rc.rows {
            report.problems.push(format!(
                "table {} range {} ({}): {} row(s) in the dump, {} in the database",
                rc.table,
                rc.range.describe(),
                rc.folder,
                rc.rows,
                n
            ));
        }
    }
    report.ok = report.problems.is_empty();
    Ok(())
}

/// The check `backup --engine taosdump` makes of its own dumps: a range the dump holds no
/// row of must hold none in the database either (taosdump answered for a table but wrote
/// nothing of it). Ranges with rows are not compared: the database goes on taking writes,
/// so the newest ranges hold more rows by the time of the check.
pub async fn empty_ranges_against_live(
    conn: &tdibt_tdengine::Connection,
    report: &mut VerifyReport,
) -> TaosdumpResult<()> {
    let db = report.database.clone();
    for rc in report.ranges.iter_mut().filter(|rc| rc.rows == 0) {
        let n = live_rows(conn, &db, rc).await?;
        rc.live_rows = Some(n);
        if n > 0 {
            report.problems.push(format!(
                "table {} range {} ({}): no row in the dump, {n} in the database",
                rc.table,
                rc.range.describe(),
                rc.folder,
            ));
        }
    }
    report.ok = report.problems.is_empty();
    Ok(())
}

/// Rows the live database holds in a range of a table.
async fn live_rows(
    conn: &tdibt_tdengine::Connection,
    db: &str,
    rc: &RangeCount,
) -> TaosdumpResult<u64> {
    // No alias: TDengine names the column `count(*)` then, as the stand-in always does.
    let sql = format!(
        "SELECT COUNT(*) FROM {}.{} WHERE {}",
        tdibt_tdengine::discovery::quote_ident(db),
        tdibt_tdengine::discovery::quote_ident(&rc.table),
        crate::apply::range_predicate(&rc.range)
    );
    let live = conn.query(&sql).await?;
    Ok(if live.is_empty() {
        0
    } else {
        live.integer(0, "count(*)")?.unwrap_or(0).max(0) as u64
    })
}
