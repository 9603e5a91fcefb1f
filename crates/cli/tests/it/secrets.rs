//! No log level shows the password (issue 16, item 11): `-vv` used to print it through the
//! connector's trace of its login message. Every command that logs in runs at every level
//! (and with `RUST_LOG=trace`, which overrides the flags), and its whole output is scanned.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

use crate::support::{self, standin_with_db};

/// The stand-in knows one login, root / taosdata (as a fresh TDengine does).
const PASSWORD: &str = "taosdata";

/// The ways a password can be spelled in a log line: as is, URL-encoded (a DSN), JSON-escaped
/// (a login message).
fn spellings(password: &str) -> Vec<String> {
    let json = serde_json::to_string(password).unwrap();
    let url: String = password
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    vec![
        password.to_string(),
        json[1..json.len() - 1].to_string(),
        url,
    ]
}

/// Runs `tdibt` with `level` (flags, or `RUST_LOG` when it starts with `RUST_LOG=`) and
/// returns its output, failing the test if any spelling of `password` is in it.
fn run_scanned(config: &Path, password: &str, level: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tdibt"));
    c.arg("--config").arg(config).args(args);
    c.env_remove("TDIBT_PERSISTENCE_PATH")
        .env_remove("TDIBT_PASSWORD")
        .env_remove("RUST_LOG");
    match level.strip_prefix("RUST_LOG=") {
        Some(filter) => {
            c.env("RUST_LOG", filter);
        }
        None if level.is_empty() => {}
        None => {
            c.arg(level);
        }
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for spelling in spellings(password) {
        assert!(
            !text.contains(&spelling),
            "`tdibt {} {level}` shows the password as {spelling:?}:\n{text}",
            args.join(" ")
        );
    }
    out
}

const LEVELS: [&str; 6] = ["-q", "", "-v", "-vv", "-vvv", "RUST_LOG=trace"];

fn write_config(dir: &Path, port: u16, password: &str) -> PathBuf {
    let file = format!("tdibt-{}.json", password.len());
    support::write_config_as(
        dir,
        &file,
        port,
        json!({"database": {"password": password}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_level_shows_the_password() {
    let (standin, taos) = standin_with_db(None, 2).await;
    taos::AsyncQueryable::exec(
        &taos,
        "INSERT INTO db.d0 USING db.meters TAGS (1) VALUES (1767225600000, 1)",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), standin.addr().port(), PASSWORD);
    assert!(run_scanned(&config, PASSWORD, "", &["repo", "init"])
        .status
        .success());
    // Every command that logs in, SQL and TMQ, at every level; the trace levels must show
    // the connector's own lines (else the scan proves nothing).
    for level in LEVELS {
        for args in [
            &["init"][..],
            &["monitor", "--once"],
            &["backup"],
            &["verify", "--against"],
        ] {
            let out = run_scanned(&config, PASSWORD, level, args);
            assert!(
                out.status.success(),
                "tdibt {} {level}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            if level == "-vv" && args == ["init"] {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains("TRACE"), "no trace output: {stderr}");
            }
        }
    }
    // A refused login: the error path, with a password that needs escaping.
    let wrong = "Wr0ng pass\"word%&";
    let config = write_config(dir.path(), standin.addr().port(), wrong);
    for level in LEVELS {
        let out = run_scanned(&config, wrong, level, &["init"]);
        assert_eq!(out.status.code(), Some(5), "{level}");
    }
    standin.shutdown().await;
}
