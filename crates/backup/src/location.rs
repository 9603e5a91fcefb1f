//! Opening the repository a backup writes into.

use std::path::Path;

use tdibt_core::clock::now_unix_ms;
use tdibt_repository::{RepoError, Repository, Store};
use tracing::info;

use crate::error::{BackupError, BackupResult};

/// The repository at `location` (a folder, or `s3://bucket/prefix`), created there (and
/// logged) when the folder or prefix is missing or empty, as a first backup into a new
/// folder expects. A non-empty folder that is not a repository is refused
/// ([`RepoError::NotEmpty`]): tdibt does not write among other files.
pub fn open_or_create(location: &Path) -> BackupResult<Repository> {
    open_or_create_in(|| {
        tdibt_repository::store::for_location(location).map_err(|e| {
            BackupError::Refused(format!("repository location {}: {e}", location.display()))
        })
    })
}

/// [`open_or_create`] on the store `store` makes (twice: opening consumes it).
pub fn open_or_create_in(
    store: impl Fn() -> BackupResult<Box<dyn Store>>,
) -> BackupResult<Repository> {
    let missing = match Repository::open(store()?) {
        Ok(repo) => return Ok(repo),
        Err(RepoError::NotARepository(where_)) => where_,
        Err(e) => return Err(e.into()),
    };
    let repo = Repository::init(store()?, now_unix_ms())?;
    info!(
        "{missing} held no repository: initialised repository {} ({}), as `tdibt repo init` does",
        repo.describe(),
        repo.config().id
    );
    Ok(repo)
}
