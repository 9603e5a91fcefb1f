//! `tdibt repo init|unlock`, `tdibt list`, `tdibt show`: the repository itself.

use serde::Serialize;
use tdibt_core::clock::now_unix_ms;
use tdibt_repository::{BackupId, LocalStore, ObjectStoreStore, Repository, Store};

use crate::cli::{Cli, RepoCommand};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::{output, progress, settings};

/// Where `backup.output_path` points: a local folder, or `s3://bucket/prefix` (S3 or a
/// compatible service, configured by the `AWS_*` environment variables).
fn store(config: &tdibt_core::config::Config) -> CliResult<Box<dyn Store>> {
    let path = &config.backup.output_path;
    match path.to_str() {
        Some(url) if url.starts_with("s3://") => {
            Ok(Box::new(ObjectStoreStore::s3(url).map_err(|e| {
                CliError::new(
                    ExitCode::Config,
                    anyhow::anyhow!("backup.output_path {url}: {e}"),
                )
            })?))
        }
        _ => Ok(Box::new(LocalStore::new(path))),
    }
}

/// The repository at `backup.output_path`.
pub fn open(cli: &Cli) -> CliResult<Repository> {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    Ok(Repository::open(store(&config)?)?)
}

/// The backup `--backup` (`latest` when absent) names, among the configured database's
/// backups when one is configured, else among all; `for_what` goes into the error when the
/// repository has none.
pub fn pick(
    config: &tdibt_core::config::Config,
    repo: &Repository,
    backup: Option<&str>,
    for_what: &str,
) -> CliResult<std::sync::Arc<tdibt_repository::Manifest>> {
    let pick = match backup {
        Some(text) => tdibt_backup::parse_pick(text)
            .map_err(|e| CliError::new(ExitCode::Usage, anyhow::anyhow!("--backup: {e}")))?,
        None => tdibt_backup::Pick::Latest,
    };
    pick_manifest(config, repo, &pick, for_what)
}

/// [`pick`] for an already parsed choice.
pub fn pick_manifest(
    config: &tdibt_core::config::Config,
    repo: &Repository,
    pick: &tdibt_backup::Pick,
    for_what: &str,
) -> CliResult<std::sync::Arc<tdibt_repository::Manifest>> {
    tdibt_backup::pick_backup(repo, config.database.name.as_deref(), pick)?.ok_or_else(|| {
        CliError::new(
            ExitCode::Repository,
            anyhow::anyhow!("there is no backup {for_what} in {}", repo.describe()),
        )
    })
}

pub fn run(cli: &Cli, command: &RepoCommand) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let store = store(&config)?;
    match command {
        RepoCommand::Init => {
            let repo = Repository::init(store, now_unix_ms())?;
            if cli.json {
                return output::print_json(repo.config());
            }
            println!(
                "initialised repository {} ({})",
                repo.describe(),
                repo.config().id
            );
        }
        RepoCommand::Unlock { force } => {
            let repo = Repository::open(store)?;
            match repo.lock_holder()? {
                None => println!("{} is not locked", repo.describe()),
                Some(holder) => {
                    repo.break_lock(*force)?;
                    println!(
                        "removed the lock of {} (held by {} on {}, pid {}{})",
                        repo.describe(),
                        holder.operation,
                        holder.host,
                        holder.pid,
                        if holder.is_stale() {
                            ", no longer running"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Listed {
    id: BackupId,
    kind: tdibt_repository::BackupKind,
    parent: Option<BackupId>,
    merged_from: Option<BackupId>,
    database: String,
    finished_at_unix_ms: i64,
    blocks: u64,
    rows: u64,
    stored_bytes: u64,
}

pub fn list(cli: &Cli) -> CliResult {
    let repo = open(cli)?;
    let mut manifests = Vec::new();
    for id in repo.list_backups()? {
        manifests.push(repo.manifest(&id)?.0);
    }
    manifests.sort_by_key(|m| tdibt_backup::select::newness(m));
    let listed: Vec<Listed> = manifests
        .iter()
        .map(|m| Listed {
            id: m.id.clone(),
            kind: m.kind,
            parent: m.parent.clone(),
            merged_from: m.merged_from.clone(),
            database: m.database.clone(),
            finished_at_unix_ms: m.finished_at_unix_ms,
            blocks: m.stats.blocks,
            rows: m.stats.rows,
            stored_bytes: m.stats.stored_bytes,
        })
        .collect();
    if cli.json {
        return output::print_json(&listed);
    }
    if listed.is_empty() {
        println!("no backups in {}", repo.describe());
    }
    for l in &listed {
        let kind = match (&l.kind, &l.merged_from) {
            (_, Some(from)) => format!("full (merged from {from})"),
            (tdibt_repository::BackupKind::Full, None) => "full".to_string(),
            (_, None) => format!(
                "incremental on {}",
                l.parent.as_ref().map(|p| p.to_string()).unwrap_or_default()
            ),
        };
        println!(
            "{}  {:<10} {:>8} blocks {:>10} rows {:>10}  {}",
            l.id,
            l.database,
            l.blocks,
            l.rows,
            progress::bytes(l.stored_bytes),
            kind
        );
    }
    Ok(())
}

pub fn show(cli: &Cli, id: &str) -> CliResult {
    let repo = open(cli)?;
    let id: BackupId = id.parse().map_err(|e| CliError::new(ExitCode::Usage, e))?;
    let (m, sum) = repo.load_manifest(&id)?;
    if cli.json {
        return output::print_json(&serde_json::json!({"manifest_blake3": sum, "manifest": m}));
    }
    println!("backup     {}", m.id);
    println!("kind       {:?}", m.kind);
    if let Some(p) = &m.parent {
        println!("parent     {p}");
    }
    if let Some(from) = &m.merged_from {
        println!("merged     from {from}");
    }
    println!(
        "database   {} (precision {}, block span {})",
        m.database, m.precision, m.block_span
    );
    println!("server     TDengine {}", m.server_version);
    println!(
        "taken      {} .. {} (Unix ms)",
        m.started_at_unix_ms, m.finished_at_unix_ms
    );
    println!(
        "blocks     {} ({} rows, {} raw, {} new in the repository, {} reused)",
        m.stats.blocks,
        m.stats.rows,
        progress::bytes(m.stats.raw_bytes),
        progress::bytes(m.stats.stored_bytes),
        m.stats.reused_blocks
    );
    println!("tombstones {}", m.tombstones.len());
    println!("ddl        {} statement(s)", m.ddl.len());
    println!("checksum   {sum}");
    Ok(())
}
