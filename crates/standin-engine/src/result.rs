//! What a statement returns.

use crate::store::Precision;
use crate::value::{Cell, ColType, Column};

/// Rows with their columns.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub precision: Precision,
    pub rows: Vec<Vec<Cell>>,
}

impl ResultSet {
    pub fn new(columns: Vec<Column>, precision: Precision) -> Self {
        ResultSet {
            columns,
            precision,
            rows: Vec::new(),
        }
    }
}

/// The outcome of one statement.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Affected(usize),
    Rows(ResultSet),
}

/// Shorthand for result columns.
pub fn col(name: &str, ty: ColType, len: u32) -> Column {
    Column {
        name: name.to_string(),
        ty,
        len,
    }
}
