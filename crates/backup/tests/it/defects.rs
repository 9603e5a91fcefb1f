//! Regression tests for the defects of issue 16, each named after its scenario. Crashes are
//! staged exactly: a backup is run to its end, then the repository and the checkpoint are
//! put back to what a kill at the step in question leaves (the checkpoint of step 2, with the
//! generation frozen; the journal instead of the manifest, or the manifest and no fold).

use std::collections::BTreeSet;
use std::path::Path;

use tdibt_backup::maintain::{merge, prune};
use tdibt_backup::{
    pick_backup, run_backup, run_restore, BackupOptions, BackupReport, NoProgress, Pick,
    RestoreOptions,
};
use tdibt_core::checkpoint::checkpoint_path;
use tdibt_core::{Checkpoint, Engine, OwnerLock};
use tdibt_repository::{BackupId, BackupKind, LocalStore, Repository, ResumeJournal};

use crate::support::{exec, snapshot, Setup, Workload, BASE, HOUR_MS};

fn no_drain(full: bool) -> BackupOptions {
    BackupOptions {
        full,
        jobs: 2,
        drain: false,
        ..BackupOptions::default()
    }
}

fn load_checkpoint(s: &Setup) -> Checkpoint {
    Checkpoint::load(&checkpoint_path(&s.config.bitmap_engine.persistence_path)).unwrap()
}

/// The checkpoint as backup `id` left it at its step 2, when it started from `before`: the
/// generation frozen and the backup recorded as in progress.
fn as_if_interrupted(s: &Setup, before: &Checkpoint, id: &BackupId, full: bool) {
    let mut cp = before.clone();
    cp.engine.freeze().unwrap();
    cp.backups.repository = Some(s.repo.config().id.clone());
    cp.backups.in_progress = Some(id.to_string());
    cp.backups.in_progress_full = full;
    cp.save(
        &checkpoint_path(&s.config.bitmap_engine.persistence_path),
        1,
    )
    .unwrap();
}

/// Turns a finished backup back into one killed just before its manifest: every block it
/// stored and every read it made are in its journal, the manifest is gone.
fn unfinish(repo: &Repository, id: &BackupId) {
    let (m, _) = repo.load_manifest(id).unwrap();
    let mut reads: BTreeSet<String> = m
        .tombstones
        .iter()
        .filter_map(|t| t.windows.map(|(a, b)| format!("{}@{a}..{b}", t.table)))
        .collect();
    if m.kind == BackupKind::Full {
        reads.extend(
            m.blocks
                .iter()
                .map(|b| format!("{}@{}..{}", b.table, i32::MIN, i32::MAX)),
        );
    }
    let lock = repo.lock("test").unwrap();
    lock.save_journal(&ResumeJournal {
        backup_id: id.clone(),
        parent: m.parent.clone(),
        started_at_unix_ms: m.started_at_unix_ms,
        stored: m.blocks.clone(),
        finished_reads: reads.into_iter().collect(),
    })
    .unwrap();
    lock.delete_manifest(id).unwrap();
}

/// Restores `id` into `target` and asserts it holds exactly what `db` holds now.
async fn assert_restores_live_db(s: &Setup, repo: &Repository, id: &BackupId, target: &str) {
    let report = run_restore(
        repo,
        &s.settings(),
        &RestoreOptions {
            backup: id.clone(),
            target_db: Some(target.to_string()),
            jobs: 2,
        },
        &NoProgress,
    )
    .await
    .unwrap_or_else(|e| panic!("restore of {id}: {e}"));
    assert!(report.is_ok(), "{:?}", report.differences);
    assert_eq!(
        snapshot(&s.taos, target).await,
        snapshot(&s.taos, "db").await,
        "restore of {id} into {target}"
    );
}

fn remove_packs(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            remove_packs(&p);
        } else if p.extension().is_some_and(|e| e == "pack") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

