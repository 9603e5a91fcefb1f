//! Phase 2: the statements that recreate what the backup covers (`SHOW CREATE` and
//! `DESCRIBE`), read from the server; an incremental also reads whole the tables that lost a
//! column since its parent chain.

use std::collections::BTreeSet;
use std::sync::Arc;

use tdibt_core::Catalog;
use tdibt_repository::{DdlEntry, DdlKind};
use tdibt_tdengine::export;
use tdibt_tdengine::Connection;
use tracing::info;

use super::Started;
use crate::error::BackupResult;
use crate::pool::{ConnectionTask, Connections, Pool};

/// What the DDL phase found: the statements and the server's version.
pub struct Recorded {
    pub ddl: Vec<DdlEntry>,
    pub server_version: String,
}

/// Reads the statements the backup records (see [`gather_ddl`]) on `jobs` connections.
pub async fn record_ddl(
    connections: &Connections,
    started: &mut Started,
    jobs: usize,
) -> BackupResult<Recorded> {
    let previous = crate::ddl::merge_ddl(&started.parent_chain);
    // The server's version on a connection of its own, beside the statements: one round
    // trip fewer before the rows.
    let version = async {
        let conn = connections.take().await?;
        let version = conn.server_version().await?;
        connections.give_back(conn);
        Ok::<_, crate::BackupError>(version)
    };
    let statements = gather_ddl(
        connections,
        &started.catalog,
        &started.db,
        &previous,
        started.full,
        jobs,
    );
    let (server_version, ddl) = tokio::join!(version, statements);
    let (server_version, ddl) = (server_version?, ddl?);
    if !started.full {
        let whole = tables_that_lost_columns(&started.catalog, &started.db, &previous, &ddl);
        started.plan.read_whole(&whole);
    }
    Ok(Recorded {
        ddl,
        server_version,
    })
}

/// The statements that recreate what the backup covers, each with its schema
/// (`DESCRIBE`): the database, its live super tables, and the tables a restore of this
/// backup needs a statement for that its chain does not have: every table for a full; for
/// an incremental (`previous`: its parent chain's merged DDL) the tables new to the chain or altered (which includes created again
/// after a drop: see the catalog), and the children of super tables whose tags changed
/// (their statements name the tags). Run on `jobs` connections: a full backup of many
/// tables asks for many statements. A table with a column the connector cannot read is
/// refused here, before any row is read.
async fn gather_ddl(
    connections: &Connections,
    catalog: &Catalog,
    db: &str,
    previous: &[DdlEntry],
    full: bool,
    jobs: usize,
) -> BackupResult<Vec<DdlEntry>> {
    let chain_tables: BTreeSet<&str> = previous
        .iter()
        .filter(|d| d.kind == DdlKind::Table)
        .map(|d| d.name.as_str())
        .collect();
    let mut wanted = vec![(DdlKind::Database, db.to_string(), None)];
    if let Some(entry) = catalog.database(db) {
        wanted.extend(
            entry
                .super_tables
                .iter()
                .filter(|(_, st)| !st.dropped)
                .map(|(name, _)| (DdlKind::SuperTable, name.clone(), None)),
        );
    }
    let live = || catalog.tables().filter(|t| t.database == db && !t.dropped);
    for t in live() {
        if full || !chain_tables.contains(t.name.as_str()) || t.last_alter.is_some() {
            wanted.push((DdlKind::Table, t.name.clone(), t.super_table.clone()));
        }
    }
    let mut out = show_create_all(connections, db, wanted, jobs).await?;
    if !full {
        let changed = crate::schema::tags_changed(previous, &out);
        let have: BTreeSet<String> = out.iter().map(|d| d.name.clone()).collect();
        let more: Vec<_> = live()
            .filter(|t| !have.contains(&t.name))
            .filter(|t| t.super_table.as_ref().is_some_and(|s| changed.contains(s)))
            .map(|t| (DdlKind::Table, t.name.clone(), t.super_table.clone()))
            .collect();
        if !more.is_empty() {
            out.extend(show_create_all(connections, db, more, jobs).await?);
        }
    }
    crate::schema::refuse_unreadable(&out)?;
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(out)
}

/// The live tables an incremental reads whole because they (or their super table) lost a
/// column since the parent chain: see [`crate::schema::lost_columns`].
fn tables_that_lost_columns(
    catalog: &Catalog,
    db: &str,
    previous: &[DdlEntry],
    ddl: &[DdlEntry],
) -> BTreeSet<String> {
    let mut whole = BTreeSet::new();
    for (kind, name, lost) in crate::schema::lost_columns(previous, ddl) {
        info!(
            "{name:?} no longer has column(s) {lost:?} (dropped, or renamed: tdibt cannot tell): \
             it is read whole so this backup holds every row under the current column names"
        );
        if kind == DdlKind::SuperTable {
            whole.extend(
                catalog
                    .tables()
                    .filter(|t| t.database == db && !t.dropped)
                    .filter(|t| t.super_table.as_deref() == Some(name.as_str()))
                    .map(|t| t.name.clone()),
            );
        } else if kind == DdlKind::Table {
            whole.insert(name);
        }
    }
    whole
}

async fn show_create_all(
    connections: &Connections,
    db: &str,
    wanted: Vec<(DdlKind, String, Option<String>)>,
    jobs: usize,
) -> BackupResult<Vec<DdlEntry>> {
    let task = Arc::new(ShowCreate { db: db.to_string() });
    let mut pool = Pool::start(task, connections, wanted, jobs);
    let mut out = Vec::new();
    while let Some(result) = pool.next().await {
        match result {
            Ok(entry) => out.push(entry),
            Err(e) => {
                pool.stop().await;
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// `SHOW CREATE ...` and `DESCRIBE` of one database, super table or table (with the super
/// table of a child).
struct ShowCreate {
    db: String,
}

impl ConnectionTask for ShowCreate {
    type Job = (DdlKind, String, Option<String>);
    type Out = DdlEntry;

    async fn run(
        &self,
        conn: &Connection,
        (kind, name, super_table): (DdlKind, String, Option<String>),
    ) -> BackupResult<DdlEntry> {
        let what = match kind {
            DdlKind::Database => export::DdlKind::Database,
            DdlKind::SuperTable => export::DdlKind::SuperTable,
            DdlKind::Table => export::DdlKind::Table,
        };
        let sql = export::show_create(conn, what, &self.db, &name).await?;
        let schema = match kind {
            DdlKind::Database => None,
            _ => {
                Some(crate::schema::describe(conn, &self.db, &name, super_table.as_deref()).await?)
            }
        };
        Ok(DdlEntry {
            kind,
            name,
            sql,
            schema,
        })
    }
}
