//! tdibt's configuration: the JSON file users write, with defaults, overrides and validation.
//!
//! Every section and key is optional and has the default shown in the README; unknown keys
//! are refused (a typo must not silently fall back to a default). Errors name the key path,
//! e.g. `bitmap_engine.block_span`. The password is a [`Secret`] that never prints.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::block::{BlockSpan, Precision};

/// A configuration problem, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {key}: {message}")]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("config key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ConfigError {
    fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key,
            message: message.into(),
        }
    }
}

/// A password: deserialised from the file, never shown by `Debug`, `Display` or `Serialize`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (the connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub bitmap_engine: BitmapEngineConfig,
    pub backup: BackupConfig,
    pub monitoring: MonitoringConfig,
}

/// taosd's native (RPC) port, which tdibt cannot talk to: it speaks WebSocket to taosAdapter.
pub const TAOSD_NATIVE_PORT: u16 = 6030;

/// What to do when the port is taosd's: said by `config check` and by connection errors.
pub const PORT_ADVICE: &str = "tdibt connects to taosAdapter's WebSocket port (6041 unless \
     taosAdapter's `port` setting was changed), not to taosd; set `database.port` in the \
     configuration file (or `--port` / `TDIBT_PORT`) to taosAdapter's port";

/// Where the TDengine database is (taosAdapter's WebSocket endpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub host: String,
    pub port: u16,
    /// The database to protect; required by every command that talks to TDengine.
    pub name: Option<String>,
    pub user: String,
    pub password: Secret,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            host: "localhost".into(),
            port: 6041,
            name: None,
            user: "root".into(),
            password: Secret::new("taosdata"),
        }
    }
}

/// The change bitmaps and their checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BitmapEngineConfig {
    /// Above this the engine coarsens marks (never drops them).
    pub memory_limit_mb: u64,
    /// The folder holding the checkpoint.
    pub persistence_path: PathBuf,
    /// Length of a block's time window, e.g. "1h", "30m", "1d".
    pub block_span: String,
}

impl Default for BitmapEngineConfig {
    fn default() -> Self {
        BitmapEngineConfig {
            memory_limit_mb: 1024,
            persistence_path: PathBuf::from("/var/lib/tdibt/cache"),
            block_span: "1h".into(),
        }
    }
}

/// Backups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Blocks per read batch.
    pub batch_size: u32,
    pub enable_compression: bool,
    /// zstd level for stored blocks, 1 (fast) to 22 (small).
    pub compression_level: i32,
    /// The repository folder.
    pub output_path: PathBuf,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            batch_size: 1000,
            enable_compression: true,
            compression_level: 3,
            output_path: PathBuf::from("/backup/incremental"),
        }
    }
}

