//! What a TMQ message means for backups: typed change events.
//!
//! Data messages carry one raw block per table (the rows of one write); meta messages carry
//! the JSON that `taos-query`'s `JsonMeta` models (create, alter, drop, delete). We read the
//! meta JSON with our own small serde types rather than the connector's `Display` impls,
//! which panic on some alter kinds.

use serde::Deserialize;
use serde_json::Value as Json;
use tdibt_core::TsRange;

use crate::delete_sql::parse_delete;
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
    /// A table's or super table's schema changed; `meta` is TDengine's description.
    Altered { table: String, meta: Json },
}

/// The kind of a created table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreatedKind {
    Super,
    Child { super_table: String },
    Normal,
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
    units.into_iter().map(event_from_unit).collect()
}

fn event_from_unit(unit: &Json) -> TdResult<ChangeEvent> {
    let parsed: MetaUnit = serde_json::from_value(unit.clone())
        .map_err(|e| TdError::bad_answer("TMQ meta message", format!("{e}: {unit}")))?;
    Ok(match parsed {
        MetaUnit::Create {
            table_type,
            table_name,
            using,
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
            ChangeEvent::Created {
                table: table_name,
                kind,
            }
        }
        MetaUnit::Alter { table_name } => ChangeEvent::Altered {
            table: table_name,
            meta: unit.clone(),
        },
        MetaUnit::Drop {
            table_name_list: Some(tables),
            ..
        } => ChangeEvent::TablesDropped { tables },
        MetaUnit::Drop {
            table_name: Some(name),
            ..
        } => ChangeEvent::SuperTableDropped { name },
        MetaUnit::Drop { .. } => {
            return Err(TdError::bad_answer(
                "TMQ meta message",
                format!("drop names no table: {unit}"),
            ))
        }
        MetaUnit::Delete { sql } => {
            let d = parse_delete(&sql)?;
            ChangeEvent::Deleted {
                table: d.table,
                range: d.range,
            }
        }
    })
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
    fn unreadable_meta_is_an_error_not_a_skip() {
        for bad in [
            json!({"type":"rename"}),
            json!({"type":"drop"}),
            json!({"type":"delete","sql":"truncate t"}),
            json!({"type":"create","tableType":"view","tableName":"v"}),
            json!({"metas": 3}),
        ] {
            assert!(events_from_meta(&bad).is_err(), "{bad}");
        }
    }
}
