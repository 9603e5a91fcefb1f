//! SELECT over tables, super tables and information_schema; SHOW and DESCRIBE.

use crate::ast::{Expr, Name, Pred, SelItem, Select, Show, TableKind};
use crate::convert::{now_ms, timestamp, Zone};
use crate::error::TaosError;
use crate::result::{col, QueryResult, ResultSet};
use crate::store::{Database, Precision, RowKey, Store, Table};
use crate::value::{Cell, ColDef, ColType, Column};

/// The inclusive timestamp bounds the predicates put on the timestamp column (`_c0`,
/// `_rowts` or its own name). With `only_ts`, any other predicate is an error (DELETE).
pub fn ts_bounds(
    preds: &[Pred],
    ts_col: &str,
    p: Precision,
    only_ts: bool,
    tz: &Zone,
) -> Result<(i64, i64), TaosError> {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    for pred in preds {
        let is_ts = |c: &str| c == ts_col || c == "_c0" || c == "_rowts";
        match pred {
            Pred::Cmp(c, op, e) if is_ts(c) => {
                let v = timestamp(e, p, tz)?;
                match *op {
                    ">=" => lo = lo.max(v),
                    ">" => lo = lo.max(v.saturating_add(1)),
                    "<=" => hi = hi.min(v),
                    "<" => hi = hi.min(v.saturating_sub(1)),
                    "=" => {
                        lo = lo.max(v);
                        hi = hi.min(v);
                    }
                    _ => return Err(TaosError::unsupported("!= on the timestamp")),
                }
            }
            Pred::Between(c, a, b) if is_ts(c) => {
                lo = lo.max(timestamp(a, p, tz)?);
                hi = hi.min(timestamp(b, p, tz)?);
            }
            _ if only_ts => {
                return Err(TaosError::new(
                    0x2664,
                    "The DELETE statement must only have a definite time window range",
                ))
            }
            _ => {}
        }
    }
    Ok((lo, hi))
}

/// A row in flight: its table name and every value (columns, then tags).
type Row = (String, Vec<Cell>);

struct Source {
    columns: Vec<Column>,
    /// Index of the first tag column (== columns.len() when none).
    precision: Precision,
    rows: Vec<(String, Vec<Cell>)>,
    ts_col: Option<String>,
}

pub fn select(
    store: &Store,
    session_db: Option<&str>,
    s: &Select,
    version: &str,
    tz: &Zone,
) -> Result<QueryResult, TaosError> {
    let Some(from) = &s.from else {
        return constant_select(s, session_db, version, tz);
    };
    let mut source = if from.db.as_deref() == Some("information_schema")
        || from.db.as_deref() == Some("performance_schema")
    {
        info_schema(store, &from.name)?
    } else {
        let db_name = from
            .db
            .as_deref()
            .or(session_db)
            .ok_or_else(TaosError::no_db)?;
        let db = store.db(db_name)?;
        table_source(db, &from.name, s, tz)?
    };
    let all = std::mem::take(&mut source.rows);
    let mut rows = filter(&source, all, &s.preds, tz)?;
    if s.partition_by_table {
        // PARTITION BY tbname makes each child table's rows a series of its own, computed
        // and returned group by group (taosd's blocks each carry one group id: `blockEncode`
        // writes `groupId` in the header); the stand-in returns the groups one after the
        // other in table-name order, each in timestamp order, in one block.
        rows.sort_by(|a, b| a.0.cmp(&b.0));
    }
    if let Some(desc) = s.order_desc {
        if let Some(i) = source
            .ts_col
            .as_ref()
            .and_then(|c| source.columns.iter().position(|x| &x.name == c))
        {
            rows.sort_by(|a, b| a.1[i].cmp_same(&b.1[i]));
            if desc {
                rows.reverse();
            }
        }
    }
    project(&source, rows, s)
}

