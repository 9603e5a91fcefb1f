//! What the crate's integration tests share.

use taos_standin::RunningStandin;
use tdibt_core::config::DatabaseConfig;
use tdibt_tdengine::ConnectionSettings;

/// Connection settings for a running stand-in, as a user's config would give them.
pub fn settings(standin: &RunningStandin) -> ConnectionSettings {
    ConnectionSettings::from_config(&DatabaseConfig {
        host: "127.0.0.1".into(),
        port: standin.addr().port(),
        ..DatabaseConfig::default()
    })
}
