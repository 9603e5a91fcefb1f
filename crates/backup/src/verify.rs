//! `tdibt verify`: the repository's own check (manifests, chain links, packs, and with
//! `read_data` every block re-read and re-hashed), and `--against`: a backup's merged view
//! compared with a live database, window by window, on row count and a digest of the rows'
//! values (independent of how the rows are cut into raw blocks).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tdibt_core::{BlockSpan, Precision, Window};
use tdibt_repository::check::CheckReport;
use tdibt_repository::{BackupId, BlockEntry, DdlKind, Repository};
use tdibt_tdengine::export::digest_rows;
use tdibt_tdengine::reshape::TargetColumn;
use tdibt_tdengine::{discovery, read_windows, Connection, ConnectionSettings, TdError};

use crate::ddl::merge_ddl;
use crate::error::{BackupError, BackupResult};
use crate::pool::{ConnectionTask, Connections, Pool};
use crate::progress::{Progress, ProgressSink};
use crate::stored::{manifest_precision, read_window};

/// A live database to compare a backup with.
#[derive(Clone, Debug)]
pub struct Against {
    pub settings: ConnectionSettings,
    /// The backup to compare.
    pub backup: BackupId,
    /// The database compared; the backed-up database's own name when `None`.
    pub database: Option<String>,
    pub jobs: usize,
}

#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    pub read_data: bool,
    pub against: Option<Against>,
}

/// One window where the backup and the live database differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub table: String,
    /// `None` when the whole table differs (missing on one side).
    pub window: Option<i32>,
    /// The backup that stored the window (the chain's newest writer of it).
    pub backup: Option<BackupId>,
    pub what: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct AgainstReport {
    pub backup: BackupId,
    pub database: String,
    pub tables: u64,
    pub windows_compared: u64,
    pub rows_compared: u64,
    pub differences: Vec<Difference>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub repository: CheckReport,
    pub against: Option<AgainstReport>,
    pub seconds: f64,
}

