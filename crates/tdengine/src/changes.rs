//! What a TMQ message means for backups: typed change events.
//!
//! Data messages carry one raw block per table (the rows of one write); meta messages carry
//! taosd's JSON (create, alter, drop, delete), read here with our own small serde types that
//! take only what capture needs: table names, kinds, super tables (also of every child in a
//! batch's `createList`) and delete ranges. Alter kinds are not told apart (any of them,
//! known or future, is "DDL changed" for its table), and a delete whose statement cannot
//! be read becomes [`ChangeEvent::DeleteUnreadable`], never a stop.

use serde::Deserialize;
use serde_json::Value as Json;
use tdibt_core::TsRange;

use crate::delete_sql::{parse_delete, table_of_delete};
use crate::error::{TdError, TdResult};

/// One change, as capture needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeEvent {
    /// Rows written to a table (inserts and upserts alike): their primary timestamps.
    Rows { table: String, timestamps: Vec<i64> },
    /// A table was created.
    Created { table: String, kind: CreatedKind },
    /// Child or normal tables were dropped.
    TablesDropped { tables: Vec<String> },
    /// A super table (and so all its children) was dropped.
    SuperTableDropped { name: String },
    /// Rows in an inclusive range were deleted; `table` may be a super table.
    Deleted { table: String, range: TsRange },
    /// A delete whose statement could not be read (taosd cuts it at 256 bytes): which rows
    /// went is unknown, so the whole of `table` (or every table of the message's vgroup when
    /// even the name is unreadable) must be read again.
    DeleteUnreadable {
        table: Option<String>,
        reason: String,
    },
    /// A table's or super table's schema changed; `meta` is TDengine's description. Alter
    /// kinds tdibt does not know are recorded the same way: "DDL changed".
    Altered { table: String, meta: Json },
}

/// The kind of a created table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreatedKind {
    Super,
    Child { super_table: String },
    Normal,
}

