//! `tdibt repo init|unlock`, `tdibt list`, `tdibt show`: the repository itself.

use std::path::PathBuf;

use serde::Serialize;
use tdibt_backup::BackupError;
use tdibt_backup::Pick;
use tdibt_core::clock::now_unix_ms;
use tdibt_core::config::Config;
use tdibt_repository::{BackupId, RepoError, Repository, Store};

use crate::cli::{Cli, RepoCommand};
use crate::exit::{CliError, CliResult, Exit};
use crate::{output, progress, settings};

/// Where `backup.output_path` points: a local folder, or `s3://bucket/prefix` (S3 or a
/// compatible service, configured by the `AWS_*` environment variables).
fn store(config: &Config) -> CliResult<Box<dyn Store>> {
    let path = &config.backup.output_path;
    tdibt_repository::store::for_location(path).map_err(|e| {
        CliError::new(
            Exit::Config,
            anyhow::anyhow!("backup.output_path {}: {e}", path.display()),
        )
    })
}

/// The repository at `backup.output_path`.
pub fn open(cli: &Cli) -> CliResult<Repository> {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    open_at(&config)
}

/// The repository at `config`'s `backup.output_path`.
pub fn open_at(config: &Config) -> CliResult<Repository> {
    Ok(Repository::open(store(config)?)?)
}

/// Makes `backup.output_path` a new repository (`tdibt repo init`, and a first backup).
fn create(store: Box<dyn Store>) -> CliResult<Repository> {
    Ok(Repository::init(store, now_unix_ms())?)
}

/// The repository a backup writes into: the one at `backup.output_path`, created there
/// (and logged) when the folder or prefix is missing or empty, as a first backup into a new
/// folder expects. A non-empty folder that is not a repository is refused with the command
/// that backs up into a new folder inside it instead.
pub fn open_or_create(config: &Config) -> CliResult<Repository> {
    // An unusable location is a configuration error (exit 3), said before anything else.
    store(config)?;
    explain(tdibt_backup::open_or_create(&config.backup.output_path))
}

/// Says what to do instead when the repository could not be opened or created.
fn explain(opened: Result<Repository, BackupError>) -> CliResult<Repository> {
    match opened {
        Err(BackupError::Repository(RepoError::NotEmpty(missing))) => {
            let inside = format!("{}/tdibt", missing.trim_end_matches('/'));
            Err(CliError::new(
                Exit::Repository,
                anyhow::anyhow!(
                    "{missing} is not empty and not a tdibt repository: tdibt keeps its backups \
                     in a folder of their own and does not write among other files; back up into \
                     a new folder inside it instead: {}",
                    command_with_output(&inside)
                ),
            ))
        }
        // A `tdibt-repository.json` of another format: say what `open` said.
        Err(BackupError::Repository(RepoError::AlreadyARepository(missing))) => {
            Err(RepoError::NotARepository(missing).into())
        }
        other => Ok(other?),
    }
}

