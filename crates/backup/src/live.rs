//! Backups while capture runs: the monitor is the change engine's one owner, and takes the
//! backups itself, on request (`tdibt backup` beside it, through a Unix socket in the
//! persistence folder: never a network port) and on its own (`--backup-every`,
//! `--backup-after-blocks`).
//!
//! A backup through the monitor runs the same phases as a standalone one
//! ([`crate::backup`]); only the two that need the engine run on the monitor, each at a cut
//! covering every change committed to TDengine before it was asked for
//! ([`tdibt_capture::MonitorHandle::at_cut`]). Capture goes on in between: changes made
//! during the backup land in the engine's next generation and belong to the next backup.
//!
//! Crash ordering (each step survives a crash of the next, as for a standalone backup):
//! 1. `begin` at a cut: the generation is frozen and the checkpoint records the backup as in
//!    progress, durably, before its offsets are committed;
//! 2. packs and journal, then the manifest, written by the monitor's backup task;
//! 3. `fold` at a cut: the checkpoint records the backup as the last.
//!
//! SIGKILL of the monitor before 3 leaves a frozen generation the next backup (through the
//! next monitor, or standalone) resumes or folds, exactly as after a killed standalone
//! backup. SIGKILL of the asking `tdibt backup` changes nothing: the monitor finishes the
//! backup and drops the answers nobody reads. SIGTERM of the monitor during a backup lets
//! the backup finish (capture goes on meanwhile), then the monitor drains, checkpoints,
//! commits and exits 0.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tdibt_capture::stats::BackupRunStats;
use tdibt_capture::{run_monitor_with, MonitorHandle, MonitorOptions, MonitorReport};
use tdibt_core::clock::now_unix_ms;
use tdibt_core::config::Config;
use tdibt_core::ErrorClass;
use tdibt_repository::Repository;
use tdibt_tdengine::ConnectionSettings;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::backup::{begin, fold, BackupOptions, BackupReport, StoreEngine, StoreJob, Tdibt};
use crate::error::{BackupError, BackupResult};
use crate::pool::Connections;
use crate::progress::{Progress, ProgressSink};

/// The socket a running monitor listens on, in the persistence folder.
pub const SOCKET_FILE: &str = "monitor.sock";

/// Where the monitor of persistence folder `dir` listens.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET_FILE)
}

/// How a serving monitor runs.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub monitor: MonitorOptions,
    /// Take an incremental (a full when the repository has none) this often when anything
    /// changed.
    pub backup_every: Option<Duration>,
    /// Take one as soon as this many blocks changed.
    pub backup_after_blocks: Option<u64>,
    /// Range reads at once in an automatic backup.
    pub jobs: usize,
    /// An engine besides tdibt's that asked-for backups may name (taosdump's, given by the
    /// CLI); automatic backups use tdibt's.
    pub other_engine: Option<Arc<dyn StoreEngine>>,
}

/// A backup request, as `tdibt backup` sends it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// The database the asker's configuration names: it must be the monitor's.
    pub database: String,
    /// The repository to back up into (the asker opened or created it).
    pub repository: PathBuf,
    pub options: BackupOptions,
}

/// One line of the monitor's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Progress { what: String, progress: Progress },
    Finish { what: String },
    Report(BackupReport),
    Error { class: ErrorClass, message: String },
}

/// A request line longer than this is refused.
const MAX_REQUEST: usize = 64 << 10;
/// A client that sends no request in this long is let go.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often automatic backups look at what changed.
const AUTO_CHECK: Duration = Duration::from_secs(1);
/// The longest a poll waits on the server while the monitor serves backups: a backup's cut
/// can only be taken once the poll in flight has answered, so this bounds how long a
/// request made while the feed is idle waits for it. (Right after a write the poll in
/// flight is a short one: the poller waits 2 ms after a message, doubling up to this.) A
/// write still wakes a waiting poll at once, so shorter waits cost only idle round trips:
/// 10 ms is 100 idle polls a second (each one long poll of the consumer's vgroups, answered
/// empty by the server after 10 ms, the same wait as the barrier's own poll). Measured with
/// `backup_bench`'s 3-block backup: 100 ms 0.15 s, 20 ms 0.040-0.065 s, 10 ms see the
/// README.
const SERVING_POLL: Duration = Duration::from_millis(10);

