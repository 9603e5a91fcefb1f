//! Reading stored windows back, for restore and verify.

use std::sync::Arc;
use tdibt_core::Precision;

use tdibt_repository::{BlockEntry, Engine, Manifest, Repository};
use tdibt_tdengine::export::ExportedBlock;

use crate::error::{BackupError, BackupResult};

/// The blocks of a stored window, for restore and verify.
pub(crate) fn load_window(
    repo: &Repository,
    entry: &BlockEntry,
) -> BackupResult<Vec<ExportedBlock>> {
    let mut parts = Vec::with_capacity(entry.parts.len());
    let mut rows_left = entry.rows as usize;
    for (i, r) in entry.parts.iter().enumerate() {
        let bytes = repo.read_block(r)?;
        // The part's own row count is in its raw-block header; the entry holds the total.
        let rows = part_rows(&bytes).unwrap_or(if i + 1 == entry.parts.len() {
            rows_left
        } else {
            0
        });
        rows_left = rows_left.saturating_sub(rows);
        parts.push(ExportedBlock {
            bytes,
            rows,
            columns: entry.columns.clone(),
        });
    }
    Ok(parts)
}

/// [`load_window`] off the async threads (it reads files and decompresses).
pub(crate) async fn read_window(
    repo: &Repository,
    entry: &BlockEntry,
) -> BackupResult<Vec<ExportedBlock>> {
    let repo = repo.clone();
    let entry = entry.clone();
    tokio::task::spawn_blocking(move || load_window(&repo, &entry))
        .await
        .map_err(|e| BackupError::Pipeline(e.to_string()))?
}

/// Rows of a raw block, from its header (version u32, length u32, rows u32, ...).
fn part_rows(bytes: &[u8]) -> Option<usize> {
    let b: [u8; 4] = bytes.get(8..12)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

/// The database's precision, as recorded in a manifest.
pub(crate) fn manifest_precision(m: &Manifest) -> BackupResult<Precision> {
    m.precision
        .parse()
        .map_err(|e| BackupError::Refused(format!("backup {}: {e}", m.id)))
}

/// Refuses a chain another engine stored (taosdump's files are no raw blocks: tdibt can
/// neither write them back itself nor compare them window by window). `what`: the
/// operation refused, e.g. "restored by tdibt's own path".
pub(crate) fn refuse_other_engine(chain: &[Arc<Manifest>], what: &str) -> BackupResult<()> {
    match chain.iter().find(|m| m.engine != Engine::Tdibt) {
        None => Ok(()),
        Some(m) => Err(BackupError::Refused(format!(
            "backup {} was stored by {} (its output files, not raw blocks), so its chain cannot be {what}; `tdibt restore` restores it through taosdump -i and `tdibt verify` checks its files",
            m.id, m.engine
        ))),
    }
}