fn constant_select(
    s: &Select,
    session_db: Option<&str>,
    version: &str,
    tz: &Zone,
) -> Result<QueryResult, TaosError> {
    let mut rs = ResultSet::new(Vec::new(), Precision::Millis);
    let mut row = Vec::new();
    for item in &s.items {
        let (c, v) = match item {
            SelItem::ServerVersion => (
                col("server_version()", ColType::VarChar, 64),
                Cell::Str(version.to_string()),
            ),
            SelItem::ServerStatus => (col("server_status()", ColType::Int, 4), Cell::Int(1)),
            SelItem::Database => (
                col("database()", ColType::VarChar, 64),
                session_db
                    .map(|d| Cell::Str(d.to_string()))
                    .unwrap_or(Cell::Null),
            ),
            SelItem::Timezone => {
                let text = zone_text(tz);
                (col("timezone()", ColType::VarChar, 64), Cell::Str(text))
            }
            // `SELECT 1`: a BIGINT for an integer, DOUBLE for a decimal point, VARCHAR for a
            // string, named by the text as written (TDengine docs 01-data-type.md, Constants).
            SelItem::Literal(e, name) => match e {
                Expr::Int(v) => (
                    col(name, ColType::BigInt, 8),
                    Cell::Int(i64::try_from(*v).map_err(|_| TaosError::bad_value(name))?),
                ),
                Expr::Float(v) => (col(name, ColType::Double, 8), Cell::Float(*v)),
                Expr::Bool(b) => (col(name, ColType::Bool, 1), Cell::Bool(*b)),
                Expr::Str(t) => (
                    col(name, ColType::VarChar, t.len() as u32),
                    Cell::Str(t.clone()),
                ),
                _ => (col(name, ColType::VarChar, 0), Cell::Null),
            },
            _ => {
                return Err(TaosError::unsupported(
                    "SELECT of columns or aggregates without FROM",
                ))
            }
        };
        rs.columns.push(c);
        row.push(v);
    }
    rs.rows.push(row);
    Ok(QueryResult::Rows(rs))
}

/// `timezone()`'s text, as taosd's client prints it: `name (abbreviation, +hhmm)`.
fn zone_text(tz: &Zone) -> String {
    let info = tz.to_offset_info(jiff::Timestamp::now());
    let secs = info.offset().seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!(
        "{} ({}, {sign}{:02}{:02})",
        tz.iana_name().unwrap_or("UTC"),
        info.abbreviation(),
        abs / 3600,
        abs % 3600 / 60
    )
}