/// Runs capture and serves backups until `shutdown` turns true (or, with `once`, until the
/// backlog is drained). Holds the persistence folder ([`tdibt_core::OwnerLock`]) while it
/// runs: a folder in use by another monitor or backup is refused, and a socket file found
/// there once it is held is a killed monitor's.
pub async fn serve_monitor(
    config: &Config,
    options: ServeOptions,
    shutdown: watch::Receiver<bool>,
) -> BackupResult<MonitorReport> {
    let dir = config.bitmap_engine.persistence_path.clone();
    std::fs::create_dir_all(&dir).map_err(|source| tdibt_core::OwnerError::Io {
        path: dir.clone(),
        source,
    })?;
    let _owner = tdibt_core::OwnerLock::acquire(&dir, "monitor")?;
    let socket = socket_path(&dir);
    let listener = bind(&socket)?;
    let (handle, requests) = MonitorHandle::new();
    let (stop_monitor, monitor_stop) = watch::channel(false);
    let mut monitor_options = options.monitor.clone();
    monitor_options.poll_timeout = monitor_options.poll_timeout.min(SERVING_POLL);
    let monitor = run_monitor_with(config, monitor_options, monitor_stop, Some(requests));
    tokio::pin!(monitor);
    let service = serve(config, &handle, listener, &options, shutdown);
    let report = tokio::select! {
        // The monitor ended on its own (an error, or `once` drained): nothing left to serve.
        report = &mut monitor => report,
        () = service => {
            let _ = stop_monitor.send(true);
            monitor.await
        }
    };
    let _ = std::fs::remove_file(&socket);
    Ok(report?)
}

