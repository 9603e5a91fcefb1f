//! `tdibt init`: check the connection and the database, create the topic, read the catalog
//! and write the first checkpoint. Safe to run again: it adds what is new and keeps the rest.

use std::path::PathBuf;

use serde::Serialize;
use tdibt_core::checkpoint::{checkpoint_path, Checkpoint, CheckpointError};
use tdibt_core::config::Config;
use tdibt_core::{Cut, OwnerLock};
use tdibt_tdengine::discovery::{self, TableKind};
use tdibt_tdengine::{topic, Connection, ConnectionSettings};
use tracing::warn;

use crate::error::CaptureError;

/// What `init` found and did.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub database: String,
    pub server_version: String,
    pub precision: String,
    pub block_span_units: i64,
    pub vgroups: Vec<i32>,
    pub wal_retention_period: Option<i64>,
    pub super_tables: usize,
    pub tables: usize,
    pub topic: String,
    pub checkpoint: PathBuf,
    /// False when a checkpoint already existed and was updated.
    pub created: bool,
}

/// Below this WAL retention a monitor that is down for a while loses changes.
const SHORT_WAL_RETENTION_SECS: i64 = 3600;

pub async fn init(config: &Config) -> Result<InitReport, CaptureError> {
    let db = config.database_name()?.to_string();
    let settings = ConnectionSettings::from_config(&config.database);
    let conn = Connection::open(&settings).await?;
    let server_version = conn.server_version().await?;
    let info = discovery::database_info(&conn, &db).await?;
    match info.wal_retention_period {
        Some(0) => return Err(CaptureError::NoWalRetention { database: db }),
        Some(s) if (0..SHORT_WAL_RETENTION_SECS).contains(&s) => warn!(
            "database {db} keeps only {s} s of WAL: a monitor stopped for longer loses changes \
             (they are then re-read whole, see the docs); consider WAL_RETENTION_PERIOD 86400"
        ),
        _ => {}
    }
    let topic_name = config.topic()?;
    topic::ensure_topic(&conn, &topic_name, &db).await?;
    let span = config.block_span(info.precision)?;
    let super_tables = discovery::super_tables(&conn, &db).await?;
    let tables = discovery::tables(&conn, &db).await?;
    let vgroups = discovery::vgroups(&conn, &db).await?;

    let dir = &config.bitmap_engine.persistence_path;
    tdibt_core::durable::create_private_dir(dir).map_err(|source| CaptureError::Write {
        path: dir.clone(),
        source,
    })?;
    // The checkpoint has one writer at a time: not beside a running monitor or backup.
    let _owner = OwnerLock::acquire(dir, "init")?;
    let path = checkpoint_path(dir);
    let (mut checkpoint, created) = match Checkpoint::load(&path) {
        Ok(c) => (c, false),
        Err(CheckpointError::Missing(_)) => (
            Checkpoint {
                cut: Cut::new(topic_name.clone()),
                ..Checkpoint::default()
            },
            true,
        ),
        Err(e) => return Err(e.into()),
    };
    checkpoint.catalog.add_database(&db, info.precision, span)?;
    for s in &super_tables {
        checkpoint.catalog.add_super_table(&db, s)?;
    }
    for t in &tables {
        let stable = match &t.kind {
            TableKind::Child { super_table } => Some(super_table.as_str()),
            TableKind::Normal => None,
        };
        checkpoint
            .catalog
            .add_table(&db, &t.name, stable, t.vgroup_id)?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    checkpoint.save(&path, now)?;
    Ok(InitReport {
        database: db,
        server_version,
        precision: info.precision.to_string(),
        block_span_units: span.units(),
        vgroups,
        wal_retention_period: info.wal_retention_period,
        super_tables: super_tables.len(),
        tables: tables.len(),
        topic: topic_name,
        checkpoint: path,
        created,
    })
}
