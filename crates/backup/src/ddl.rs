//! The statements that recreate a backup's database, super tables and tables: gathered from
//! `SHOW CREATE ...` at backup time, merged along a chain, rewritten for the restore target.

use std::collections::{BTreeMap, BTreeSet};

use tdibt_repository::{DdlEntry, DdlKind, Manifest};

/// The DDL a chain restores: the database and super tables as the newest backup recorded
/// them (every backup records all live ones, so a super table dropped since is gone), and
/// per table the newest statement, without tables dropped since; database first, then
/// super tables, then tables.
pub fn merge_ddl<M: std::borrow::Borrow<Manifest>>(chain: &[M]) -> Vec<DdlEntry> {
    let mut merged: BTreeMap<(DdlKind, String), DdlEntry> = BTreeMap::new();
    for m in chain {
        let m: &Manifest = m.borrow();
        for t in m.tombstones.iter().filter(|t| t.windows.is_none()) {
            merged.remove(&(DdlKind::Table, t.table.clone()));
        }
        merged.retain(|(kind, _), _| *kind == DdlKind::Table);
        for d in &m.ddl {
            merged.insert((d.kind, d.name.clone()), d.clone());
        }
    }
    merged.into_values().collect()
}

/// The tables a chain has statements for (dropped ones excluded): the tables of
/// [`merge_ddl`], without copying every statement of the chain (an incremental's plan asks
/// this at its cut, where each millisecond is the asker's).
pub fn chain_tables<M: std::borrow::Borrow<Manifest>>(chain: &[M]) -> BTreeSet<String> {
    let mut tables: BTreeSet<&str> = BTreeSet::new();
    for m in chain {
        let m: &Manifest = m.borrow();
        for t in m.tombstones.iter().filter(|t| t.windows.is_none()) {
            tables.remove(t.table.as_str());
        }
        tables.extend(
            m.ddl
                .iter()
                .filter(|d| d.kind == DdlKind::Table)
                .map(|d| d.name.as_str()),
        );
    }
    tables.into_iter().map(str::to_string).collect()
}

/// `CREATE DATABASE|STABLE|TABLE name ...` made idempotent (`IF NOT EXISTS`), and for the
/// database, renamed to `target_db`. `None` when the statement is not of that shape.
pub fn for_target(entry: &DdlEntry, target_db: &str) -> Option<String> {
    let sql = entry.sql.trim();
    let keyword = match entry.kind {
        DdlKind::Database => "CREATE DATABASE",
        DdlKind::SuperTable => "CREATE STABLE",
        DdlKind::Table => "CREATE TABLE",
    };
    if sql.len() < keyword.len() || !sql[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let mut rest = sql[keyword.len()..].trim_start();
    if rest.len() >= 13 && rest[..13].eq_ignore_ascii_case("IF NOT EXISTS") {
        rest = rest[13..].trim_start();
    }
    match entry.kind {
        DdlKind::Database => {
            let after = skip_identifier(rest)?;
            Some(format!(
                "{keyword} IF NOT EXISTS {}{}",
                tdibt_tdengine::discovery::quote_ident(target_db),
                after
            ))
        }
        _ => Some(format!("{keyword} IF NOT EXISTS {rest}")),
    }
}

/// What follows a leading identifier (backquoted or bare).
fn skip_identifier(s: &str) -> Option<&str> {
    if let Some(inner) = s.strip_prefix('`') {
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if inner[i + 1..].starts_with('`') {
                    chars.next();
                    continue;
                }
                return Some(&inner[i + 1..]);
            }
        }
        None
    } else {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (end > 0).then(|| &s[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: DdlKind, name: &str, sql: &str) -> DdlEntry {
        DdlEntry {
            kind,
            name: name.into(),
            sql: sql.into(),
            schema: None,
        }
    }

    #[test]
    fn statements_become_idempotent_and_the_database_is_renamed() {
        let db = entry(
            DdlKind::Database,
            "db",
            "CREATE DATABASE `db` BUFFER 256 PRECISION 'us'",
        );
        assert_eq!(
            for_target(&db, "copy").unwrap(),
            "CREATE DATABASE IF NOT EXISTS `copy` BUFFER 256 PRECISION 'us'"
        );
        let bare = entry(DdlKind::Database, "db", "create database db precision 'ms'");
        assert_eq!(
            for_target(&bare, "x").unwrap(),
            "CREATE DATABASE IF NOT EXISTS `x` precision 'ms'"
        );
        let st = entry(
            DdlKind::SuperTable,
            "m",
            "CREATE STABLE `m` (`ts` TIMESTAMP) TAGS (`g` INT)",
        );
        assert_eq!(
            for_target(&st, "x").unwrap(),
            "CREATE STABLE IF NOT EXISTS `m` (`ts` TIMESTAMP) TAGS (`g` INT)"
        );
        let t = entry(
            DdlKind::Table,
            "d0",
            "CREATE TABLE IF NOT EXISTS `d0` USING `m` (`g`) TAGS (1)",
        );
        assert_eq!(
            for_target(&t, "x").unwrap(),
            "CREATE TABLE IF NOT EXISTS `d0` USING `m` (`g`) TAGS (1)"
        );
        assert!(for_target(&entry(DdlKind::Table, "t", "DROP TABLE t"), "x").is_none());
    }
}
