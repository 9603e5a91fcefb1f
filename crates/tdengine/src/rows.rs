//! Query results addressed by column name, so discovery does not depend on column order or
//! on columns a newer TDengine adds.

use std::collections::HashMap;

use taos::{AsyncFetchable, AsyncQueryable, Taos, Value};

use crate::error::{TdError, TdResult};

/// A whole (small) result set.
pub struct Rows {
    sql: String,
    index: HashMap<String, usize>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    pub(crate) async fn query(taos: &Taos, sql: &str) -> TdResult<Self> {
        let mut rs = taos.query(sql).await.map_err(|e| TdError::sql(sql, e))?;
        let index = rs
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().to_ascii_lowercase(), i))
            .collect();
        let rows = rs.to_records().await.map_err(|e| TdError::sql(sql, e))?;
        Ok(Rows {
            sql: sql.to_string(),
            index,
            rows,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `row`'s value in column `column`.
    pub fn value(&self, row: usize, column: &str) -> TdResult<&Value> {
        let col = *self.index.get(column).ok_or_else(|| {
            TdError::bad_answer(&self.sql, format!("no column {column:?} in the result"))
        })?;
        self.rows
            .get(row)
            .and_then(|r| r.get(col))
            .ok_or_else(|| TdError::bad_answer(&self.sql, format!("row {row} is short")))
    }

    /// A text column (VARCHAR/NCHAR); `None` for NULL.
    pub fn text(&self, row: usize, column: &str) -> TdResult<Option<String>> {
        match self.value(row, column)? {
            Value::Null(_) => Ok(None),
            Value::VarChar(s) | Value::NChar(s) => Ok(Some(s.clone())),
            Value::VarBinary(b) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
            other => Err(TdError::bad_answer(
                &self.sql,
                format!("column {column:?} holds {other:?}, expected text"),
            )),
        }
    }

    /// An integer column; `None` for NULL.
    pub fn integer(&self, row: usize, column: &str) -> TdResult<Option<i64>> {
        let v = match self.value(row, column)? {
            Value::Null(_) => return Ok(None),
            Value::TinyInt(v) => *v as i64,
            Value::SmallInt(v) => *v as i64,
            Value::Int(v) => *v as i64,
            Value::BigInt(v) => *v,
            Value::UTinyInt(v) => *v as i64,
            Value::USmallInt(v) => *v as i64,
            Value::UInt(v) => *v as i64,
            Value::UBigInt(v) => i64::try_from(*v).map_err(|_| {
                TdError::bad_answer(&self.sql, format!("column {column:?} overflows i64"))
            })?,
            Value::Timestamp(ts) => ts.as_raw_i64(),
            Value::VarChar(s) | Value::NChar(s) => s.trim().parse().map_err(|_| {
                TdError::bad_answer(
                    &self.sql,
                    format!("column {column:?} is {s:?}, not a number"),
                )
            })?,
            other => {
                return Err(TdError::bad_answer(
                    &self.sql,
                    format!("column {column:?} holds {other:?}, expected an integer"),
                ))
            }
        };
        Ok(Some(v))
    }
}
