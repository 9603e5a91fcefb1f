//! `tdibt demo`, the README's first command: on the in-process stand-in, the engine marks
//! exactly the blocks the workload changed, and the restored database equals its source.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_marks_exactly_what_changed_and_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tdibt"))
        .args(["demo", "--tables", "20", "--rows", "5000", "--json", "-q"])
        .arg("--workdir")
        .arg(dir.path())
        .env_remove("TDIBT_CONFIG")
        .env_remove("TDIBT_PERSISTENCE_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"));

    let changed = count(&report["blocks_changed_by_workload"]);
    assert!(changed > 20, "the workload changed {changed} blocks");
    assert_eq!(
        report["blocks_marked_by_tdibt"],
        report["blocks_changed_by_workload"]
    );
    assert_eq!(report["exact"], true);

    // The incremental holds the second round of changes only: some blocks, far fewer than
    // the full, and the deleted ranges as tombstones.
    let full = count(&report["full_backup"]["blocks"]);
    let incremental = count(&report["incremental_backup"]["blocks"]);
    assert_eq!(
        full, changed,
        "a full backup right after capture stores every changed block"
    );
    assert!(
        incremental > 0 && incremental < full / 4,
        "incremental {incremental} of {full}"
    );
    assert_ne!(
        report["full_backup"]["id"],
        report["incremental_backup"]["id"]
    );

    // 20 tables written, one dropped, one created by the second round, one more dropped.
    assert_eq!(count(&report["tables_compared"]), 19);
    assert_eq!(report["verify_ok"], true);
    assert_eq!(report["restored_equals_source"], true);
}
