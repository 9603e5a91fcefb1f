//! Column types and cell values of the stand-in's store.

use serde::{Deserialize, Serialize};
use taos_query::common::Ty;

use crate::error::TaosError;

/// A column definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColDef {
    pub name: String,
    pub ty: ColType,
    /// Declared length for variable types (BINARY(n)), else the type's size.
    pub len: u32,
}

/// The column types TDengine 3 has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColType {
    Timestamp,
    Bool,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    UTinyInt,
    USmallInt,
    UInt,
    UBigInt,
    Float,
    Double,
    VarChar,
    NChar,
    VarBinary,
    Json,
}

impl ColType {
    /// From a SQL type name; `unsigned` follows the integer names.
    pub fn from_sql(name: &str, unsigned: bool) -> Result<ColType, TaosError> {
        let t = match (name.to_ascii_uppercase().as_str(), unsigned) {
            ("TIMESTAMP", false) => ColType::Timestamp,
            ("BOOL", false) => ColType::Bool,
            ("TINYINT", false) => ColType::TinyInt,
            ("SMALLINT", false) => ColType::SmallInt,
            ("INT" | "INTEGER", false) => ColType::Int,
            ("BIGINT", false) => ColType::BigInt,
            ("TINYINT", true) => ColType::UTinyInt,
            ("SMALLINT", true) => ColType::USmallInt,
            ("INT" | "INTEGER", true) => ColType::UInt,
            ("BIGINT", true) => ColType::UBigInt,
            ("FLOAT", false) => ColType::Float,
            ("DOUBLE", false) => ColType::Double,
            ("BINARY" | "VARCHAR", false) => ColType::VarChar,
            ("NCHAR", false) => ColType::NChar,
            ("VARBINARY", false) => ColType::VarBinary,
            ("JSON", false) => ColType::Json,
            _ => return Err(TaosError::unsupported(name)),
        };
        Ok(t)
    }

    pub fn is_var(self) -> bool {
        matches!(
            self,
            ColType::VarChar | ColType::NChar | ColType::VarBinary | ColType::Json
        )
    }

    /// The fixed size in bytes of fixed types.
    pub fn fixed_len(self) -> u32 {
        match self {
            ColType::Bool | ColType::TinyInt | ColType::UTinyInt => 1,
            ColType::SmallInt | ColType::USmallInt => 2,
            ColType::Int | ColType::UInt | ColType::Float => 4,
            _ => 8,
        }
    }

    pub fn ty(self) -> Ty {
        match self {
            ColType::Timestamp => Ty::Timestamp,
            ColType::Bool => Ty::Bool,
            ColType::TinyInt => Ty::TinyInt,
            ColType::SmallInt => Ty::SmallInt,
            ColType::Int => Ty::Int,
            ColType::BigInt => Ty::BigInt,
            ColType::UTinyInt => Ty::UTinyInt,
            ColType::USmallInt => Ty::USmallInt,
            ColType::UInt => Ty::UInt,
            ColType::UBigInt => Ty::UBigInt,
            ColType::Float => Ty::Float,
            ColType::Double => Ty::Double,
            ColType::VarChar => Ty::VarChar,
            ColType::NChar => Ty::NChar,
            ColType::VarBinary => Ty::VarBinary,
            ColType::Json => Ty::Json,
        }
    }

    pub fn from_ty(ty: Ty) -> Option<ColType> {
        Some(match ty {
            Ty::Timestamp => ColType::Timestamp,
            Ty::Bool => ColType::Bool,
            Ty::TinyInt => ColType::TinyInt,
            Ty::SmallInt => ColType::SmallInt,
            Ty::Int => ColType::Int,
            Ty::BigInt => ColType::BigInt,
            Ty::UTinyInt => ColType::UTinyInt,
            Ty::USmallInt => ColType::USmallInt,
            Ty::UInt => ColType::UInt,
            Ty::UBigInt => ColType::UBigInt,
            Ty::Float => ColType::Float,
            Ty::Double => ColType::Double,
            Ty::VarChar => ColType::VarChar,
            Ty::NChar => ColType::NChar,
            Ty::VarBinary => ColType::VarBinary,
            Ty::Json => ColType::Json,
            _ => return None,
        })
    }

    /// The name SHOW CREATE and DESCRIBE print.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColType::Timestamp => "TIMESTAMP",
            ColType::Bool => "BOOL",
            ColType::TinyInt => "TINYINT",
            ColType::SmallInt => "SMALLINT",
            ColType::Int => "INT",
            ColType::BigInt => "BIGINT",
            ColType::UTinyInt => "TINYINT UNSIGNED",
            ColType::USmallInt => "SMALLINT UNSIGNED",
            ColType::UInt => "INT UNSIGNED",
            ColType::UBigInt => "BIGINT UNSIGNED",
            ColType::Float => "FLOAT",
            ColType::Double => "DOUBLE",
            ColType::VarChar => "VARCHAR",
            ColType::NChar => "NCHAR",
            ColType::VarBinary => "VARBINARY",
            ColType::Json => "JSON",
        }
    }
}

impl ColDef {
    /// `name TYPE[(len)]` as SHOW CREATE prints it.
    pub fn sql(&self) -> String {
        if self.ty.is_var() && self.ty != ColType::Json {
            format!("`{}` {}({})", self.name, self.ty.sql_name(), self.len)
        } else {
            format!("`{}` {}", self.name, self.ty.sql_name())
        }
    }
}

/// A stored value; its column's type says how to read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
}

impl Cell {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Int(v) => Some(*v),
            Cell::UInt(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// Orders two cells of the same column (NULL first).
    pub fn cmp_same(&self, other: &Cell) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (Cell::Null, Cell::Null) => Equal,
            (Cell::Null, _) => Less,
            (_, Cell::Null) => Greater,
            (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
            (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
            (Cell::UInt(a), Cell::UInt(b)) => a.cmp(b),
            (Cell::Float(a), Cell::Float(b)) => a.partial_cmp(b).unwrap_or(Equal),
            (Cell::Str(a), Cell::Str(b)) => a.cmp(b),
            (Cell::Bytes(a), Cell::Bytes(b)) => a.cmp(b),
            (Cell::Int(a), Cell::UInt(b)) => (*a as i128).cmp(&(*b as i128)),
            (Cell::UInt(a), Cell::Int(b)) => (*a as i128).cmp(&(*b as i128)),
            (Cell::Int(a), Cell::Float(b)) => (*a as f64).partial_cmp(b).unwrap_or(Equal),
            (Cell::Float(a), Cell::Int(b)) => a.partial_cmp(&(*b as f64)).unwrap_or(Equal),
            _ => Equal,
        }
    }
}

/// A column of a result set.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub len: u32,
}

impl From<&ColDef> for Column {
    fn from(c: &ColDef) -> Self {
        Column {
            name: c.name.clone(),
            ty: c.ty,
            len: c.len,
        }
    }
}
