//! Golden tests of the generated scripts for tricky plans, shellcheck on every one, and the
//! backup script run end to end against a taosdump double that records its arguments.
//! `UPDATE_GOLDEN=1 cargo test -p tdibt-taosdump --test script` rewrites the golden files.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use tdibt_core::{BlockId, BlockSet, BlockSpan, Catalog, Cut, Precision, TableId, Window};
use tdibt_taosdump::blocks::{self, Inputs, Since};
use tdibt_taosdump::script::{self, ScriptOptions};
use tdibt_taosdump::BlocksDoc;

/// 2023-11-14T22:00:00Z in hours.
const HOUR0: i32 = 472_222;

struct Plan {
    catalog: Catalog,
    new: BlockSet,
    dirty: BlockSet,
    deleted: BlockSet,
}

impl Plan {
    fn new(precision: Precision) -> Plan {
        let mut catalog = Catalog::new();
        catalog
            .add_database("db", precision, BlockSpan::one_hour(precision))
            .unwrap();
        Plan {
            catalog,
            new: BlockSet::new(),
            dirty: BlockSet::new(),
            deleted: BlockSet::new(),
        }
    }

    fn table(&mut self, name: &str) -> TableId {
        self.catalog
            .add_table("db", name, Some("st"), Some(2))
            .unwrap()
    }

    fn doc(&self) -> BlocksDoc {
        blocks::build(Inputs {
            catalog: &self.catalog,
            database: "db",
            new: &self.new,
            dirty: &self.dirty,
            deleted: &self.deleted,
            chain_tables: &BTreeSet::new(),
            extra: &BlockSet::new(),
            cut: &Cut::new("tdibt_db"),
            checkpoint_written_at_unix_ms: 1_700_000_000_000,
            since: Since {
                backup: None,
                description: "golden test".into(),
            },
            generated_at_unix_ms: 1_700_000_000_000,
        })
        .unwrap()
    }
}

fn mark(set: &mut BlockSet, t: TableId, windows: impl IntoIterator<Item = i32>) {
    for w in windows {
        set.insert(BlockId::new(t, Window(HOUR0 + w)));
    }
}

fn options() -> ScriptOptions {
    ScriptOptions {
        host: Some("td-host".into()),
        port: Some(6041),
        user: Some("root".into()),
        driver: Some("WebSocket".into()),
        tdibt: "tdibt".into(),
        ..ScriptOptions::default()
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `text` with the golden file `name` (or rewrites it), then shellchecks it.
fn golden(name: &str, text: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "{name} differs from its golden file");
    shellcheck(&path);
}

fn shellcheck(path: &Path) {
    match Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "shellcheck {}:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: shellcheck is not installed here (CI installs it); {} not checked",
                path.display()
            );
        }
        Err(e) => panic!("shellcheck: {e}"),
    }
}

fn both(name: &str, doc: &BlocksDoc, opts: &ScriptOptions) {
    golden(
        &format!("{name}.backup.sh"),
        &script::backup_script(doc, opts).unwrap(),
    );
    golden(
        &format!("{name}.restore.sh"),
        &script::restore_script(doc, opts).unwrap(),
    );
}

