//! Each backup's schemas: recorded with its DDL (`DESCRIBE` beside `SHOW CREATE`), and the
//! schema a restore (or `verify --against`) brings every stored block to, by column name.

use std::collections::{BTreeMap, BTreeSet};

use tdibt_repository::{ColumnDef, DdlEntry, DdlKind, TableSchema};
use tdibt_tdengine::export::{self, ExportedBlock};
use tdibt_tdengine::reshape::{self, TargetColumn};
use tdibt_tdengine::Connection;

use crate::error::{BackupError, BackupResult};

/// `DESCRIBE` of a table or super table as the manifest records it.
pub(crate) async fn describe(
    conn: &Connection,
    db: &str,
    name: &str,
    super_table: Option<&str>,
) -> BackupResult<TableSchema> {
    let mut schema = TableSchema {
        super_table: super_table.map(str::to_string),
        ..TableSchema::default()
    };
    for d in export::describe(conn, db, name).await? {
        let def = ColumnDef {
            name: d.name,
            ty: d.ty,
            length: d.length,
        };
        if d.is_tag {
            schema.tags.push(def);
        } else {
            schema.columns.push(def);
        }
    }
    Ok(schema)
}

/// Column types taos-query 0.12 cannot read (it reaches `unreachable!` on them): a backup
/// of a table that has one is refused before it starts, naming the table and column.
pub(crate) fn refuse_unreadable(ddl: &[DdlEntry]) -> BackupResult<()> {
    for entry in ddl {
        let Some(schema) = &entry.schema else {
            continue;
        };
        for c in schema.columns.iter().chain(&schema.tags) {
            let base = c.ty.split('(').next().unwrap_or("").trim();
            if ["DECIMAL", "BLOB", "MEDIUMBLOB"]
                .iter()
                .any(|t| base.eq_ignore_ascii_case(t))
            {
                return Err(BackupError::Refused(format!(
                    "{} {:?} has column {:?} of type {}, which the TDengine connector tdibt \
                     uses (taos-query 0.12) cannot read; nothing was backed up. Back this \
                     table up with taosdump, or change the column's type",
                    match entry.kind {
                        DdlKind::SuperTable => "super table",
                        _ => "table",
                    },
                    entry.name,
                    c.name,
                    c.ty
                )));
            }
        }
    }
    Ok(())
}

/// The super tables whose tags (names, types or lengths) differ from what `previous` (the
/// parent chain's merged DDL) recorded: their children's statements must be recorded again
/// (a child's statement names its super table's tags).
pub(crate) fn tags_changed(previous: &[DdlEntry], now: &[DdlEntry]) -> BTreeSet<String> {
    let before: BTreeMap<&str, &TableSchema> = previous
        .iter()
        .filter(|d| d.kind == DdlKind::SuperTable)
        .filter_map(|d| Some((d.name.as_str(), d.schema.as_ref()?)))
        .collect();
    now.iter()
        .filter(|d| d.kind == DdlKind::SuperTable)
        .filter(|d| match (before.get(d.name.as_str()), &d.schema) {
            (Some(old), Some(new)) => old.tags != new.tags,
            // New to the chain, or recorded before schemas were: its children cannot be
            // told apart, record them again.
            _ => true,
        })
        .map(|d| d.name.clone())
        .collect()
}

/// The tables and super tables of `now` that lost a column `previous` (the parent chain's
/// merged DDL) had, with the columns lost. A RENAME COLUMN looks exactly like a drop and an
/// add, and a restore brings older blocks to a schema by column name, so a renamed column's
/// older values would come back NULL: the backup reads such tables whole instead (see
/// `run_backup`), holding every row under the current names. A dropped column costs the
/// same re-read, since the two cannot be told apart.
pub(crate) fn lost_columns(
    previous: &[DdlEntry],
    now: &[DdlEntry],
) -> Vec<(DdlKind, String, Vec<String>)> {
    let before: BTreeMap<(DdlKind, &str), &TableSchema> = previous
        .iter()
        .filter_map(|d| Some(((d.kind, d.name.as_str()), d.schema.as_ref()?)))
        .collect();
    let mut out = Vec::new();
    for d in now {
        let (Some(new), Some(old)) = (&d.schema, before.get(&(d.kind, d.name.as_str()))) else {
            continue;
        };
        let lost: Vec<String> = old
            .columns
            .iter()
            .filter(|c| !new.columns.iter().any(|x| x.name == c.name))
            .map(|c| c.name.clone())
            .collect();
        if !lost.is_empty() {
            out.push((d.kind, d.name.clone(), lost));
        }
    }
    out
}

