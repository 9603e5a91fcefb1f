//! The `tdibt` binary end to end: exit codes, JSON output, errors that name the problem.

use std::path::Path;
use std::process::{Command, Output};

use tdibt_core::checkpoint::{checkpoint_path, Checkpoint};
use tdibt_core::{BlockId, BlockSpan, Catalog, Cut, Engine, Precision, TableId, Window};

fn tdibt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tdibt"))
        .args(args)
        .env_remove("TDIBT_CONFIG")
        .env_remove("TDIBT_PERSISTENCE_PATH")
        .output()
        .unwrap()
}

fn write_checkpoint(dir: &Path) {
    let mut catalog = Catalog::new();
    catalog
        .add_database(
            "db",
            Precision::Millis,
            BlockSpan::one_hour(Precision::Millis),
        )
        .unwrap();
    let t = catalog.add_table("db", "d0", None, Some(2)).unwrap();
    let mut engine = Engine::new();
    engine.mark_writes((0..10).map(|w| BlockId::new(t, Window(w))));
    engine.freeze().unwrap();
    engine.fold_frozen().unwrap();
    engine.mark_write(BlockId::new(t, Window(3)));
    engine.mark_write(BlockId::new(TableId(0), Window(50)));
    engine.mark_drop(TableId(0));
    engine.mark_write(BlockId::new(t, Window(4)));
    let mut cut = Cut::new("tdibt_db");
    cut.set(2, 17);
    let mut cp = Checkpoint {
        engine,
        catalog,
        cut,
        written_at_unix_ms: 0,
        ..Default::default()
    };
    cp.save(&checkpoint_path(dir), 1_700_000_000_000).unwrap();
}

#[test]
fn stats_json_reports_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path());
    let out = tdibt(&[
        "stats",
        "--json",
        "--persistence-path",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["blocks"]["dirty"], 1);
    assert_eq!(v["blocks"]["deleted"], 9);
    assert_eq!(v["blocks"]["new"], 0);
    assert_eq!(v["blocks"]["present"], 10);
    assert_eq!(v["tables"], 1);
    assert_eq!(v["cut"]["vgroups"]["2"], 17);
    assert_eq!(v["written_at_unix_ms"], 1_700_000_000_000i64);
    assert!(v["checkpoint_age_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["heap_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn stats_human_output() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path());
    let out = tdibt(&["stats", "--persistence-path", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DIRTY 1"), "{text}");
    assert!(text.contains("vg2=17"), "{text}");
}

#[test]
fn stats_on_a_missing_checkpoint_exits_4_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = tdibt(&[
        "stats",
        "--json",
        "--persistence-path",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checkpoint.tdibt"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exit_code"], 4);
}

#[test]
fn stats_on_a_corrupt_checkpoint_exits_4_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path());
    let path = checkpoint_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = tdibt(&["stats", "--persistence-path", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt"));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn config_check_accepts_a_valid_file_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tdibt.json");
    std::fs::write(
        &file,
        r#"{"database": {"name": "testdb", "password": "s3cret!"}, "bitmap_engine": {"block_span": "30m"}}"#,
    )
    .unwrap();
    let out = tdibt(&["config", "check", file.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cret"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["config"]["bitmap_engine"]["block_span"], "30m");
}

#[test]
fn config_check_names_the_bad_key_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tdibt.json");
    std::fs::write(&file, r#"{"monitoring": {"event_buffer_size": 0}}"#).unwrap();
    let out = tdibt(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("monitoring.event_buffer_size"));
    std::fs::write(&file, r#"{"database": {"port": "x"}}"#).unwrap();
    let out = tdibt(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.port"));
}

#[test]
fn environment_overrides_are_validated_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tdibt.json");
    std::fs::write(&file, "{}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tdibt"))
        .args(["config", "check", file.to_str().unwrap()])
        .env("TDIBT_BLOCK_SPAN", "sometimes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bitmap_engine.block_span"));
}

#[test]
fn a_bad_command_line_exits_2() {
    let out = tdibt(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}
