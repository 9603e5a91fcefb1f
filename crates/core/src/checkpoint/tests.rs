//! Round trips, every corruption case, and the crash windows of a write.

use super::*;
use crate::block::{BlockId, BlockSpan, Precision, TableId, TsRange, Window};

fn sample() -> Checkpoint {
    let mut catalog = Catalog::new();
    catalog
        .add_database(
            "db",
            Precision::Micros,
            BlockSpan::one_hour(Precision::Micros),
        )
        .unwrap();
    let t0 = catalog
        .add_table("db", "d0", Some("meters"), Some(2))
        .unwrap();
    let t1 = catalog.add_table("db", "n1", None, Some(3)).unwrap();
    let mut engine = Engine::new();
    engine.mark_writes((0..1000).map(|w| BlockId::new(t0, Window(w))));
    engine.freeze().unwrap();
    engine.fold_frozen().unwrap();
    engine.mark_write(BlockId::new(t0, Window(-7)));
    engine.mark_write(BlockId::new(t0, Window(3)));
    engine.mark_delete(
        t0,
        TsRange::new(0, 3_600_000_000 * 2 - 1),
        BlockSpan::one_hour(Precision::Micros),
    );
    engine.mark_drop(t1);
    let mut cut = Cut::new("tdibt_db");
    cut.set(2, 41);
    cut.set(3, 7);
    Checkpoint {
        engine,
        catalog,
        cut,
        written_at_unix_ms: 0,
        backups: crate::checkpoint::BackupLink {
            repository: Some("r1".into()),
            last: Some("20261124T000000Z-abcdef".into()),
            in_progress: None,
            in_progress_full: false,
        },
    }
}

fn encoded() -> Vec<u8> {
    sample().encode(1_700_000_000_000)
}

#[test]
fn round_trip_keeps_everything() {
    let mut original = sample();
    let bytes = original.encode(123);
    let back = Checkpoint::decode(&bytes, Path::new("x")).unwrap();
    assert_eq!(back.written_at_unix_ms, 123);
    assert_eq!(back.cut, original.cut);
    assert_eq!(back.catalog, original.catalog);
    assert_eq!(back.engine.present(), original.engine.present());
    assert_eq!(back.engine.current(), original.engine.current());
    assert_eq!(back.engine.counters(), original.engine.counters());
    assert!(!back.engine.is_frozen());
}

#[test]
fn round_trip_keeps_a_frozen_generation() {
    let mut cp = sample();
    cp.engine.freeze().unwrap();
    cp.engine.mark_write(BlockId::new(TableId(0), Window(5000)));
    let bytes = cp.encode(1);
    let back = Checkpoint::decode(&bytes, Path::new("x")).unwrap();
    assert!(back.engine.is_frozen());
    assert_eq!(back.engine.frozen(), cp.engine.frozen());
    assert_eq!(back.engine.current(), cp.engine.current());
}

#[test]
fn save_and_load_through_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let path = checkpoint_path(dir.path());
    let mut cp = sample();
    cp.save(&path, 99).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.written_at_unix_ms, 99);
    assert_eq!(back.engine.current(), cp.engine.current());
}

#[test]
fn a_missing_file_is_named() {
    let e = Checkpoint::load(Path::new("/nonexistent/checkpoint.tdibt")).unwrap_err();
    assert!(matches!(e, CheckpointError::Missing(_)));
    assert!(e.to_string().contains("/nonexistent/checkpoint.tdibt"));
}

#[test]
fn truncation_at_every_length_is_detected() {
    let bytes = encoded();
    for len in 0..bytes.len() {
        let e = Checkpoint::decode(&bytes[..len], Path::new("cp")).unwrap_err();
        assert!(
            matches!(e, CheckpointError::Truncated { .. }),
            "length {len}: {e}"
        );
    }
}

#[test]
fn a_flipped_byte_anywhere_is_detected() {
    let bytes = encoded();
    // Every byte of the header, then a spread over the body.
    let positions: Vec<usize> = (0..HEADER_LEN)
        .chain((HEADER_LEN..bytes.len()).step_by(7))
        .collect();
    for pos in positions {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x40;
        let result = Checkpoint::decode(&bad, Path::new("cp"));
        assert!(result.is_err(), "flip at {pos} was not detected");
    }
}

#[test]
fn trailing_garbage_is_detected() {
    let mut bytes = encoded();
    bytes.push(0);
    assert!(matches!(
        Checkpoint::decode(&bytes, Path::new("cp")),
        Err(CheckpointError::Corrupt { .. })
    ));
}

#[test]
fn a_future_version_is_refused_with_both_versions() {
    let mut bytes = encoded();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = Checkpoint::decode(&bytes, Path::new("cp")).unwrap_err();
    assert!(
        matches!(e, CheckpointError::FutureVersion { found, supported, .. }
        if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION)
    );
}

#[test]
fn another_file_is_not_a_checkpoint() {
    let e = Checkpoint::decode(b"{\"hello\": 1} and more text", Path::new("cp")).unwrap_err();
    assert!(matches!(e, CheckpointError::NotACheckpoint { .. }));
}

#[test]
fn a_body_with_a_valid_checksum_but_bad_content_is_corrupt() {
    let body = b"\x02\x00\x00\x00{}".to_vec();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(blake3::hash(&body).as_bytes());
    bytes.extend_from_slice(&body);
    assert!(matches!(
        Checkpoint::decode(&bytes, Path::new("cp")),
        Err(CheckpointError::Corrupt { .. })
    ));
}

#[test]
fn a_write_killed_before_rename_leaves_the_old_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = checkpoint_path(dir.path());
    let mut old = sample();
    old.save(&path, 1).unwrap();
    // The crash: a half-written temporary file next to the checkpoint.
    let mut newer = sample();
    newer
        .engine
        .mark_write(BlockId::new(TableId(0), Window(77_777)));
    let bytes = newer.encode(2);
    std::fs::write(crate::durable::temp_path(&path), &bytes[..bytes.len() / 2]).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded.written_at_unix_ms, 1);
    // And the next save replaces both cleanly.
    newer.save(&path, 3).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().written_at_unix_ms, 3);
}

#[test]
fn loading_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = checkpoint_path(dir.path());
    let mut bytes = encoded();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(Checkpoint::load(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// Bytes from disk never panic the decoder: arbitrary files, mutated checkpoints, and
/// mutated bodies under a recomputed checksum (what a bug in an older writer would leave,
/// and the only way past the checksum to the metadata and bitmap readers).
mod never_panics {
    use super::*;
    use proptest::prelude::*;
    use tdibt_testkit::mutated;

    fn with_valid_checksum(body: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(blake3::hash(body).as_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    /// What a caller does with a checkpoint it loaded; none of it may panic either.
    fn use_it(mut cp: Checkpoint) {
        let _ = cp.engine.counts();
        let _ = cp.encode(1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(cp) = Checkpoint::decode(&bytes, Path::new("cp")) { use_it(cp) }
        }

        #[test]
        fn mutated_files(bytes in mutated(encoded())) {
            if let Ok(cp) = Checkpoint::decode(&bytes, Path::new("cp")) { use_it(cp) }
        }

        #[test]
        fn mutated_bodies_with_a_valid_checksum(body in mutated(encoded()[HEADER_LEN..].to_vec())) {
            let bytes = with_valid_checksum(&body);
            if let Ok(cp) = Checkpoint::decode(&bytes, Path::new("cp")) { use_it(cp) }
        }
    }
}
