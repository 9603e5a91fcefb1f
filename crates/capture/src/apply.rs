//! Turning change events into block marks and catalog changes.
//!
//! Rows become write marks (each timestamp to its window, a message's marks sorted and
//! de-duplicated into one batch); a delete marks its range (whole windows DELETED, partly
//! covered ones DIRTY, per DESIGN.md), on every child when it names a super table; a drop
//! marks the whole table, and so does a delete whose statement cannot be read (all of the
//! message's vgroup when even its table is unreadable). Tables first seen in a message join the catalog with the
//! message's vgroup, so no event is ever dropped for want of a table.

use std::collections::HashSet;

use tdibt_core::catalog::Catalog;
use tdibt_core::engine::Engine;
use tdibt_core::{BlockId, BlockSpan, TableId};
use tdibt_tdengine::discovery::{TableInfo, TableKind};
use tdibt_tdengine::{ChangeEvent, CreatedKind};

use tracing::warn;

use crate::error::CaptureError;

/// What applying one message did, for stats.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub events: u64,
    pub rows: u64,
    pub blocks_marked: u64,
}

/// Applies the events of one message from `vgroup_id` of database `db`.
pub fn apply_events(
    engine: &mut Engine,
    catalog: &mut Catalog,
    db: &str,
    vgroup_id: i32,
    events: &[ChangeEvent],
    scratch: &mut Vec<u64>,
) -> Result<Applied, CaptureError> {
    let span = catalog_span(catalog, db)?;
    let mut applied = Applied::default();
    for event in events {
        applied.events += 1;
        match event {
            ChangeEvent::Rows { table, timestamps } => {
                let id = table_id(catalog, db, table, vgroup_id)?;
                scratch.clear();
                scratch.extend(
                    timestamps
                        .iter()
                        .map(|&ts| BlockId::new(id, span.window_of(ts)).as_u64()),
                );
                scratch.sort_unstable();
                scratch.dedup();
                applied.rows += timestamps.len() as u64;
                applied.blocks_marked += scratch.len() as u64;
                engine.mark_writes(scratch.iter().copied().map(BlockId::from_u64));
            }
            ChangeEvent::Created { table, kind } => match kind {
                CreatedKind::Super => catalog.add_super_table(db, table)?,
                CreatedKind::Child { super_table } => {
                    catalog.create_table(db, table, Some(super_table), Some(vgroup_id))?;
                }
                CreatedKind::Normal => {
                    catalog.create_table(db, table, None, Some(vgroup_id))?;
                }
            },
            ChangeEvent::TablesDropped { tables } => {
                for table in tables {
                    if let Some(id) = catalog.id_of(db, table) {
                        engine.mark_drop(id);
                        catalog.mark_dropped(id);
                    }
                }
            }
            ChangeEvent::SuperTableDropped { name } => {
                for id in catalog.children_of(db, name) {
                    engine.mark_drop(id);
                    catalog.mark_dropped(id);
                }
                catalog.drop_super_table(db, name);
            }
            ChangeEvent::Deleted { table, range } => {
                for id in delete_targets(catalog, db, table, vgroup_id)? {
                    engine.mark_delete(id, *range, span);
                }
            }
            ChangeEvent::DeleteUnreadable { table, reason } => {
                let targets = match table {
                    Some(t) => delete_targets(catalog, db, t, vgroup_id)?,
                    None => catalog.tables_in_vgroup(db, vgroup_id),
                };
                warn!(
                    "a delete in vgroup {vgroup_id} cannot be read ({reason}); marking {} \
                     wholly changed ({} table(s)) so the next backup reads it again",
                    table.as_deref().unwrap_or("every table of the vgroup"),
                    targets.len()
                );
                for id in targets {
                    engine.mark_table_written(id);
                }
            }
            ChangeEvent::Altered { table, meta } => {
                catalog.record_alter(db, table, meta.to_string());
            }
        }
    }
    Ok(applied)
}

fn catalog_span(catalog: &Catalog, db: &str) -> Result<BlockSpan, CaptureError> {
    catalog
        .database(db)
        .map(|d| d.block_span)
        .ok_or_else(|| CaptureError::UnknownDatabase(db.to_string()))
}

fn table_id(
    catalog: &mut Catalog,
    db: &str,
    table: &str,
    vgroup_id: i32,
) -> Result<TableId, CaptureError> {
    match catalog.id_of(db, table) {
        Some(id) => Ok(id),
        None => Ok(catalog.add_table(db, table, None, Some(vgroup_id))?),
    }
}

/// A delete names a table or a super table (then all its children).
fn delete_targets(
    catalog: &mut Catalog,
    db: &str,
    table: &str,
    vgroup_id: i32,
) -> Result<Vec<TableId>, CaptureError> {
    if catalog.is_super_table(db, table) {
        // A super-table delete arrives once per vgroup; only that vgroup's children are
        // affected by it, but marking all is never wrong and the vgroup of a child may be
        // unknown: mark every child.
        return Ok(catalog.children_of(db, table));
    }
    Ok(vec![table_id(catalog, db, table, vgroup_id)?])
}

/// The server's list of a database's tables, read when a WAL gap forces a resync.
#[derive(Clone, Debug, Default)]
pub struct ServerTables {
    pub super_tables: Vec<String>,
    pub tables: Vec<TableInfo>,
}

/// A resync after a WAL gap in `vgroups`: the catalog is brought to the server's table list
/// (tables created during the gap join it, tables dropped during it are marked dropped),
/// then every live table of those vgroups is marked wholly changed so the next backup
/// reads it again. Returns how many tables were marked.
pub fn apply_resync(
    engine: &mut Engine,
    catalog: &mut Catalog,
    db: &str,
    vgroups: &[i32],
    server: &ServerTables,
) -> Result<usize, CaptureError> {
    for s in &server.super_tables {
        catalog.add_super_table(db, s)?;
    }
    let mut listed = HashSet::with_capacity(server.tables.len());
    for t in &server.tables {
        let stable = match &t.kind {
            TableKind::Child { super_table } => Some(super_table.as_str()),
            TableKind::Normal => None,
        };
        listed.insert(catalog.create_table(db, &t.name, stable, t.vgroup_id)?);
    }
    for id in catalog.live_tables_of(db) {
        if !listed.contains(&id) {
            engine.mark_drop(id);
            catalog.mark_dropped(id);
        }
    }
    let gone: Vec<String> = catalog
        .database(db)
        .map(|d| {
            d.super_tables
                .iter()
                .filter(|(name, s)| !s.dropped && !server.super_tables.contains(name))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    for name in gone {
        catalog.drop_super_table(db, &name);
    }
    let mut marked = 0;
    for &vg in vgroups {
        for id in catalog.tables_in_vgroup(db, vg) {
            engine.mark_table_written(id);
            marked += 1;
        }
    }
    Ok(marked)
}
