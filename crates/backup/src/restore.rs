//! `tdibt restore`: a backup's chain, merged, into a database.
//!
//! 1. The chain from its full backup is loaded, every link checked, and merged: per
//!    (table, window) the newest stored block, tombstones applied.
//! 2. The database, its super tables and its tables are created from the recorded DDL
//!    (`IF NOT EXISTS`, the database renamed to the target).
//! 3. Table by table, in parallel: a table that existed in the target before is dropped and
//!    created again from the backup's statement (so its tags, and its rows, end up exactly
//!    as backed up, not a mix); then every window's stored blocks are brought to the
//!    backup's schema by column name (see `schema`) and written with `write_raw_block`.
//! 4. The restore proves itself: every window it wrote is read back and compared with the
//!    backup, rows and a digest of their values (the comparison `verify --against` makes);
//!    any difference is reported (the CLI exits 7).
//!
//! A target database whose precision is not the backup's is refused: its timestamps would
//! mean other instants.
//!
//! Every step can be repeated: a restore that was interrupted is simply run again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tdibt_core::Precision;
use tdibt_repository::{BackupId, BlockEntry, DdlKind, Repository};
use tdibt_tdengine::discovery::{self, quote_ident};
use tdibt_tdengine::reshape::TargetColumn;
use tdibt_tdengine::{export, Connection, ConnectionSettings, TdError};
use tracing::{info, warn};

use crate::ddl::{for_target, merge_ddl};
use crate::error::{BackupError, BackupResult};
use crate::pool::{ConnectionTask, Connections, Pool};
use crate::progress::{Progress, ProgressSink};
use crate::schema::conform;
use crate::stored::{manifest_precision, read_window};
use crate::verify::{compare, Against, Difference, Scope};

#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub backup: BackupId,
    /// The database to restore into; the backed-up database's own name when `None`.
    pub target_db: Option<String>,
    /// Tables restored at once, each worker on its own connection.
    pub jobs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RestoreReport {
    pub backup: BackupId,
    /// The backups whose blocks were merged, full first.
    pub chain: Vec<BackupId>,
    pub source_db: String,
    pub target_db: String,
    pub tables: u64,
    pub blocks: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Tables that were in the target before and were replaced.
    pub tables_replaced: u64,
    /// Tables of the target database the backup does not have (left as they are).
    pub tables_not_in_backup: Vec<String>,
    /// The end-of-restore check: windows where the restored database differs from the
    /// backup (rows or values).
    pub differences: Vec<Difference>,
    /// Windows and rows that check compared.
    pub windows_checked: u64,
    pub rows_checked: u64,
    pub seconds: f64,
}

impl RestoreReport {
    pub fn is_ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// One table's share of the restore.
struct TableJob {
    name: String,
    /// The table exists in the target: drop it and run this statement.
    replace: Option<String>,
    windows: Vec<BlockEntry>,
}

struct TableDone {
    blocks: u64,
    rows: u64,
    bytes: u64,
}

/// Restores `options.backup` to the server `settings` points at.
pub async fn run_restore(
    repo: &Repository,
    settings: &ConnectionSettings,
    options: &RestoreOptions,
    progress: &dyn ProgressSink,
) -> BackupResult<RestoreReport> {
    let started = Instant::now();
    let chain = repo.chain(&options.backup)?;
    crate::stored::refuse_other_engine(&chain, "restored by tdibt's own path")?;
    let view = tdibt_repository::merge_chain(&chain);
    let ddl = merge_ddl(&chain);
    let newest = chain.last().ok_or_else(|| {
        BackupError::Refused(format!("backup {} has an empty chain", options.backup))
    })?;
    let precision = manifest_precision(newest)?;
    let source_db = newest.database.clone();
    let target_db = options
        .target_db
        .clone()
        .unwrap_or_else(|| source_db.clone());
    info!(
        "restoring backup {} ({} backup(s) in its chain, {} block(s)) into database {target_db}",
        options.backup,
        chain.len(),
        view.len()
    );

    let conn = Connection::open(settings).await?;
    refuse_other_precision(&conn, &target_db, precision, &options.backup).await?;
    let targets = Arc::new(crate::schema::targets(&ddl)?);
    let existing: BTreeSet<String> = match discovery::tables(&conn, &target_db).await {
        Ok(t) => t.into_iter().map(|t| t.name).collect(),
        Err(TdError::MissingDatabase(_)) => BTreeSet::new(),
        Err(e) => return Err(e.into()),
    };
    let mut tables: BTreeMap<String, Vec<BlockEntry>> = BTreeMap::new();
    let mut replace = BTreeMap::new();
    apply_ddl(
        &conn,
        &ddl,
        &target_db,
        &existing,
        &mut tables,
        &mut replace,
    )
    .await?;
    for ((table, _), entry) in view {
        tables.entry(table).or_default().push(entry);
    }
    let tables_not_in_backup: Vec<String> = existing
        .iter()
        .filter(|t| !tables.contains_key(*t))
        .cloned()
        .collect();
    if !tables_not_in_backup.is_empty() {
        warn!(
            "{} table(s) of {target_db} are not in the backup and are left as they are",
            tables_not_in_backup.len()
        );
    }

    let total_blocks: u64 = tables.values().map(|w| w.len() as u64).sum();
    let table_count = tables.len() as u64;
    let tables_replaced = replace.len() as u64;
    let jobs: Vec<TableJob> = tables
        .into_iter()
        .map(|(name, windows)| TableJob {
            replace: replace.remove(&name),
            name,
            windows,
        })
        .collect();
    let task = Arc::new(Writer {
        repo: repo.clone(),
        target_db: target_db.clone(),
        precision,
        targets,
    });
    let connections = Connections::fresh(settings.clone());
    let mut pool = Pool::start(task, &connections, jobs, options.jobs);

    let mut report = RestoreReport {
        backup: options.backup.clone(),
        chain: chain.iter().map(|m| m.id.clone()).collect(),
        source_db,
        target_db,
        tables: table_count,
        blocks: 0,
        rows: 0,
        bytes: 0,
        tables_replaced,
        tables_not_in_backup,
        differences: Vec::new(),
        windows_checked: 0,
        rows_checked: 0,
        seconds: 0.0,
    };
    while let Some(done) = pool.next().await {
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                pool.stop().await;
                return Err(e);
            }
        };
        report.blocks += done.blocks;
        report.rows += done.rows;
        report.bytes += done.bytes;
        progress.update(
            "restore",
            Progress {
                done: report.blocks,
                total: total_blocks,
                rows: report.rows,
                bytes: report.bytes,
            },
        );
    }
    progress.finish("restore");
    let check = compare(
        repo,
        &Against {
            settings: settings.clone(),
            backup: options.backup.clone(),
            database: Some(report.target_db.clone()),
            jobs: options.jobs,
        },
        Scope::BackupTables,
        progress,
    )
    .await?;
    report.windows_checked = check.windows_compared;
    report.rows_checked = check.rows_compared;
    report.differences = check.differences;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Refuses a target database that exists with another precision than the backup's.