fn bind(socket: &Path) -> BackupResult<UnixListener> {
    let io = |e: std::io::Error| {
        BackupError::Pipeline(format!("cannot listen on {}: {e}", socket.display()))
    };
    match std::fs::remove_file(socket) {
        Ok(()) => info!(
            "removed {} left by a monitor that was killed",
            socket.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(socket).map_err(io)?;
    // Only the folder's owner may ask for backups.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Takes backups one at a time, asked for or automatic, until shutdown.
async fn serve(
    config: &Config,
    handle: &MonitorHandle,
    listener: UnixListener,
    options: &ServeOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut auto = AutoBackups::new(options);
    let mut repos = Repositories::default();
    warm(config, &mut repos);
    let connections = Connections::kept(ConnectionSettings::from_config(&config.database));
    let mut check = tokio::time::interval(AUTO_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let work = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => Work::Asked(stream),
                Err(e) => {
                    warn!("backup socket: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = check.tick(), if auto.enabled() => Work::Check,
        };
        // A shutdown that comes during a backup waits for it: capture goes on meanwhile, and
        // the backup ends folded (SIGKILL is the way not to wait: the next run resumes it).
        match work {
            Work::Asked(stream) => {
                let others = options.other_engine.as_deref();
                answer(config, handle, &mut repos, &connections, others, stream).await
            }
            Work::Check => {
                if auto.due(handle).await {
                    auto_backup(config, handle, &mut repos, &connections, options.jobs).await;
                }
            }
        }
    }
}

/// Reads the configured repository's newest chain of the database before the first request:
/// the first backup asked for then finds its parent's manifests decoded (tens of
/// milliseconds for a large one) like every later one. Nothing is created; a repository
/// that is missing or unreadable now is simply not warmed.
fn warm(config: &Config, repos: &mut Repositories) {
    let Ok(db) = config.database_name() else {
        return;
    };
    let Ok(repo) = repos.get(&config.backup.output_path, false) else {
        return;
    };
    if let Ok(Some(newest)) = crate::pick_backup(&repo, Some(db), &crate::Pick::Latest) {
        let _ = repo.chain(&newest.id);
    }
}

/// The repositories this monitor backed up into, kept open: an incremental then finds its
/// parent's manifest (what the last backup wrote) in memory instead of decoding it again.
#[derive(Default)]
struct Repositories(std::collections::HashMap<PathBuf, Repository>);

impl Repositories {
    /// The repository at `location`; `create` makes one there when the location is missing
    /// or empty (an automatic backup's first run).
    fn get(&mut self, location: &Path, create: bool) -> BackupResult<Repository> {
        if let Some(repo) = self.0.get(location) {
            return Ok(repo.clone());
        }
        let repo = if create {
            crate::open_or_create(location)?
        } else {
            let store = tdibt_repository::store::for_location(location).map_err(|e| {
                BackupError::Refused(format!("repository {}: {e}", location.display()))
            })?;
            Repository::open(store)?
        };
        self.0.insert(location.to_path_buf(), repo.clone());
        Ok(repo)
    }
}

enum Work {
    Asked(UnixStream),
    Check,
}

/// Serves one `tdibt backup`: reads its request, takes the backup, streams progress and
/// the report (or the error) back. The backup goes on if the asker goes away.
async fn answer(
    config: &Config,
    handle: &MonitorHandle,
    repos: &mut Repositories,
    connections: &Connections,
    other_engine: Option<&dyn StoreEngine>,
    stream: UnixStream,
) {
    let (read, mut write) = stream.into_split();
    let request = match read_request(read).await {
        Ok(r) => r,
        Err(message) => {
            let reply = Reply::Error {
                class: ErrorClass::Failure,
                message,
            };
            let _ = write_reply(&mut write, &reply).await;
            return;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(async move {
        let mut gone = false;
        while let Some(reply) = rx.recv().await {
            if !gone && write_reply(&mut write, &reply).await.is_err() {
                // The asker went away (killed?): the backup goes on, unheard.
                gone = true;
            }
        }
    });
    let sink = ChannelSink(tx.clone());
    // The asker hears of the backup once its manifest is durable: from there on it exists
    // and restores, and the fold that follows only tells the engine so (a fold lost to a
    // crash is done by the next backup).
    let stored = |report: &BackupReport| {
        let _ = tx.send(Reply::Report(report.clone()));
    };
    let result = asked_backup(
        config,
        handle,
        (repos, connections, other_engine),
        &request,
        &sink,
        stored,
    )
    .await;
    record(handle, &result, false).await;
    if let Err(e) = result {
        let _ = tx.send(Reply::Error {
            class: e.class(),
            message: e.to_string(),
        });
    }
    drop(sink);
    drop(tx);
    let _ = writer.await;
}

async fn asked_backup(
    config: &Config,
    handle: &MonitorHandle,
    (repos, connections, other_engine): (&mut Repositories, &Connections, Option<&dyn StoreEngine>),
    request: &Request,
    progress: &dyn ProgressSink,
    stored: impl FnOnce(&BackupReport),
) -> BackupResult<BackupReport> {
    let db = config.database_name()?;
    if request.database != db {
        return Err(BackupError::Refused(format!(
            "the monitor using {} captures database {db}, not {}: use the configuration it runs with",
            config.bitmap_engine.persistence_path.display(),
            request.database
        )));
    }
    let repo = repos.get(&request.repository, false)?;
    info!(
        "backup asked for through {}: into {}",
        SOCKET_FILE,
        repo.describe()
    );
    let options = &request.options;
    let store: &dyn StoreEngine = match other_engine {
        Some(other) if other.engine() == options.engine => other,
        _ if options.engine == Tdibt.engine() => &Tdibt,
        _ => {
            return Err(BackupError::Refused(format!(
                "this monitor cannot back up with {}: it was started without that engine (a `tdibt monitor` runs taosdump's; stop this one to back up standalone)",
                options.engine
            )))
        }
    };
    backup_through(
        handle,
        config,
        (connections, &repo, store),
        options,
        progress,
        stored,
    )
    .await
}

async fn read_request(read: tokio::net::unix::OwnedReadHalf) -> Result<Request, String> {
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Err(format!("no request within {REQUEST_TIMEOUT:?}")),
        Ok(Err(e)) => Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) if !line.ends_with('\n') => Err(format!(
            "the request is not one line of at most {MAX_REQUEST} bytes"
        )),
        Ok(Ok(_)) => serde_json::from_str(&line).map_err(|e| format!("bad request: {e}")),
    }
}

async fn write_reply(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await
}

/// Progress sent down the socket (through the writer task, so the backup never waits on a
/// slow or vanished reader).
struct ChannelSink(mpsc::UnboundedSender<Reply>);

impl ProgressSink for ChannelSink {
    fn update(&self, what: &str, progress: Progress) {
        let _ = self.0.send(Reply::Progress {
            what: what.to_string(),
            progress,
        });
    }

    fn finish(&self, what: &str) {
        let _ = self.0.send(Reply::Finish {
            what: what.to_string(),
        });
    }
}

/// One backup through the monitor with engine `store`: `begin` at a cut, the engine-free
/// phases here, `fold` at a cut; `stored` hears of the backup between the last two (it
/// exists from then on). A failure leaves the frozen generation for the next backup to
/// resume.
pub async fn backup_through(
    handle: &MonitorHandle,
    config: &Config,
    (connections, repo, store): (&Connections, &Repository, &dyn StoreEngine),
    options: &BackupOptions,
    progress: &dyn ProgressSink,
    stored: impl FnOnce(&BackupReport),
) -> BackupResult<BackupReport> {
    crate::backup::check_engine(store, options)?;
    let clock = Instant::now();
    let db = config.database_name()?.to_string();
    // Shared with the monitor's task for `begin`, which may discard a journal.
    let lock = Arc::new(repo.lock("backup")?);
    let batch_size = store.batch_size(config.backup.batch_size);
    let (job_lock, job_options) = (Arc::clone(&lock), options.clone());
    let phase = Instant::now();
    let mut started = handle
        .at_cut(move |cp| begin(&job_lock, cp, &db, &job_options, batch_size))
        .await??;
    let began = phase.elapsed().as_secs_f64();
    let (manifest, mut report) = store
        .store(StoreJob {
            config,
            connections,
            lock: &lock,
            started: &mut started,
            options,
            progress,
            began: (clock, began),
        })
        .await?;
    stored(&report);
    let phase = Instant::now();
    handle.at_cut(move |cp| fold(cp, &manifest)).await??;
    drop(lock);
    report.folded(phase, clock);
    Ok(report)
}

/// When the monitor takes a backup on its own.
struct AutoBackups {
    every: Option<Duration>,
    after_blocks: Option<u64>,
    last: Instant,
}

impl AutoBackups {
    fn new(options: &ServeOptions) -> Self {
        AutoBackups {
            every: options.backup_every,
            after_blocks: options.backup_after_blocks,
            last: Instant::now(),
        }
    }

    fn enabled(&self) -> bool {
        self.every.is_some() || self.after_blocks.is_some()
    }

    /// Whether a backup is due: something changed and the interval passed, or enough
    /// blocks changed. Nothing changed, nothing taken.
    async fn due(&mut self, handle: &MonitorHandle) -> bool {
        let Ok(counts) = handle.counts().await else {
            return false;
        };
        let changed = counts.new + counts.dirty + counts.deleted;
        let interval_passed = self.every.is_some_and(|d| self.last.elapsed() >= d);
        let enough = self.after_blocks.is_some_and(|n| changed >= n.max(1));
        if changed == 0 || !(interval_passed || enough) {
            return false;
        }
        // The interval counts from this attempt: a failed backup is retried at the next
        // tick, not in a loop.
        self.last = Instant::now();
        true
    }
}

/// An automatic backup into the configured repository: an incremental on the newest
/// backup, or a full when the repository has none of the database (created if missing).
async fn auto_backup(
    config: &Config,
    handle: &MonitorHandle,
    repos: &mut Repositories,
    connections: &Connections,
    jobs: usize,
) {
    let taken = async {
        let repo = repos.get(&config.backup.output_path, true)?;
        let options = BackupOptions {
            jobs: jobs.max(1),
            drain: false,
            ..BackupOptions::default()
        };
        let progress = &crate::NoProgress;
        backup_through(
            handle,
            config,
            (connections, &repo, &Tdibt),
            &options,
            progress,
            |_| {},
        )
        .await
    }
    .await;
    match &taken {
        Ok(r) => info!(
            "automatic backup {} ({:?}): {} block(s), {} row(s) in {:.2} s",
            r.backup, r.kind, r.stats.blocks, r.stats.rows, r.seconds
        ),
        Err(e) => warn!("automatic backup failed: {e}; retried at the next tick"),
    }
    record(handle, &taken, true).await;
}

/// Counts a backup in the monitor's stats and metrics.
async fn record(handle: &MonitorHandle, result: &BackupResult<BackupReport>, automatic: bool) {
    let run = match result {
        Ok(r) => BackupRunStats {
            finished_at_unix_ms: now_unix_ms(),
            seconds: r.seconds,
            ok: true,
            error: None,
            backup: Some(r.backup.to_string()),
            blocks: r.stats.blocks,
            automatic,
        },
        Err(e) => BackupRunStats {
            finished_at_unix_ms: now_unix_ms(),
            ok: false,
            error: Some(e.to_string()),
            automatic,
            ..BackupRunStats::default()
        },
    };
    handle.record_backup(run).await;
}