pub async fn run_verify(
    repo: &Repository,
    options: &VerifyOptions,
    progress: &dyn ProgressSink,
) -> BackupResult<VerifyReport> {
    let started = Instant::now();
    let repository = {
        let repo = repo.clone();
        let read_data = options.read_data;
        tokio::task::spawn_blocking(move || repo.check(read_data))
            .await
            .map_err(|e| BackupError::Pipeline(e.to_string()))??
    };
    let against = match &options.against {
        Some(a) => Some(compare(repo, a, Scope::Database, progress).await?),
        None => None,
    };
    let ok = repository.is_ok() && against.as_ref().is_none_or(|a| a.differences.is_empty());
    Ok(VerifyReport {
        ok,
        repository,
        against,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One table's stored windows, with the backup that stored each.
struct TableJob {
    name: String,
    windows: BTreeMap<i32, (BlockEntry, BackupId)>,
}

struct Compared {
    windows: u64,
    rows: u64,
    differences: Vec<Difference>,
}

/// Which tables of the live database are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every table: one the backup does not have is a difference (`verify --against`).
    Database,
    /// The backup's tables only (a restore's own check: other tables of the target were
    /// left as they are, and the restore reports them apart).
    BackupTables,
}

pub(crate) async fn compare(
    repo: &Repository,
    against: &Against,
    scope: Scope,
    progress: &dyn ProgressSink,
) -> BackupResult<AgainstReport> {
    let chain = repo.chain(&against.backup)?;
    crate::stored::refuse_other_engine(&chain, "compared window by window with --against")?;
    let newest = chain.last().ok_or_else(|| {
        BackupError::Refused(format!("backup {} has an empty chain", against.backup))
    })?;
    let precision = manifest_precision(newest)?;
    let span = BlockSpan::from_units(newest.block_span)
        .map_err(|e| BackupError::Refused(format!("backup {}: {e}", newest.id)))?;
    let database = against
        .database
        .clone()
        .unwrap_or_else(|| newest.database.clone());

    let ddl = merge_ddl(&chain);
    let targets = crate::schema::targets(&ddl)?;
    let mut tables: BTreeMap<String, BTreeMap<i32, (BlockEntry, BackupId)>> = ddl
        .into_iter()
        .filter(|d| d.kind == DdlKind::Table)
        .map(|d| (d.name, BTreeMap::new()))
        .collect();
    for ((table, window), (entry, by)) in tdibt_repository::merge_chain_with_writers(&chain) {
        tables
            .entry(table)
            .or_default()
            .insert(window, (entry, by.clone()));
    }

    let conn = Connection::open(&against.settings).await?;
    // Live rows are decoded in the live database's precision: a database of another
    // precision then differs (its timestamps mean other instants), as it should.
    let live_precision = match discovery::database_info(&conn, &database).await {
        Ok(info) => info.precision,
        Err(TdError::MissingDatabase(db)) => {
            return Err(BackupError::Refused(format!(
                "database {db} does not exist on {}",
                against.settings.target()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let live: BTreeSet<String> = match discovery::tables(&conn, &database).await {
        Ok(t) => t.into_iter().map(|t| t.name).collect(),
        Err(TdError::MissingDatabase(db)) => {
            return Err(BackupError::Refused(format!(
                "database {db} does not exist on {}",
                against.settings.target()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let mut report = AgainstReport {
        backup: against.backup.clone(),
        database: database.clone(),
        tables: tables.len() as u64,
        windows_compared: 0,
        rows_compared: 0,
        differences: Vec::new(),
    };
    for t in live
        .iter()
        .filter(|t| scope == Scope::Database && !tables.contains_key(*t))
    {
        report.differences.push(Difference {
            table: t.clone(),
            window: None,
            backup: None,
            what: "the table is in the database, not in the backup".into(),
        });
    }
    let mut jobs = Vec::new();
    for (name, windows) in tables {
        if live.contains(&name) {
            jobs.push(TableJob { name, windows });
        } else {
            report.differences.push(Difference {
                backup: windows.values().next_back().map(|(_, by)| by.clone()),
                table: name,
                window: None,
                what: "the table is in the backup, not in the database".into(),
            });
        }
    }
    let total = jobs.len() as u64;
    let task = Arc::new(Comparer {
        repo: repo.clone(),
        database,
        span,
        precision,
        live_precision,
        targets,
    });
    let connections = Connections::fresh(against.settings.clone());
    let mut pool = Pool::start(task, &connections, jobs, against.jobs);
    let mut done = 0;
    while let Some(result) = pool.next().await {
        let compared = match result {
            Ok(c) => c,
            Err(e) => {
                pool.stop().await;
                return Err(e);
            }
        };
        done += 1;
        report.windows_compared += compared.windows;
        report.rows_compared += compared.rows;
        report.differences.extend(compared.differences);
        progress.update(
            "verify",
            Progress {
                done,
                total,
                rows: report.rows_compared,
                bytes: 0,
            },
        );
    }
    progress.finish("verify");
    report
        .differences
        .sort_by(|a, b| (&a.table, a.window).cmp(&(&b.table, b.window)));
    Ok(report)
}

struct Comparer {
    repo: Repository,
    database: String,
    span: BlockSpan,
    /// The backup's precision (its stored blocks).
    precision: Precision,
    live_precision: Precision,
    /// Per table, the backup's schema: stored blocks are compared as a restore writes them.
    targets: BTreeMap<String, Vec<TargetColumn>>,
}

impl ConnectionTask for Comparer {
    type Job = TableJob;
    type Out = Compared;

    async fn run(&self, conn: &Connection, job: TableJob) -> BackupResult<Compared> {
        let live = read_windows(
            conn,
            &self.database,
            &job.name,
            self.span,
            Window(i32::MIN),
            Window(i32::MAX),
        )
        .await?;
        let mut out = Compared {
            windows: 0,
            rows: 0,
            differences: Vec::new(),
        };
        let mut live: BTreeMap<i32, _> = live.into_iter().map(|w| (w.window.0, w)).collect();
        for (window, (entry, by)) in &job.windows {
            out.windows += 1;
            let stored = crate::schema::conform(
                &job.name,
                read_window(&self.repo, entry).await?,
                self.targets.get(&job.name).map(Vec::as_slice),
            )?;
            let (stored_rows, stored_digest) = digest_rows(&stored, self.precision)?;
            out.rows += stored_rows;
            let difference = match live.remove(window) {
                None => Some(format!(
                    "{stored_rows} row(s) in the backup, none in the database"
                )),
                Some(w) => {
                    let (rows, digest) = digest_rows(&w.parts, self.live_precision)?;
                    if rows != stored_rows {
                        Some(format!(
                            "{stored_rows} row(s) in the backup, {rows} in the database"
                        ))
                    } else if digest != stored_digest {
                        Some(format!("the {rows} row(s) differ in value"))
                    } else {
                        None
                    }
                }
            };
            if let Some(what) = difference {
                out.differences.push(Difference {
                    table: job.name.clone(),
                    window: Some(*window),
                    backup: Some(by.clone()),
                    what,
                });
            }
        }
        for (window, w) in live {
            out.differences.push(Difference {
                table: job.name.clone(),
                window: Some(window),
                backup: None,
                what: format!("{} row(s) in the database, none in the backup", w.rows()),
            });
        }
        Ok(out)
    }
}