async fn refuse_other_precision(
    conn: &Connection,
    target_db: &str,
    precision: Precision,
    backup: &BackupId,
) -> BackupResult<()> {
    match discovery::database_info(conn, target_db).await {
        Ok(info) if info.precision != precision => Err(BackupError::Refused(format!(
            "database {target_db} exists with precision {}, backup {backup} was taken with \
             precision {precision}: its timestamps would mean other instants; restore into \
             a new database (--target-db) or drop {target_db} first",
            info.precision
        ))),
        Ok(_) | Err(TdError::MissingDatabase(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates the database, super tables and the tables not in the target yet (`ddl` comes
/// from [`merge_ddl`]: database first, then super tables, then tables); every table the DDL
/// names gets an entry in `tables` (tables without rows in the backup included), and those
/// that exist already their statement in `replace`.
async fn apply_ddl(
    conn: &Connection,
    ddl: &[tdibt_repository::DdlEntry],
    target_db: &str,
    existing: &BTreeSet<String>,
    tables: &mut BTreeMap<String, Vec<BlockEntry>>,
    replace: &mut BTreeMap<String, String>,
) -> BackupResult<()> {
    if ddl.first().map(|d| d.kind) != Some(DdlKind::Database) {
        return Err(BackupError::Refused(
            "the backup records no CREATE DATABASE statement".into(),
        ));
    }
    for entry in ddl {
        let sql = for_target(entry, target_db).ok_or_else(|| {
            BackupError::Refused(format!(
                "the recorded statement for {} is not a CREATE statement: {}",
                entry.name, entry.sql
            ))
        })?;
        if entry.kind == DdlKind::Table {
            tables.entry(entry.name.clone()).or_default();
            if existing.contains(&entry.name) {
                replace.insert(entry.name.clone(), sql);
                continue;
            }
        }
        conn.exec(&sql).await?;
        if entry.kind == DdlKind::Database {
            conn.exec(&format!("USE {}", quote_ident(target_db)))
                .await?;
        }
    }
    Ok(())
}

/// Writes tables into the target database.
struct Writer {
    repo: Repository,
    target_db: String,
    precision: Precision,
    /// Per table, the backup's schema (see `schema::targets`).
    targets: Arc<BTreeMap<String, Vec<TargetColumn>>>,
}

impl ConnectionTask for Writer {
    type Job = TableJob;
    type Out = TableDone;

    async fn prepare(&self, conn: &Connection) -> BackupResult<()> {
        // write_raw_block resolves table names against the connection's database.
        conn.exec(&format!("USE {}", quote_ident(&self.target_db)))
            .await?;
        Ok(())
    }

    async fn run(&self, conn: &Connection, job: TableJob) -> BackupResult<TableDone> {
        let qualified = format!(
            "{}.{}",
            quote_ident(&self.target_db),
            quote_ident(&job.name)
        );
        if let Some(create) = &job.replace {
            conn.exec(&format!("DROP TABLE IF EXISTS {qualified}"))
                .await?;
            conn.exec(create).await?;
        }
        let mut done = TableDone {
            blocks: 0,
            rows: 0,
            bytes: 0,
        };
        let target = self.targets.get(&job.name).map(Vec::as_slice);
        for entry in &job.windows {
            let parts = conform(&job.name, read_window(&self.repo, entry).await?, target)?;
            for part in &parts {
                export::write_block(conn, &job.name, part, self.precision).await?;
                done.bytes += part.bytes.len() as u64;
            }
            done.blocks += 1;
            done.rows += entry.rows;
        }
        Ok(done)
    }
}
