//! Naming a backup: the newest, a named one, or the newest finished at or before a time.
//! Used for an incremental's parent (`--since`) and for what to restore (`--backup`, `--at`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tdibt_repository::{BackupId, Manifest, Repository};
use tracing::warn;

use crate::error::{BackupError, BackupResult};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pick {
    /// The newest backup.
    Latest,
    /// A named backup.
    Backup(BackupId),
    /// The newest backup finished at or before this time (Unix ms).
    AtOrBefore(i64),
}

/// The backup `pick` names among the repository's backups of `database` (of any database when
/// `None`); `Ok(None)` when there is no backup of it at all. A manifest that cannot be read
/// is left out with a warning naming it, unless it is the one named.
pub fn pick_backup(
    repo: &Repository,
    database: Option<&str>,
    pick: &Pick,
) -> BackupResult<Option<Arc<Manifest>>> {
    let mut ours = Vec::new();
    for id in repo.list_backups()? {
        match repo.manifest(&id) {
            Ok((m, _)) => {
                if database.is_none_or(|db| m.database == db) {
                    ours.push(m);
                }
            }
            // Named itself, a damaged backup is an error; otherwise its damage stays with
            // its own chain and the others remain usable.
            Err(e) if pick == &Pick::Backup(id.clone()) => return Err(e.into()),
            Err(e) => warn!("backup {id} is left out: {e} (run `tdibt verify`)"),
        }
    }
    ours.sort_by_key(|m| newness(m));
    let of = database
        .map(|db| format!(" of database {db}"))
        .unwrap_or_default();
    if ours.is_empty() {
        return Ok(None);
    }
    let found = match pick {
        Pick::Latest => ours.pop(),
        Pick::Backup(id) => ours.into_iter().find(|m| &m.id == id),
        Pick::AtOrBefore(t) => ours.into_iter().rfind(|m| m.finished_at_unix_ms <= *t),
    };
    match (found, pick) {
        (Some(m), _) => Ok(Some(m)),
        (None, Pick::Backup(id)) => Err(BackupError::Refused(format!(
            "backup {id}{of} is not in the repository"
        ))),
        (None, _) => Err(BackupError::Refused(format!(
            "no backup{of} finished at or before the given time"
        ))),
    }
}

/// Orders backups oldest to newest: by when they finished (ids have one-second
/// resolution); a synthetic full counts as newer than the backup it was merged from.
pub fn newness(m: &Manifest) -> (i64, bool, i64, BackupId) {
    (
        m.finished_at_unix_ms,
        m.merged_from.is_some(),
        m.started_at_unix_ms,
        m.id.clone(),
    )
}

/// Parses `latest`, a backup id, or a date (`2026-11-24`, `2026-11-24T10:00:00Z`, RFC 3339).
pub fn parse_pick(text: &str) -> Result<Pick, String> {
    if text.eq_ignore_ascii_case("latest") {
        return Ok(Pick::Latest);
    }
    if let Ok(id) = text.parse::<BackupId>() {
        return Ok(Pick::Backup(id));
    }
    parse_date(text)
        .map(Pick::AtOrBefore)
        .ok_or_else(|| format!("{text:?} is neither `latest`, a backup id, nor a date"))
}

/// A date (`YYYY-MM-DD`, taken as the end of that day, UTC) or an RFC 3339 time, as Unix ms.
pub fn parse_date(text: &str) -> Option<i64> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return unix_ms(t);
    }
    if text.len() == 10 {
        let t = humantime::parse_rfc3339_weak(&format!("{text} 23:59:59")).ok()?;
        return unix_ms(t).map(|ms| ms + 999);
    }
    None
}

fn unix_ms(t: std::time::SystemTime) -> Option<i64> {
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
}

/// What a `--backup` argument (or the C API's `backup_path`) names: `latest`, a backup id or
/// a date (no repository: the configured one), a repository folder (its newest backup), or
/// a backup's manifest file `REPOSITORY/manifests/ID.json` (that backup of that repository).
pub fn parse_backup_location(text: &str) -> Result<(Option<PathBuf>, Pick), String> {
    let bad = |why: String| why;
    let pick = parse_pick(text);
    let is_path = text.contains('/')
        || text.contains(std::path::MAIN_SEPARATOR)
        || text.ends_with(".json")
        || (pick.is_err() && Path::new(text).exists());
    if !is_path {
        return pick.map(|p| (None, p)).map_err(|e| {
            bad(format!(
                "{e}; nor a repository folder or a backup's manifest file"
            ))
        });
    }
    let Some(file) = text.strip_suffix(".json") else {
        return Ok((Some(PathBuf::from(text)), Pick::Latest));
    };
    let (folder, id) = file.rsplit_once('/').unwrap_or(("", file));
    let repository = match folder.rsplit_once('/') {
        Some((repository, "manifests")) => repository,
        None if folder == "manifests" => ".",
        _ => {
            return Err(bad(format!(
                "{text} is not a backup's manifest (REPOSITORY/manifests/ID.json)"
            )))
        }
    };
    let id: BackupId = id
        .parse()
        .map_err(|e| bad(format!("{text} is not a backup's manifest: {e}")))?;
    Ok((Some(PathBuf::from(repository)), Pick::Backup(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_names_parse() {
        assert_eq!(parse_pick("latest").unwrap(), Pick::Latest);
        assert_eq!(
            parse_pick("2026-11-24").unwrap(),
            Pick::AtOrBefore(1_795_564_799_999)
        );
        assert_eq!(
            parse_pick("2026-11-24T00:00:00Z").unwrap(),
            Pick::AtOrBefore(1_795_478_400_000)
        );
        assert!(parse_pick("yesterday").is_err());
    }
}
