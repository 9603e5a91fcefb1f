//! Where a repository's files live. Everything above goes through [`Store`], so object
//! storage can stand behind the same repository logic; [`LocalStore`] is a folder.
//!
//! A store is asked for files by [`Handle`]; each backend turns a handle into its own
//! place with [`Handle::key`] (`/`-separated, `packs/ab/<hash>.pack`) and nothing else.
//! Every backend passes the one conformance suite (`tests/it/conformance.rs`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tdibt_core::durable;

use crate::handle::{FileKind, Handle};

/// A repository's storage.
pub trait Store: Send + Sync {
    /// The whole file; `NotFound` when absent.
    fn read(&self, file: &Handle) -> io::Result<Vec<u8>>;
    /// A byte range of a file; `UnexpectedEof` when the file is shorter.
    fn read_range(&self, file: &Handle, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Writes a file so that readers see the old version or the whole new one, durably.
    fn write_atomic(&self, file: &Handle, bytes: &[u8]) -> io::Result<()>;
    /// Creates a file only if it does not exist; `false` if it did (for locks).
    fn create_new(&self, file: &Handle, bytes: &[u8]) -> io::Result<bool>;
    fn exists(&self, file: &Handle) -> io::Result<bool>;
    /// Removes a file; removing one that is not there is no error.
    fn remove(&self, file: &Handle) -> io::Result<()>;
    /// The files of `kind`, sorted; anything else where they live is left out.
    fn list(&self, kind: FileKind) -> io::Result<Vec<Handle>>;
    /// Whether the location holds nothing at all, repository file or not: a repository is
    /// only ever created in an empty place.
    fn is_empty(&self) -> io::Result<bool>;
    /// Where this store is, for messages.
    fn describe(&self) -> String;
}

/// [`Store::list`] over a backend's keys under `kind`'s folder.
pub(crate) fn handles_of(kind: FileKind, keys: Vec<String>) -> Vec<Handle> {
    let mut out: Vec<Handle> = keys
        .iter()
        .filter_map(|k| Handle::from_key(kind, k))
        .collect();
    out.sort();
    out
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
    fn read(&self, file: &Handle) -> io::Result<Vec<u8>> {
        fs::read(self.path(&file.key()))
    }

    fn read_range(&self, file: &Handle, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = fs::File::open(self.path(&file.key()))?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn write_atomic(&self, file: &Handle, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(&file.key());
        self.ensure_parent(&path)?;
        durable::write_atomic(&path, bytes)
    }

    fn create_new(&self, file: &Handle, bytes: &[u8]) -> io::Result<bool> {
        let path = self.path(&file.key());
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

    fn exists(&self, file: &Handle) -> io::Result<bool> {
        self.path(&file.key()).try_exists()
    }

    fn remove(&self, file: &Handle) -> io::Result<()> {
        let path = self.path(&file.key());
        match fs::remove_file(&path) {
            Ok(()) => durable::sync_dir(&durable::parent_dir(&path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self, kind: FileKind) -> io::Result<Vec<Handle>> {
        Ok(handles_of(kind, self.keys_under(kind.folder())?))
    }

    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.keys_under("")?.is_empty())
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

impl LocalStore {
    /// Every file's key under `prefix` (a folder), sorted; none when it does not exist.
    fn keys_under(&self, prefix: &str) -> io::Result<Vec<String>> {
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
}
