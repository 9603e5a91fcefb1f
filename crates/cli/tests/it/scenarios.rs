//! The specification's scenarios as its users type them (issue 21), against the stand-in:
//! a configuration without user or password, a first backup into a new folder, verification
//! with `--backup PATH --report FILE`; and the errors a new user meets first: taosd's native
//! port 6030, a non-empty folder that is not a repository, a path that is not a repository.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use taos::{AsyncQueryable, Taos};

use serde_json::json;

use crate::support::{self, snapshot, standin_with_db};

const HOUR_MS: i64 = 3_600_000;
const BASE: i64 = 1_767_225_600_000;

/// `tdibt --config CONFIG ARGS` in `cwd`, at the default log level (what a user sees).
fn tdibt(cwd: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tdibt"))
        .current_dir(cwd)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TDIBT_PERSISTENCE_PATH")
        .env_remove("TDIBT_OUTPUT_PATH")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert!(
        out.status.success(),
        "exit {:?}: {stdout}{stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

async fn write(taos: &Taos, tables: usize, rows: i64, salt: i64) {
    for t in 0..tables {
        let values: Vec<String> = (0..rows)
            .map(|i| {
                format!(
                    "({}, {})",
                    BASE + i * HOUR_MS / 4 + salt,
                    i * salt + t as i64
                )
            })
            .collect();
        taos.exec(format!(
            "INSERT INTO db.d{t} USING db.meters TAGS ({t}) VALUES {}",
            values.join(" ")
        ))
        .await
        .unwrap();
    }
}

fn manifests(repository: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repository.join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

/// Scenario 1, `--since 2024-01-01 --output /backup/daily`, and scenario 4,
/// `--backup /backup/incremental --report verification.json`, typed as written.
/// The specification's configuration file, on the stand-in.
fn write_config(dir: &Path, port: u16) -> PathBuf {
    support::write_config(
        dir,
        port,
        json!({
            "bitmap_engine": {"memory_limit_mb": 1024, "block_span": "1h"},
            "backup": {"batch_size": 1000, "enable_compression": true, "output_path": dir.join("backup/incremental")},
            "monitoring": {"wal_check_interval_ms": 1000, "event_buffer_size": 10000}
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specifications_scenarios_run_as_written() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = write_config(cwd, standin.addr().port());
    write(&taos, 8, 40, 1).await;
    ok(&tdibt(cwd, &config, &["init"]));

    // Scenario 1: a daily incremental into a folder that does not exist yet (nor its parent).
    let daily = cwd.join("backup/daily");
    let daily_arg = daily.to_str().unwrap();
    let out = tdibt(
        cwd,
        &config,
        &["backup", "--since", "2024-01-01", "--output", daily_arg],
    );
    let (stdout, stderr) = ok(&out);
    assert!(
        stderr.contains(&format!("initialised repository {daily_arg}")),
        "{stderr}"
    );
    assert!(stdout.contains("(Full) of db"), "{stdout}");
    assert!(stdout.contains(&format!("{} row(s)", 8 * 40)), "{stdout}");
    assert!(daily.join("tdibt-repository.json").is_file());
    assert_eq!(manifests(&daily).len(), 1);
    // The same command the next day: no backup is as old as 2024-01-01, so only a full holds
    // every change since; it is taken (said so) rather than refused.
    write(&taos, 2, 4, 3).await;
    let (stdout, stderr) = ok(&tdibt(
        cwd,
        &config,
        &["backup", "--since", "2024-01-01", "--output", daily_arg],
    ));
    assert!(stdout.contains("(Full) of db"), "{stdout}");
    assert!(
        stderr.contains("finished at or before 2024-01-01T23:59:59.999Z: taking a full backup"),
        "{stderr}"
    );
    let first = manifests(&daily);
    assert_eq!(first.len(), 2);
    // An incremental on the newest, under its specification name.
    write(&taos, 2, 4, 7).await;
    let (stdout, _) = ok(&tdibt(
        cwd,
        &config,
        &["backup-incremental", "--output", daily_arg],
    ));
    assert!(stdout.contains("(Incremental on"), "{stdout}");
    assert_eq!(manifests(&daily).len(), 3);
    let state = snapshot(&taos, "db").await;

    // Scenario 4's repository is the configured one (`/backup/incremental`), new as well.
    let incremental = cwd.join("backup/incremental");
    ok(&tdibt(cwd, &config, &["backup", "--full"]));
    assert_eq!(manifests(&incremental).len(), 1);

    // Scenario 4: verification of a repository given by path, with a report.
    let out = tdibt(
        cwd,
        &config,
        &[
            "verify",
            "--backup",
            incremental.to_str().unwrap(),
            "--report",
            "verification.json",
        ],
    );
    let (stdout, _) = ok(&out);
    assert!(stdout.contains("repository: 1 backup(s)"), "{stdout}");
    assert!(stdout.contains("0 problem(s)"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.join("verification.json")).unwrap()).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["repository"]["backups"], 1);

    // restore --backup PATH: the daily repository's newest backup, compared row by row.
    ok(&tdibt(
        cwd,
        &config,
        &["restore", "--backup", daily_arg, "--target-db", "copy"],
    ));
    assert_eq!(snapshot(&taos, "copy").await, state);

    // The other repository by path, under its specification name; one backup's manifest
    // compared with the live database.
    let (stdout, _) = ok(&tdibt(
        cwd,
        &config,
        &[
            "verify-backup",
            "--backup",
            daily_arg,
            "--report",
            "daily.json",
        ],
    ));
    assert!(stdout.contains("repository: 3 backup(s)"), "{stdout}");
    // Ids have one-second resolution: the incremental is the manifest that is not a full's.
    let newest = manifests(&daily)
        .into_iter()
        .find(|m| !first.contains(m))
        .unwrap();
    let id = newest.file_stem().unwrap().to_str().unwrap().to_string();
    let (stdout, _) = ok(&tdibt(
        cwd,
        &config,
        &[
            "verify",
            "--backup",
            newest.to_str().unwrap(),
            "--against",
            "--report",
            "against.json",
        ],
    ));
    assert!(stdout.contains(&format!("backup {id}")), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.join("against.json")).unwrap()).unwrap();
    assert_eq!(report["against"]["backup"], id.as_str());
    assert_eq!(
        report["against"]["differences"].as_array().unwrap().len(),
        0
    );

    // A path that is not a repository: exit 6, and what to run.
    let out = tdibt(
        cwd,
        &config,
        &["verify", "--backup", cwd.join("nothing").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(6));
    assert!(text(&out).1.contains("tdibt repo init"), "{}", text(&out).1);
    // A `.json` that is not a manifest's path: exit 2, named.
    let out = tdibt(cwd, &config, &["verify", "--backup", "verification.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("manifests/ID.json"),
        "{}",
        text(&out).1
    );
    standin.shutdown().await;
}

/// A non-empty folder that is not a repository is refused, untouched, with the command that
/// backs up into a new folder inside it; that command works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_empty_folder_is_refused_with_the_command_to_run() {
    let (standin, taos) = standin_with_db(None, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = write_config(cwd, standin.addr().port());
    write(&taos, 3, 10, 1).await;
    ok(&tdibt(cwd, &config, &["init"]));
    let busy = cwd.join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = tdibt(
        cwd,
        &config,
        &["backup", "--output", busy.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(6));
    let stderr = text(&out).1;
    let suggested = format!(
        "tdibt --config {} backup --output {}/tdibt",
        config.display(),
        busy.display()
    );
    assert!(stderr.contains(&suggested), "{stderr}");
    let entries: Vec<_> = std::fs::read_dir(&busy).unwrap().collect();
    assert_eq!(entries.len(), 1, "the folder was changed");
    let args: Vec<&str> = suggested.split(' ').skip(3).collect();
    ok(&tdibt(cwd, &config, &args));
    assert_eq!(manifests(&busy.join("tdibt")).len(), 1);
    standin.shutdown().await;
}

/// tdibt talks to taosAdapter; a user who copies taosd's port 6030, or points tdibt at a
/// server that does not speak WebSocket, is told which port and how to set it.
#[test]
fn taosds_native_port_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = write_config(cwd, 6030);
    let out = tdibt(cwd, &config, &["config", "check", config.to_str().unwrap()]);
    let (stdout, _) = ok(&out);
    assert!(
        stdout.contains("warning") && stdout.contains("taosAdapter's WebSocket port (6041"),
        "{stdout}"
    );
    let out = tdibt(cwd, &config, &["init"]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out).1;
    for needle in [
        "port 6030 is taosd's native port",
        "taosAdapter's WebSocket port (6041",
        "database.port",
        "--port",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }

    // A server that accepts the connection and answers with something that is not HTTP, as
    // a native-protocol server does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Detached: it ends with the test process, however many times the connector tries.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(&[0x00, 0x00, 0x00, 0x2c, 0x01, 0xff, 0x7e, 0x00]);
        }
    });
    let config = write_config(cwd, port);
    let out = tdibt(cwd, &config, &["init"]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out).1;
    for needle in [
        "did not answer as a WebSocket server",
        "taosAdapter's WebSocket port (6041",
        "database.port",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}
