//! Everything the repository reads back from storage (manifests, pack indexes are in
//! `pack.rs`, backup ids in file names) answers damage with an error, never a panic.

use proptest::prelude::*;
use tdibt_testkit::mutated;

use crate::ids::BackupId;
use crate::manifest::tests::sample;
use crate::manifest::Manifest;

fn incremental() -> Vec<u8> {
    let full = BackupId::new(1_795_558_500_000, b"a");
    let inc = BackupId::new(1_795_558_600_000, b"b");
    sample(inc, Some((full, "0".repeat(64)))).encode()
}

/// A body mutated and signed again, so the decoder gets past the checksum line to the
/// document itself (a writer with a bug, not a flipped bit).
fn resigned(mut body: Vec<u8>) -> Vec<u8> {
    if body.last() != Some(&b'\n') {
        body.push(b'\n');
    }
    let sum = blake3::hash(&body).to_hex().to_string();
    body.extend_from_slice(format!("blake3 {sum}\n").as_bytes());
    body
}

fn body_of(bytes: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    let end = text.trim_end_matches('\n').rfind('\n').unwrap() + 1;
    bytes[..end].to_vec()
}

#[test]
fn the_sample_round_trips_and_a_resigned_body_reads() {
    let bytes = incremental();
    let (m, _) = Manifest::decode(&bytes, "m").unwrap();
    assert_eq!(
        Manifest::decode(&resigned(body_of(&bytes)), "m").unwrap().0,
        m
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Damage on disk: the checksum line catches it, whatever was hit.
    #[test]
    fn mutated_manifests(bytes in mutated(incremental())) {
        if let Ok((m, _)) = Manifest::decode(&bytes, "m") {
            prop_assert_eq!(m, Manifest::decode(&incremental(), "m").unwrap().0);
        }
    }

    /// A damaged document under a valid checksum: an error or a manifest, never a panic.
    #[test]
    fn resigned_mutated_bodies(body in mutated(body_of(&incremental()))) {
        let _ = Manifest::decode(&resigned(body), "m");
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Manifest::decode(&bytes, "m");
    }

    #[test]
    fn arbitrary_backup_ids(text in ".{0,40}") {
        let _ = text.parse::<BackupId>();
    }
}

/// The small JSON files beside the manifests (repository config, lock, resume journal):
/// damaged on disk, each read is an error naming the file or a value, never a panic.
mod small_files {
    use proptest::prelude::*;
    use tdibt_testkit::mutated;

    use crate::ids::BackupId;
    use crate::repo::{Repository, ResumeJournal};
    use crate::store::LocalStore;

    fn id() -> BackupId {
        BackupId::new(1_795_558_600_000, b"b")
    }

    /// A repository holding a journal and a held lock; returns it with its folder.
    fn repository() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo =
            Repository::init(Box::new(LocalStore::new(dir.path())), 1_795_558_500_000).unwrap();
        let journal = ResumeJournal {
            backup_id: id(),
            parent: Some(BackupId::new(1_795_558_500_000, b"a")),
            started_at_unix_ms: 1_795_558_600_000,
            stored: Vec::new(),
            finished_reads: vec!["d0@0..23".into(), "`we ird`@-5..-1".into()],
        };
        let lock = repo.lock("backup").unwrap();
        lock.save_journal(&journal).unwrap();
        // Held, as by a running backup: its file stays for the mutations to hit.
        std::mem::forget(lock);
        (dir, repo)
    }

    /// The files' valid bytes, by path relative to the repository folder.
    fn files() -> Vec<(String, Vec<u8>)> {
        let (dir, _repo) = repository();
        let mut out = Vec::new();
        for entry in tdibt_testkit::files_under(dir.path()) {
            let rel = entry
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(&entry).unwrap()));
        }
        out.sort();
        out
    }

    /// Reads everything a command reads at its start.
    fn read_all(dir: &std::path::Path) {
        if let Ok(repo) = Repository::open(Box::new(LocalStore::new(dir))) {
            let _ = repo.lock_holder();
            let _ = repo.journal(&id());
            let _ = repo.list_journals();
            let _ = repo.list_backups();
        }
    }

    #[test]
    fn the_sample_files_are_config_lock_and_journal() {
        let names: Vec<String> = files().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        let (dir, _repo) = repository();
        let repo = Repository::open(Box::new(LocalStore::new(dir.path()))).unwrap();
        assert_eq!(repo.lock_holder().unwrap().unwrap().operation, "backup");
        assert_eq!(
            repo.journal(&id()).unwrap().unwrap().finished_reads.len(),
            2
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_small_files(
            (which, bytes) in prop::sample::select(files()).prop_flat_map(|(name, bytes)| {
                (Just(name), mutated(bytes))
            })
        ) {
            let (dir, _repo) = repository();
            std::fs::write(dir.path().join(&which), bytes).unwrap();
            read_all(dir.path());
        }
    }
}
