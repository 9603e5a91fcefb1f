//! libtdibt: the specification's C API over the same libraries the `tdibt` binary drives.
//! This layer converts arguments and errors, owns a tokio runtime and the background
//! monitor, and does nothing else: a backup asked for while monitoring runs goes through the
//! running monitor exactly as `tdibt backup` beside `tdibt monitor` does.
//!
//! Every call returns `TDIBT_OK` (0) or a negative code whose family matches the CLI's exit
//! codes (`TDIBT_ERR_CONFIG` = -3 for exit code 3, ...); `tdibt_last_error` gives the
//! message of the calling thread's last failure. Calls are thread-safe (they run one at a
//! time), a call in the wrong order returns `TDIBT_ERR_STATE`, and no Rust panic crosses into
//! C (`TDIBT_ERR_PANIC`).

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

mod error;
mod state;

use error::CapiError;

/// Success.
pub const TDIBT_OK: i32 = 0;
/// The operation failed (I/O, or anything not covered below). CLI exit code 1.
pub const TDIBT_ERR_FAILURE: i32 = -1;
/// A bad argument: a required string is NULL or not UTF-8, a stats struct is too small.
/// (CLI exit code 2: a bad command line.)
pub const TDIBT_ERR_ARGUMENT: i32 = -2;
/// The configuration file is invalid. CLI exit code 3.
pub const TDIBT_ERR_CONFIG: i32 = -3;
/// The checkpoint is missing, corrupt or unreadable, or the persistence folder is in use.
/// CLI exit code 4.
pub const TDIBT_ERR_CHECKPOINT: i32 = -4;
/// TDengine is unreachable, refused the login, or lacks the database. CLI exit code 5.
pub const TDIBT_ERR_TDENGINE: i32 = -5;
/// The repository is missing, locked or damaged, or lacks the backup asked for. CLI exit
/// code 6.
pub const TDIBT_ERR_REPOSITORY: i32 = -6;
/// Verification found problems. CLI exit code 7.
pub const TDIBT_ERR_VERIFICATION: i32 = -7;
/// A call in the wrong order: before `tdibt_init`, `tdibt_init` twice, `tdibt_cleanup`
/// twice, `tdibt_stop_monitoring` without monitoring.
pub const TDIBT_ERR_STATE: i32 = -8;
/// An internal error (a panic, caught at the boundary); the library stays usable.
pub const TDIBT_ERR_PANIC: i32 = -9;

/// The `version` `tdibt_get_stats` writes: the fields below, in this order.
pub const TDIBT_STATS_VERSION: u32 = 1;

/// The engine's and capture's figures. Set `size` to `sizeof(TDIBTStats)` before calling
/// `tdibt_get_stats`; later versions only add fields at the end.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct TDIBTStats {
    /// Set by the caller: the size of the struct it passes.
    pub size: u32,
    /// Set by the library: `TDIBT_STATS_VERSION`.
    pub version: u32,
    /// Blocks per state in the current generation.
    pub blocks_new: u64,
    pub blocks_dirty: u64,
    pub blocks_deleted: u64,
    /// Blocks the backup chain holds.
    pub blocks_present: u64,
    /// Tables in the catalog, and those not dropped.
    pub tables: u64,
    pub live_tables: u64,
    /// Capture's counters (of the last or running monitor).
    pub events: u64,
    pub blocks_marked: u64,
    pub rows: u64,
    pub events_per_second: f64,
    pub blocks_marked_per_second: f64,
    /// Heap bytes of the change bitmaps.
    pub memory_bytes: u64,
    /// Seconds since the last checkpoint was written.
    pub checkpoint_age_seconds: f64,
    /// WAL versions written but not yet consumed, over all vgroups.
    pub lag: i64,
    /// Unix ms when the last backup through the monitor ended; 0 when none did.
    pub last_backup_unix_ms: i64,
    pub backups_succeeded: u64,
    pub backups_failed: u64,
    /// 1 while this library's monitoring runs.
    pub monitoring: u32,
}

/// Runs `f`, turning its error or panic into a code and this thread's last error.
fn guard(f: impl FnOnce() -> Result<(), CapiError>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => TDIBT_OK,
        Ok(Err(e)) => {
            error::set_last(&e.message);
            e.code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            error::set_last(&format!("internal error (please report it): {what}"));
            TDIBT_ERR_PANIC
        }
    }
}

