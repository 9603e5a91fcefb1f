//! `tdibt restore` of a chain taosdump stored: per backup, oldest first, its files written
//! out, `taosdump-apply` (drops, deletes, each range about to be imported emptied), then
//! `taosdump -i` of each call's folder in dump order, as `restore_script.sh` does.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tdibt_backup::{Progress, ProgressSink};
use tdibt_repository::{BackupId, Engine, Repository};
use tdibt_tdengine::{Connection, ConnectionSettings};
use tracing::info;

use super::{files, run, TaosdumpEngine};
use crate::apply;
use crate::blocks::BlocksDoc;
use crate::error::{TaosdumpError, TaosdumpResult};
use crate::script::{CallsDoc, BLOCKS_FILE};

#[derive(Clone, Debug, Default, Serialize)]
pub struct RestoreReport {
    pub backup: Option<BackupId>,
    pub database: String,
    /// The backups applied, full first.
    pub chain: Vec<BackupId>,
    /// taosdump output folders imported (`taosdump -i`).
    pub folders_imported: u64,
    pub files: u64,
    pub dropped_tables: u64,
    pub ranges_deleted: u64,
    /// Schema/tag changes the chain recorded that taosdump's import does not apply.
    pub schema_changes_not_applied: Vec<String>,
    pub seconds: f64,
}

/// Restores backup `id` (a chain of engine taosdump) into its database through taosdump.
/// `target_db`: refused unless it is the backup's own database (taosdump imports into the
/// database it dumped).
pub async fn restore(
    repo: &Repository,
    id: &BackupId,
    settings: &ConnectionSettings,
    engine: &TaosdumpEngine,
    target_db: Option<&str>,
    progress: &dyn ProgressSink,
) -> TaosdumpResult<RestoreReport> {
    let clock = Instant::now();
    let chain = repo.chain(id).map_err(tdibt_backup::BackupError::from)?;
    if let Some(m) = chain.iter().find(|m| m.engine != Engine::Taosdump) {
        return Err(TaosdumpError::Refused(format!(
            "backup {} of the chain of {id} was stored by {}, not taosdump",
            m.id, m.engine
        )));
    }
    let database = chain.last().map(|m| m.database.clone()).unwrap_or_default();
    if let Some(t) = target_db.filter(|t| *t != database) {
        return Err(TaosdumpError::Refused(format!(
            "backup {id} was dumped by taosdump from database {database}, and taosdump -i imports into that database: --target-db {t} cannot be honoured"
        )));
    }
    let scratch = tempfile::Builder::new()
        .prefix("tdibt-taosdump-restore-")
        .tempdir()
        .map_err(|e| TaosdumpError::io("create a folder in", std::env::temp_dir(), e))?;
    let conn = Connection::open(settings).await?;
    let mut report = RestoreReport {
        backup: Some(id.clone()),
        database: database.clone(),
        ..RestoreReport::default()
    };
    let total = chain.len() as u64;
    for (i, m) in chain.iter().enumerate() {
        progress.update(
            "restore",
            Progress {
                done: i as u64,
                total,
                ..Progress::default()
            },
        );
        let dir = scratch.path().join(format!("{:04}-{}", i, m.id));
        files::extract(repo, &m.files, &dir)?;
        report.files += m.files.len() as u64;
        let (doc, calls) = read_plan(&dir)?;
        let applied = apply::apply(&conn, &doc, None).await?;
        report.dropped_tables += applied.dropped_tables;
        report.ranges_deleted += applied.ranges_deleted;
        report
            .schema_changes_not_applied
            .extend(applied.schema_changes_not_applied);
        for call in &calls.calls {
            let folder = dir.join(&call.folder);
            let what = format!("taosdump -i of backup {}'s {}", m.id, call.folder);
            run::taosdump(engine, run::import_args(engine, &database, &folder), what).await?;
            report.folders_imported += 1;
        }
        info!("backup {} imported ({} folder(s))", m.id, calls.calls.len());
        report.chain.push(m.id.clone());
    }
    progress.update(
        "restore",
        Progress {
            done: total,
            total,
            ..Progress::default()
        },
    );
    progress.finish("restore");
    report.seconds = clock.elapsed().as_secs_f64();
    Ok(report)
}

/// The plan and the calls a backup stored beside its dumps.
fn read_plan(dir: &Path) -> TaosdumpResult<(BlocksDoc, CallsDoc)> {
    let doc = BlocksDoc::read(&dir.join(BLOCKS_FILE))?;
    let calls = crate::verify::read_calls(dir, &doc)?;
    Ok((doc, calls))
}