#[test]
fn many_tables_sharing_a_range_cost_few_calls_split_under_the_budget() {
    let mut p = Plan::new(Precision::Millis);
    for i in 0..3000 {
        let t = p.table(&format!("d{i:04}"));
        mark(&mut p.new, t, [0]);
    }
    let doc = p.doc();
    // 3000 names of 5 bytes cost 14 bytes each: 8 KiB holds 585 of them.
    let opts = ScriptOptions {
        arg_budget: 8 * 1024,
        ..options()
    };
    let calls = script::calls(&doc, opts.arg_budget).unwrap();
    assert_eq!(calls.len(), 6);
    assert!(calls
        .iter()
        .all(|c| c.tables.iter().map(|t| t.len() + 9).sum::<usize>() <= 8 * 1024));
    let all: usize = calls.iter().map(|c| c.tables.len()).sum();
    assert_eq!(all, 3000);
    // With the default budget, one call.
    assert_eq!(script::calls(&doc, options().arg_budget).unwrap().len(), 1);
    let text = script::backup_script(&doc, &opts).unwrap();
    assert_eq!(text.matches("\nrun_taosdump ").count(), 6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.sh");
    std::fs::write(&path, &text).unwrap();
    shellcheck(&path);
}

#[test]
fn one_table_with_many_ranges() {
    let mut p = Plan::new(Precision::Millis);
    let t = p.table("t");
    mark(&mut p.new, t, [0, 1, 2]);
    mark(&mut p.dirty, t, [3, 10, 20]);
    mark(&mut p.new, t, [21, 40]);
    let doc = p.doc();
    let ranges: Vec<(i32, i32)> = doc.tables[0]
        .ranges
        .iter()
        .map(|r| (r.first_window - HOUR0, r.last_window - HOUR0))
        .collect();
    assert_eq!(ranges, [(0, 3), (10, 10), (20, 21), (40, 40)]);
    both("many_ranges", &doc, &options());
}

#[test]
fn each_precision_gets_inclusive_ends_in_its_own_units() {
    for (precision, name) in [
        (Precision::Millis, "precision_ms"),
        (Precision::Micros, "precision_us"),
        (Precision::Nanos, "precision_ns"),
    ] {
        let mut p = Plan::new(precision);
        let t = p.table("t");
        mark(&mut p.new, t, [0]);
        let doc = p.doc();
        let hour = precision.units_per_second() * 3600;
        let start = i64::from(HOUR0) * hour;
        let text = script::backup_script(&doc, &options()).unwrap();
        assert!(
            text.contains(&format!("-S {start} -E {} ", start + hour - 1)),
            "{name}: -S/-E must cover [{start}, {}] exactly",
            start + hour - 1
        );
        both(name, &doc, &options());
    }
}

#[test]
fn names_needing_quotes() {
    let mut p = Plan::new(Precision::Millis);
    for name in [
        "my table",
        "it's",
        "温度计",
        "select",
        "a\"b$c`d",
        "tab\there",
    ] {
        let t = p.table(name);
        mark(&mut p.new, t, [0]);
    }
    let doc = p.doc();
    both("quoted_names", &doc, &options());
    let mut q = Plan::new(Precision::Millis);
    let t = q.table("-s");
    mark(&mut q.new, t, [0]);
    let err = script::backup_script(&q.doc(), &options()).unwrap_err();
    assert!(err.to_string().contains("\"-s\" starts with '-'"), "{err}");
}

#[test]
fn deletes_drops_and_schema_changes_are_recorded() {
    let mut p = Plan::new(Precision::Millis);
    let a = p.table("a");
    let b = p.table("b");
    let gone = p.table("gone");
    mark(&mut p.dirty, a, [0]);
    mark(&mut p.deleted, a, [5, 6]);
    mark(&mut p.deleted, b, [1]);
    mark(&mut p.deleted, gone, [0]);
    p.catalog.mark_dropped(gone);
    p.catalog
        .record_alter("db", "a", r#"{"type":"alter","alterType":5}"#.into());
    let doc = p.doc();
    assert_eq!(doc.dropped_tables, ["gone"]);
    assert_eq!(doc.counts.deleted_ranges, 2);
    assert_eq!(doc.counts.schema_changes, 1);
    both("deletes_drops_schema", &doc, &options());
}

/// The backup script, run with a taosdump double that records its arguments and its
/// standard input: each call gets its own new folder, `-p` alone with the password on
/// stdin, and the run stops at the first failure.
#[test]
fn the_backup_script_runs_taosdump_as_planned_and_stops_at_the_first_failure() {
    let mut p = Plan::new(Precision::Micros);
    let a = p.table("a b");
    let c = p.table("c'd");
    mark(&mut p.new, a, [0, 1]);
    mark(&mut p.new, c, [0, 1, 5]);
    let doc = p.doc();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("calls.log");
    // The double: logs its arguments one per line and the password line it reads; writes
    // dbs.sql into -o; fails on the call whose -o ends in $FAIL_ON.
    let double = format!(
        r#"#!/bin/sh
out=
prev=
for a in "$@"; do
    printf '%s\n' "$a" >> '{log}'
    [ "$prev" = "-o" ] && out=$a
    prev=$a
done
IFS= read -r pw
printf 'password=%s\n---\n' "$pw" >> '{log}'
[ -n "$out" ] || exit 3
[ -z "$(ls -A "$out")" ] || exit 4
case $out in *"${{FAIL_ON:-none}}") exit 5 ;; esac
echo "CREATE DATABASE IF NOT EXISTS db" > "$out/dbs.sql"
"#,
        log = log.display()
    );
    let taosdump = bin.join("taosdump");
    std::fs::write(&taosdump, double).unwrap();
    let tdibt = bin.join("tdibt");
    std::fs::write(
        &tdibt,
        "#!/bin/sh\necho verify \"$@\" >> \"$(dirname \"$0\")/../verify.log\"\n",
    )
    .unwrap();
    for f in [&taosdump, &tdibt] {
        Command::new("chmod").arg("+x").arg(f).status().unwrap();
    }
    let opts = ScriptOptions {
        tdibt: tdibt.display().to_string(),
        ..options()
    };
    let script_path = dir.path().join("backup_script.sh");
    std::fs::write(&script_path, script::backup_script(&doc, &opts).unwrap()).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_dir = dir.path().join("out");
    let run = Command::new("sh")
        .arg(&script_path)
        .arg(&out_dir)
        .env("PATH", &path)
        .env("TDIBT_TAOSDUMP_PASSWORD", "s3cr3t!")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = logged.split("---\n").filter(|c| !c.is_empty()).collect();
    // Windows 0..1 are shared by both tables; window 5 is c'd's alone.
    assert_eq!(calls.len(), 2, "{logged}");
    let hour = 3_600_000_000i64;
    let s0 = i64::from(HOUR0) * hour;
    let want0 = format!(
        "-h\ntd-host\n-P\n6041\n-u\nroot\n-Z\nWebSocket\n-S\n{s0}\n-E\n{}\n-o\n{}/dump-0001\ndb\na b\nc'd\npassword=s3cr3t!\n",
        s0 + 2 * hour - 1,
        out_dir.display()
    );
    assert_eq!(calls[0], format!("-p\n{want0}"));
    assert!(calls[1].contains(&format!(
        "-S\n{}\n-E\n{}\n",
        s0 + 5 * hour,
        s0 + 6 * hour - 1
    )));
    assert!(calls[1].contains("\ndb\nc'd\npassword=s3cr3t!\n"));
    assert!(!logged.contains("-ps3cr3t!"));
    assert!(out_dir.join("incremental_blocks.json").is_file());
    assert!(out_dir.join("taosdump_calls.json").is_file());
    let back = BlocksDoc::read(&out_dir.join("incremental_blocks.json")).unwrap();
    assert_eq!(back, doc);
    let verify = std::fs::read_to_string(dir.path().join("verify.log")).unwrap();
    assert!(verify.starts_with("verify verify-taosdump"), "{verify}");

    // A second run into the same (now full) folder refuses; a failing call stops the run.
    let again = Command::new("sh")
        .arg(&script_path)
        .arg(&out_dir)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_file(dir.path().join("verify.log")).unwrap();
    let out2 = dir.path().join("out2");
    let failed = Command::new("sh")
        .arg(&script_path)
        .arg(&out2)
        .env("PATH", &path)
        .env("TDIBT_TAOSDUMP_PASSWORD", "x")
        .env("FAIL_ON", "dump-0001")
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("taosdump call 1 of 2"), "{stderr}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.matches("---").count(),
        1,
        "stopped after the failing call"
    );
    assert!(!dir.path().join("verify.log").exists());
}
