//! The persistence folder's owner: one process at a time writes its checkpoint (a running
//! monitor, or a backup that drains the feed and freezes a generation itself).
//!
//! An OS file lock (`flock`) on `owner.lock`: the kernel releases it when the holder dies,
//! so a crashed monitor never leaves a stale lock behind. The file's text names the holder
//! for the error message; it is informative only, the lock is what counts.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file inside the persistence folder.
pub const OWNER_FILE: &str = "owner.lock";

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("cannot open {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the persistence folder {dir} is in use by {holder}; only one monitor or backup can use it at a time")]
    Busy { dir: PathBuf, holder: String },
}

/// Held while this process owns the folder; dropping it lets go.
#[derive(Debug)]
pub struct OwnerLock {
    _file: File,
}

impl OwnerLock {
    /// Takes the folder for `operation` (e.g. "monitor"), or says who has it.
    pub fn acquire(dir: &Path, operation: &str) -> Result<OwnerLock, OwnerError> {
        let path = dir.join(OWNER_FILE);
        let io = |source| OwnerError::Io {
            path: path.clone(),
            source,
        };
        let mut file = crate::durable::private(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .open(&path)
        .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(OwnerError::Busy {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another process".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let text = format!("{operation} (pid {})\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .map_err(io)?;
        Ok(OwnerLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_by_name_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = OwnerLock::acquire(dir.path(), "monitor").unwrap();
        let err = OwnerLock::acquire(dir.path(), "backup")
            .unwrap_err()
            .to_string();
        assert!(err.contains("monitor (pid"), "{err}");
        drop(first);
        OwnerLock::acquire(dir.path(), "backup").unwrap();
    }
}
