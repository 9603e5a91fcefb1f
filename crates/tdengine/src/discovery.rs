//! Reading what a database holds: its precision and vgroups, its super tables and tables.
//!
//! Everything comes from `information_schema` (ins_databases, ins_stables, ins_tables,
//! ins_vgroups), the same views taosdump reads; columns are looked up by name.

use tdibt_core::Precision;

use crate::connection::Connection;
use crate::error::{TdError, TdResult};

/// A database's properties that shape capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseInfo {
    pub name: String,
    pub precision: Precision,
    pub vgroups: u32,
    /// Seconds of WAL kept for TMQ; 0 means TMQ cannot catch up after any pause.
    pub wal_retention_period: Option<i64>,
}

/// What kind of table a name is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// A child table of the named super table.
    Child {
        super_table: String,
    },
    Normal,
}

/// One table of the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub kind: TableKind,
    pub vgroup_id: Option<i32>,
}

/// Escapes a string literal for TDengine SQL (single quotes doubled).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an identifier with backquotes.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// The database's properties; [`TdError::MissingDatabase`] when it does not exist.
pub async fn database_info(conn: &Connection, db: &str) -> TdResult<DatabaseInfo> {
    let sql = format!(
        "SELECT * FROM information_schema.ins_databases WHERE name = {}",
        quote_literal(db)
    );
    let rows = conn.query(&sql).await?;
    if rows.is_empty() {
        return Err(TdError::MissingDatabase(db.to_string()));
    }
    let precision_text = rows
        .text(0, "precision")?
        .ok_or_else(|| TdError::bad_answer(&sql, "precision is NULL"))?;
    let precision = precision_text
        .parse::<Precision>()
        .map_err(|e| TdError::bad_answer(&sql, e.to_string()))?;
    let vgroups = rows
        .integer(0, "vgroups")?
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| TdError::bad_answer(&sql, "vgroups is missing or negative"))?;
    let wal_retention_period = rows.integer(0, "wal_retention_period").unwrap_or(None);
    Ok(DatabaseInfo {
        name: db.to_string(),
        precision,
        vgroups,
        wal_retention_period,
    })
}

/// The database's super tables.
pub async fn super_tables(conn: &Connection, db: &str) -> TdResult<Vec<String>> {
    let sql = format!(
        "SELECT stable_name FROM information_schema.ins_stables WHERE db_name = {}",
        quote_literal(db)
    );
    let rows = conn.query(&sql).await?;
    (0..rows.len())
        .map(|i| {
            rows.text(i, "stable_name")?
                .ok_or_else(|| TdError::bad_answer(&sql, "stable_name is NULL"))
        })
        .collect()
}

/// The database's child and normal tables with their vgroups.
pub async fn tables(conn: &Connection, db: &str) -> TdResult<Vec<TableInfo>> {
    let sql = format!(
        "SELECT table_name, stable_name, vgroup_id, type FROM information_schema.ins_tables \
         WHERE db_name = {}",
        quote_literal(db)
    );
    let rows = conn.query(&sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let name = rows
            .text(i, "table_name")?
            .ok_or_else(|| TdError::bad_answer(&sql, "table_name is NULL"))?;
        let kind = match rows.text(i, "stable_name")? {
            Some(s) if !s.is_empty() => TableKind::Child { super_table: s },
            _ => TableKind::Normal,
        };
        let vgroup_id = rows
            .integer(i, "vgroup_id")?
            .and_then(|v| i32::try_from(v).ok());
        out.push(TableInfo {
            name,
            kind,
            vgroup_id,
        });
    }
    Ok(out)
}

/// The database's vgroup ids.
pub async fn vgroups(conn: &Connection, db: &str) -> TdResult<Vec<i32>> {
    let sql = format!(
        "SELECT vgroup_id FROM information_schema.ins_vgroups WHERE db_name = {}",
        quote_literal(db)
    );
    let rows = conn.query(&sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let id = rows
            .integer(i, "vgroup_id")?
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| TdError::bad_answer(&sql, "vgroup_id is NULL or out of range"))?;
        out.push(id);
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
