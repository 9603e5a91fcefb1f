//! `tdibt taosdump-apply`: what `taosdump -i` cannot do, applied before it runs: tables
//! dropped since are dropped, deleted ranges deleted, and every range about to be imported
//! emptied, so the import replaces the range as a whole (rows deleted inside a re-read
//! range would otherwise survive, since taosdump only inserts).

use serde::Serialize;
use tdibt_tdengine::discovery::{quote_ident, quote_literal};
use tdibt_tdengine::Connection;

use crate::blocks::{BlocksDoc, Range};
use crate::error::TaosdumpResult;

#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    pub database: String,
    pub dropped_tables: u64,
    pub ranges_deleted: u64,
    /// Tables the target does not have yet (taosdump creates them): nothing to delete.
    pub tables_absent: u64,
    /// Recorded schema/tag changes: taosdump's import creates tables from the dumped
    /// schema (`IF NOT EXISTS`) and does not alter an existing one.
    pub schema_changes_not_applied: Vec<String>,
}

/// `_c0 >= start AND _c0 <= end - 1` (or `1 = 1` for an open range): both ends inclusive,
/// as TDengine's DELETE and taosdump's query take them.
pub fn range_predicate(r: &Range) -> String {
    let mut parts = Vec::new();
    if let Some(s) = r.start {
        parts.push(format!("_c0 >= {s}"));
    }
    if let Some(e) = r.last_ts() {
        parts.push(format!("_c0 <= {e}"));
    }
    if parts.is_empty() {
        // TDengine's DELETE wants a time condition; the widest one.
        parts.push(format!("_c0 >= {}", i64::MIN + 1));
    }
    parts.join(" AND ")
}

/// Applies `doc`'s drops and deletes to `target_db` (the plan's database by default).
pub async fn apply(
    conn: &Connection,
    doc: &BlocksDoc,
    target_db: Option<&str>,
) -> TaosdumpResult<ApplyReport> {
    let db = target_db.unwrap_or(&doc.database);
    let mut report = ApplyReport {
        database: db.to_string(),
        ..ApplyReport::default()
    };
    let existing: std::collections::BTreeSet<String> = {
        let rows = conn
            .query(&format!(
                "SELECT table_name FROM information_schema.ins_tables WHERE db_name = {}",
                quote_literal(db)
            ))
            .await?;
        (0..rows.len())
            .filter_map(|i| rows.text(i, "table_name").ok().flatten())
            .collect()
    };
    let qdb = quote_ident(db);
    for t in &doc.dropped_tables {
        conn.exec(&format!("DROP TABLE IF EXISTS {qdb}.{}", quote_ident(t)))
            .await?;
        report.dropped_tables += 1;
    }
    for t in &doc.tables {
        if !existing.contains(&t.name) {
            report.tables_absent += 1;
            continue;
        }
        for r in t.deleted.iter().chain(&t.ranges) {
            conn.exec(&format!(
                "DELETE FROM {qdb}.{} WHERE {}",
                quote_ident(&t.name),
                range_predicate(r)
            ))
            .await?;
            report.ranges_deleted += 1;
        }
    }
    report.schema_changes_not_applied = doc
        .schema_changes
        .iter()
        .map(|c| format!("{} {}", c.kind, c.name))
        .collect();
    Ok(report)
}