/// Per table of a merged DDL (see `ddl::merge_ddl`), the columns its blocks are written
/// with: a child table's are its super table's. Tables whose schema is not recorded (older
/// manifests) are absent: their blocks are written as stored.
pub(crate) fn targets(ddl: &[DdlEntry]) -> BackupResult<BTreeMap<String, Vec<TargetColumn>>> {
    let supers: BTreeMap<&str, &TableSchema> = ddl
        .iter()
        .filter(|d| d.kind == DdlKind::SuperTable)
        .filter_map(|d| Some((d.name.as_str(), d.schema.as_ref()?)))
        .collect();
    let mut out = BTreeMap::new();
    for d in ddl.iter().filter(|d| d.kind == DdlKind::Table) {
        let Some(schema) = &d.schema else { continue };
        let columns = match &schema.super_table {
            Some(st) => match supers.get(st.as_str()) {
                Some(s) => &s.columns,
                None => continue,
            },
            None => &schema.columns,
        };
        let target = columns
            .iter()
            .map(|c| {
                let code = reshape::type_code(&c.ty).ok_or_else(|| {
                    BackupError::Refused(format!(
                        "table {:?}: column {:?} has type {:?}, which tdibt does not know",
                        d.name, c.name, c.ty
                    ))
                })?;
                Ok(TargetColumn {
                    name: c.name.clone(),
                    type_code: code,
                    bytes: reshape::schema_bytes(code, c.length),
                })
            })
            .collect::<BackupResult<Vec<_>>>()?;
        out.insert(d.name.clone(), target);
    }
    Ok(out)
}

/// A window's stored blocks brought to `target` (unchanged when `None` or already so).
pub(crate) fn conform(
    table: &str,
    parts: Vec<ExportedBlock>,
    target: Option<&[TargetColumn]>,
) -> BackupResult<Vec<ExportedBlock>> {
    let Some(target) = target else {
        return Ok(parts);
    };
    parts
        .into_iter()
        .map(
            |part| match reshape::conform(&part.bytes, &part.columns, target) {
                Ok(None) => Ok(part),
                Ok(Some(bytes)) => Ok(ExportedBlock {
                    bytes,
                    rows: part.rows,
                    columns: target.iter().map(|c| c.name.clone()).collect(),
                }),
                Err(e) => Err(BackupError::Refused(format!(
                    "a stored block of table {table:?} cannot be brought to the backup's \
                     schema: {e}; run `tdibt verify --read-data`"
                ))),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, ty: &str, length: i32) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty: ty.into(),
            length,
        }
    }

    fn entry(kind: DdlKind, name: &str, schema: Option<TableSchema>) -> DdlEntry {
        DdlEntry {
            kind,
            name: name.into(),
            sql: String::new(),
            schema,
        }
    }

    #[test]
    fn children_take_their_super_tables_columns() {
        let ddl = vec![
            entry(
                DdlKind::SuperTable,
                "m",
                Some(TableSchema {
                    columns: vec![def("ts", "TIMESTAMP", 8), def("c", "INT", 4)],
                    tags: vec![def("g", "INT", 4)],
                    super_table: None,
                }),
            ),
            entry(
                DdlKind::Table,
                "d0",
                Some(TableSchema {
                    // Recorded before `c` was added: the super table's newer columns rule.
                    columns: vec![def("ts", "TIMESTAMP", 8)],
                    tags: vec![],
                    super_table: Some("m".into()),
                }),
            ),
            entry(DdlKind::Table, "old", None),
        ];
        let t = targets(&ddl).unwrap();
        assert_eq!(t["d0"].len(), 2);
        assert_eq!(t["d0"][1].name, "c");
        assert!(!t.contains_key("old"));
    }

    #[test]
    fn unreadable_types_are_refused_by_name_and_tag_changes_seen() {
        let with = |ty: &str| {
            vec![entry(
                DdlKind::Table,
                "n1",
                Some(TableSchema {
                    columns: vec![def("ts", "TIMESTAMP", 8), def("price", ty, 16)],
                    ..TableSchema::default()
                }),
            )]
        };
        let err = refuse_unreadable(&with("DECIMAL(10, 2)"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"n1\"") && err.contains("\"price\""), "{err}");
        assert!(refuse_unreadable(&with("VARCHAR")).is_ok());

        let st = |tags: Vec<ColumnDef>| {
            entry(
                DdlKind::SuperTable,
                "m",
                Some(TableSchema {
                    columns: vec![def("ts", "TIMESTAMP", 8)],
                    tags,
                    super_table: None,
                }),
            )
        };
        let before = vec![st(vec![def("g", "INT", 4)])];
        assert!(tags_changed(&before, &[st(vec![def("g", "INT", 4)])]).is_empty());
        assert!(tags_changed(&before, &[st(vec![def("h", "INT", 4)])]).contains("m"));
    }
}
