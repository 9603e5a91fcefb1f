//! `backup_script.sh` and `restore_script.sh`: POSIX sh that runs taosdump for exactly the
//! plan. What each taosdump option means here is taken from taosdump's source and docs
//! (cited in the crate's README):
//!
//! - `taosdump [OPTION...] dbname [tbname ...]`; every option goes before the database name,
//!   since taosdump stops parsing options at its first positional argument; table names are
//!   passed raw (taosdump puts them in backquotes itself).
//! - `-S`/`-E` are epochs in the database's precision when the value has no `:`, and the
//!   query is `_c0 >= S AND _c0 <= E`: both ends inclusive, so `-E` is the range's exclusive
//!   end minus one.
//! - `-p` alone makes taosdump read the password from its standard input; the script pipes
//!   it from `printf` (a shell builtin: no process shows it), never as `-pPASSWORD`.
//! - `-o` must name a new or empty folder: each call gets its own, made with `mkdir` (which
//!   fails if the folder exists).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::blocks::{BlocksDoc, Range};
use crate::error::{TaosdumpError, TaosdumpResult};

pub const CALLS_FILE: &str = "taosdump_calls.json";
pub const BLOCKS_FILE: &str = "incremental_blocks.json";
pub const CALLS_FORMAT: &str = "tdibt-taosdump-calls";

/// How the scripts call taosdump and tdibt.
#[derive(Clone, Debug)]
pub struct ScriptOptions {
    /// `-h`; `None`: taosdump's default (localhost).
    pub host: Option<String>,
    /// `-P`; `None`: taosdump's default for its driver.
    pub port: Option<u16>,
    /// `-u`; `None`: taosdump's default (root).
    pub user: Option<String>,
    /// `-Z` (e.g. `WebSocket` or `Native`).
    pub driver: Option<String>,
    /// `-c`: taosdump's configuration folder.
    pub config_dir: Option<String>,
    /// `-T`.
    pub threads: Option<u16>,
    /// `-d` (null, deflate, snappy, lzma).
    pub codec: Option<String>,
    /// Bytes of table-name arguments one call may carry (each name counts its bytes, its
    /// terminating NUL and its pointer, as the kernel does). Linux allows 2 MiB for
    /// arguments and environment together; the default leaves most of it to the
    /// environment.
    pub arg_budget: usize,
    /// Where the backup script dumps when given no folder.
    pub default_dir: String,
    /// The tdibt command the scripts call back (verify, apply).
    pub tdibt: String,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        ScriptOptions {
            host: None,
            port: None,
            user: None,
            driver: None,
            config_dir: None,
            threads: None,
            codec: None,
            arg_budget: 128 * 1024,
            default_dir: "taosdump-incremental".into(),
            tdibt: "tdibt".into(),
        }
    }
}

/// One taosdump call: tables sharing a merged range, into their own folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub folder: String,
    pub range: Range,
    pub tables: Vec<String>,
}

/// What the backup script ran, written beside the dumps for `verify-taosdump`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallsDoc {
    pub format: String,
    pub version: u32,
    pub database: String,
    pub calls: Vec<Call>,
}

impl CallsDoc {
    pub fn new(database: &str, calls: Vec<Call>) -> CallsDoc {
        CallsDoc {
            format: CALLS_FORMAT.into(),
            version: 1,
            database: database.to_string(),
            calls,
        }
    }

    /// The file `verify-taosdump` reads ([`CALLS_FILE`]): pretty JSON and a newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data into a Vec cannot fail.
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        json
    }
}

/// Groups the plan's ranges into calls: one per distinct range, split so no call's table
/// names exceed `arg_budget`.
pub fn calls(doc: &BlocksDoc, arg_budget: usize) -> TaosdumpResult<Vec<Call>> {
    let mut by_range: BTreeMap<Range, Vec<String>> = BTreeMap::new();
    for t in &doc.tables {
        check_name(&t.name)?;
        for r in &t.ranges {
            by_range.entry(r.clone()).or_default().push(t.name.clone());
        }
    }
    let mut out: Vec<(Range, Vec<String>)> = Vec::new();
    for (range, tables) in by_range {
        let mut batch: Vec<String> = Vec::new();
        let mut used = 0usize;
        for name in tables {
            let cost = name.len() + 1 + std::mem::size_of::<usize>();
            if !batch.is_empty() && used + cost > arg_budget {
                out.push((range.clone(), std::mem::take(&mut batch)));
                used = 0;
            }
            used += cost;
            batch.push(name);
        }
        if !batch.is_empty() {
            out.push((range, batch));
        }
    }
    let width = out.len().to_string().len().max(4);
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(i, (range, tables))| Call {
            folder: format!("dump-{:0width$}", i + 1),
            range,
            tables,
        })
        .collect())
}

