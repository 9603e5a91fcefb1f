//! What the C calls do, in Rust: one library state behind a lock (calls are thread-safe and
//! run one at a time), a tokio runtime it owns, and the monitor it runs in the background.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tdibt_backup::{BackupOptions, NoProgress, Pick, ServeOptions, VerifyOptions};
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::config::Config;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::error::CapiError;
use crate::TDIBTStats;

type CapiResult<T = ()> = Result<T, CapiError>;

/// The library after `tdibt_init`.
pub struct State {
    config: Config,
    runtime: Runtime,
    monitor: Option<Monitor>,
}

/// The monitor `tdibt_start_monitoring` started: the engine's owner until stopped.
struct Monitor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), CapiError>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// The state, whatever a panicking call left (every call leaves it consistent before it can
/// panic: the lock only guards which objects exist).
fn state() -> MutexGuard<'static, Option<State>> {
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn initialized(guard: &mut Option<State>) -> CapiResult<&mut State> {
    guard
        .as_mut()
        .ok_or_else(|| CapiError::state("tdibt_init has not been called (or tdibt_cleanup was)"))
}

pub fn init(config_path: &str) -> CapiResult {
    let mut guard = state();
    if guard.is_some() {
        return Err(CapiError::state(
            "tdibt_init was already called: call tdibt_cleanup first",
        ));
    }
    let config = Config::load(Path::new(config_path))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tdibt")
        .enable_all()
        .build()
        .map_err(|e| CapiError::new(crate::TDIBT_ERR_FAILURE, format!("runtime: {e}")))?;
    // As `tdibt init`: the topic and the checkpoint, when there is none yet.
    if !checkpoint_path(&config.bitmap_engine.persistence_path).exists() {
        runtime.block_on(tdibt_capture::init(&config))?;
    }
    *guard = Some(State {
        config,
        runtime,
        monitor: None,
    });
    Ok(())
}

