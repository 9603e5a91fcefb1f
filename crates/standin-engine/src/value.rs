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
    /// The second column of a composite primary key (`PRIMARY KEY` after its type; TDengine
    /// 3.3 docs, 03-table.md: only the second column, of an integer or VARCHAR type).
    #[serde(default)]
    pub primary_key: bool,
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
    /// Well-known binary of a 2D POINT, LINESTRING or POLYGON, written as WKT in SQL.
    Geometry,
    /// DECIMAL(precision, scale): DECIMAL64 (type 21) up to precision 18, else DECIMAL
    /// (type 17) — TDengine 3.3.6 docs, 01-data-type.md.
    Decimal {
        precision: u8,
        scale: u8,
    },
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
            ("GEOMETRY", false) => ColType::Geometry,
            _ => return Err(TaosError::unsupported(name)),
        };
        Ok(t)
    }

    pub fn is_var(self) -> bool {
        matches!(
            self,
            ColType::VarChar
                | ColType::NChar
                | ColType::VarBinary
                | ColType::Json
                | ColType::Geometry
        )
    }

    /// TDengine's numeric type code (`TSDB_DATA_TYPE_*`), as meta JSON carries it. taos-query
    /// 0.12 has no DECIMAL64 (21), so this is not always `ty() as u8`.
    pub fn type_code(self) -> u8 {
        match self {
            ColType::Decimal { precision, .. } if precision <= 18 => 21,
            ColType::Decimal { .. } => 17,
            other => other.ty() as u8,
        }
    }

    /// The type of a type code, but DECIMAL (17, 21), whose precision and scale the code
    /// does not carry.
    pub fn from_type_code(code: u8) -> Option<ColType> {
        Some(match code {
            1 => ColType::Bool,
            2 => ColType::TinyInt,
            3 => ColType::SmallInt,
            4 => ColType::Int,
            5 => ColType::BigInt,
            6 => ColType::Float,
            7 => ColType::Double,
            8 => ColType::VarChar,
            9 => ColType::Timestamp,
            10 => ColType::NChar,
            11 => ColType::UTinyInt,
            12 => ColType::USmallInt,
            13 => ColType::UInt,
            14 => ColType::UBigInt,
            15 => ColType::Json,
            16 => ColType::VarBinary,
            20 => ColType::Geometry,
            _ => return None,
        })
    }

    /// The `bytes` a schema or a block states for a column of declared length `len`: the
    /// length plus the 2-byte length prefix (NCHAR in 4-byte characters), a JSON tag's
    /// `TSDB_MAX_JSON_TAG_LEN`, a fixed type's size.
    pub fn bytes_for(self, len: u32) -> i32 {
        let n = i32::try_from(len).unwrap_or(i32::MAX / 8);
        match self {
            ColType::VarChar | ColType::VarBinary | ColType::Geometry => n + 2,
            ColType::NChar => n * 4 + 2,
            ColType::Json => 16384,
            fixed => fixed.fixed_len() as i32,
        }
    }

    /// The declared length from a schema's or a block's `bytes`.
    pub fn declared_len(self, bytes: i32) -> u32 {
        let b = u32::try_from(bytes).unwrap_or(0);
        match self {
            ColType::VarChar | ColType::VarBinary | ColType::Geometry | ColType::Json => {
                b.saturating_sub(2)
            }
            ColType::NChar => b.saturating_sub(2) / 4,
            fixed => fixed.fixed_len(),
        }
    }

    /// The fixed size in bytes of fixed types.
    pub fn fixed_len(self) -> u32 {
        match self {
            ColType::Bool | ColType::TinyInt | ColType::UTinyInt => 1,
            ColType::SmallInt | ColType::USmallInt => 2,
            ColType::Int | ColType::UInt | ColType::Float => 4,
            ColType::Decimal { precision, .. } if precision > 18 => 16,
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
            ColType::Geometry => Ty::Geometry,
            // taos-query 0.12 knows DECIMAL (17) only as a placeholder and has no DECIMAL64;
            // its block encoder cannot carry either (see README).
            ColType::Decimal { .. } => Ty::Decimal,
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
            Ty::Geometry => ColType::Geometry,
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
            ColType::Geometry => "GEOMETRY",
            ColType::Decimal { .. } => "DECIMAL",
        }
    }

    /// Whether TDengine lets a column of this type be the composite primary key (INT, BIGINT,
    /// their UNSIGNED forms, VARCHAR).
    pub fn can_be_primary_key(self) -> bool {
        matches!(
            self,
            ColType::Int | ColType::UInt | ColType::BigInt | ColType::UBigInt | ColType::VarChar
        )
    }
}

impl ColDef {
    pub fn new(name: impl Into<String>, ty: ColType, len: u32) -> ColDef {
        ColDef {
            name: name.into(),
            ty,
            len,
            primary_key: false,
        }
    }

    /// The type as SHOW CREATE and DESCRIBE print it: `VARCHAR(16)`, `DECIMAL(10, 2)`, `INT`.
    pub fn type_sql(&self) -> String {
        match self.ty {
            ColType::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
            ColType::Json => "JSON".into(),
            t if t.is_var() => format!("{}({})", t.sql_name(), self.len),
            t => t.sql_name().into(),
        }
    }

    /// `name TYPE[(len)] [PRIMARY KEY]` as SHOW CREATE prints it.
    pub fn sql(&self) -> String {
        let pk = if self.primary_key { " PRIMARY KEY" } else { "" };
        format!("`{}` {}{pk}", self.name, self.type_sql())
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
    /// A DECIMAL's unscaled value; its column's scale places the point.
    Decimal(i128),
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
            (Cell::Decimal(a), Cell::Decimal(b)) => a.cmp(b),
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

/// A DECIMAL's text: the unscaled value with the point `scale` digits from the right
/// (`decimal_text(1099, 2)` is `10.99`).
pub fn decimal_text(unscaled: i128, scale: u8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_places_the_point() {
        assert_eq!(decimal_text(1099, 2), "10.99");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(42, 0), "42");
    }
}