/// Issue 16.1: rows older than the change feed are in no bitmap, so the first full is the
/// only record of their windows. A crash between its manifest and its fold, then deletes of
/// those windows, then the next backup: the deletes must reach the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_after_the_first_full_crashed_before_its_fold_are_kept() {
    let s = Setup::new(3).await;
    let mut work = Workload::new(31, 3);
    work.fill(&s.taos, 40).await;
    s.drain().await;
    // As if `init` ran on a database that already held these rows: no marks for them.
    let mut before = load_checkpoint(&s);
    before.engine = Engine::new();
    let full = s.backup_with(no_drain(true)).await;
    as_if_interrupted(&s, &before, &full.backup, true);

    // Whole windows of d0 and part of one of d1's.
    exec(
        &s.taos,
        &format!(
            "DELETE FROM db.d0 WHERE ts >= {BASE} AND ts < {}",
            BASE + 3 * HOUR_MS
        ),
    )
    .await;
    exec(
        &s.taos,
        &format!(
            "DELETE FROM db.d1 WHERE ts >= {} AND ts <= {}",
            BASE + 5 * HOUR_MS,
            BASE + 5 * HOUR_MS + 20 * 60_000
        ),
    )
    .await;
    let next = s.backup(false).await;
    assert_eq!(next.kind, BackupKind::Incremental);
    assert_eq!(next.parent.as_ref(), Some(&full.backup));
    assert_restores_live_db(&s, &s.repo, &next.backup, "r1").await;
}

/// Issue 16.4: a full backup after a pack was deleted must not point at the missing pack.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_after_a_pack_was_deleted_stores_its_blocks_again() {
    let s = Setup::new(3).await;
    Workload::new(41, 3).fill(&s.taos, 30).await;
    let first = s.backup(true).await;
    remove_packs(&s.config.backup.output_path);
    let second = s.backup(true).await;
    assert!(second.stats.stored_bytes > 0, "{second:?}");
    let check = s.repo.check(true).unwrap();
    let named: BTreeSet<_> = check
        .problems
        .iter()
        .filter_map(|p| p.backup.clone())
        .collect();
    // The second backup never points at the deleted packs. The first stays damaged unless
    // the second happened to write byte-identical packs (same blocks in the same order:
    // packs are named by their content), which brings its packs back.
    assert!(
        named.is_subset(&BTreeSet::from([first.backup])),
        "{:?}",
        check.problems
    );
    assert_restores_live_db(&s, &s.repo, &second.backup, "r1").await;
}

/// Issue 16.4: a resumed backup reuses what its journal names only once it has checked it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_backup_reads_again_what_its_journal_names_in_a_lost_pack() {
    let s = Setup::new(3).await;
    Workload::new(43, 3).fill(&s.taos, 30).await;
    s.drain().await;
    let before = load_checkpoint(&s);
    let full = s.backup_with(no_drain(true)).await;
    unfinish(&s.repo, &full.backup);
    as_if_interrupted(&s, &before, &full.backup, true);
    remove_packs(&s.config.backup.output_path);

    let resumed = s.backup_with(no_drain(false)).await;
    assert_eq!(resumed.backup, full.backup);
    assert!(resumed.resumed);
    let check = s.repo.check(true).unwrap();
    assert!(check.is_ok(), "{:?}", check.problems);
    assert_restores_live_db(&s, &s.repo, &resumed.backup, "r1").await;
}

/// Issue 16.5: a table dropped while its backup was interrupted: the resumed backup must not
/// hold its blocks without its statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_resumed_after_a_table_was_dropped_restores() {
    let s = Setup::new(3).await;
    Workload::new(51, 3).fill(&s.taos, 20).await;
    s.backup(true).await;
    exec(
        &s.taos,
        &format!(
            "INSERT INTO db.fresh USING db.meters TAGS (9, 'f') VALUES ({BASE}, 1, 'a') ({}, 2, 'b')",
            BASE + 2 * HOUR_MS
        ),
    )
    .await;
    exec(
        &s.taos,
        &format!("INSERT INTO db.d0 VALUES ({}, 3, 'c')", BASE + HOUR_MS),
    )
    .await;
    s.drain().await;
    let before = load_checkpoint(&s);
    let incr = s.backup_with(no_drain(false)).await;
    unfinish(&s.repo, &incr.backup);
    as_if_interrupted(&s, &before, &incr.backup, false);

    exec(&s.taos, "DROP TABLE db.fresh").await;
    let resumed = s.backup(false).await;
    assert_eq!(resumed.backup, incr.backup);
    assert_restores_live_db(&s, &s.repo, &resumed.backup, "r1").await;
}