/// This invocation's command line with the repository moved to `output`: what to run instead.
fn command_with_output(output: &str) -> String {
    let mut args: Vec<String> = vec!["tdibt".into()];
    let mut given = std::env::args().skip(1);
    let mut replaced = false;
    while let Some(arg) = given.next() {
        if arg == "--output" || arg == "--output-path" {
            given.next();
            args.extend([arg, output.to_string()]);
            replaced = true;
        } else if arg.starts_with("--output=") || arg.starts_with("--output-path=") {
            args.push(format!("--output={output}"));
            replaced = true;
        } else {
            args.push(arg);
        }
    }
    if !replaced {
        args.extend(["--output".to_string(), output.to_string()]);
    }
    args.iter()
        .map(|a| shell_quoted(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as a POSIX shell reads it back: bare when safe, else single-quoted.
fn shell_quoted(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// Where `--backup` points: a backup of the configured repository (`latest`, an id or a
/// date), or, when it is a path, a repository (its newest backup) or one backup's manifest
/// in one (`REPOSITORY/manifests/ID.json`, that backup). Returns the repository location
/// the path names, if it names one, and the backup.
pub fn backup_arg(text: &str) -> CliResult<(Option<PathBuf>, Pick)> {
    tdibt_backup::pick::parse_backup_location(text)
        .map_err(|why| CliError::new(Exit::Usage, anyhow::anyhow!("--backup: {why}")))
}

/// The configuration with `--backup`'s repository, if it names one, in place of
/// `backup.output_path`, and the backup it names (`latest` when absent).
pub fn with_backup_arg(mut config: Config, backup: Option<&str>) -> CliResult<(Config, Pick)> {
    let Some(text) = backup else {
        return Ok((config, Pick::Latest));
    };
    let (repository, pick) = backup_arg(text)?;
    if let Some(repository) = repository {
        config.backup.output_path = repository;
    }
    Ok((config, pick))
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
            .map_err(|e| CliError::new(Exit::Usage, anyhow::anyhow!("--backup: {e}")))?,
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
            Exit::Repository,
            anyhow::anyhow!("there is no backup {for_what} in {}", repo.describe()),
        )
    })
}

pub fn run(cli: &Cli, command: &RepoCommand) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    match command {
        RepoCommand::Init => {
            let repo = create(store(&config)?)?;
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
            let repo = open_at(&config)?;
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
    /// What stored the rows: tdibt or taosdump.
    engine: tdibt_repository::Engine,
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
    manifests.sort_by_key(|m| tdibt_backup::pick::newness(m));
    let listed: Vec<Listed> = manifests
        .iter()
        .map(|m| Listed {
            id: m.id.clone(),
            kind: m.kind,
            parent: m.parent.clone(),
            merged_from: m.merged_from.clone(),
            engine: m.engine,
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
        let kind = match l.engine {
            tdibt_repository::Engine::Tdibt => kind,
            other => format!("{kind}, by {other}"),
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
    let id: BackupId = id.parse().map_err(|e| CliError::new(Exit::Usage, e))?;
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
    if m.engine != tdibt_repository::Engine::Tdibt {
        println!(
            "engine     {} ({} file(s) of its output stored)",
            m.engine,
            m.files.len()
        );
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::ObjectStore;

    use super::*;

    fn prefix(memory: &Arc<InMemory>, prefix: &str) -> Box<dyn Store> {
        let store: Arc<dyn ObjectStore> = memory.clone();
        Box::new(
            tdibt_repository::BucketStore::new(store, prefix, format!("memory://{prefix}"))
                .unwrap(),
        )
    }

    fn open_or_create_in(store: impl Fn() -> Box<dyn Store>) -> CliResult<Repository> {
        explain(tdibt_backup::open_or_create_in(|| Ok(store())))
    }

    #[test]
    fn backup_takes_an_id_a_repository_or_a_manifest_path() {
        let id = "20261124T221500Z-3fa2c1";
        let parsed = |t: &str| backup_arg(t).map_err(|e| (e.code, format!("{:#}", e.error)));
        assert!(matches!(parsed("latest"), Ok((None, Pick::Latest))));
        assert!(matches!(parsed(id), Ok((None, Pick::Backup(_)))));
        assert!(matches!(
            parsed("2026-11-24"),
            Ok((None, Pick::AtOrBefore(_)))
        ));
        let (repository, pick) = backup_arg("/backup/incremental").unwrap();
        assert_eq!(repository.unwrap(), Path::new("/backup/incremental"));
        assert!(matches!(pick, Pick::Latest));
        for (path, repo) in [
            (
                format!("/backup/incremental/manifests/{id}.json"),
                "/backup/incremental",
            ),
            (format!("manifests/{id}.json"), "."),
        ] {
            let (repository, pick) = backup_arg(&path).unwrap();
            assert_eq!(repository.unwrap(), Path::new(repo), "{path}");
            assert!(
                matches!(pick, Pick::Backup(b) if b.to_string() == id),
                "{path}"
            );
        }
        for bad in ["/backup/x.json", "/backup/manifests/nope.json", "someday"] {
            let (code, message) = parsed(bad).unwrap_err();
            assert_eq!(code, Exit::Usage, "{bad}");
            assert!(message.contains("--backup"), "{message}");
        }
    }

    /// An object storage prefix behaves as a folder: created when empty, reopened after,
    /// refused (untouched) when it holds other objects.
    #[test]
    fn an_object_storage_prefix_is_created_when_empty_and_refused_when_not() {
        let memory = Arc::new(InMemory::new());
        let created = open_or_create_in(|| prefix(&memory, "backups/daily")).unwrap();
        let again = open_or_create_in(|| prefix(&memory, "backups/daily")).unwrap();
        assert_eq!(created.config().id, again.config().id);

        // Someone else's object: written beside tdibt, not through it.
        let notes = object_store::path::Path::from("other/notes.txt");
        let put = memory.put(&notes, object_store::PutPayload::from_static(b"mine"));
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(put)
            .unwrap();
        let Err(e) = open_or_create_in(|| prefix(&memory, "other")) else {
            panic!("a prefix holding other objects was taken");
        };
        assert_eq!(e.code, Exit::Repository);
        let message = format!("{:#}", e.error);
        assert!(
            message.contains("--output memory://other/tdibt"),
            "{message}"
        );
        assert!(!prefix(&memory, "other").is_empty().unwrap());
        let left = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { memory.get(&notes).await?.bytes().await })
            .unwrap();
        assert_eq!(&left[..], b"mine", "the other object is untouched");
    }
}