/// taosdump scans its whole command line for `-p`, `-s`, `-S`, `-D`... before parsing it,
/// so a table name starting with `-` would be taken for an option.
fn check_name(name: &str) -> TaosdumpResult<()> {
    if name.starts_with('-') {
        return Err(TaosdumpError::Refused(format!(
            "table {name:?} starts with '-': taosdump would read it as one of its options, so no script can pass it; rename the table or back it up with `tdibt backup`"
        )));
    }
    Ok(())
}

/// `s` as one single-quoted shell word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The options every call shares (connection, codec, threads), as flags and their values:
/// the script quotes them, `tdibt backup --engine taosdump` passes them as they are.
pub fn shared_options(opts: &ScriptOptions, database: &str) -> Vec<(&'static str, Option<String>)> {
    let mut options = vec![
        ("-h", opts.host.clone()),
        ("-P", opts.port.map(|p| p.to_string())),
        ("-u", opts.user.clone()),
        ("-Z", opts.driver.clone()),
        ("-c", opts.config_dir.clone()),
        ("-T", opts.threads.map(|t| t.to_string())),
        ("-d", opts.codec.clone()),
    ];
    options.retain(|(_, v)| v.is_some());
    if !is_plain_identifier(database) {
        // taosdump quotes the database name only when asked (`-e`).
        options.push(("-e", None));
    }
    options
}

/// A call's time range as taosdump's `-S`/`-E` (epochs; `-E` inclusive).
pub fn range_options(range: &Range) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(t) = range.start {
        words.extend(["-S".to_string(), t.to_string()]);
    }
    if let Some(t) = range.last_ts() {
        words.extend(["-E".to_string(), t.to_string()]);
    }
    words
}

/// [`shared_options`] as shell words.
fn common_options(opts: &ScriptOptions, database: &str) -> Vec<String> {
    let mut words = Vec::new();
    for (flag, value) in shared_options(opts, database) {
        words.push(flag.to_string());
        words.extend(value.map(|v| sh_quote(&v)));
    }
    words
}

const PREAMBLE: &str = r#"set -eu

TAOSDUMP=${TAOSDUMP:-taosdump}

fail() {
    printf '%s: %s\n' "$0" "$*" >&2
    exit 1
}

# The password reaches taosdump on its standard input (`-p` alone makes it read one), from
# printf, a shell builtin: it is never on a command line that ps can show.
run_taosdump() {
    if [ -n "${TDIBT_TAOSDUMP_PASSWORD+x}" ]; then
        case $TDIBT_TAOSDUMP_PASSWORD in
            *[[:space:]]*) fail "TDIBT_TAOSDUMP_PASSWORD holds white space, which taosdump cannot read from its input" ;;
        esac
        printf '%s\n' "$TDIBT_TAOSDUMP_PASSWORD" | "$TAOSDUMP" -p "$@"
    else
        "$TAOSDUMP" "$@"
    fi
}
"#;

fn header(what: &str, doc: &BlocksDoc) -> String {
    format!(
        "#!/bin/sh\n# Table names are single-quoted on purpose: nothing in them may expand.\n# shellcheck disable=SC2016\n# {what}, written by tdibt for database {db} ({since}).\n# {ranges} range(s) of {tables} table(s), {deleted} deleted range(s), {dropped} dropped table(s), {schema} schema change(s); cut taken at {cut}.\n# Password: set TDIBT_TAOSDUMP_PASSWORD in the environment (never on a command line).\n",
        db = doc.database,
        since = doc.since.description,
        ranges = doc.counts.ranges,
        tables = doc.counts.tables,
        deleted = doc.counts.deleted_ranges,
        dropped = doc.counts.dropped_tables,
        schema = doc.counts.schema_changes,
        cut = doc.cut.checkpoint_written_at,
    )
}

/// Writes `bytes` to `$OUT/name` from a quoted here-document (no expansion inside).
fn heredoc(name: &str, bytes: &[u8]) -> String {
    format!(
        "cat > \"$OUT/{name}\" <<'TDIBT_END_OF_FILE'\n{}TDIBT_END_OF_FILE\n",
        String::from_utf8_lossy(bytes)
    )
}