/// Change capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// How often the WAL watcher measures the WAL segments' growth and reads `lastVer`.
    pub wal_check_interval_ms: u64,
    /// Decoded TMQ messages held between polling and the engine; when full, polling waits.
    pub event_buffer_size: usize,
    /// A TDengine data folder (`dataDir`, its `vnode` folder, or one `vnode<N>/wal` folder)
    /// whose WAL files to watch for write activity; optional, only when tdibt runs on the
    /// database host.
    pub wal_path: Option<PathBuf>,
    /// The TMQ topic; default `tdibt_<database>`.
    pub topic: Option<String>,
    /// The TMQ consumer group.
    pub group_id: String,
    /// Checkpoint after this many change events...
    pub checkpoint_events: u64,
    /// ...or this many milliseconds, whichever comes first.
    pub checkpoint_interval_ms: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            wal_check_interval_ms: 1000,
            event_buffer_size: 10_000,
            wal_path: None,
            topic: None,
            group_id: "tdibt".into(),
            checkpoint_events: 100_000,
            checkpoint_interval_ms: 1000,
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config =
            Self::parse(&text).map_err(|ParseFailure { key, message }| ConfigError::Parse {
                path: path.to_path_buf(),
                key,
                message,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses JSON text without validating values.
    fn parse(text: &str) -> Result<Config, ParseFailure> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ParseFailure {
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: e.into_inner().to_string(),
            }
        })
    }

    /// Checks every value; the first problem is returned, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let db = &self.database;
        if db.host.trim().is_empty() {
            return Err(ConfigError::invalid("database.host", "must not be empty"));
        }
        if db.port == 0 {
            return Err(ConfigError::invalid("database.port", "must be 1..65535"));
        }
        if let Some(name) = &db.name {
            validate_identifier(name).map_err(|m| ConfigError::invalid("database.name", m))?;
        }
        if db.user.is_empty() {
            return Err(ConfigError::invalid("database.user", "must not be empty"));
        }
        let engine = &self.bitmap_engine;
        if engine.memory_limit_mb == 0 {
            return Err(ConfigError::invalid(
                "bitmap_engine.memory_limit_mb",
                "must be at least 1",
            ));
        }
        if engine.persistence_path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "bitmap_engine.persistence_path",
                "must not be empty",
            ));
        }
        self.block_span_duration()?;
        if self.backup.batch_size == 0 {
            return Err(ConfigError::invalid(
                "backup.batch_size",
                "must be at least 1",
            ));
        }
        if !(1..=22).contains(&self.backup.compression_level) {
            return Err(ConfigError::invalid(
                "backup.compression_level",
                "must be between 1 and 22",
            ));
        }
        if self.backup.output_path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "backup.output_path",
                "must not be empty",
            ));
        }
        if self.monitoring.wal_check_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "monitoring.wal_check_interval_ms",
                "must be at least 1",
            ));
        }
        let m = &self.monitoring;
        if m.event_buffer_size == 0 {
            return Err(ConfigError::invalid(
                "monitoring.event_buffer_size",
                "must be at least 1",
            ));
        }
        if let Some(topic) = &m.topic {
            validate_identifier(topic).map_err(|e| ConfigError::invalid("monitoring.topic", e))?;
        }
        if m.group_id.is_empty() || m.group_id.len() > 192 {
            return Err(ConfigError::invalid(
                "monitoring.group_id",
                "must be 1 to 192 characters (TDengine's limit)",
            ));
        }
        if m.checkpoint_events == 0 {
            return Err(ConfigError::invalid(
                "monitoring.checkpoint_events",
                "must be at least 1",
            ));
        }
        if m.checkpoint_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "monitoring.checkpoint_interval_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Valid settings that are probably a mistake, one sentence each naming the key and the
    /// fix; `tdibt config check` prints them.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.database.port == TAOSD_NATIVE_PORT {
            out.push(format!(
                "database.port is {TAOSD_NATIVE_PORT}, taosd's native port: {PORT_ADVICE}"
            ));
        }
        out
    }

    /// The configured block span as a duration.
    pub fn block_span_duration(&self) -> Result<Duration, ConfigError> {
        BlockSpan::parse_duration(&self.bitmap_engine.block_span)
            .map_err(|e| ConfigError::invalid("bitmap_engine.block_span", e.to_string()))
    }

    /// The block span in a database's precision.
    pub fn block_span(&self, precision: Precision) -> Result<BlockSpan, ConfigError> {
        BlockSpan::from_duration(self.block_span_duration()?, precision)
            .map_err(|e| ConfigError::invalid("bitmap_engine.block_span", e.to_string()))
    }

    /// The database name, which commands that talk to TDengine need.
    pub fn database_name(&self) -> Result<&str, ConfigError> {
        self.database.name.as_deref().ok_or_else(|| {
            ConfigError::invalid(
                "database.name",
                "not set (in the config file, --database or TDIBT_DATABASE)",
            )
        })
    }

    /// The TMQ topic tdibt subscribes to.
    pub fn topic(&self) -> Result<String, ConfigError> {
        match &self.monitoring.topic {
            Some(t) => Ok(t.clone()),
            None => Ok(format!("tdibt_{}", self.database_name()?)),
        }
    }

    /// The memory limit in bytes.
    pub fn memory_limit_bytes(&self) -> u64 {
        self.bitmap_engine
            .memory_limit_mb
            .saturating_mul(1024 * 1024)
    }
}

struct ParseFailure {
    key: String,
    message: String,
}

