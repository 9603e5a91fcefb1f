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
