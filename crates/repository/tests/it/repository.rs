//! The repository end to end on a local folder: init and open, content addressing, chains
//! and merged views, and every kind of damage the check must name.

use std::collections::BTreeMap;
use std::path::Path;

use tdibt_repository::*;

fn repo_at(dir: &Path) -> Repository {
    Repository::open(Box::new(LocalStore::new(dir))).unwrap()
}

fn new_repo(dir: &Path) -> Repository {
    Repository::init(Box::new(LocalStore::new(dir)), 1_795_558_500_000).unwrap()
}

/// Writes a backup of `blocks` (table, window, bytes) on top of `parent`; returns its id and
/// manifest checksum.
fn backup(
    repo: &Repository,
    n: i64,
    parent: Option<&(BackupId, String)>,
    blocks: &[(&str, i32, &[u8])],
    tombstones: &[(&str, Option<i32>)],
) -> (BackupId, String) {
    backup_with(&repo.lock("backup").unwrap(), n, parent, blocks, tombstones)
}

/// [`backup`] under a lock already held.
fn backup_with(
    lock: &lock::RepoLock,
    n: i64,
    parent: Option<&(BackupId, String)>,
    blocks: &[(&str, i32, &[u8])],
    tombstones: &[(&str, Option<i32>)],
) -> (BackupId, String) {
    let repo = lock.repo();
    let id = BackupId::new(1_795_558_500_000 + n * 1000, b"t");
    let mut w = lock.block_writer(repo.known_blocks().unwrap(), Compression::default(), 64);
    let mut hashes = Vec::new();
    for (_, _, raw) in blocks {
        let (added, _) = w.add(raw).unwrap();
        hashes.push(match added {
            Added::Reused(r) => r.hash,
            Added::Pending(h) => h,
        });
    }
    w.flush().unwrap();
    let entries = blocks
        .iter()
        .zip(&hashes)
        .map(|((t, win, _), h)| BlockEntry {
            table: t.to_string(),
            window: *win,
            rows: 1,
            columns: vec!["ts".into()],
            parts: vec![w.reference(h).unwrap()],
        })
        .collect();
    let m = Manifest {
        format_version: manifest::MANIFEST_VERSION,
        id: id.clone(),
        parent: parent.map(|p| p.0.clone()),
        parent_manifest_blake3: parent.map(|p| p.1.clone()),
        kind: if parent.is_some() {
            BackupKind::Incremental
        } else {
            BackupKind::Full
        },
        database: "db".into(),
        precision: "ms".into(),
        block_span: 3_600_000,
        server_version: "3.3.6.0".into(),
        cut: BTreeMap::new(),
        started_at_unix_ms: 0,
        finished_at_unix_ms: 0,
        ddl: Vec::new(),
        blocks: entries,
        tombstones: tombstones
            .iter()
            .map(|(t, w)| Tombstone {
                table: t.to_string(),
                windows: w.map(|w| (w, w)),
            })
            .collect(),
        stats: BackupStats {
            stored_bytes: w.stored_bytes(),
            ..BackupStats::default()
        },
        merged_from: None,
        engine: Default::default(),
        files: Vec::new(),
    };
    let sum = lock.write_manifest(&m).unwrap();
    (id, sum)
}

fn pack_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in walk(&dir.join("packs")) {
        total += std::fs::metadata(e).unwrap().len();
    }
    total
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn init_and_open_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    new_repo(dir.path());
    let again = Repository::init(Box::new(LocalStore::new(dir.path())), 0);
    assert!(matches!(again, Err(RepoError::AlreadyARepository(_))));
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("photo.jpg"), b"x").unwrap();
    let err = Repository::init(Box::new(LocalStore::new(other.path())), 0)
        .err()
        .unwrap();
    assert!(matches!(err, RepoError::NotEmpty(_)), "{err}");
    let err = Repository::open(Box::new(LocalStore::new(other.path())))
        .err()
        .unwrap();
    assert!(matches!(err, RepoError::NotARepository(_)), "{err}");
    let cfg = dir.path().join("tdibt-repository.json");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("\"version\": 1", "\"version\": 9");
    std::fs::write(&cfg, text).unwrap();
    let err = Repository::open(Box::new(LocalStore::new(dir.path())))
        .err()
        .unwrap();
    assert!(
        matches!(err, RepoError::FutureVersion { found: 9, .. }),
        "{err}"
    );
}