/// Issue 16.9: one damaged manifest confines its damage to its own chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_corrupt_manifest_leaves_the_other_chains_usable() {
    let s = Setup::new(3).await;
    let mut work = Workload::new(61, 3);
    work.fill(&s.taos, 20).await;
    s.backup(true).await;
    work.round(&s.taos).await;
    let damaged = s.backup(false).await.backup;
    work.round(&s.taos).await;
    let healthy = s.backup(true).await.backup;
    let path = s
        .config
        .backup
        .output_path
        .join("manifests")
        .join(format!("{damaged}.json"));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    // A new handle: the test's own has the manifest cached.
    let repo = Repository::open(Box::new(LocalStore::new(&s.config.backup.output_path))).unwrap();

    let latest = pick_backup(&repo, Some("db"), &Pick::Latest)
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, healthy);
    assert_restores_live_db(&s, &repo, &healthy, "r1").await;
    let err = pick_backup(&repo, Some("db"), &Pick::Backup(damaged.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(damaged.as_str()), "{err}");

    work.round(&s.taos).await;
    let full = run_backup(&s.config, &repo, &no_drain(true), &NoProgress)
        .await
        .unwrap();
    s.drain().await;
    assert_restores_live_db(&s, &repo, &full.backup, "r2").await;
}

/// Issue 16.10: an unfinished incremental whose parent was merged into a synthetic full and
/// pruned must not block every later backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resume_whose_parent_was_merged_and_pruned_gives_way() {
    let s = Setup::new(3).await;
    let mut work = Workload::new(71, 3);
    work.fill(&s.taos, 20).await;
    s.backup(true).await;
    work.round(&s.taos).await;
    let parent = s.backup(false).await.backup;
    work.round(&s.taos).await;
    s.drain().await;
    let before = load_checkpoint(&s);
    let cut_off = s.backup_with(no_drain(false)).await;
    unfinish(&s.repo, &cut_off.backup);
    as_if_interrupted(&s, &before, &cut_off.backup, false);
    let merged = merge(&s.repo, &parent).unwrap().backup;
    let pruned = prune(&s.repo, 1, false).unwrap();
    assert_eq!(pruned.kept, std::slice::from_ref(&merged));

    let next = s.backup(false).await;
    assert_eq!(next.parent.as_ref(), Some(&merged));
    assert_restores_live_db(&s, &s.repo, &next.backup, "r1").await;
}

/// Issue 16.10: `--full` while an incremental is unfinished takes a full backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_asked_for_while_an_incremental_is_unfinished_is_a_full() {
    let s = Setup::new(3).await;
    let mut work = Workload::new(73, 3);
    work.fill(&s.taos, 20).await;
    s.backup(true).await;
    work.round(&s.taos).await;
    s.drain().await;
    let before = load_checkpoint(&s);
    let cut_off = s.backup_with(no_drain(false)).await;
    unfinish(&s.repo, &cut_off.backup);
    as_if_interrupted(&s, &before, &cut_off.backup, false);

    let full: BackupReport = s.backup(true).await;
    assert_eq!(full.kind, BackupKind::Full);
    assert_eq!(full.parent, None);
    assert!(s.repo.list_journals().unwrap().is_empty());
    work.round(&s.taos).await;
    let next = s.backup(false).await;
    assert_eq!(next.parent.as_ref(), Some(&full.backup));
    assert_restores_live_db(&s, &s.repo, &next.backup, "r1").await;
}

/// Issue 16.10: `init` writes the checkpoint, so it needs the folder's owner lock too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_while_a_monitor_owns_the_folder_is_refused() {
    let s = Setup::new(1).await;
    let dir = &s.config.bitmap_engine.persistence_path;
    let before = std::fs::read(checkpoint_path(dir)).unwrap();
    let owner = OwnerLock::acquire(dir, "monitor").unwrap();
    let err = tdibt_capture::init(&s.config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use by monitor"), "{err}");
    assert_eq!(std::fs::read(checkpoint_path(dir)).unwrap(), before);
    drop(owner);
    tdibt_capture::init(&s.config).await.unwrap();
}

/// Issue 16.12: the repository, its packs and the checkpoint hold every row: only their
/// owner may read them.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repository_packs_and_checkpoint_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    fn open_to_others(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                out.push(format!("{} {mode:o}", entry.path().display()));
            }
            if entry.file_type().unwrap().is_dir() {
                open_to_others(&entry.path(), out);
            }
        }
    }
    let s = Setup::new(2).await;
    Workload::new(81, 2).fill(&s.taos, 10).await;
    s.backup(true).await;
    let mut open = Vec::new();
    // Both folders were created by tdibt inside the test's private temporary folder.
    open_to_others(s.dir.path(), &mut open);
    assert!(open.is_empty(), "readable by others: {open:#?}");
}
