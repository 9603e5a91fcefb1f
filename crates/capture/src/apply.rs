//! Turning change events into block marks and catalog changes.
//!
//! Rows become write marks (each timestamp to its window, a message's marks sorted and
//! de-duplicated into one batch); a delete marks its range (whole windows DELETED, partly
//! covered ones DIRTY, per docs/DESIGN.md), on every child when it names a super table; a drop
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tdibt_core::{BlockState, Precision, Window};
    use tdibt_tdengine::changes::events_from_meta;

    const HOUR: i64 = 3_600_000;

    fn setup() -> (Engine, Catalog) {
        let mut catalog = Catalog::new();
        catalog
            .add_database(
                "db",
                Precision::Millis,
                BlockSpan::one_hour(Precision::Millis),
            )
            .unwrap();
        (Engine::new(), catalog)
    }

    fn apply(engine: &mut Engine, catalog: &mut Catalog, vgroup: i32, events: &[ChangeEvent]) {
        apply_events(engine, catalog, "db", vgroup, events, &mut Vec::new()).unwrap();
    }

    fn rows(table: &str, ts: &[i64]) -> ChangeEvent {
        ChangeEvent::Rows {
            table: table.into(),
            timestamps: ts.to_vec(),
        }
    }

    fn state(engine: &Engine, catalog: &Catalog, table: &str, window: i32) -> BlockState {
        engine.state(BlockId::new(
            catalog.id_of("db", table).unwrap(),
            Window(window),
        ))
    }

    /// Folds what is marked into `present`, as a backup does.
    fn backed_up(engine: &mut Engine) {
        engine.freeze().unwrap();
        engine.fold_frozen().unwrap();
    }

    /// Issue 15: taosd files a batch's child tables in one `create` meta's `createList`; a
    /// later DELETE FROM the super table must reach every one of them.
    #[test]
    fn a_create_list_batch_then_a_super_table_delete_reaches_every_child() {
        let (mut engine, mut catalog) = setup();
        let stable = json!({"type":"create","tableType":"super","tableName":"meters",
            "columns":[{"name":"ts","type":9}],"tags":[{"name":"g","type":4}]});
        let batch = json!({"type":"create","tableType":"child","tableName":"d0","using":"meters",
            "tagNum":1,"tags":[],"createList":[
                {"tableName":"d0","using":"meters","tagNum":1,"tags":[]},
                {"tableName":"d1","using":"meters","tagNum":1,"tags":[]},
                {"tableName":"d2","using":"meters","tagNum":1,"tags":[]}]});
        let mut events = events_from_meta(&stable).unwrap();
        events.extend(events_from_meta(&batch).unwrap());
        apply(&mut engine, &mut catalog, 2, &events);
        let children = ["d0", "d1", "d2"];
        for c in children {
            apply(&mut engine, &mut catalog, 2, &[rows(c, &[0, HOUR])]);
        }
        backed_up(&mut engine);
        let delete = json!({"type":"delete",
            "sql":"delete from `meters` where `ts` >= 0 and `ts` <= 3599999"});
        apply(
            &mut engine,
            &mut catalog,
            2,
            &events_from_meta(&delete).unwrap(),
        );
        for c in children {
            assert_eq!(state(&engine, &catalog, c, 0), BlockState::Deleted, "{c}");
            assert_eq!(state(&engine, &catalog, c, 1), BlockState::Clean, "{c}");
        }
    }

    /// Every alter type (1..=15 and kinds no release has yet) is a DDL change recorded for
    /// its table, and capture goes on with the next event.
    #[test]
    fn every_alter_type_is_recorded_and_capture_goes_on() {
        let (mut engine, mut catalog) = setup();
        apply(&mut engine, &mut catalog, 2, &[rows("t", &[0])]);
        for alter_type in (1..=15).chain([42]) {
            let alter = json!({"type":"alter","tableType":"normal","tableName":"t",
                "alterType":alter_type});
            let mut events = events_from_meta(&alter).unwrap();
            events.push(rows("t", &[HOUR * i64::from(alter_type)]));
            apply(&mut engine, &mut catalog, 2, &events);
            let t = catalog.table(catalog.id_of("db", "t").unwrap()).unwrap();
            let recorded: serde_json::Value =
                serde_json::from_str(t.last_alter.as_deref().unwrap()).unwrap();
            assert_eq!(recorded["alterType"], alter_type);
            assert_eq!(state(&engine, &catalog, "t", alter_type), BlockState::New);
        }
    }

    /// Issue 15.6: a delete taosd cut off at 256 bytes marks its whole table changed (every
    /// child of a super table), and one whose table cannot be read marks the vgroup's tables.
    #[test]
    fn an_unreadable_delete_marks_the_whole_table_changed() {
        let (mut engine, mut catalog) = setup();
        let long = "l".repeat(240);
        catalog.add_super_table("db", "meters").unwrap();
        catalog
            .create_table("db", "c0", Some("meters"), Some(2))
            .unwrap();
        for t in [long.as_str(), "c0", "other"] {
            apply(&mut engine, &mut catalog, 2, &[rows(t, &[0])]);
        }
        apply(&mut engine, &mut catalog, 3, &[rows("elsewhere", &[0])]);
        backed_up(&mut engine);
        let sql = format!("delete from `{long}` where `ts` >= 0 and `ts` <= 10");
        let cut = json!({"type":"delete","sql": &sql[..256]});
        apply(
            &mut engine,
            &mut catalog,
            2,
            &events_from_meta(&cut).unwrap(),
        );
        // Present window re-read, every other window too.
        assert_eq!(state(&engine, &catalog, &long, 0), BlockState::Dirty);
        assert_eq!(state(&engine, &catalog, &long, 77), BlockState::New);
        assert_eq!(state(&engine, &catalog, "c0", 0), BlockState::Clean);
        // A super table's delete cut off: every child.
        let sql = format!(
            "delete from `meters` where `ts` >= 0 and `ts` <= {}",
            "9".repeat(300)
        );
        let cut = json!({"type":"delete","sql": &sql[..256]});
        apply(
            &mut engine,
            &mut catalog,
            2,
            &events_from_meta(&cut).unwrap(),
        );
        assert_eq!(state(&engine, &catalog, "c0", 0), BlockState::Dirty);
        assert_eq!(state(&engine, &catalog, "other", 0), BlockState::Clean);
        // Not even the table readable: every table of the message's vgroup, none elsewhere.
        let cut = json!({"type":"delete","sql":"delete from `unterminated"});
        apply(
            &mut engine,
            &mut catalog,
            2,
            &events_from_meta(&cut).unwrap(),
        );
        assert_eq!(state(&engine, &catalog, "other", 0), BlockState::Dirty);
        assert_eq!(state(&engine, &catalog, "elsewhere", 0), BlockState::Clean);
    }

    /// Issue 16.8: a resync brings the catalog to the server's table list and marks the gap
    /// vgroups' tables wholly changed.
    #[test]
    fn a_resync_reads_the_server_table_list() {
        let (mut engine, mut catalog) = setup();
        apply(
            &mut engine,
            &mut catalog,
            2,
            &[rows("kept", &[0]), rows("gone", &[0])],
        );
        apply(&mut engine, &mut catalog, 3, &[rows("far", &[0])]);
        backed_up(&mut engine);
        let server = ServerTables {
            super_tables: vec![],
            tables: ["kept", "born", "far"]
                .iter()
                .map(|&name| TableInfo {
                    name: name.into(),
                    kind: TableKind::Normal,
                    vgroup_id: Some(if name == "far" { 3 } else { 2 }),
                })
                .collect(),
        };
        let marked = apply_resync(&mut engine, &mut catalog, "db", &[2], &server).unwrap();
        assert_eq!(marked, 2);
        assert_eq!(state(&engine, &catalog, "kept", 0), BlockState::Dirty);
        assert_eq!(state(&engine, &catalog, "born", 5), BlockState::New);
        assert_eq!(state(&engine, &catalog, "gone", 0), BlockState::Deleted);
        assert!(
            catalog
                .table(catalog.id_of("db", "gone").unwrap())
                .unwrap()
                .dropped
        );
        assert_eq!(state(&engine, &catalog, "far", 0), BlockState::Clean);
    }
}
