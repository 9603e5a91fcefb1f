//! Where a repository's files live. Everything above goes through [`Store`], so object
//! storage can stand behind the same repository logic; [`LocalStore`] is a folder.
//!
//! Keys are `/`-separated relative paths (`packs/ab/<hash>.pack`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tdibt_core::durable;

/// A repository's storage.
pub trait Store: Send + Sync {
    /// The whole object; `NotFound` when absent.
    fn read(&self, key: &str) -> io::Result<Vec<u8>>;
    /// A byte range of an object.
    fn read_range(&self, key: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Writes an object so that readers see the old version or the whole new one, durably.
    fn write_atomic(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// Creates an object only if it does not exist; `false` if it did (for locks).
    fn create_new(&self, key: &str, bytes: &[u8]) -> io::Result<bool>;
    fn exists(&self, key: &str) -> io::Result<bool>;
    fn remove(&self, key: &str) -> io::Result<()>;
    /// Keys under a prefix (a "folder"), sorted; empty when the folder does not exist.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Where this store is, for messages.
    fn describe(&self) -> String;
}

/// The store a repository location names: object storage for `s3://bucket/prefix`
/// (credentials and endpoint from the `AWS_*` variables), a local folder otherwise. An
/// unusable URL is an error naming it.
pub fn for_location(location: &Path) -> io::Result<Box<dyn Store>> {
    match location.to_str() {
        Some(url) if url.starts_with("s3://") => Ok(Box::new(crate::object::BucketStore::s3(url)?)),
        _ => Ok(Box::new(LocalStore::new(location))),
    }
}

/// A repository in a local folder.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        key.split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    fn ensure_parent(&self, path: &Path) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                durable::create_private_dir(parent)?;
                // The new folder's entry in its own parent must survive a crash too.
                if let Some(grand) = parent.parent() {
                    durable::sync_dir(grand)?;
                }
            }
        }
        Ok(())
    }
}

impl Store for LocalStore {
    fn read(&self, key: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(key))
    }

    fn read_range(&self, key: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = fs::File::open(self.path(key))?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn write_atomic(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        self.ensure_parent(&path)?;
        durable::write_atomic(&path, bytes)
    }

    fn create_new(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        let path = self.path(key);
        self.ensure_parent(&path)?;
        let mut f =
            match durable::private(OpenOptions::new().write(true).create_new(true)).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(e),
            };
        f.write_all(bytes)?;
        f.sync_all()?;
        durable::sync_dir(&durable::parent_dir(&path))?;
        Ok(true)
    }

    fn exists(&self, key: &str) -> io::Result<bool> {
        self.path(key).try_exists()
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => durable::sync_dir(&durable::parent_dir(&path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let base = self.path(prefix.trim_end_matches('/'));
        if !base.exists() {
            return Ok(out);
        }
        let mut stack = vec![(base, prefix.trim_end_matches('/').to_string())];
        while let Some((dir, key)) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                // Temporary files of interrupted writes are not objects.
                if name.starts_with('.') {
                    continue;
                }
                let child = if key.is_empty() {
                    name
                } else {
                    format!("{key}/{name}")
                };
                if entry.file_type()?.is_dir() {
                    stack.push((entry.path(), child));
                } else {
                    out.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_store_round_trips_lists_and_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path());
        s.write_atomic("packs/ab/x.pack", b"hello world").unwrap();
        s.write_atomic("manifests/b.json", b"{}").unwrap();
        assert_eq!(s.read("packs/ab/x.pack").unwrap(), b"hello world");
        assert_eq!(s.read_range("packs/ab/x.pack", 6, 5).unwrap(), b"world");
        assert_eq!(s.list("packs").unwrap(), ["packs/ab/x.pack"]);
        assert_eq!(s.list("").unwrap(), ["manifests/b.json", "packs/ab/x.pack"]);
        assert!(s.list("nothing").unwrap().is_empty());
        assert!(s.create_new("lock.json", b"1").unwrap());
        assert!(!s.create_new("lock.json", b"2").unwrap());
        assert_eq!(s.read("lock.json").unwrap(), b"1");
        s.remove("lock.json").unwrap();
        s.remove("lock.json").unwrap();
        assert!(!s.exists("lock.json").unwrap());
        assert_eq!(s.read("nope").unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