/// The backup script: one taosdump call per [`Call`], then `tdibt verify-taosdump`.
pub fn backup_script(doc: &BlocksDoc, opts: &ScriptOptions) -> TaosdumpResult<String> {
    let calls = calls(doc, opts.arg_budget)?;
    let calls_json = CallsDoc::new(&doc.database, calls.clone()).to_json();
    let mut s = header("Incremental dump with taosdump", doc);
    s.push_str(PREAMBLE);
    s.push_str(&format!(
        "TDIBT=${{TDIBT:-{}}}\nOUT=${{1:-{}}}\n\n",
        sh_quote(&opts.tdibt),
        sh_quote(&opts.default_dir)
    ));
    s.push_str(
        "# A new or empty folder, as taosdump asks of its -o.\nif [ -e \"$OUT\" ] && [ -n \"$(ls -A \"$OUT\")\" ]; then\n    fail \"$OUT is not empty: give a new folder as the first argument\"\nfi\nmkdir -p \"$OUT\"\n\n",
    );
    s.push_str(&heredoc(BLOCKS_FILE, &doc.to_json()));
    s.push_str(&heredoc(CALLS_FILE, &calls_json));
    let common = common_options(opts, &doc.database).join(" ");
    let total = calls.len();
    for (i, call) in calls.iter().enumerate() {
        s.push_str(&format!(
            "\n# {n}/{total}: {count} table(s), {range}\nmkdir \"$OUT/{folder}\"\nrun_taosdump {common}{common_sep}{times}-o \"$OUT/{folder}\" \\\n    {db} \\\n",
            n = i + 1,
            count = call.tables.len(),
            range = call.range.describe(),
            folder = call.folder,
            common_sep = if common.is_empty() { "" } else { " " },
            times = range_options(&call.range)
                .iter()
                .map(|w| format!("{w} "))
                .collect::<String>(),
            db = sh_quote(&doc.database),
        ));
        let names: Vec<String> = call.tables.iter().map(|t| sh_quote(t)).collect();
        for chunk in names.chunks(8) {
            s.push_str(&format!("    {} \\\n", chunk.join(" ")));
        }
        s.push_str(&format!(
            "    || fail \"taosdump call {n} of {total} (folder $OUT/{folder}) failed; the dump is incomplete: remove $OUT and run this script again\"\n",
            n = i + 1,
            folder = call.folder,
        ));
    }
    s.push_str(&format!(
        "\necho \"{total} taosdump call(s) done; verifying what they wrote\"\n\"$TDIBT\" verify-taosdump \"$OUT\" --blocks \"$OUT/{BLOCKS_FILE}\" --report \"$OUT/verification_report.json\" \\\n    || fail \"verify-taosdump found problems: see $OUT/verification_report.json\"\necho \"dump verified: $OUT\"\n"
    ));
    Ok(s)
}

/// The restore script: `tdibt taosdump-apply` (drops, deletes, and clearing every range
/// about to be imported, so each range replaces what the target held), then `taosdump -i`
/// for each folder, in the order they were dumped.
pub fn restore_script(doc: &BlocksDoc, opts: &ScriptOptions) -> TaosdumpResult<String> {
    let calls = calls(doc, opts.arg_budget)?;
    let mut s = header("Restore of an incremental taosdump dump", doc);
    s.push_str(PREAMBLE);
    s.push_str(&format!(
        "TDIBT=${{TDIBT:-{}}}\nIN=${{1:-{}}}\n\n",
        sh_quote(&opts.tdibt),
        sh_quote(&opts.default_dir)
    ));
    s.push_str(&format!(
        "[ -f \"$IN/{BLOCKS_FILE}\" ] || fail \"$IN/{BLOCKS_FILE} is missing: give the folder backup_script.sh wrote\"\n\n# Drops, deleted ranges, and every range about to be imported emptied first.\n\"$TDIBT\" taosdump-apply \"$IN\" --blocks \"$IN/{BLOCKS_FILE}\" \\\n    || fail \"tdibt taosdump-apply failed; nothing was imported\"\n"
    ));
    let common = common_options(opts, &doc.database).join(" ");
    let total = calls.len();
    for (i, call) in calls.iter().enumerate() {
        s.push_str(&format!(
            "\n# {n}/{total}\nrun_taosdump {common}{sep}-i \"$IN/{folder}\" \\\n    || fail \"taosdump -i $IN/{folder} ({n} of {total}) failed; run this script again (it is idempotent)\"\n",
            n = i + 1,
            sep = if common.is_empty() { "" } else { " " },
            folder = call.folder,
        ));
    }
    s.push_str(&format!("\necho \"{total} folder(s) imported from $IN\"\n"));
    Ok(s)
}

/// The two scripts as written beside each other.
pub struct WrittenScripts {
    pub backup: std::path::PathBuf,
    pub restore: std::path::PathBuf,
    /// taosdump calls in the backup script.
    pub calls: usize,
}

/// Writes `backup_script.sh` at `path` and `restore_script.sh` beside it (atomically,
/// executable by their owner only).
pub fn write_scripts(
    doc: &BlocksDoc,
    opts: &ScriptOptions,
    path: &std::path::Path,
) -> TaosdumpResult<WrittenScripts> {
    use std::os::unix::fs::PermissionsExt;
    let backup = backup_script(doc, opts)?;
    let restore = restore_script(doc, opts)?;
    let restore_path = path.with_file_name("restore_script.sh");
    for (p, text) in [(path, &backup), (restore_path.as_path(), &restore)] {
        tdibt_core::durable::write_atomic(p, text.as_bytes())
            .map_err(|e| TaosdumpError::io("write", p, e))?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| TaosdumpError::io("make executable", p, e))?;
    }
    Ok(WrittenScripts {
        backup: path.to_path_buf(),
        restore: restore_path,
        calls: calls(doc, opts.arg_budget)?.len(),
    })
}