/// TDengine database names: letters, digits and underscores, not starting with a digit,
/// at most 64 characters (TSDB_DB_NAME_LEN is 65 including the terminator).
pub fn validate_identifier(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 64 {
        return Err(format!("{name:?} is longer than 64 characters"));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "{name:?} is not a valid TDengine database name (letters, digits, _; not starting with a digit)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"{"database": {"host": "localhost", "port": 6041, "name": "testdb", "user": "root", "password": "taosdata"},
     "bitmap_engine": {"memory_limit_mb": 1024, "persistence_path": "/var/lib/tdibt/cache", "block_span": "1h"},
     "backup": {"batch_size": 1000, "enable_compression": true, "output_path": "/backup/incremental"},
     "monitoring": {"wal_check_interval_ms": 1000, "event_buffer_size": 10000}}"#;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tdibt.json");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    fn error_of(text: &str) -> String {
        load_text(text).unwrap_err().to_string()
    }

    #[test]
    fn the_specification_example_loads() {
        let c = load_text(SPEC_EXAMPLE).unwrap();
        assert_eq!(c.database.name.as_deref(), Some("testdb"));
        assert_eq!(c.database.password.expose(), "taosdata");
        assert_eq!(c.bitmap_engine.memory_limit_mb, 1024);
        assert_eq!(
            c.block_span(Precision::Micros).unwrap().units(),
            3_600_000_000
        );
        assert_eq!(c.backup.batch_size, 1000);
        assert_eq!(c.monitoring.event_buffer_size, 10_000);
        assert_eq!(c.topic().unwrap(), "tdibt_testdb");
    }

    #[test]
    fn empty_object_gives_defaults() {
        let c = load_text("{}").unwrap();
        assert_eq!(c, Config::default());
        assert!(c.database_name().is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = error_of(r#"{"database": {"hots": "x"}}"#);
        assert!(e.contains("database.hots") || e.contains("hots"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
        let e = error_of(r#"{"backups": {}}"#);
        assert!(e.contains("backups"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = error_of(r#"{"database": {"port": "6041"}}"#);
        assert!(e.contains("database.port"), "{e}");
        let e = error_of(r#"{"monitoring": {"event_buffer_size": -1}}"#);
        assert!(e.contains("monitoring.event_buffer_size"), "{e}");
        let e = error_of(r#"{"database": {"port": 70000}}"#);
        assert!(e.contains("database.port"), "{e}");
    }

    #[test]
    fn taosds_native_port_is_warned_about() {
        let mut c = Config::default();
        assert!(c.warnings().is_empty());
        c.database.port = 6030;
        assert!(c.validate().is_ok(), "a warning, not an error");
        let w = c.warnings();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("database.port") && w[0].contains("6041"),
            "{w:?}"
        );
    }

    #[test]
    fn malformed_json_is_reported_with_the_file() {
        let e = error_of(r#"{"database": "#);
        assert!(e.contains("tdibt.json"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            (r#"{"database": {"port": 0}}"#, "database.port"),
            (r#"{"database": {"host": " "}}"#, "database.host"),
            (r#"{"database": {"name": "9lives"}}"#, "database.name"),
            (r#"{"database": {"name": "a-b"}}"#, "database.name"),
            (r#"{"database": {"user": ""}}"#, "database.user"),
            (
                r#"{"bitmap_engine": {"memory_limit_mb": 0}}"#,
                "bitmap_engine.memory_limit_mb",
            ),
            (
                r#"{"bitmap_engine": {"block_span": "soon"}}"#,
                "bitmap_engine.block_span",
            ),
            (
                r#"{"bitmap_engine": {"block_span": "0s"}}"#,
                "bitmap_engine.block_span",
            ),
            (
                r#"{"bitmap_engine": {"persistence_path": ""}}"#,
                "bitmap_engine.persistence_path",
            ),
            (r#"{"backup": {"batch_size": 0}}"#, "backup.batch_size"),
            (r#"{"backup": {"output_path": ""}}"#, "backup.output_path"),
            (
                r#"{"monitoring": {"wal_check_interval_ms": 0}}"#,
                "monitoring.wal_check_interval_ms",
            ),
            (
                r#"{"monitoring": {"event_buffer_size": 0}}"#,
                "monitoring.event_buffer_size",
            ),
            (r#"{"monitoring": {"topic": "a b"}}"#, "monitoring.topic"),
            (r#"{"monitoring": {"group_id": ""}}"#, "monitoring.group_id"),
            (
                r#"{"monitoring": {"checkpoint_events": 0}}"#,
                "monitoring.checkpoint_events",
            ),
            (
                r#"{"monitoring": {"checkpoint_interval_ms": 0}}"#,
                "monitoring.checkpoint_interval_ms",
            ),
        ];
        for (text, key) in cases {
            let e = error_of(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_sub_unit_span_is_refused_for_that_precision() {
        let c = load_text(r#"{"bitmap_engine": {"block_span": "500us"}}"#).unwrap();
        assert!(c.block_span(Precision::Micros).is_ok());
        let e = c.block_span(Precision::Millis).unwrap_err().to_string();
        assert!(e.contains("bitmap_engine.block_span"), "{e}");
    }

    #[test]
    fn missing_file_is_named() {
        let e = Config::load(Path::new("/nonexistent/tdibt.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/tdibt.json"), "{e}");
    }

    #[test]
    fn the_password_never_prints() {
        let c = load_text(r#"{"database": {"password": "hunter2"}}"#).unwrap();
        let debug = format!("{c:?}");
        let json = serde_json::to_string(&c).unwrap();
        assert!(!debug.contains("hunter2") && !json.contains("hunter2"));
        assert!(debug.contains("***") && json.contains("***"));
    }

    /// A config file is user input: whatever its text, parsing and validating answer with
    /// a value or an error naming the key, never a panic; and what validates can be used.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use tdibt_testkit::mutated_text;

        fn check(text: &str) {
            if let Ok(c) = Config::parse(text) {
                if c.validate().is_ok() {
                    let _ = c.warnings();
                    let _ = c.block_span_duration();
                    let _ = c.topic();
                    let _ = c.memory_limit_bytes();
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn mutated_specification_example(text in mutated_text(SPEC_EXAMPLE)) {
                check(&text);
            }

            #[test]
            fn arbitrary_text(text in "\\PC{0,200}") {
                check(&text);
            }

            #[test]
            fn any_block_span_and_memory(span in "\\PC{0,12}", mb in any::<u64>(), port in any::<u32>()) {
                let text = format!(
                    r#"{{"database": {{"name": "db", "port": {port}}}, "bitmap_engine": {{"block_span": {span:?}, "memory_limit_mb": {mb}}}}}"#
                );
                check(&text);
            }
        }
    }
}
