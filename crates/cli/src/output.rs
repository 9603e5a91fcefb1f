//! Printing results: human text, or one JSON document with `--json`.

use serde::Serialize;

use crate::exit::{CliError, CliResult, Exit};

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Exit::Failure, anyhow::Error::new(e)))?;
    println!("{text}");
    Ok(())
}

/// Reports a failed command: a JSON error object on stdout with `--json`, and always a line on stderr.
pub fn report_error(json: bool, e: &CliError) {
    // A connector error can quote what it was given, DSN included.
    let message = crate::logging::scrub(&format!("{:#}", e.error)).into_owned();
    if json {
        let doc = serde_json::json!({"error": message, "exit_code": e.code as u8});
        println!("{doc}");
    }
    eprintln!("tdibt: error: {message}");
}
