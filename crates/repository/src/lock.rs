//! The writer lock: one backup, merge or prune at a time. The lock file records who holds it
//! and refreshes a heartbeat; it is removed when the holder lets go. A lock whose holder is
//! provably gone (same host, no such process) is reported as stale, and still only broken
//! on request: restic's users show what silently broken locks cost.
//!
//! Each acquisition writes a token of its own. The holder checks it before every refresh and
//! before letting go: a lock broken by hand and taken by another writer is never refreshed
//! or removed by its former holder, which learns from the refresh that it lost the lock.
//! (Object stores have no compare-and-swap here: between the check and the write another
//! writer could step in; the window is one round trip, and the next refresh notices.)

use std::sync::atomic::{AtomicU64, Ordering};

use tdibt_core::clock::now_unix_ms;

use serde::{Deserialize, Serialize};

use crate::error::{RepoError, RepoResult};
use crate::handle::Handle;
use crate::repo::Repository;
use crate::store::Store;
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub operation: String,
    pub host: String,
    pub pid: u32,
    pub started_at_unix_ms: i64,
    pub heartbeat_at_unix_ms: i64,
    /// Tells this acquisition from any other (locks written before tokens have none).
    #[serde(default)]
    pub token: String,
}

impl LockInfo {
    /// Whether the holder is provably gone: it ran on this host and its process is not there.
    pub fn is_stale(&self) -> bool {
        self.host == host_name() && !process_exists(self.pid)
    }
}

/// A held lock; dropping it releases it. It is the only way to write to a repository
/// (manifests, packs, journals: see `write.rs`), so no code path can write unlocked; reads
/// go through [`RepoLock::repo`] or any [`Repository`] handle.
pub struct RepoLock {
    repo: Repository,
    info: Mutex<LockInfo>,
}

impl RepoLock {
    /// The repository this lock holds, for reading.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    pub fn info(&self) -> LockInfo {
        self.held().clone()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, LockInfo> {
        // A writer that panicked mid-heartbeat leaves a complete LockInfo behind.
        self.info
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refreshes the heartbeat (long operations call this now and then); fails if the lock
    /// is no longer this one.
    pub fn heartbeat(&self) -> RepoResult<()> {
        self.check_still_ours()?;
        let mut info = self.held();
        info.heartbeat_at_unix_ms = now_unix_ms();
        let bytes = serde_json::to_vec_pretty(&*info).unwrap_or_default();
        self.repo
            .store()
            .write_atomic(&Handle::lock(), &bytes)
            .map_err(|e| RepoError::io(Handle::lock().key(), e))
    }

    /// Fails unless the repository's lock is still this one (not broken and taken by
    /// another writer): every write that must not happen unlocked checks it first.
    pub(crate) fn check_still_ours(&self) -> RepoResult<()> {
        let token = self.held().token.clone();
        match read(self.repo.store())? {
            Some(held) if held.token == token => Ok(()),
            held => Err(RepoError::LockLost {
                operation: self.held().operation.clone(),
                now: match held {
                    Some(h) => format!("held by {} (host {}, pid {})", h.operation, h.host, h.pid),
                    None => "not held".into(),
                },
            }),
        }
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        // Only our own lock: one taken over by another writer is theirs to remove.
        if self.check_still_ours().is_ok() {
            let _ = self.repo.store().remove(&Handle::lock());
        }
    }
}

/// A token no other acquisition has: host, process, time and a per-process counter.
fn new_token(host: &str, now: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{host}/{}/{now}/{n}", std::process::id())
}

pub(crate) fn acquire(repo: &Repository, operation: &str) -> RepoResult<RepoLock> {
    let store = repo.store();
    let now = now_unix_ms();
    let host = host_name();
    let info = LockInfo {
        operation: operation.to_string(),
        token: new_token(&host, now),
        host,
        pid: std::process::id(),
        started_at_unix_ms: now,
        heartbeat_at_unix_ms: now,
    };
    let bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
    if store
        .create_new(&Handle::lock(), &bytes)
        .map_err(|e| RepoError::io(Handle::lock().key(), e))?
    {
        return Ok(RepoLock {
            repo: repo.clone(),
            info: Mutex::new(info),
        });
    }
    let held = read(store)?;
    Err(match held {
        Some(h) => RepoError::Locked {
            age_seconds: (now - h.started_at_unix_ms).max(0) / 1000,
            stale: if h.is_stale() {
                "; stale: that process no longer exists"
            } else {
                ""
            },
            operation: h.operation,
            host: h.host,
            pid: h.pid,
        },
        None => RepoError::corrupt(Handle::lock().key(), "exists but cannot be read"),
    })
}

/// The lock's holder, if the repository is locked.
pub(crate) fn read(store: &dyn Store) -> RepoResult<Option<LockInfo>> {
    match store.read(&Handle::lock()) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| RepoError::corrupt(Handle::lock().key(), e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RepoError::io(Handle::lock().key(), e)),
    }
}

/// This machine's name (Linux: the kernel's; elsewhere `HOSTNAME` or "localhost").
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process exists on this machine (Linux: `/proc/<pid>`; elsewhere assume it does,
/// so a lock is never called stale without proof).
fn process_exists(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}