#[test]
fn an_unchanged_block_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let a = vec![1u8; 5000];
    let b = vec![2u8; 5000];
    let full = backup(&repo, 0, None, &[("t1", 0, &a), ("t2", 0, &b)], &[]);
    let after_full = pack_bytes(dir.path());
    assert!(after_full > 0);
    // The same bytes again (an unchanged block re-read), and a duplicate within one backup.
    let inc = backup(&repo, 1, Some(&full), &[("t1", 0, &a), ("t3", 5, &a)], &[]);
    assert_eq!(
        pack_bytes(dir.path()),
        after_full,
        "nothing new was written"
    );
    let (m, _) = repo.load_manifest(&inc.0).unwrap();
    assert_eq!(m.stats.stored_bytes, 0);
    assert_eq!(repo.read_block(&m.blocks[1].parts[0]).unwrap(), a);
    assert!(repo.unreferenced_packs().unwrap().is_empty());
}

#[test]
fn the_merged_view_applies_the_chain_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let full = backup(
        &repo,
        0,
        None,
        &[("t1", 0, b"a0"), ("t1", 1, b"a1"), ("t2", 0, b"b0")],
        &[],
    );
    // t1@1 rewritten, t1@0 emptied by a DELETE, t2 dropped, t3 new.
    let i1 = backup(
        &repo,
        1,
        Some(&full),
        &[("t1", 1, b"a1'"), ("t3", 7, b"c7")],
        &[("t1", Some(0)), ("t2", None)],
    );
    // t2 created again under the same name after the drop.
    let i2 = backup(&repo, 2, Some(&i1), &[("t2", 9, b"b9")], &[]);
    let show = |id: &BackupId| -> Vec<(String, i32, Vec<u8>)> {
        repo.merged_view(id)
            .unwrap()
            .into_iter()
            .map(|((t, w), e)| (t, w, repo.read_block(&e.parts[0]).unwrap()))
            .collect()
    };
    assert_eq!(
        show(&full.0),
        [
            ("t1".into(), 0, b"a0".to_vec()),
            ("t1".into(), 1, b"a1".to_vec()),
            ("t2".into(), 0, b"b0".to_vec())
        ]
    );
    assert_eq!(
        show(&i1.0),
        [
            ("t1".into(), 1, b"a1'".to_vec()),
            ("t3".into(), 7, b"c7".to_vec())
        ]
    );
    assert_eq!(
        show(&i2.0),
        [
            ("t1".into(), 1, b"a1'".to_vec()),
            ("t2".into(), 9, b"b9".to_vec()),
            ("t3".into(), 7, b"c7".to_vec())
        ]
    );
    assert_eq!(repo.chain(&i2.0).unwrap().len(), 3);
    assert_eq!(repo.list_backups().unwrap(), [full.0, i1.0, i2.0]);
}

#[test]
fn the_check_names_every_kind_of_damage() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let full = backup(
        &repo,
        0,
        None,
        &[("t1", 0, &[1u8; 3000]), ("t2", 0, &[9u8; 3000])],
        &[],
    );
    let i1 = backup(&repo, 1, Some(&full), &[("t1", 1, &[3u8; 3000])], &[]);
    let i2 = backup(&repo, 2, Some(&i1), &[("t4", 1, &[4u8; 3000])], &[]);
    assert!(repo.check(true).unwrap().is_ok());

    // A flipped byte in the pack of i1's block.
    let (m1, _) = repo.load_manifest(&i1.0).unwrap();
    let pack = m1.blocks[0].parts[0].pack;
    let pack_path = walk(&dir.path().join("packs"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&pack.to_hex()))
        .unwrap();
    let mut bytes = std::fs::read(&pack_path).unwrap();
    bytes[2] ^= 0xff;
    std::fs::write(&pack_path, &bytes).unwrap();
    assert!(
        repo.check(false).unwrap().is_ok(),
        "without read_data the bytes are not read"
    );
    let r = repo.check(true).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].backup.as_ref(), Some(&i1.0));
    assert_eq!(r.problems[0].block.as_deref(), Some("t1@1"));
    bytes[2] ^= 0xff;
    std::fs::write(&pack_path, &bytes).unwrap();

    // A missing pack.
    std::fs::rename(&pack_path, dir.path().join("aside")).unwrap();
    let r = repo.check(false).unwrap();
    assert_eq!(r.problems.len(), 1);
    assert!(r.problems[0].what.contains("missing"), "{:?}", r.problems);
    assert_eq!(r.problems[0].block.as_deref(), Some("t1@1"));
    std::fs::rename(dir.path().join("aside"), &pack_path).unwrap();

    // A truncated manifest: named, and its child's link breaks too.
    let m_path = dir.path().join(format!("manifests/{}.json", i1.0));
    let original = std::fs::read(&m_path).unwrap();
    std::fs::write(&m_path, &original[..original.len() / 2]).unwrap();
    let r = repo.check(false).unwrap();
    let named: Vec<_> = r
        .problems
        .iter()
        .map(|p| p.backup.clone().unwrap())
        .collect();
    assert!(named.contains(&i1.0), "{:?}", r.problems);
    assert!(
        r.problems.iter().any(|p| p.what.contains("truncated")),
        "{:?}",
        r.problems
    );
    std::fs::write(&m_path, &original).unwrap();

    // A parent replaced by a different manifest under the same id: the child's link breaks.
    let (mut changed, _) = repo.load_manifest(&i1.0).unwrap();
    changed.finished_at_unix_ms += 1;
    repo.lock("test").unwrap().write_manifest(&changed).unwrap();
    let r = repo.check(false).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].backup.as_ref(), Some(&i2.0));
    assert!(
        r.problems[0].what.contains("broken chain"),
        "{}",
        r.problems[0].what
    );
    std::fs::write(&m_path, &original).unwrap();

    // A deleted parent.
    repo.lock("test").unwrap().delete_manifest(&i1.0).unwrap();
    let r = repo.check(false).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].what.contains("missing"),
        "{}",
        r.problems[0].what
    );
    assert!(matches!(
        repo.chain(&i2.0),
        Err(RepoError::BrokenChain { .. })
    ));
}

