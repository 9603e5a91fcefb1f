//! A database as text, read back through plain SQL (`DESCRIBE`, `information_schema.ins_tags`,
//! `SELECT *`): the read path a restore is compared through, different from the TMQ feed and
//! the raw-block reads tdibt backs up with. Two databases are "the same" when their snapshots
//! are equal: every table, its schema, every tag and every row.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use taos::{AsyncFetchable, AsyncQueryable, Taos, Value};

/// Per table of `db`: its `DESCRIBE` lines, its tags (`tag NAME | VALUE`) and its rows.
pub async fn snapshot(taos: &Taos, db: &str) -> BTreeMap<String, Vec<String>> {
    snapshot_where(taos, db, |_| true).await
}

/// [`snapshot`] of the tables whose name `keep` accepts.
pub async fn snapshot_where(
    taos: &Taos,
    db: &str,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let names = text_rows(
        taos,
        &format!("SELECT table_name FROM information_schema.ins_tables WHERE db_name = '{db}'"),
    )
    .await;
    let mut out = BTreeMap::new();
    for name in names.into_iter().filter(|n| keep(n)) {
        let quoted = format!("`{db}`.`{}`", name.replace('`', "``"));
        let mut lines = text_rows(taos, &format!("DESCRIBE {quoted}")).await;
        let tags = text_rows(
            taos,
            &format!(
                "SELECT tag_name, tag_value FROM information_schema.ins_tags \
                 WHERE db_name = '{db}' AND table_name = '{}'",
                name.replace('\'', "''")
            ),
        )
        .await;
        lines.extend(tags.into_iter().map(|t| format!("tag {t}")));
        lines.extend(text_rows(taos, &format!("SELECT * FROM {quoted}")).await);
        out.insert(name, lines);
    }
    out
}

/// Every row of `sql`'s answer, its values as text joined by ` | `.
pub async fn text_rows(taos: &Taos, sql: &str) -> Vec<String> {
    let mut rs = taos
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rs.to_records()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|r| r.iter().map(text).collect::<Vec<_>>().join(" | "))
        .collect()
}

/// One value as text that tells apart what a restore must keep apart.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null(_) => "NULL".into(),
        Value::VarBinary(b) | Value::Geometry(b) => {
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        }
        Value::Json(j) => j.to_string(),
        // Debug keeps NaN, infinities and the float's exact digits apart.
        Value::Float(f) => format!("{f:?}"),
        Value::Double(d) => format!("{d:?}"),
        other => other.to_string().unwrap_or_else(|_| format!("{other:?}")),
    }
}