/// One child table of a batch create (`createList` in taosd's JSON, built by
/// `buildCreateCTableJson` in TDengine's `source/client/src/clientRawBlockWrite.c`: one
/// `create` meta per message for every child table the batch created).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateListItem {
    table_name: String,
    #[serde(default)]
    using: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum MetaUnit {
    #[serde(rename_all = "camelCase")]
    Create {
        table_type: String,
        table_name: String,
        #[serde(default)]
        using: Option<String>,
        #[serde(default)]
        create_list: Vec<CreateListItem>,
    },
    #[serde(rename_all = "camelCase")]
    Alter {
        table_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Drop {
        #[serde(default)]
        table_name: Option<String>,
        #[serde(default)]
        table_name_list: Option<Vec<String>>,
    },
    Delete {
        sql: String,
    },
}

/// Turns one meta message's JSON (single or batched form) into events, in order.
pub fn events_from_meta(meta: &Json) -> TdResult<Vec<ChangeEvent>> {
    let units: Vec<&Json> = match meta.get("metas") {
        Some(Json::Array(items)) => items.iter().collect(),
        Some(other) => {
            return Err(TdError::bad_answer(
                "TMQ meta message",
                format!("`metas` is not a list: {other}"),
            ))
        }
        None => vec![meta],
    };
    let mut events = Vec::with_capacity(units.len());
    for unit in units {
        events_from_unit(unit, &mut events)?;
    }
    Ok(events)
}

fn events_from_unit(unit: &Json, out: &mut Vec<ChangeEvent>) -> TdResult<()> {
    let parsed: MetaUnit = match serde_json::from_value(unit.clone()) {
        Ok(p) => p,
        Err(e) => return unknown_unit(unit, e, out),
    };
    match parsed {
        MetaUnit::Create {
            table_type,
            table_name,
            using,
            create_list,
        } => {
            let kind = match (table_type.as_str(), using) {
                ("super", _) => CreatedKind::Super,
                ("child", Some(stb)) => CreatedKind::Child { super_table: stb },
                ("normal", _) => CreatedKind::Normal,
                (other, _) => {
                    return Err(TdError::bad_answer(
                        "TMQ meta message",
                        format!("unknown tableType {other:?} in {unit}"),
                    ))
                }
            };
            let first_super = match &kind {
                CreatedKind::Child { super_table } => Some(super_table.clone()),
                _ => None,
            };
            out.push(ChangeEvent::Created {
                table: table_name.clone(),
                kind,
            });
            for item in create_list {
                if item.table_name == table_name {
                    continue;
                }
                let super_table = item.using.or_else(|| first_super.clone()).ok_or_else(|| {
                    TdError::bad_answer(
                        "TMQ meta message",
                        format!(
                            "createList entry {:?} names no super table: {unit}",
                            item.table_name
                        ),
                    )
                })?;
                out.push(ChangeEvent::Created {
                    table: item.table_name,
                    kind: CreatedKind::Child { super_table },
                });
            }
        }
        MetaUnit::Alter { table_name } => out.push(ChangeEvent::Altered {
            table: table_name,
            meta: unit.clone(),
        }),
        MetaUnit::Drop {
            table_name_list: Some(tables),
            ..
        } => out.push(ChangeEvent::TablesDropped { tables }),
        MetaUnit::Drop {
            table_name: Some(name),
            ..
        } => out.push(ChangeEvent::SuperTableDropped { name }),
        MetaUnit::Drop { .. } => {
            return Err(TdError::bad_answer(
                "TMQ meta message",
                format!("drop names no table: {unit}"),
            ))
        }
        MetaUnit::Delete { sql } => out.push(match parse_delete(&sql) {
            Ok(d) => ChangeEvent::Deleted {
                table: d.table,
                range: d.range,
            },
            Err(e) => ChangeEvent::DeleteUnreadable {
                table: table_of_delete(&sql),
                reason: e.to_string(),
            },
        }),
    }
    Ok(())
}

/// A unit tdibt cannot model: when it names a table (a newer alter or meta kind), that
/// table's DDL changed; otherwise nobody can say what it touched, and capture stops on it
/// loudly rather than skip a change.
fn unknown_unit(unit: &Json, e: serde_json::Error, out: &mut Vec<ChangeEvent>) -> TdResult<()> {
    let kind = unit.get("type").and_then(Json::as_str).unwrap_or("");
    if let (false, Some(table)) = (
        kind == "delete" || kind == "create",
        unit.get("tableName").and_then(Json::as_str),
    ) {
        tracing::warn!(
            "TMQ meta of kind {kind:?} not modelled ({e}); recording a DDL change of {table}"
        );
        out.push(ChangeEvent::Altered {
            table: table.to_string(),
            meta: unit.clone(),
        });
        return Ok(());
    }
    if kind == "delete" {
        // A delete without a readable `sql`: unknown rows of an unknown table.
        out.push(ChangeEvent::DeleteUnreadable {
            table: None,
            reason: format!("{e}: {unit}"),
        });
        return Ok(());
    }
    Err(TdError::bad_answer(
        "TMQ meta message",
        format!("{e}: {unit}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creates_of_each_kind() {
        let super_ = json!({"type":"create","tableType":"super","tableName":"meters",
            "columns":[{"name":"ts","type":9,"length":8}],"tags":[]});
        let child = json!({"type":"create","tableType":"child","tableName":"d0","using":"meters",
            "tagNum":1,"tags":[{"name":"gid","type":4,"value":1}]});
        let normal = json!({"type":"create","tableType":"normal","tableName":"t3","columns":[]});
        assert_eq!(
            events_from_meta(&super_).unwrap(),
            vec![ChangeEvent::Created {
                table: "meters".into(),
                kind: CreatedKind::Super
            }]
        );
        assert_eq!(
            events_from_meta(&child).unwrap(),
            vec![ChangeEvent::Created {
                table: "d0".into(),
                kind: CreatedKind::Child {
                    super_table: "meters".into()
                }
            }]
        );
        assert_eq!(
            events_from_meta(&normal).unwrap(),
            vec![ChangeEvent::Created {
                table: "t3".into(),
                kind: CreatedKind::Normal
            }]
        );
    }

    #[test]
    fn drops_deletes_alters_and_batches() {
        let batch = json!({"tmq_meta_version":"1.0","metas":[
            {"type":"drop","tableNameList":["d0","d1"]},
            {"type":"drop","tableName":"meters"},
            {"type":"delete","sql":"delete from `d2` where `ts` >= 10 and `ts` <= 20"},
            {"type":"alter","tableType":"normal","tableName":"t3","alterType":5,
             "colName":"c9","colType":4,"colLength":4}
        ]});
        let events = events_from_meta(&batch).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(
            events[0],
            ChangeEvent::TablesDropped {
                tables: vec!["d0".into(), "d1".into()]
            }
        );
        assert_eq!(
            events[1],
            ChangeEvent::SuperTableDropped {
                name: "meters".into()
            }
        );
        assert_eq!(
            events[2],
            ChangeEvent::Deleted {
                table: "d2".into(),
                range: TsRange::new(10, 20)
            }
        );
        assert!(matches!(&events[3], ChangeEvent::Altered { table, .. } if table == "t3"));
    }

    #[test]
    fn a_create_list_files_every_child_under_its_super_table() {
        // taosd's form (clientRawBlockWrite.c, buildCreateCTableJson): the first table at
        // the top, every table of the batch in `createList`.
        let batch = json!({"type":"create","tableType":"child","tableName":"d0","using":"meters",
            "tagNum":1,"tags":[{"name":"g","type":4,"value":0}],
            "createList":[
                {"tableName":"d0","using":"meters","tagNum":1,"tags":[]},
                {"tableName":"d1","using":"meters","tagNum":1,"tags":[]},
                {"tableName":"d2","using":"meters","tagNum":1,"tags":[]}]});
        let events = events_from_meta(&batch).unwrap();
        let created: Vec<_> = events
            .iter()
            .map(|e| match e {
                ChangeEvent::Created {
                    table,
                    kind: CreatedKind::Child { super_table },
                } => (table.as_str(), super_table.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            created,
            vec![("d0", "meters"), ("d1", "meters"), ("d2", "meters")]
        );
    }

    #[test]
    fn every_alter_type_and_unknown_ones_are_ddl_changes() {
        // TDengine's alter types 1..=15 (TSDB_ALTER_TABLE_*), some without colName (TTL and
        // COMMENT are 9), and kinds no release has yet.
        for alter_type in (1..=15).chain([16, 99]) {
            let mut unit = json!({"type":"alter","tableType":"normal","tableName":"t3",
                "alterType":alter_type});
            if alter_type % 2 == 0 {
                unit["colName"] = json!("c1");
            }
            let events = events_from_meta(&unit).unwrap();
            assert!(
                matches!(&events[..], [ChangeEvent::Altered { table, meta }]
                    if table == "t3" && meta["alterType"] == alter_type),
                "alter type {alter_type}: {events:?}"
            );
        }
        // A meta kind tdibt does not model, naming a table: a DDL change of that table.
        let newer = json!({"type":"rename","tableName":"t4","newName":"t5"});
        assert!(matches!(&events_from_meta(&newer).unwrap()[..],
            [ChangeEvent::Altered { table, .. }] if table == "t4"));
    }

    #[test]
    fn an_unreadable_delete_is_an_event_not_a_stop() {
        let long = format!(
            "delete from `{}` where `ts` >= 1 and `ts` <= 2",
            "x".repeat(240)
        );
        let cut = json!({"type":"delete","sql": &long[..256]});
        assert_eq!(
            events_from_meta(&cut).unwrap(),
            vec![ChangeEvent::DeleteUnreadable {
                table: Some("x".repeat(240)),
                reason: parse_delete(&long[..256]).unwrap_err().to_string(),
            }]
        );
        for (unit, table) in [
            (json!({"type":"delete","sql":"truncate t"}), None),
            (json!({"type":"delete"}), None),
            (
                json!({"type":"delete","sql":"delete from `t` where `ts` ~ 1"}),
                Some("t"),
            ),
        ] {
            let events = events_from_meta(&unit).unwrap();
            assert!(
                matches!(&events[..], [ChangeEvent::DeleteUnreadable { table: t, .. }]
                    if t.as_deref() == table),
                "{unit}: {events:?}"
            );
        }
    }

    #[test]
    fn meta_naming_nothing_is_an_error_not_a_skip() {
        for bad in [
            json!({"type":"rename"}),
            json!({"type":"drop"}),
            json!({"type":"create","tableType":"view","tableName":"v"}),
            json!({"type":"create","tableName":"v"}),
            json!({"metas": 3}),
        ] {
            assert!(events_from_meta(&bad).is_err(), "{bad}");
        }
    }

    /// Meta messages come from the server: whatever JSON they hold, reading their events
    /// answers with events or an error, never a panic.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use tdibt_testkit::mutated_text;

        const SAMPLE: &str = r#"{"tmq_meta_version":"1.0","metas":[
            {"type":"create","tableType":"child","tableName":"d0","using":"meters","tagNum":1,
             "tags":[{"name":"g","type":4,"value":0}],
             "createList":[{"tableName":"d0","using":"meters","tagNum":1,"tags":[]},
                           {"tableName":"d1","using":"meters","tagNum":1,"tags":[]}]},
            {"type":"drop","tableNameList":["d0","d1"]},
            {"type":"delete","sql":"delete from `d2` where `ts` >= 10 and `ts` <= 20"},
            {"type":"alter","tableType":"normal","tableName":"t3","alterType":5,
             "colName":"c9","colType":4,"colLength":4}]}"#;

        fn any_json() -> impl Strategy<Value = Json> {
            tdibt_testkit::any_json(
                &[
                    "type",
                    "tableName",
                    "metas",
                    "createList",
                    "tableNameList",
                    "tableType",
                    "using",
                    "sql",
                    "alterType",
                ],
                &["create", "drop", "delete", "alter", "child"],
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn mutated_messages(text in mutated_text(SAMPLE)) {
                if let Ok(json) = serde_json::from_str::<Json>(&text) {
                    let _ = events_from_meta(&json);
                }
            }

            #[test]
            fn arbitrary_json(json in any_json()) {
                let _ = events_from_meta(&json);
            }
        }
    }
}