#[test]
fn the_lock_keeps_writers_apart_and_is_broken_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    {
        let held = repo.lock("backup").unwrap();
        assert_eq!(held.info().pid, std::process::id());
        let err = repo.lock("prune").err().unwrap().to_string();
        assert!(
            err.contains("backup") && err.contains(&std::process::id().to_string()),
            "{err}"
        );
        assert!(!err.contains("stale"), "{err}");
    }
    // Released on drop.
    drop(repo.lock("backup").unwrap());
    // A lock left by a process of this host that no longer exists: stale, still refused.
    let mut info: serde_json::Value = serde_json::from_slice(&{
        let l = repo.lock("backup").unwrap();
        let bytes = std::fs::read(dir.path().join("lock.json")).unwrap();
        std::mem::forget(l);
        bytes
    })
    .unwrap();
    info["pid"] = serde_json::json!(u32::MAX);
    std::fs::write(dir.path().join("lock.json"), info.to_string()).unwrap();
    let err = repo.lock("backup").err().unwrap().to_string();
    assert!(err.contains("stale"), "{err}");
    assert_eq!(repo.lock_holder().unwrap().unwrap().pid, u32::MAX);
    repo.break_lock(false).unwrap();
    drop(repo.lock("backup").unwrap());
    assert!(repo.lock_holder().unwrap().is_none());
}

#[test]
fn a_journal_resumes_without_rewriting_and_goes_with_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let id = BackupId::new(1_795_558_500_000, b"j");
    let lock = repo.lock("backup").unwrap();
    let mut w = lock.block_writer(repo.known_blocks().unwrap(), Compression::default(), 1);
    let (_, refs) = w.add(&[5u8; 4000]).unwrap();
    assert_eq!(refs.len(), 1, "a pack per block at this target size");
    let p = ResumeJournal {
        backup_id: id.clone(),
        parent: None,
        started_at_unix_ms: 0,
        stored: vec![BlockEntry {
            table: "t".into(),
            window: 0,
            rows: 1,
            columns: vec!["ts".into()],
            parts: vec![refs[0]],
        }],
        finished_reads: Vec::new(),
    };
    lock.save_journal(&p).unwrap();
    // "Crash" (the lock file stays behind, and is broken by hand); a new run sees the
    // journal and its block counts as stored.
    std::mem::forget(lock);
    let repo = repo_at(dir.path());
    repo.break_lock(true).unwrap();
    let lock = repo.lock("backup").unwrap();
    assert_eq!(repo.list_journals().unwrap(), std::slice::from_ref(&p));
    let before = pack_bytes(dir.path());
    let mut w = lock.block_writer(repo.known_blocks().unwrap(), Compression::default(), 1);
    assert!(matches!(w.add(&[5u8; 4000]).unwrap().0, Added::Reused(_)));
    assert_eq!(pack_bytes(dir.path()), before);
    assert!(
        repo.unreferenced_packs().unwrap().is_empty(),
        "the journal holds its pack"
    );
    lock.discard_journal(&id).unwrap();
    assert_eq!(
        repo.unreferenced_packs().unwrap().len(),
        1,
        "abandoned: its pack is free"
    );
}