pub fn start_monitoring(database: Option<&str>) -> CapiResult {
    let mut guard = state();
    let state = initialized(&mut guard)?;
    if let Some(m) = &state.monitor {
        if !m.task.is_finished() {
            return Err(CapiError::state("monitoring is already running"));
        }
    }
    if let Some(db) = database.filter(|d| !d.is_empty()) {
        if state.config.database.name.as_deref() != Some(db) {
            state.config.database.name = Some(db.to_string());
        }
    }
    let config = state.config.clone();
    // A database the checkpoint does not know yet is set up as `tdibt init` would.
    let db = config.database_name()?.to_string();
    let path = checkpoint_path(&config.bitmap_engine.persistence_path);
    let known = Checkpoint::load(&path)
        .map(|cp| cp.catalog.database(&db).is_some())
        .unwrap_or(false);
    if !known {
        state.runtime.block_on(tdibt_capture::init(&config))?;
    }
    // The monitor holds the persistence folder: a folder in use ends the task at once, and
    // the wait below returns its error as this call's.
    let (stop, stop_rx) = watch::channel(false);
    let task = state.runtime.spawn(async move {
        let options = ServeOptions {
            jobs: 4,
            ..ServeOptions::default()
        };
        tdibt_backup::serve_monitor(&config, options, stop_rx)
            .await
            .map(|_| ())
            .map_err(CapiError::from)
    });
    let socket = tdibt_backup::live::socket_path(&state.config.bitmap_engine.persistence_path);
    // Serving once its socket exists: a backup asked for right after goes through it.
    state.runtime.block_on(async {
        let waited = std::time::Instant::now();
        while !socket.exists() && !task.is_finished() {
            if waited.elapsed() > std::time::Duration::from_secs(30) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    if task.is_finished() {
        return match state.runtime.block_on(task) {
            Ok(Ok(())) => Err(CapiError::new(
                crate::TDIBT_ERR_FAILURE,
                "the monitor stopped as soon as it started",
            )),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(CapiError::new(crate::TDIBT_ERR_FAILURE, e.to_string())),
        };
    }
    state.monitor = Some(Monitor { stop, task });
    Ok(())
}

/// Stops monitoring as SIGTERM does (a backup in progress finishes; drain, checkpoint,
/// commit). An error if monitoring was not running or ended in failure.
pub fn stop_monitoring() -> CapiResult {
    let mut guard = state();
    let state = initialized(&mut guard)?;
    let monitor = state
        .monitor
        .take()
        .ok_or_else(|| CapiError::state("monitoring is not running"))?;
    stop(&state.runtime, monitor)
}

fn stop(runtime: &Runtime, monitor: Monitor) -> CapiResult {
    let _ = monitor.stop.send(true);
    match runtime.block_on(monitor.task) {
        Ok(result) => result,
        Err(e) => Err(CapiError::new(crate::TDIBT_ERR_FAILURE, e.to_string())),
    }
}

pub fn backup_incremental(since_ms: i64, output_path: Option<&str>) -> CapiResult {
    let mut guard = state();
    let state = initialized(&mut guard)?;
    let mut config = state.config.clone();
    if let Some(out) = output_path.filter(|o| !o.is_empty()) {
        config.backup.output_path = PathBuf::from(out);
    }
    let options = BackupOptions {
        since: since_pick(since_ms)?,
        ..BackupOptions::default()
    };
    let repo = tdibt_backup::open_or_create(&config.backup.output_path)?;
    // Through the running monitor when there is one (this library's or another process's),
    // standalone otherwise: `tdibt backup`'s path and guarantees.
    state
        .runtime
        .block_on(tdibt_backup::backup(&config, &repo, &options, &NoProgress))?;
    Ok(())
}

/// `since_timestamp` as `--since DATE`: 0 is the newest backup.
fn since_pick(since_ms: i64) -> CapiResult<Pick> {
    match since_ms {
        0 => Ok(Pick::Latest),
        ms if ms > 0 => Ok(Pick::AtOrBefore(ms)),
        ms => Err(CapiError::argument(format!(
            "since_timestamp {ms}: milliseconds since the epoch, or 0 for the last backup"
        ))),
    }
}

pub fn generate_taosdump_script(since_ms: i64, script_path: &str) -> CapiResult {
    let mut guard = state();
    let state = initialized(&mut guard)?;
    let since = match since_pick(since_ms)? {
        Pick::Latest => None,
        pick => Some(pick),
    };
    let config = state.config.clone();
    let doc = state
        .runtime
        .block_on(tdibt_taosdump::source::plan_now(&config, since))?;
    let options = tdibt_taosdump::script::ScriptOptions {
        host: Some(config.database.host.clone()),
        user: Some(config.database.user.clone()),
        ..Default::default()
    };
    tdibt_taosdump::script::write_scripts(&doc, &options, Path::new(script_path))?;
    Ok(())
}

pub fn verify_backup(backup_path: &str) -> CapiResult {
    let mut guard = state();
    let state = initialized(&mut guard)?;
    let (repository, pick) = tdibt_backup::pick::parse_backup_location(backup_path)
        .map_err(|e| CapiError::argument(format!("backup_path: {e}")))?;
    let location = repository.unwrap_or_else(|| state.config.backup.output_path.clone());
    let store = tdibt_repository_store(&location)?;
    let repo =
        tdibt_repository::Repository::open(store).map_err(tdibt_backup::BackupError::from)?;
    if let Pick::Backup(id) = &pick {
        // The named backup and its chain must read.
        repo.chain(id).map_err(tdibt_backup::BackupError::from)?;
    }
    let options = VerifyOptions {
        read_data: true,
        against: None,
    };
    let report = state
        .runtime
        .block_on(tdibt_backup::run_verify(&repo, &options, &NoProgress))?;
    if report.ok {
        Ok(())
    } else {
        Err(CapiError::new(
            crate::TDIBT_ERR_VERIFICATION,
            format!(
                "{}: {} problem(s) found",
                repo.describe(),
                report.repository.problems.len()
            ),
        ))
    }
}

fn tdibt_repository_store(location: &Path) -> CapiResult<Box<dyn tdibt_repository::Store>> {
    tdibt_repository::store::for_location(location).map_err(|e| {
        CapiError::of(
            tdibt_core::ErrorClass::Config,
            format!("{}: {e}", location.display()),
        )
    })
}

pub fn get_stats(out: &mut TDIBTStats) -> CapiResult {
    let mut guard = state();
    let state = initialized(&mut guard)?;
    let dir = &state.config.bitmap_engine.persistence_path;
    let cp = Checkpoint::load(&checkpoint_path(dir))?;
    let counts = cp.engine.counts();
    let now = tdibt_core::clock::now_unix_ms();
    out.version = crate::TDIBT_STATS_VERSION;
    out.blocks_new = counts.new;
    out.blocks_dirty = counts.dirty;
    out.blocks_deleted = counts.deleted;
    out.blocks_present = counts.present;
    out.tables = cp.catalog.len() as u64;
    out.live_tables = cp.catalog.live_tables() as u64;
    out.memory_bytes = cp.engine.heap_bytes();
    out.checkpoint_age_seconds = (now - cp.written_at_unix_ms).max(0) as f64 / 1000.0;
    out.monitoring = u32::from(
        state
            .monitor
            .as_ref()
            .is_some_and(|m| !m.task.is_finished()),
    );
    let capture: Option<tdibt_capture::stats::CaptureStats> =
        std::fs::read(dir.join(tdibt_capture::STATS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(c) = capture {
        out.events = c.events;
        out.blocks_marked = c.blocks_marked;
        out.rows = c.rows;
        out.events_per_second = c.events_per_second;
        out.blocks_marked_per_second = c.blocks_marked_per_second;
        out.lag = c.vgroups.iter().map(|v| v.lag).sum();
        out.backups_succeeded = c.backups.succeeded;
        out.backups_failed = c.backups.failed;
        out.last_backup_unix_ms = c
            .backups
            .last
            .as_ref()
            .map(|l| l.finished_at_unix_ms)
            .unwrap_or(0);
    }
    Ok(())
}

pub fn cleanup() -> CapiResult {
    let mut guard = state();
    let state = guard
        .take()
        .ok_or_else(|| CapiError::state("tdibt_init has not been called (or tdibt_cleanup was)"))?;
    let stopped = match state.monitor {
        Some(m) => stop(&state.runtime, m),
        None => Ok(()),
    };
    state
        .runtime
        .shutdown_timeout(std::time::Duration::from_secs(5));
    stopped
}
