//! The plan from the change engine's checkpoint, without freezing or folding anything:
//! `tdibt blocks` only reads, so a running monitor or a later `tdibt backup` is unaffected.

use std::collections::BTreeSet;

use tdibt_backup::{pick_backup, BackupOptions, Pick};
use tdibt_core::checkpoint::checkpoint_path;
use tdibt_core::clock::now_unix_ms;
use tdibt_core::config::Config;
use tdibt_core::{BlockSet, Checkpoint};
use tdibt_repository::Repository;

use crate::blocks::{self, BlocksDoc, Inputs, Since};
use crate::error::{TaosdumpError, TaosdumpResult};

pub struct SourceOptions {
    /// A backup older than the engine's last: its successors' windows are read again.
    pub since: Option<Pick>,
    /// Drain the change feed first (the caller holds the persistence folder's lock); false
    /// when a running monitor holds it and keeps the checkpoint current.
    pub drain: bool,
}

/// The plan now, as `tdibt blocks` and `tdibt taosdump-script` make it: the change feed is
/// drained first when nobody holds the change engine's folder; when a monitor holds it, its
/// latest checkpoint is the plan's cut. The repository at `backup.output_path`, when there
/// is one, says what the changes count from.
pub async fn plan_now(config: &Config, since: Option<Pick>) -> TaosdumpResult<BlocksDoc> {
    let dir = &config.bitmap_engine.persistence_path;
    let checkpoint = checkpoint_path(dir);
    if !checkpoint.exists() {
        return Err(tdibt_core::CheckpointError::Missing(checkpoint).into());
    }
    let owner = tdibt_core::OwnerLock::acquire(dir, "blocks");
    let drain = match &owner {
        Ok(_) => true,
        Err(tdibt_core::OwnerError::Busy { holder, .. }) => {
            tracing::info!("{holder} holds the change engine: planning from its latest checkpoint");
            false
        }
        Err(e @ tdibt_core::OwnerError::Io { .. }) => {
            return Err(TaosdumpError::Refused(e.to_string()))
        }
    };
    let repo = tdibt_repository::store::for_location(&config.backup.output_path)
        .ok()
        .and_then(|store| Repository::open(store).ok())
        .filter(|r| r.list_backups().is_ok());
    plan(config, repo.as_ref(), &SourceOptions { since, drain }).await
}

/// The plan of what changed since the engine's last backup (or `since`).
pub async fn plan(
    config: &Config,
    repo: Option<&Repository>,
    options: &SourceOptions,
) -> TaosdumpResult<BlocksDoc> {
    let db = config.database_name()?.to_string();
    if options.drain {
        tdibt_capture::drain(config).await?;
    }
    let cp = Checkpoint::load(&checkpoint_path(&config.bitmap_engine.persistence_path))?;
    if cp.engine.is_frozen() {
        return Err(TaosdumpError::Refused(
            "a tdibt backup is in progress or was interrupted (its changes are frozen): finish it with `tdibt backup` first".into(),
        ));
    }
    let (chain_tables, extra, since) = baseline(&cp, &db, repo, options.since.as_ref())?;
    let current = cp.engine.current();
    blocks::build(Inputs {
        catalog: &cp.catalog,
        database: &db,
        new: &current.new,
        dirty: &current.dirty,
        deleted: &current.deleted,
        chain_tables: &chain_tables,
        extra: &extra,
        cut: &cp.cut,
        checkpoint_written_at_unix_ms: cp.written_at_unix_ms,
        since,
        generated_at_unix_ms: now_unix_ms(),
    })
}

/// The chain the changes count from: its tables (to see drops) and, `--since` an older
/// backup, the windows of the backups after it.
fn baseline(
    cp: &Checkpoint,
    db: &str,
    repo: Option<&Repository>,
    since: Option<&Pick>,
) -> TaosdumpResult<(BTreeSet<String>, BlockSet, Since)> {
    let last = cp.backups.last.clone();
    let Some(repo) = repo else {
        if since.is_some() {
            return Err(TaosdumpError::Refused(
                "--since names a backup, but there is no repository at backup.output_path".into(),
            ));
        }
        return Ok((BTreeSet::new(), BlockSet::new(), engine_since(last)));
    };
    let pick = since.cloned().unwrap_or(Pick::Latest);
    let Some(picked) = pick_backup(repo, Some(db), &pick)? else {
        if since.is_some() {
            return Err(TaosdumpError::Refused(format!(
                "the repository has no backup of {db} for --since"
            )));
        }
        return Ok((BTreeSet::new(), BlockSet::new(), engine_since(last)));
    };
    let options = BackupOptions {
        since: pick,
        // The plan is the same whichever engine stored the chain it builds on.
        engine: picked.engine,
        ..BackupOptions::default()
    };
    let parent = tdibt_backup::backup::choose_parent(repo, cp, db, &options)?;
    let chain = match &parent {
        Some(p) => repo.chain(p).map_err(tdibt_backup::BackupError::from)?,
        None => Vec::new(),
    };
    let extra = tdibt_backup::backup::windows_after(repo, cp, db, parent.as_ref())?;
    let description = match &parent {
        Some(p) => format!("changes since backup {p}"),
        None => "every change the engine holds".into(),
    };
    Ok((
        tdibt_backup::ddl::chain_tables(&chain),
        extra,
        Since {
            backup: parent.map(|p| p.to_string()),
            description,
        },
    ))
}

fn engine_since(last: Option<String>) -> Since {
    let description = match &last {
        Some(b) => format!("changes since the change engine's last backup {b}"),
        None => "changes since `tdibt init` (the engine has taken no backup)".into(),
    };
    Since {
        backup: last,
        description,
    }
}