/// The child tables a `tbname = '...'` or `tbname IN (...)` condition allows (`None`: no
/// such condition). taosd reads only those tables; the stand-in likewise, so a query of a
/// few children of a large super table does not read them all (the filter still applies
/// every condition afterwards).
fn tables_named(preds: &[Pred]) -> Option<std::collections::BTreeSet<&str>> {
    let mut out: Option<std::collections::BTreeSet<&str>> = None;
    for pred in preds {
        let names: std::collections::BTreeSet<&str> = match pred {
            Pred::Cmp(c, "=", Expr::Str(s)) if c == "tbname" => [s.as_str()].into(),
            Pred::In(c, list) if c == "tbname" => list
                .iter()
                .filter_map(|e| match e {
                    Expr::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => continue,
        };
        out = Some(match out {
            Some(prev) => prev.intersection(&names).copied().collect(),
            None => names,
        });
    }
    out
}

/// Whether a SELECT reads any of `tags` (in its items or its conditions): a super table's
/// rows carry their table's tags only then (copying them into every row of a large read
/// that never looks at them made the stand-in, not the client, the slow part).
fn reads_tags(s: &Select, tags: &[ColDef]) -> bool {
    let is_tag = |c: &str| tags.iter().any(|t| t.name.eq_ignore_ascii_case(c));
    let items = s.items.iter().any(|i| match i {
        SelItem::Star => true,
        SelItem::Column(c) | SelItem::First(c) | SelItem::Last(c) => is_tag(c),
        _ => false,
    });
    items
        || s.preds.iter().any(|p| match p {
            Pred::Cmp(c, _, _) | Pred::In(c, _) | Pred::Between(c, _, _) | Pred::IsNull(c, _) => {
                is_tag(c)
            }
        })
}

fn table_source(db: &Database, name: &str, s: &Select, tz: &Zone) -> Result<Source, TaosError> {
    let preds = &s.preds[..];
    let (children, columns, tags): (Vec<&Table>, Vec<ColDef>, Vec<ColDef>) =
        if let Some(st) = db.stables.get(name) {
            let named = tables_named(preds);
            let kids = db
                .tables
                .values()
                .filter(|t| t.stable.as_deref() == Some(name))
                .filter(|t| named.as_ref().is_none_or(|n| n.contains(t.name.as_str())))
                .collect();
            (kids, st.columns.clone(), st.tags.clone())
        } else if let Some(t) = db.tables.get(name) {
            (vec![t], db.columns_of(t), Vec::new())
        } else {
            return Err(TaosError::table_not_exist(name));
        };
    let ts_col = columns[0].name.clone();
    let (lo, hi) = ts_bounds(preds, &ts_col, db.precision, false, tz)?;
    let mut out: Vec<Column> = columns.iter().map(Column::from).collect();
    out.extend(tags.iter().map(Column::from));
    let with_tags = !tags.is_empty() && reads_tags(s, &tags);
    let mut rows = Vec::new();
    if lo <= hi {
        for t in children {
            for row in t.rows.range(RowKey::range(lo, hi)).map(|(_, r)| r) {
                let mut r = row.clone();
                if with_tags {
                    r.extend(t.tags.iter().cloned());
                }
                rows.push((t.name.clone(), r));
            }
        }
    }
    if db.stables.contains_key(name) {
        rows.sort_by(|a, b| a.1[0].cmp_same(&b.1[0]));
    }
    Ok(Source {
        columns: out,
        precision: db.precision,
        rows,
        ts_col: Some(ts_col),
    })
}

/// The rows of `source` (taken out of it: `rows`) that pass every predicate.
fn filter(
    source: &Source,
    rows: Vec<(String, Vec<Cell>)>,
    preds: &[Pred],
    tz: &Zone,
) -> Result<Vec<(String, Vec<Cell>)>, TaosError> {
    type Test = Box<dyn Fn(&Cell) -> bool>;
    let mut resolved: Vec<(Option<usize>, Test)> = Vec::new();
    for pred in preds {
        match pred {
            Pred::Cmp(c, op, e) => {
                let (i, v) = target(source, c, e, tz)?;
                let op = *op;
                resolved.push((i, Box::new(move |x: &Cell| compare(x, op, &v))));
            }
            Pred::In(c, list) => {
                let mut vals = Vec::new();
                let mut idx = None;
                for e in list {
                    let (i, v) = target(source, c, e, tz)?;
                    idx = Some(i);
                    vals.push(v);
                }
                let i = match idx {
                    Some(i) => i,
                    None => continue,
                };
                resolved.push((
                    i,
                    Box::new(move |x: &Cell| vals.iter().any(|v| compare(x, "=", v))),
                ));
            }
            Pred::IsNull(c, not) => {
                let i = if c == "tbname" {
                    None
                } else {
                    Some(column_of(source, c)?)
                };
                let not = *not;
                resolved.push((i, Box::new(move |x: &Cell| (*x == Cell::Null) != not)));
            }
            Pred::Between(c, a, b) => {
                let (i, lo) = target(source, c, a, tz)?;
                let (_, hi) = target(source, c, b, tz)?;
                resolved.push((
                    i,
                    Box::new(move |x: &Cell| compare(x, ">=", &lo) && compare(x, "<=", &hi)),
                ));
            }
        }
    }
    // Conditions on tbname are decided once per table, not once per row.
    let (by_table, by_row): (Vec<_>, Vec<_>) = resolved.into_iter().partition(|(i, _)| i.is_none());
    let mut table_passes: std::collections::HashMap<String, bool> = Default::default();
    Ok(rows
        .into_iter()
        .filter(|(tb, r)| {
            let table_ok = match table_passes.get(tb) {
                Some(ok) => *ok,
                None => {
                    let name = Cell::Str(tb.clone());
                    let ok = by_table.iter().all(|(_, test)| test(&name));
                    table_passes.insert(tb.clone(), ok);
                    ok
                }
            };
            table_ok
                && by_row
                    .iter()
                    .all(|(i, test)| i.and_then(|i| r.get(i)).is_some_and(test))
        })
        .collect())
}

/// The column a predicate names (None: tbname) and its literal as a cell of that column.
fn target(
    source: &Source,
    column: &str,
    e: &Expr,
    tz: &Zone,
) -> Result<(Option<usize>, Cell), TaosError> {
    if column == "tbname" {
        return match e {
            Expr::Str(s) => Ok((None, Cell::Str(s.clone()))),
            _ => Err(TaosError::bad_value("tbname compares with a string")),
        };
    }
    let i = column_of(source, column)?;
    let def = ColDef::new(column, source.columns[i].ty, u32::MAX);
    Ok((
        Some(i),
        crate::convert::cell(e, &def, source.precision, tz)?,
    ))
}

/// The index of a column a predicate names (`_c0`/`_rowts`: the timestamp).
fn column_of(source: &Source, column: &str) -> Result<usize, TaosError> {
    if column == "_c0" || column == "_rowts" {
        return Ok(0);
    }
    source
        .columns
        .iter()
        .position(|c| c.name == column)
        .ok_or_else(|| TaosError::invalid_column(column))
}

fn compare(x: &Cell, op: &str, v: &Cell) -> bool {
    if matches!(x, Cell::Null) {
        return false;
    }
    let o = x.cmp_same(v);
    match op {
        "=" => o.is_eq(),
        "!=" => o.is_ne(),
        "<" => o.is_lt(),
        "<=" => o.is_le(),
        ">" => o.is_gt(),
        ">=" => o.is_ge(),
        _ => false,
    }
}

fn project(
    source: &Source,
    rows: Vec<(String, Vec<Cell>)>,
    s: &Select,
) -> Result<QueryResult, TaosError> {
    let aggregate = s
        .items
        .iter()
        .any(|i| matches!(i, SelItem::Count | SelItem::First(_) | SelItem::Last(_)));
    let column_index = |name: &str| -> Result<usize, TaosError> {
        if name == "_c0" || name == "_rowts" {
            return Ok(0);
        }
        source
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| TaosError::invalid_column(name))
    };
    let mut columns = Vec::new();
    for item in &s.items {
        match item {
            SelItem::Star => columns.extend(source.columns.iter().cloned()),
            SelItem::Column(c) if c == "tbname" => {
                columns.push(col("tbname", ColType::VarChar, 192))
            }
            SelItem::Column(c) => columns.push(source.columns[column_index(c)?].clone()),
            SelItem::Count => columns.push(col("count(*)", ColType::BigInt, 8)),
            SelItem::First(c) => {
                let base = &source.columns[column_index(c)?];
                columns.push(Column {
                    name: format!("first({c})"),
                    ..base.clone()
                });
            }
            SelItem::Last(c) => {
                let base = &source.columns[column_index(c)?];
                columns.push(Column {
                    name: format!("last({c})"),
                    ..base.clone()
                });
            }
            _ => return Err(TaosError::unsupported("function in a table query")),
        }
    }
    let mut rs = ResultSet::new(columns, source.precision);
    let row_of =
        |tb: &str, r: &[Cell], group: &[&(String, Vec<Cell>)]| -> Result<Vec<Cell>, TaosError> {
            let mut out = Vec::new();
            for item in &s.items {
                match item {
                    SelItem::Star => out.extend(r.iter().cloned()),
                    SelItem::Column(c) if c == "tbname" => out.push(Cell::Str(tb.to_string())),
                    SelItem::Column(c) => out.push(r[column_index(c)?].clone()),
                    SelItem::Count => out.push(Cell::Int(group.len() as i64)),
                    SelItem::First(c) => {
                        let i = column_index(c)?;
                        out.push(
                            group
                                .iter()
                                .map(|g| &g.1[i])
                                .find(|v| **v != Cell::Null)
                                .cloned()
                                .unwrap_or(Cell::Null),
                        );
                    }
                    SelItem::Last(c) => {
                        let i = column_index(c)?;
                        out.push(
                            group
                                .iter()
                                .rev()
                                .map(|g| &g.1[i])
                                .find(|v| **v != Cell::Null)
                                .cloned()
                                .unwrap_or(Cell::Null),
                        );
                    }
                    _ => {}
                }
            }
            Ok(out)
        };
    if aggregate {
        let by_table = s
            .items
            .iter()
            .any(|i| matches!(i, SelItem::Column(c) if c == "tbname"));
        let mut groups: Vec<(String, Vec<&Row>)> = Vec::new();
        if by_table {
            let mut map: std::collections::BTreeMap<&str, Vec<&(String, Vec<Cell>)>> =
                Default::default();
            for r in &rows {
                map.entry(r.0.as_str()).or_default().push(r);
            }
            groups = map.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        } else if !rows.is_empty() || s.items.iter().all(|i| matches!(i, SelItem::Count)) {
            groups.push((String::new(), rows.iter().collect()));
        }
        for (tb, g) in groups {
            let empty = Vec::new();
            let first = g.first().map(|r| &r.1).unwrap_or(&empty);
            let first = if first.is_empty() {
                vec![Cell::Null; source.columns.len()]
            } else {
                first.clone()
            };
            rs.rows.push(row_of(&tb, &first, &g)?);
        }
    } else {
        let skip = s.offset as usize;
        let take = s.limit.map(|l| l as usize).unwrap_or(usize::MAX);
        for (tb, r) in rows.iter().skip(skip).take(take) {
            rs.rows.push(row_of(tb, r, &[])?);
        }
    }
    Ok(QueryResult::Rows(rs))
}

fn text(s: &str) -> Cell {
    Cell::Str(s.to_string())
}

/// information_schema's views, with TDengine 3's column names.
fn info_schema(store: &Store, view: &str) -> Result<Source, TaosError> {
    let columns;
    let mut rows = Vec::new();
    match view {
        "ins_databases" => {
            columns = vec![
                col("name", ColType::VarChar, 64),
                col("create_time", ColType::Timestamp, 8),
                col("vgroups", ColType::SmallInt, 2),
                col("ntables", ColType::BigInt, 8),
                col("replica", ColType::TinyInt, 1),
                col("duration", ColType::VarChar, 10),
                col("keep", ColType::VarChar, 32),
                col("precision", ColType::VarChar, 2),
                col("status", ColType::VarChar, 10),
                col("wal_retention_period", ColType::Int, 4),
                col("wal_retention_size", ColType::BigInt, 8),
            ];
            for sys in ["information_schema", "performance_schema"] {
                rows.push((
                    String::new(),
                    vec![
                        text(sys),
                        Cell::Null,
                        Cell::Int(0),
                        Cell::Int(0),
                        Cell::Int(1),
                        Cell::Null,
                        Cell::Null,
                        text("ms"),
                        text("ready"),
                        Cell::Int(0),
                        Cell::Int(0),
                    ],
                ));
            }
            for db in store.databases.values() {
                rows.push((
                    String::new(),
                    vec![
                        text(&db.name),
                        Cell::Int(db.create_time_ms),
                        Cell::Int(db.vgroups.len() as i64),
                        Cell::Int(db.tables.len() as i64),
                        Cell::Int(1),
                        text(&db.duration),
                        text(&db.keep),
                        text(db.precision.name()),
                        text("ready"),
                        Cell::Int(db.wal_retention_period),
                        Cell::Int(-1),
                    ],
                ));
            }
        }
        "ins_stables" => {
            columns = vec![
                col("stable_name", ColType::VarChar, 192),
                col("db_name", ColType::VarChar, 64),
                col("create_time", ColType::Timestamp, 8),
                col("columns", ColType::Int, 4),
                col("tags", ColType::Int, 4),
            ];
            for db in store.databases.values() {
                for st in db.stables.values() {
                    rows.push((
                        String::new(),
                        vec![
                            text(&st.name),
                            text(&db.name),
                            Cell::Int(st.create_time_ms),
                            Cell::Int(st.columns.len() as i64),
                            Cell::Int(st.tags.len() as i64),
                        ],
                    ));
                }
            }
        }
        "ins_tables" => {
            columns = vec![
                col("table_name", ColType::VarChar, 192),
                col("db_name", ColType::VarChar, 64),
                col("create_time", ColType::Timestamp, 8),
                col("columns", ColType::Int, 4),
                col("stable_name", ColType::VarChar, 192),
                col("uid", ColType::BigInt, 8),
                col("vgroup_id", ColType::Int, 4),
                col("ttl", ColType::Int, 4),
                col("table_comment", ColType::VarChar, 1024),
                col("type", ColType::VarChar, 21),
            ];
            for db in store.databases.values() {
                for t in db.tables.values() {
                    let (stable, kind) = match &t.stable {
                        Some(s) => (text(s), "CHILD_TABLE"),
                        None => (Cell::Null, "NORMAL_TABLE"),
                    };
                    rows.push((
                        String::new(),
                        vec![
                            text(&t.name),
                            text(&db.name),
                            Cell::Int(t.create_time_ms),
                            Cell::Int(db.columns_of(t).len() as i64),
                            stable,
                            Cell::Int(t.uid),
                            Cell::Int(t.vgroup as i64),
                            Cell::Int(0),
                            Cell::Null,
                            text(kind),
                        ],
                    ));
                }
            }
        }
        "ins_vgroups" => {
            columns = vec![
                col("vgroup_id", ColType::Int, 4),
                col("db_name", ColType::VarChar, 32),
                col("tables", ColType::Int, 4),
                col("status", ColType::VarChar, 12),
            ];
            for db in store.databases.values() {
                for vg in &db.vgroups {
                    let n = db.tables.values().filter(|t| t.vgroup == *vg).count();
                    rows.push((
                        String::new(),
                        vec![
                            Cell::Int(*vg as i64),
                            text(&db.name),
                            Cell::Int(n as i64),
                            text("ready"),
                        ],
                    ));
                }
            }
        }
        "ins_tags" => {
            columns = vec![
                col("table_name", ColType::VarChar, 192),
                col("db_name", ColType::VarChar, 64),
                col("stable_name", ColType::VarChar, 192),
                col("tag_name", ColType::VarChar, 64),
                col("tag_type", ColType::VarChar, 64),
                col("tag_value", ColType::VarChar, 16384),
            ];
            for db in store.databases.values() {
                for t in db.tables.values() {
                    let Some(st) = t.stable.as_ref().and_then(|s| db.stables.get(s)) else {
                        continue;
                    };
                    for (d, v) in st.tags.iter().zip(&t.tags) {
                        let value = match v {
                            Cell::Null => Cell::Null,
                            Cell::Str(s) => text(s),
                            other => text(&crate::ddl_value_text(other)),
                        };
                        rows.push((
                            String::new(),
                            vec![
                                text(&t.name),
                                text(&db.name),
                                text(&st.name),
                                text(&d.name),
                                text(d.ty.sql_name()),
                                value,
                            ],
                        ));
                    }
                }
            }
        }
        "ins_topics" => {
            columns = vec![
                col("topic_name", ColType::VarChar, 192),
                col("db_name", ColType::VarChar, 64),
                col("create_time", ColType::Timestamp, 8),
                col("sql", ColType::VarChar, 1024),
            ];
            for t in store.topics.values() {
                let sql = if t.sql.is_empty() {
                    // Topics from snapshots written before the statement was kept.
                    let meta = if t.with_meta { " with meta" } else { "" };
                    match &t.stable {
                        Some(s) => format!("create topic {}{meta} as stable {}.{s}", t.name, t.db),
                        None => format!("create topic {}{meta} as database {}", t.name, t.db),
                    }
                } else {
                    t.sql.clone()
                };
                rows.push((
                    String::new(),
                    vec![
                        text(&t.name),
                        text(&t.db),
                        Cell::Int(t.create_time_ms),
                        text(&sql),
                    ],
                ));
            }
        }
        "ins_columns" => {
            // information_schema.ins_columns (TDengine 3.3 docs 50-meta.md): one row per
            // column of every super, child and normal table.
            columns = vec![
                col("table_name", ColType::VarChar, 192),
                col("db_name", ColType::VarChar, 64),
                col("table_type", ColType::VarChar, 21),
                col("col_name", ColType::VarChar, 64),
                col("col_type", ColType::VarChar, 32),
                col("col_length", ColType::Int, 4),
                col("col_precision", ColType::TinyInt, 1),
                col("col_scale", ColType::TinyInt, 1),
                col("col_nullable", ColType::TinyInt, 1),
            ];
            for db in store.databases.values() {
                let stables = db
                    .stables
                    .values()
                    .map(|st| (&st.name, "SUPER_TABLE", &st.columns));
                let tables = db.tables.values().map(|t| {
                    let kind = if t.stable.is_some() {
                        "CHILD_TABLE"
                    } else {
                        "NORMAL_TABLE"
                    };
                    let cols = match t.stable.as_ref().and_then(|s| db.stables.get(s)) {
                        Some(st) => &st.columns,
                        None => &t.columns,
                    };
                    (&t.name, kind, cols)
                });
                for (name, kind, cols) in stables.chain(tables) {
                    for c in cols {
                        let (precision, scale) = match c.ty {
                            ColType::Decimal { precision, scale } => (precision, scale),
                            _ => (0, 0),
                        };
                        rows.push((
                            String::new(),
                            vec![
                                text(name),
                                text(&db.name),
                                text(kind),
                                text(&c.name),
                                text(&c.type_sql()),
                                Cell::Int(i64::from(c.len)),
                                Cell::Int(i64::from(precision)),
                                Cell::Int(i64::from(scale)),
                                Cell::Int(i64::from(!c.primary_key && c.ty != ColType::Timestamp)),
                            ],
                        ));
                    }
                }
            }
        }
        "ins_dnodes" => {
            // One dnode, as SHOW DNODES lists it (docs 50-meta.md, ins_dnodes).
            columns = vec![
                col("id", ColType::SmallInt, 2),
                col("endpoint", ColType::VarChar, 134),
                col("vnodes", ColType::SmallInt, 2),
                col("support_vnodes", ColType::SmallInt, 2),
                col("status", ColType::VarChar, 10),
                col("create_time", ColType::Timestamp, 8),
                col("reboot_time", ColType::Timestamp, 8),
                col("note", ColType::VarChar, 256),
            ];
            let vnodes: usize = store.databases.values().map(|d| d.vgroups.len()).sum();
            rows.push((
                String::new(),
                vec![
                    Cell::Int(1),
                    text("localhost:6030"),
                    Cell::Int(vnodes as i64),
                    Cell::Int(1024),
                    text("ready"),
                    Cell::Int(0),
                    Cell::Int(0),
                    text(""),
                ],
            ));
        }
        other => return Err(TaosError::table_not_exist(other)),
    }
    Ok(Source {
        columns,
        precision: Precision::Millis,
        rows,
        ts_col: None,
    })
}

pub fn show(
    store: &Store,
    session_db: Option<&str>,
    show: &Show,
) -> Result<QueryResult, TaosError> {
    let pick = |view: &str,
                keep: &[&str],
                db: Option<&str>,
                db_col: &str|
     -> Result<QueryResult, TaosError> {
        let src = info_schema(store, view)?;
        let idx: Vec<usize> = keep
            .iter()
            .filter_map(|k| src.columns.iter().position(|c| c.name == *k))
            .collect();
        let db_idx = src.columns.iter().position(|c| c.name == db_col);
        let mut rs = ResultSet::new(
            idx.iter().map(|i| src.columns[*i].clone()).collect(),
            Precision::Millis,
        );
        for (_, r) in &src.rows {
            if let (Some(db), Some(di)) = (db, db_idx) {
                if r[di] != Cell::Str(db.to_string()) {
                    continue;
                }
            }
            rs.rows.push(idx.iter().map(|i| r[*i].clone()).collect());
        }
        Ok(QueryResult::Rows(rs))
    };
    let need_db = |db: &Option<String>| -> Result<String, TaosError> {
        let name = db
            .clone()
            .or_else(|| session_db.map(str::to_string))
            .ok_or_else(TaosError::no_db)?;
        store.db(&name)?;
        Ok(name)
    };
    match show {
        Show::Databases => pick(
            "ins_databases",
            &[
                "name",
                "create_time",
                "vgroups",
                "ntables",
                "precision",
                "status",
            ],
            None,
            "",
        ),
        Show::STables(db) => pick(
            "ins_stables",
            &["stable_name"],
            Some(&need_db(db)?),
            "db_name",
        ),
        Show::Tables(db, kind) => show_tables(store, &need_db(db)?, *kind),
        Show::VGroups(db) => pick(
            "ins_vgroups",
            &["vgroup_id", "db_name", "tables", "status"],
            Some(&need_db(db)?),
            "db_name",
        ),
        Show::Topics => pick("ins_topics", &["topic_name"], None, ""),
        Show::Dnodes => {
            let src = info_schema(store, "ins_dnodes")?;
            let mut rs = ResultSet::new(src.columns, Precision::Millis);
            rs.rows = src.rows.into_iter().map(|(_, r)| r).collect();
            Ok(QueryResult::Rows(rs))
        }
        Show::Consumers => Err(TaosError::unsupported(
            "SHOW CONSUMERS outside the engine (Engine::execute answers it)",
        )),
        Show::CreateDatabase(name) => {
            let db = store.db(name)?;
            two_text(
                "Database",
                "Create Database",
                &db.name,
                &create_database_sql(db),
            )
        }
        Show::CreateSTable(name) | Show::CreateTable(name) => {
            let db = store.db(&need_db(&name.db)?)?;
            let sql = create_sql(db, &name.name)?;
            two_text("Table", "Create Table", &name.name, &sql)
        }
    }
}

/// SHOW [NORMAL|CHILD] [db.]TABLES: the names, filtered by kind (TDengine 3.3 sql.y
/// `table_kind_db_name_cond_opt`).
fn show_tables(store: &Store, db: &str, kind: TableKind) -> Result<QueryResult, TaosError> {
    let d = store.db(db)?;
    let mut rs = ResultSet::new(
        vec![col("table_name", ColType::VarChar, 192)],
        Precision::Millis,
    );
    for t in d.tables.values() {
        let keep = match kind {
            TableKind::Any => true,
            TableKind::Normal => t.stable.is_none(),
            TableKind::Child => t.stable.is_some(),
        };
        if keep {
            rs.rows.push(vec![text(&t.name)]);
        }
    }
    Ok(QueryResult::Rows(rs))
}

/// SHOW CREATE DATABASE's statement, every option in the order and form of TDengine's
/// `setCreateDBResultIntoDataBlock` (source/libs/command/src/command.c); options the
/// stand-in does not keep show TDengine 3.3's defaults.
fn create_database_sql(db: &Database) -> String {
    let duration = duration_text(&db.duration);
    let keep = duration_text(&db.keep);
    format!(
        "CREATE DATABASE `{}` BUFFER 256 CACHESIZE 1 CACHEMODEL 'none' COMP 2 DURATION {duration} \
         WAL_FSYNC_PERIOD 3000 MAXROWS 4096 MINROWS 100 STT_TRIGGER 2 KEEP {keep},{keep},{keep} PAGES 256 PAGESIZE 4 \
         PRECISION '{}' REPLICA 1 WAL_LEVEL 1 VGROUPS {} SINGLE_STABLE 0 TABLE_PREFIX 0 TABLE_SUFFIX 0 TSDB_PAGESIZE 4 \
         WAL_RETENTION_PERIOD {} WAL_RETENTION_SIZE -1 KEEP_TIME_OFFSET 0 ENCRYPT_ALGORITHM 'none' \
         S3_CHUNKSIZE 131072 S3_KEEPLOCAL 525600m S3_COMPACT 1",
        db.name,
        db.precision.name(),
        db.vgroups.len(),
        db.wal_retention_period
    )
}

/// A DURATION/KEEP as `formatDurationOrKeep` prints it: whole days as `Nd`, whole hours as
/// `Nh`, else minutes. A bare number is days (TDengine docs 02-database.md).
fn duration_text(text: &str) -> String {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let Ok(n) = n.parse::<i64>() else {
        return t.to_string();
    };
    let minutes = match unit {
        "" | "d" => n * 1440,
        "h" => n * 60,
        "m" => n,
        _ => return t.to_string(),
    };
    if minutes % 1440 == 0 {
        format!("{}d", minutes / 1440)
    } else if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

/// SHOW CONSUMERS: one row per consumer and topic, with information_schema.ins_consumers'
/// columns (TDengine 3.3 docs 50-meta.md); what the stand-in does not track is left at
/// its zero value.
pub fn show_consumers(members: &[(crate::tmq::ConsumerId, String, Vec<String>)]) -> QueryResult {
    let mut rs = ResultSet::new(
        vec![
            col("consumer_id", ColType::VarChar, 32),
            col("consumer_group", ColType::VarChar, 192),
            col("client_id", ColType::VarChar, 255),
            col("user", ColType::VarChar, 24),
            col("fqdn", ColType::VarChar, 128),
            col("status", ColType::VarChar, 20),
            col("topics", ColType::VarChar, 192),
            col("up_time", ColType::Timestamp, 8),
            col("subscribe_time", ColType::Timestamp, 8),
            col("rebalance_time", ColType::Timestamp, 8),
            col("parameters", ColType::VarChar, 64),
        ],
        Precision::Millis,
    );
    for (id, group, topics) in members {
        for t in topics {
            rs.rows.push(vec![
                text(&format!("0x{:x}", id.0)),
                text(group),
                text(""),
                text("root"),
                text("localhost"),
                text("ready"),
                text(t),
                Cell::Int(0),
                Cell::Int(0),
                Cell::Int(0),
                text(""),
            ]);
        }
    }
    QueryResult::Rows(rs)
}

fn two_text(a: &str, b: &str, x: &str, y: &str) -> Result<QueryResult, TaosError> {
    let mut rs = ResultSet::new(
        vec![
            col(a, ColType::VarChar, 192),
            col(b, ColType::VarChar, 65536),
        ],
        Precision::Millis,
    );
    rs.rows.push(vec![text(x), text(y)]);
    Ok(QueryResult::Rows(rs))
}

/// SHOW CREATE's statement for a super, child or normal table.
pub fn create_sql(db: &Database, name: &str) -> Result<String, TaosError> {
    let cols = |c: &[ColDef]| c.iter().map(ColDef::sql).collect::<Vec<_>>().join(", ");
    if let Some(st) = db.stables.get(name) {
        return Ok(format!(
            "CREATE STABLE `{}` ({}) TAGS ({})",
            name,
            cols(&st.columns),
            cols(&st.tags)
        ));
    }
    let t = db
        .tables
        .get(name)
        .ok_or_else(|| TaosError::table_not_exist(name))?;
    match &t.stable {
        None => Ok(format!("CREATE TABLE `{}` ({})", name, cols(&t.columns))),
        Some(s) => {
            let st = db.stables.get(s).ok_or_else(TaosError::stable_not_exist)?;
            let names: Vec<String> = st.tags.iter().map(|t| format!("`{}`", t.name)).collect();
            let values: Vec<String> = t.tags.iter().map(sql_literal).collect();
            Ok(format!(
                "CREATE TABLE `{}` USING `{}` ({}) TAGS ({})",
                name,
                s,
                names.join(","),
                values.join(",")
            ))
        }
    }
}

fn sql_literal(c: &Cell) -> String {
    match c {
        Cell::Null => "NULL".into(),
        Cell::Str(s) => format!("\"{}\"", s.replace('"', "\\\"")),
        Cell::Bytes(b) => format!(
            "\"\\x{}\"",
            b.iter().map(|x| format!("{x:02X}")).collect::<String>()
        ),
        other => crate::ddl_value_text(other),
    }
}

pub fn describe(
    store: &Store,
    session_db: Option<&str>,
    name: &Name,
) -> Result<QueryResult, TaosError> {
    let db = store.db(name
        .db
        .as_deref()
        .or(session_db)
        .ok_or_else(TaosError::no_db)?)?;
    let (cols, tags) = if let Some(st) = db.stables.get(&name.name) {
        (st.columns.clone(), st.tags.clone())
    } else {
        let t = db
            .tables
            .get(&name.name)
            .ok_or_else(|| TaosError::table_not_exist(&name.name))?;
        let tags = t
            .stable
            .as_ref()
            .and_then(|s| db.stables.get(s))
            .map(|s| s.tags.clone())
            .unwrap_or_default();
        (db.columns_of(t), tags)
    };
    let mut rs = ResultSet::new(
        vec![
            col("field", ColType::VarChar, 64),
            col("type", ColType::VarChar, 32),
            col("length", ColType::Int, 4),
            col("note", ColType::VarChar, 8),
        ],
        Precision::Millis,
    );
    for (c, note) in cols
        .iter()
        .map(|c| (c, ""))
        .chain(tags.iter().map(|c| (c, "TAG")))
    {
        let ty = match c.ty {
            ColType::Decimal { .. } => c.type_sql(),
            other => other.sql_name().to_string(),
        };
        rs.rows.push(vec![
            text(&c.name),
            text(&ty),
            Cell::Int(c.len as i64),
            text(note),
        ]);
    }
    let _ = now_ms;
    Ok(QueryResult::Rows(rs))
}
