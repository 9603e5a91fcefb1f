//! `tdibt backup` with or without a running monitor: the one entry point the CLI and the C
//! API call. With a monitor listening in the persistence folder, the backup is asked of it
//! (same options, same report, progress streamed back); without one, it is taken here,
//! owning the change engine for the while.

use tdibt_core::config::Config;
use tdibt_core::OwnerLock;
use tdibt_repository::Repository;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tracing::info;

use crate::backup::{run_backup_with, BackupOptions, BackupReport, StoreEngine, Tdibt};
use crate::error::{BackupError, BackupResult};
use crate::live::{socket_path, Reply, Request};
use crate::pick::{pick_backup, Pick};
use crate::progress::ProgressSink;

/// Takes a backup of the configured database into `repo` with tdibt's own engine: through
/// the running monitor when there is one, standalone otherwise.
pub async fn backup(
    config: &Config,
    repo: &Repository,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
) -> BackupResult<BackupReport> {
    backup_with(config, repo, options, progress, &Tdibt).await
}

/// [`backup`] with the engine `options` names, `store` (the running monitor runs its own
/// instance of it, given at its start: see [`crate::ServeOptions::other_engine`]).
pub async fn backup_with(
    config: &Config,
    repo: &Repository,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
    store: &dyn StoreEngine,
) -> BackupResult<BackupReport> {
    crate::backup::check_engine(store, options)?;
    let db = config.database_name()?;
    let options = full_when_nothing_is_older(repo, db, options)?;
    let dir = &config.bitmap_engine.persistence_path;
    match UnixStream::connect(socket_path(dir)).await {
        Ok(stream) => {
            info!(
                "a monitor runs on {}: asking it for the backup",
                dir.display()
            );
            ask(stream, config, &options, progress).await
        }
        // No monitor (no socket, or one a killed monitor left: connection refused).
        Err(_) => {
            let _owner = OwnerLock::acquire(dir, "backup")?;
            run_backup_with(config, repo, &options, progress, store).await
        }
    }
}

/// `--since DATE` builds on the newest backup finished by then. When the repository holds
/// backups of the database but none that old (the specification's daily
/// `--since 2024-01-01`, run again after its first backup), every change since the date is
/// only in a full backup: take one (logged) instead of refusing, so the command can be
/// repeated as written. Unchanged blocks deduplicate against the packs already stored.
fn full_when_nothing_is_older(
    repo: &Repository,
    db: &str,
    options: &BackupOptions,
) -> BackupResult<BackupOptions> {
    let mut options = options.clone();
    let Pick::AtOrBefore(at) = options.since else {
        return Ok(options);
    };
    if options.full {
        return Ok(options);
    }
    if let Err(BackupError::Refused(_)) = pick_backup(repo, Some(db), &options.since) {
        let date = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.max(0) as u64);
        info!(
            "no backup of {db} in {} finished at or before {}: taking a full backup, which holds every change since then",
            repo.describe(),
            humantime::format_rfc3339_millis(date)
        );
        options.full = true;
        options.since = Pick::Latest;
    }
    Ok(options)
}

/// Sends the request and relays the answer.
async fn ask(
    stream: UnixStream,
    config: &Config,
    options: &BackupOptions,
    progress: &dyn ProgressSink,
) -> BackupResult<BackupReport> {
    let lost = |e: String| {
        BackupError::Pipeline(format!(
            "the monitor's backup socket: {e} (if the monitor stopped, the next backup resumes \
             what it had stored)"
        ))
    };
    let (read, mut write) = stream.into_split();
    let request = Request {
        database: config.database_name()?.to_string(),
        repository: config.backup.output_path.clone(),
        options: options.clone(),
    };
    let mut line = serde_json::to_vec(&request).map_err(|e| lost(e.to_string()))?;
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|e| lost(e.to_string()))?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| lost(e.to_string()))? {
        let reply: Reply =
            serde_json::from_str(&line).map_err(|e| lost(format!("unreadable answer: {e}")))?;
        match reply {
            Reply::Progress { what, progress: p } => progress.update(&what, p),
            Reply::Finish { what } => progress.finish(&what),
            Reply::Report(report) => return Ok(report),
            Reply::Error { class, message } => return Err(BackupError::Remote { class, message }),
        }
    }
    Err(lost("closed before the backup ended".into()))
}