/// The same repository logic on object storage (`object_store`'s in-memory store standing
/// in for S3): init, content addressing, a chain with tombstones, the lock, the check, and a
/// block damaged in place named by the check.
#[test]
fn a_repository_in_object_storage_works_the_same() {
    use std::sync::Arc;
    let memory: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let store = || -> Box<dyn Store> {
        Box::new(
            BucketStore::new(Arc::clone(&memory), "team/tdibt", "memory://team/tdibt").unwrap(),
        )
    };
    let repo = Repository::init(store(), 1_795_558_500_000).unwrap();
    assert!(
        Repository::init(store(), 0).is_err(),
        "a second init is refused"
    );
    let full = backup(&repo, 0, None, &[("t1", 0, b"a0"), ("t2", 0, b"b0")], &[]);
    let i1 = backup(
        &repo,
        1,
        Some(&full),
        &[("t1", 0, b"a0"), ("t3", 1, b"c1")],
        &[("t2", None)],
    );
    let repo = Repository::open(store()).unwrap();
    let view: Vec<(String, i32)> = repo.merged_view(&i1.0).unwrap().into_keys().collect();
    assert_eq!(view, [("t1".to_string(), 0), ("t3".to_string(), 1)]);
    assert_eq!(repo.packs().unwrap().len(), 2, "t1@0 was stored once");
    let lock = repo.lock("backup").unwrap();
    assert!(matches!(repo.lock("prune"), Err(RepoError::Locked { .. })));
    drop(lock);
    assert!(repo.check(true).unwrap().is_ok());

    // Damage: replace a pack with a copy whose first block has a flipped byte.
    let (m, _) = repo.load_manifest(&i1.0).unwrap();
    let part = m.blocks.iter().find(|b| b.table == "t3").unwrap().parts[0];
    let raw = store();
    let file = Handle::pack(&part.pack);
    let mut bytes = raw.read(&file).unwrap();
    bytes[part.offset as usize] ^= 1;
    raw.write_atomic(&file, &bytes).unwrap();
    let report = repo.check(true).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].block.as_deref(), Some("t3@1"));
}

/// Issue 16.13: a lock taken over (unlocked by hand, then taken by another writer) is
/// neither refreshed nor released by its former holder.
#[test]
fn a_lock_taken_from_its_holder_is_neither_refreshed_nor_released_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let first = repo.lock("backup").unwrap();
    // Its holder (this process) is alive: unlocking needs force.
    let err = repo.break_lock(false).unwrap_err().to_string();
    assert!(err.contains("--force"), "{err}");
    first.heartbeat().unwrap();
    repo.break_lock(true).unwrap();
    let second = repo.lock("prune").unwrap();
    assert!(
        first.heartbeat().is_err(),
        "the old holder refreshed a lock it lost"
    );
    // Nor does it write a manifest or delete one: writes go through the lock, which checks.
    let (id, _) = backup_with(&second, 1, None, &[("t", 0, b"x")], &[]);
    let m = repo.load_manifest(&id).unwrap().0;
    assert!(matches!(
        first.write_manifest(&m),
        Err(RepoError::LockLost { .. })
    ));
    assert!(matches!(
        first.delete_manifest(&id),
        Err(RepoError::LockLost { .. })
    ));
    assert!(repo.load_manifest(&id).is_ok());
    drop(first);
    assert_eq!(repo.lock_holder().unwrap().unwrap().operation, "prune");
    second.heartbeat().unwrap();
    drop(second);
    assert!(repo.lock_holder().unwrap().is_none());
}

/// Issue 16.10: a manifest whose tombstone runs backwards (first > last) removes nothing
/// and does not panic.
#[test]
fn a_tombstone_with_first_after_last_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path());
    let full = backup(&repo, 1, None, &[("t", 5, b"five"), ("t", 6, b"six")], &[]);
    let (mut m, _) = repo.load_manifest(&full.0).unwrap();
    m.tombstones.push(Tombstone {
        table: "t".into(),
        windows: Some((6, 5)),
    });
    m.blocks.clear();
    let view = merge_chain(&[repo.load_manifest(&full.0).unwrap().0, m]);
    assert_eq!(view.len(), 2);
}
