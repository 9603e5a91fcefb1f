//! The effective configuration: file, then environment and flags on top.

use tdibt_core::config::{Config, ConfigError, Secret};

use crate::cli::Overrides;

/// Loads the file (or defaults when none is given) and applies the overrides, then validates.
pub fn effective_config(
    file: Option<&std::path::Path>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut config = match file {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    apply(&mut config, overrides);
    // The password comes from the file or the environment only, never a flag, so it
    // cannot show in a process list.
    if let Ok(password) = std::env::var("TDIBT_PASSWORD") {
        config.database.password = Secret::new(password);
    }
    // Hidden before anything connects: the connector's trace shows its login message.
    crate::logging::hide(config.database.password.expose());
    config.validate()?;
    Ok(config)
}

fn apply(config: &mut Config, o: &Overrides) {
    let db = &mut config.database;
    if let Some(v) = &o.host {
        db.host = v.clone();
    }
    if let Some(v) = o.port {
        db.port = v;
    }
    if let Some(v) = &o.database {
        db.name = Some(v.clone());
    }
    if let Some(v) = &o.user {
        db.user = v.clone();
    }
    let engine = &mut config.bitmap_engine;
    if let Some(v) = &o.persistence_path {
        engine.persistence_path = v.clone();
    }
    if let Some(v) = o.memory_limit_mb {
        engine.memory_limit_mb = v;
    }
    if let Some(v) = &o.block_span {
        engine.block_span = v.clone();
    }
    if let Some(v) = &o.output_path {
        config.backup.output_path = v.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"database": {"host": "a", "name": "db1"}}"#).unwrap();
        let o = Overrides {
            host: Some("b".into()),
            block_span: Some("30m".into()),
            ..Overrides::default()
        };
        let c = effective_config(Some(&path), &o).unwrap();
        assert_eq!(c.database.host, "b");
        assert_eq!(c.database.name.as_deref(), Some("db1"));
        assert_eq!(c.bitmap_engine.block_span, "30m");
    }

    #[test]
    fn an_invalid_override_is_named() {
        let o = Overrides {
            block_span: Some("never".into()),
            ..Overrides::default()
        };
        let e = effective_config(None, &o).unwrap_err().to_string();
        assert!(e.contains("bitmap_engine.block_span"), "{e}");
    }
}