/// A C string argument; `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid during the call.
unsafe fn text<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, CapiError> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: not null, and the caller promises a NUL-terminated string (the API's contract).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(Some)
        .map_err(|_| CapiError::argument(format!("{name} is not UTF-8")))
}

fn required<'a>(s: Option<&'a str>, name: &str) -> Result<&'a str, CapiError> {
    s.ok_or_else(|| CapiError::argument(format!("{name} is NULL")))
}

/// Loads the configuration file (JSON, as `tdibt --config`) and prepares the library; sets
/// up the topic and the checkpoint, as `tdibt init` does, when there is no checkpoint yet.
///
/// # Safety
/// `config_path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tdibt_init(config_path: *const c_char) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract above.
        let path = required(unsafe { text(config_path, "config_path") }?, "config_path")?;
        state::init(path)
    })
}

/// Starts capturing `database`'s changes on a background thread (the configuration's
/// database when NULL or empty). While it runs, backups go through it.
///
/// # Safety
/// `database` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tdibt_start_monitoring(database: *const c_char) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract above.
        let db = unsafe { text(database, "database") }?;
        state::start_monitoring(db)
    })
}

/// Takes an incremental backup (a full one when the repository has none of the database)
/// into the repository `output_path` (the configuration's when NULL; created if missing),
/// on the newest backup finished at or before `since_timestamp` (milliseconds since the
/// epoch; 0: the newest backup), as `tdibt backup --since` does.
///
/// # Safety
/// `output_path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tdibt_backup_incremental(
    since_timestamp: i64,
    output_path: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { text(output_path, "output_path") }?;
        state::backup_incremental(since_timestamp, out)
    })
}

/// Writes `backup_script.sh` at `script_path` (and `restore_script.sh` beside it): taosdump
/// calls for exactly what changed since the last backup (`since_timestamp` 0) or since the
/// newest backup finished by then, as `tdibt taosdump-script` does.
///
/// # Safety
/// `script_path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tdibt_generate_taosdump_script(
    since_timestamp: i64,
    script_path: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract above.
        let path = required(unsafe { text(script_path, "script_path") }?, "script_path")?;
        state::generate_taosdump_script(since_timestamp, path)
    })
}

/// Verifies a repository (every manifest, chain link and block, re-hashed), or one backup's
/// manifest `REPOSITORY/manifests/ID.json` and its chain with it. `TDIBT_ERR_VERIFICATION`
/// when anything is wrong.
///
/// # Safety
/// `backup_path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tdibt_verify_backup(backup_path: *const c_char) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract above.
        let path = required(unsafe { text(backup_path, "backup_path") }?, "backup_path")?;
        state::verify_backup(path)
    })
}

/// Fills `stats` (whose `size` the caller set to `sizeof(TDIBTStats)`).
///
/// # Safety
/// `stats` is NULL or points to a writable `TDIBTStats` of at least `stats->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn tdibt_get_stats(stats: *mut TDIBTStats) -> i32 {
    guard(|| {
        if stats.is_null() {
            return Err(CapiError::argument("stats is NULL"));
        }
        // SAFETY: not null; the caller promises a writable struct of at least `size` bytes,
        // and `size` is the first field.
        let size = unsafe { (*stats).size } as usize;
        if size < std::mem::size_of::<TDIBTStats>() {
            return Err(CapiError::argument(format!(
                "stats->size is {size}: set it to sizeof(TDIBTStats) ({})",
                std::mem::size_of::<TDIBTStats>()
            )));
        }
        let mut filled = TDIBTStats {
            size: std::mem::size_of::<TDIBTStats>() as u32,
            ..TDIBTStats::default()
        };
        state::get_stats(&mut filled)?;
        // SAFETY: checked above: the caller's struct is at least this large and writable.
        unsafe { stats.write(filled) };
        Ok(())
    })
}

/// Stops monitoring as SIGTERM stops `tdibt monitor`: a backup in progress finishes, then
/// the feed is drained, checkpointed and committed. Does nothing when monitoring is not
/// running (`tdibt_last_error` then says so).
#[no_mangle]
pub extern "C" fn tdibt_stop_monitoring() {
    let _ = guard(state::stop_monitoring);
}

/// Stops monitoring if it runs and releases everything `tdibt_init` set up.
#[no_mangle]
pub extern "C" fn tdibt_cleanup() {
    let _ = guard(state::cleanup);
}

/// The message of the calling thread's last failure ("" if none). Valid until this thread's
/// next failing call; owned by the library.
#[no_mangle]
pub extern "C" fn tdibt_last_error() -> *const c_char {
    error::last()
}
