//! tdibt configuration files for tests: one base, each test adding only what it is about.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Writes `dir/tdibt.json`: see [`write_config_as`].
pub fn write_config(dir: &Path, port: u16, extra: Value) -> PathBuf {
    write_config_as(dir, "tdibt.json", port, extra)
}

/// Writes `dir/FILE`: database `db` on the server at `127.0.0.1:port`, persistence folder
/// `dir/cache`, repository `dir/repo`, with `extra`'s sections merged over it (objects
/// merge key by key, anything else replaces).
pub fn write_config_as(dir: &Path, file: &str, port: u16, extra: Value) -> PathBuf {
    let mut config = json!({
        "database": {"host": "127.0.0.1", "port": port, "name": "db"},
        "bitmap_engine": {"persistence_path": dir.join("cache")},
        "backup": {"output_path": dir.join("repo")}
    });
    merge(&mut config, extra);
    let path = dir.join(file);
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_sections_merge_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            6041,
            json!({"database": {"password": "x"}, "monitoring": {"checkpoint_interval_ms": 20}}),
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(v["database"]["name"], "db");
        assert_eq!(v["database"]["password"], "x");
        assert_eq!(v["database"]["port"], 6041);
        assert_eq!(v["monitoring"]["checkpoint_interval_ms"], 20);
    }
}
