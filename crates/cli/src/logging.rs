//! Logs on stderr; stdout is for results (human or `--json`).
//!
//! No log line shows a secret, at any level: the connector traces its login and TMQ
//! subscribe messages (user and password included) at trace level, and `RUST_LOG` can turn
//! any crate's trace on, so filtering by level cannot promise it. Instead every line is
//! scrubbed of the secrets tdibt knows (the database password, from wherever it came, and
//! the `AWS_*` secrets object storage reads) in every spelling a log line can carry them:
//! as is, JSON-escaped, `Debug`-escaped, URL-encoded.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

use tracing_subscriber::EnvFilter;

/// What a secret is replaced with.
const HIDDEN: &str = "***";

/// Environment variables whose values are secrets (object storage credentials).
const SECRET_VARIABLES: [&str; 2] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// The spellings of every known secret, longest first so that no shorter spelling splits a
/// longer one before it is replaced.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// `-q` errors only, default info, `-v` debug, `-vv` trace; `RUST_LOG` wins when set.
pub fn init(verbose: u8, quiet: bool) {
    for name in SECRET_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            hide(&value);
        }
    }
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // A second init (tests) is harmless: ignore the error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Scrubbed::default)
        .with_target(false)
        .try_init();
}

/// Registers a secret: from now on it is replaced in every log line and error message.
pub fn hide(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(secret)
        .to_string();
    let mut spellings = vec![
        secret.to_string(),
        urlencoding::encode(secret).into_owned(),
        debug_escaped(secret),
        debug_escaped(&json),
        bytes_escaped(secret),
        bytes_escaped(&json),
        // `bytes::Bytes` shows a quote unescaped, `escape_default` escapes it.
        bytes_escaped(secret).replace("\\'", "'"),
        bytes_escaped(&json).replace("\\'", "'"),
        json,
    ];
    let Ok(mut secrets) = SECRETS.write() else {
        return;
    };
    secrets.append(&mut spellings);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
}

/// How `{:?}` of a string shows `text`, without the quotes.
fn debug_escaped(text: &str) -> String {
    let debug = format!("{text:?}");
    debug[1..debug.len() - 1].to_string()
}

/// How `{:?}` of a byte string shows `text` (non-ASCII as `\xNN`).
fn bytes_escaped(text: &str) -> String {
    text.bytes()
        .flat_map(std::ascii::escape_default)
        .map(char::from)
        .collect()
}

/// `text` with every known secret replaced.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else {
        // A writer panicked holding the lock: say nothing rather than risk a secret.
        return Cow::Borrowed("(log line withheld: the secret list is unavailable)");
    };
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), HIDDEN));
        }
    }
    out
}

/// One log event, buffered whole and scrubbed on its way to stderr (a secret cannot be
/// split across two writes).
#[derive(Default)]
struct Scrubbed(Vec<u8>);

impl Write for Scrubbed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Scrubbed {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        // Nowhere to report a failed write of a log line.
        let _ = std::io::stderr().write_all(scrub(&text).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_secret_is_hidden() {
        let secret = "p\"w d%é";
        hide(secret);
        let login = serde_json::json!({"user": "root", "password": secret}).to_string();
        for line in [
            format!("password {secret} here"),
            login.clone(),
            format!("{:?}", login),
            format!("ws://root:{}@h:6041", urlencoding::encode(secret)),
        ] {
            let scrubbed = scrub(&line);
            assert!(scrubbed.contains(HIDDEN), "{line} -> {scrubbed}");
            for part in ["p\"w", "p\\\"w", "p%22w", "d%"] {
                assert!(!scrubbed.contains(part), "{line} -> {scrubbed}");
            }
        }
        assert_eq!(scrub("nothing to hide"), "nothing to hide");
    }
}
