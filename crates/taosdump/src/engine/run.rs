//! Running taosdump: one process per call, `jobs` at once, the password on its standard
//! input (`-p` alone: taosdump reads it with `scanf("%255s")`), never on a command line.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tdibt_backup::{Progress, ProgressSink};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::task::JoinSet;

use super::TaosdumpEngine;
use crate::error::{TaosdumpError, TaosdumpResult};
use crate::script::{self, Call};

/// What a failed taosdump call said, at most this many bytes of it (its end).
const STDERR_KEPT: usize = 2000;

/// The arguments of one dump call into `out` (its folder, new), as the script passes them.
pub fn dump_args(
    engine: &TaosdumpEngine,
    database: &str,
    call: &Call,
    out: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = shared(engine, database);
    args.extend(
        script::range_options(&call.range)
            .into_iter()
            .map(OsString::from),
    );
    args.push("-o".into());
    args.push(out.as_os_str().to_owned());
    // Everything after the database name is a table (taosdump's first positional argument
    // ends its options; table names starting with '-' were refused by the planner).
    args.push(database.into());
    args.extend(call.tables.iter().map(OsString::from));
    args
}

/// The arguments of an import of `folder` (`taosdump -i`).
pub fn import_args(engine: &TaosdumpEngine, database: &str, folder: &Path) -> Vec<OsString> {
    let mut args = shared(engine, database);
    args.push("-i".into());
    args.push(folder.as_os_str().to_owned());
    args
}

fn shared(engine: &TaosdumpEngine, database: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if engine.password.is_some() {
        args.push("-p".into());
    }
    for (flag, value) in script::shared_options(&engine.options, database) {
        args.push(flag.into());
        args.extend(value.map(OsString::from));
    }
    args
}

/// Runs taosdump with `args`; `what` names the call in errors.
pub async fn taosdump(
    engine: &TaosdumpEngine,
    args: Vec<OsString>,
    what: String,
) -> TaosdumpResult<()> {
    if let Some(p) = engine.password.as_ref().map(|p| p.expose()) {
        if p.chars().any(char::is_whitespace) || p.len() > 255 {
            return Err(TaosdumpError::Refused(
                "the password holds white space or is longer than 255 bytes: taosdump reads it from its input with scanf(\"%255s\") and would get another".into(),
            ));
        }
    }
    let mut child = Command::new(&engine.program)
        .args(&args)
        .stdin(if engine.password.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TaosdumpError::Launch {
            program: engine.program.to_string_lossy().into_owned(),
            source,
        })?;
    if let (Some(p), Some(mut stdin)) = (&engine.password, child.stdin.take()) {
        let p = p.expose();
        // A taosdump that exits before reading it closes the pipe: its exit status says why.
        let _ = stdin.write_all(format!("{p}\n").as_bytes()).await;
        drop(stdin);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| TaosdumpError::Launch {
            program: engine.program.to_string_lossy().into_owned(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = stderr.trim();
    let mut from = tail.len().saturating_sub(STDERR_KEPT);
    while !tail.is_char_boundary(from) {
        from += 1;
    }
    let tail = &tail[from..];
    Err(TaosdumpError::CallFailed {
        what,
        status: out.status.to_string(),
        stderr: tail.to_string(),
    })
}

/// Runs every call, `engine.jobs` at once, each into `dir/<its folder>`; stops at the first
/// failure (the calls still running are killed).
pub async fn dump_all(
    engine: &TaosdumpEngine,
    database: &str,
    calls: &[Call],
    dir: &Path,
    progress: &dyn ProgressSink,
) -> TaosdumpResult<()> {
    let total = calls.len() as u64;
    let done = AtomicU64::new(0);
    progress.update(
        "taosdump",
        Progress {
            done: 0,
            total,
            ..Progress::default()
        },
    );
    let mut running = JoinSet::new();
    let mut pending = calls.iter().enumerate();
    loop {
        while running.len() < engine.jobs.max(1) {
            let Some((i, call)) = pending.next() else {
                break;
            };
            let out = dir.join(&call.folder);
            let args = dump_args(engine, database, call, &out);
            let what = format!(
                "taosdump call {} of {total} ({} table(s), {}, into {})",
                i + 1,
                call.tables.len(),
                call.range.describe(),
                out.display()
            );
            let engine = engine.clone();
            running.spawn(async move { taosdump(&engine, args, what).await });
        }
        let Some(finished) = running.join_next().await else {
            break;
        };
        finished
            .map_err(|e| TaosdumpError::Refused(format!("a taosdump call's task failed: {e}")))??;
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress.update(
            "taosdump",
            Progress {
                done: n,
                total,
                ..Progress::default()
            },
        );
    }
    progress.finish("taosdump");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::Range;

    fn engine(password: Option<&str>) -> TaosdumpEngine {
        TaosdumpEngine {
            options: crate::script::ScriptOptions {
                host: Some("td1".into()),
                port: Some(6041),
                ..Default::default()
            },
            program: "taosdump".into(),
            password: password.map(tdibt_core::config::Secret::new),
            jobs: 1,
        }
    }

    fn call(start: Option<i64>, end: Option<i64>) -> Call {
        Call {
            folder: "dump-0001".into(),
            range: Range {
                start,
                end,
                start_iso: None,
                end_iso: None,
                first_window: 0,
                last_window: 0,
            },
            tables: vec!["d 1".into(), "select".into()],
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn options_come_before_the_database_and_the_password_never_on_the_line() {
        let args = strings(dump_args(
            &engine(Some("s3cret")),
            "db",
            &call(Some(100), Some(200)),
            Path::new("/x/dump-0001"),
        ));
        assert_eq!(
            args,
            [
                "-p",
                "-h",
                "td1",
                "-P",
                "6041",
                "-S",
                "100",
                "-E",
                "199",
                "-o",
                "/x/dump-0001",
                "db",
                "d 1",
                "select"
            ]
        );
        assert!(!args.iter().any(|a| a.contains("s3cret")));
        // A whole table: no range; no password configured: no -p (taosdump's default).
        let args = strings(dump_args(
            &engine(None),
            "my db",
            &call(None, None),
            Path::new("o"),
        ));
        assert_eq!(
            args,
            ["-h", "td1", "-P", "6041", "-e", "-o", "o", "my db", "d 1", "select"]
        );
        let args = strings(import_args(
            &engine(Some("p")),
            "db",
            Path::new("/in/dump-0002"),
        ));
        assert_eq!(
            args,
            ["-p", "-h", "td1", "-P", "6041", "-i", "/in/dump-0002"]
        );
    }

    #[tokio::test]
    async fn a_password_taosdump_cannot_read_is_refused_before_it_runs() {
        let e = taosdump(&engine(Some("two words")), Vec::new(), "x".into())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("white space"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_program_and_a_failing_call_say_what_and_why() {
        let mut missing = engine(None);
        missing.program = "/nonexistent/taosdump".into();
        let e = taosdump(&missing, Vec::new(), "x".into())
            .await
            .unwrap_err();
        assert!(matches!(e, TaosdumpError::Launch { .. }), "{e}");
        let mut failing = engine(None);
        failing.program = "sh".into();
        let args = ["-c", "echo 'no such table' >&2; exit 3"]
            .map(OsString::from)
            .to_vec();
        let e = taosdump(&failing, args, "taosdump call 1 of 1".into())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("taosdump call 1 of 1") && e.contains("no such table"),
            "{e}"
        );
    }
}
