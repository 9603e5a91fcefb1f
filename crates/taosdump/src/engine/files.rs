//! taosdump's output in the repository: each file of the staging folder cut into parts and
//! stored like blocks (packs, content addressed, so a file already stored costs nothing),
//! listed in the manifest by its path; and written back out for a restore.

use std::path::{Component, Path, PathBuf};

use tdibt_repository::lock::RepoLock;
use tdibt_repository::repo::Added;
use tdibt_repository::{BlockHash, Compression, Repository, StoredFile};

use crate::error::{TaosdumpError, TaosdumpResult};

/// Bytes per stored part: large enough that a pack's index stays small, small enough that
/// a restore holds one part in memory at a time.
const PART_BYTES: usize = 4 << 20;
/// A pack is written once it holds this many bytes.
const PACK_BYTES: usize = 16 << 20;

/// What [`store_folder`] stored.
pub struct StoredFolder {
    pub files: Vec<StoredFile>,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub reused_parts: u64,
}

/// Stores every file under `dir` (sorted by path) and makes the packs durable.
pub fn store_folder(
    lock: &RepoLock,
    dir: &Path,
    compression: Compression,
) -> TaosdumpResult<StoredFolder> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.sort();
    let mut writer = lock.block_writer(lock.repo().reusable_blocks(), compression, PACK_BYTES);
    let mut pending: Vec<(usize, usize, BlockHash)> = Vec::new();
    let mut files = Vec::new();
    let (mut raw_bytes, mut reused_parts) = (0u64, 0u64);
    for path in &paths {
        let bytes = std::fs::read(path).map_err(|e| TaosdumpError::io("read", path, e))?;
        raw_bytes += bytes.len() as u64;
        let mut parts = Vec::new();
        for (j, chunk) in bytes.chunks(PART_BYTES).enumerate() {
            // A pack written on the way is known to the writer (`reference` below).
            let (added, _) = writer.add(chunk)?;
            match added {
                Added::Reused(r) => {
                    reused_parts += 1;
                    parts.push(Some(r));
                }
                Added::Pending(hash) => {
                    pending.push((files.len(), j, hash));
                    parts.push(None);
                }
            }
        }
        files.push((relative(dir, path)?, bytes.len() as u64, parts));
    }
    writer.flush()?;
    for (file, part, hash) in pending {
        let r = writer.reference(&hash).ok_or_else(|| {
            TaosdumpError::Refused(format!("part {hash} of a dump file was not stored"))
        })?;
        files[file].2[part] = Some(r);
    }
    let files = files
        .into_iter()
        .map(|(path, bytes, parts)| StoredFile {
            path,
            bytes,
            parts: parts.into_iter().flatten().collect(),
        })
        .collect();
    Ok(StoredFolder {
        files,
        raw_bytes,
        stored_bytes: writer.stored_bytes(),
        reused_parts,
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> TaosdumpResult<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| TaosdumpError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TaosdumpError::io("list", dir, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| TaosdumpError::io("inspect", entry.path(), e))?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        } else {
            return Err(TaosdumpError::bad_file(
                entry.path(),
                "neither a file nor a folder in taosdump's output: refused rather than stored as something else",
            ));
        }
    }
    Ok(())
}

/// `path` under `dir` as `a/b/c` (UTF-8: a manifest is JSON).
fn relative(dir: &Path, path: &Path) -> TaosdumpResult<String> {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    parts.map(|p| p.join("/")).ok_or_else(|| {
        TaosdumpError::bad_file(path, "a file name that is not UTF-8 in taosdump's output")
    })
}

/// Writes `files` out under `dir`, each part read back and checked against its hash. A
/// path that would leave `dir` (absolute, `..`) is refused: a manifest is input.
pub fn extract(repo: &Repository, files: &[StoredFile], dir: &Path) -> TaosdumpResult<()> {
    for f in files {
        let rel = Path::new(&f.path);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(TaosdumpError::Refused(format!(
                "the manifest lists a file {:?} outside its backup's folder: refused",
                f.path
            )));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| TaosdumpError::io("create", parent, e))?;
        }
        let mut bytes = Vec::with_capacity(f.bytes as usize);
        for part in &f.parts {
            bytes.extend(repo.read_block(part)?);
        }
        if bytes.len() as u64 != f.bytes {
            return Err(TaosdumpError::Refused(format!(
                "file {} reads back as {} bytes, the manifest says {}",
                f.path,
                bytes.len(),
                f.bytes
            )));
        }
        std::fs::write(&path, &bytes).map_err(|e| TaosdumpError::io("write", &path, e))?;
    }
    Ok(())
}
