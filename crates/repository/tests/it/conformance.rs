//! One conformance suite for every storage backend (as restic's `backend/test/suite.go`):
//! what the repository relies on of a [`Store`], run against a local folder, object_store's
//! in-memory store and a real S3-protocol server.
//!
//! The S3 case runs when `TDIBT_TEST_S3_URL` names a bucket (`s3://bucket/prefix`; endpoint
//! and credentials in the `AWS_*` variables). `.ci/run` starts moto's server (PyPI) and sets
//! them; under CI (`CI` set) a missing URL fails the test instead of skipping it.

use std::io::ErrorKind;
use std::sync::Arc;

use tdibt_repository::{BackupId, BucketStore, FileKind, Handle, LocalStore, PackId, Store};

/// Every guarantee, on an empty store.
fn suite(store: &dyn Store) {
    empty_store(store);
    whole_and_ranged_reads(store);
    overwrite_is_whole(store);
    create_new_is_exclusive(store);
    listing_per_kind(store);
    removal(store);
    large_files(store);
}

fn backup(n: u32) -> BackupId {
    BackupId::new(1_795_558_500_000 + i64::from(n) * 1000, &n.to_le_bytes())
}

fn empty_store(store: &dyn Store) {
    assert!(store.is_empty().unwrap(), "{}: not empty", store.describe());
    for kind in FileKind::ALL {
        assert!(store.list(kind).unwrap().is_empty(), "{kind}");
    }
    let missing = Handle::manifest(&backup(0));
    assert!(!store.exists(&missing).unwrap());
    assert_eq!(
        store.read(&missing).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.read_range(&missing, 0, 1).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

fn whole_and_ranged_reads(store: &dyn Store) {
    let pack = Handle::pack(&PackId::of(b"ranged"));
    store.write_atomic(&pack, b"hello world").unwrap();
    assert!(!store.is_empty().unwrap());
    assert!(store.exists(&pack).unwrap());
    assert_eq!(store.read(&pack).unwrap(), b"hello world");
    assert_eq!(store.read_range(&pack, 6, 5).unwrap(), b"world");
    assert_eq!(store.read_range(&pack, 0, 0).unwrap(), b"");
    // A block's place past the pack's end (a truncated pack): the repository names it.
    assert_eq!(
        store.read_range(&pack, 6, 50).unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    store.remove(&pack).unwrap();
}

fn overwrite_is_whole(store: &dyn Store) {
    let journal = Handle::journal(&backup(1));
    store
        .write_atomic(&journal, b"a much longer first version")
        .unwrap();
    store.write_atomic(&journal, b"short").unwrap();
    assert_eq!(store.read(&journal).unwrap(), b"short");
    store.remove(&journal).unwrap();
}

fn create_new_is_exclusive(store: &dyn Store) {
    let lock = Handle::lock();
    assert!(store.create_new(&lock, b"first").unwrap());
    assert!(!store.create_new(&lock, b"second").unwrap());
    assert_eq!(store.read(&lock).unwrap(), b"first");
    store.remove(&lock).unwrap();
    assert!(store.create_new(&lock, b"third").unwrap());
    store.remove(&lock).unwrap();
}

fn listing_per_kind(store: &dyn Store) {
    let manifests: Vec<Handle> = (2..6).map(|n| Handle::manifest(&backup(n))).collect();
    let journals = vec![Handle::journal(&backup(2))];
    let packs: Vec<Handle> = (0u8..20).map(|i| Handle::pack(&PackId::of(&[i]))).collect();
    let fixed = [Handle::config(), Handle::lock()];
    for file in manifests
        .iter()
        .chain(&journals)
        .chain(&packs)
        .chain(&fixed)
    {
        store.write_atomic(file, file.key().as_bytes()).unwrap();
    }
    let sorted = |mut v: Vec<Handle>| {
        v.sort();
        v
    };
    assert_eq!(
        store.list(FileKind::Manifest).unwrap(),
        sorted(manifests.clone())
    );
    assert_eq!(store.list(FileKind::Journal).unwrap(), journals);
    assert_eq!(store.list(FileKind::Pack).unwrap(), sorted(packs.clone()));
    assert_eq!(store.list(FileKind::Config).unwrap(), [Handle::config()]);
    assert_eq!(store.list(FileKind::Lock).unwrap(), [Handle::lock()]);
    for file in manifests.iter().chain(&journals).chain(&packs) {
        assert_eq!(store.read(file).unwrap(), file.key().as_bytes(), "{file}");
        assert_eq!(
            store
                .list(file.kind())
                .unwrap()
                .iter()
                .filter(|h| *h == file)
                .count(),
            1
        );
    }
    for file in manifests
        .iter()
        .chain(&journals)
        .chain(&packs)
        .chain(&fixed)
    {
        store.remove(file).unwrap();
    }
    assert!(
        store.is_empty().unwrap(),
        "{}: left files behind",
        store.describe()
    );
}

fn removal(store: &dyn Store) {
    let manifest = Handle::manifest(&backup(7));
    store.write_atomic(&manifest, b"{}").unwrap();
    store.remove(&manifest).unwrap();
    assert!(!store.exists(&manifest).unwrap());
    assert_eq!(
        store.read(&manifest).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Removing what is not there is not an error (prune after a crash removes again).
    store.remove(&manifest).unwrap();
    assert!(store.list(FileKind::Manifest).unwrap().is_empty());
}

fn large_files(store: &dyn Store) {
    // Larger than one S3 part or one write call: a pack of 20 MiB.
    let bytes: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let pack = Handle::pack(&PackId::of(&bytes));
    store.write_atomic(&pack, &bytes).unwrap();
    assert_eq!(store.read(&pack).unwrap(), bytes);
    let at = (17 << 20) + 13;
    assert_eq!(
        store.read_range(&pack, at as u64, 4096).unwrap(),
        &bytes[at..at + 4096]
    );
    store.remove(&pack).unwrap();
    assert!(store.is_empty().unwrap());
}

#[test]
fn a_local_folder_conforms() {
    let dir = tempfile::tempdir().unwrap();
    suite(&LocalStore::new(dir.path().join("repo")));
}

#[test]
fn an_in_memory_object_store_conforms() {
    let memory = Arc::new(object_store::memory::InMemory::new());
    suite(&BucketStore::new(memory, "backups/prod", "memory://backups/prod").unwrap());
}

#[test]
fn an_s3_server_conforms() {
    let Ok(base) = std::env::var("TDIBT_TEST_S3_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TDIBT_TEST_S3_URL is not: .ci/run starts an S3 server for this test"
        );
        eprintln!("TDIBT_TEST_S3_URL is not set: the S3 conformance case did not run");
        return;
    };
    // A prefix of its own, so runs against one server never meet.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let url = format!(
        "{}/conformance-{}-{nanos}",
        base.trim_end_matches('/'),
        std::process::id()
    );
    suite(&BucketStore::s3(&url).unwrap());
}

/// Repositories written before handles existed keep opening: the layout is the format.
#[test]
fn a_repository_laid_out_by_hand_opens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("tdibt-repository.json"),
        br#"{"format":"tdibt-repository","version":1,"id":"0123456789abcdef0123456789abcdef","created_at_unix_ms":1795558500000}"#,
    )
    .unwrap();
    std::fs::create_dir_all(root.join("progress")).unwrap();
    let id = backup(9);
    std::fs::write(
        root.join(format!("progress/{id}.json")),
        format!(
            r#"{{"backup_id":"{id}","parent":null,"started_at_unix_ms":1795558509000,"stored":[]}}"#
        ),
    )
    .unwrap();
    let repo = tdibt_repository::Repository::open(Box::new(LocalStore::new(root))).unwrap();
    assert_eq!(repo.config().id, "0123456789abcdef0123456789abcdef");
    let journals = repo.list_journals().unwrap();
    assert_eq!(journals.len(), 1);
    assert_eq!(journals[0].backup_id, id);
    assert!(repo.list_backups().unwrap().is_empty());
}
