//! TDengine's error codes and messages, as the stand-in answers them.
//!
//! Codes from TDengine's `include/util/taoserror.h` and messages from
//! `source/util/src/terror.c` (public repository taosdata/TDengine).

use std::fmt;

/// An error as TDengine reports it: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TaosError {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for TaosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[0x{:04X}] {}", self.code, self.message)
    }
}

impl TaosError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        TaosError {
            code,
            message: message.into(),
        }
    }

    /// TSDB_CODE_PAR_SYNTAX_ERROR: "syntax error near ..."
    pub fn syntax(near: &str) -> Self {
        Self::new(0x2600, format!("syntax error near \"{near}\""))
    }

    /// TSDB_CODE_PAR_SYNTAX_ERROR with a stand-in specific reason (unsupported SQL).
    pub fn unsupported(what: &str) -> Self {
        Self::new(
            0x2600,
            format!("syntax error near \"{what}\" (not supported by taos-standin)"),
        )
    }

    /// TSDB_CODE_MND_DB_NOT_EXIST
    pub fn db_not_exist(db: &str) -> Self {
        let _ = db;
        Self::new(0x0388, "Database not exist")
    }

    /// TSDB_CODE_MND_DB_ALREADY_EXIST
    pub fn db_exists() -> Self {
        Self::new(0x0386, "Database already exists")
    }

    /// TSDB_CODE_PAR_TABLE_NOT_EXIST
    pub fn table_not_exist(table: &str) -> Self {
        Self::new(0x2662, format!("Table does not exist: {table}"))
    }

    /// TSDB_CODE_TDB_TABLE_ALREADY_EXIST
    pub fn table_exists() -> Self {
        Self::new(0x0603, "Table already exists")
    }

    /// TSDB_CODE_MND_STB_NOT_EXIST
    pub fn stable_not_exist() -> Self {
        Self::new(0x03E2, "STable not exist")
    }

    /// TSDB_CODE_PAR_DB_NOT_SPECIFIED
    pub fn no_db() -> Self {
        Self::new(0x2616, "Database not specified or available")
    }

    /// TSDB_CODE_MND_AUTH_FAILURE ("Authentication failure")
    pub fn auth() -> Self {
        Self::new(0x0357, "Authentication failure")
    }

    /// TSDB_CODE_MND_TOPIC_NOT_EXIST
    pub fn topic_not_exist() -> Self {
        Self::new(0x03EB, "Topic not exist")
    }

    /// TSDB_CODE_MND_TOPIC_ALREADY_EXIST
    pub fn topic_exists() -> Self {
        Self::new(0x03EA, "Topic already exists")
    }

    /// TSDB_CODE_MND_TOPIC_MUST_BE_DELETED: DROP DATABASE with a topic on it.
    pub fn topic_must_be_dropped() -> Self {
        Self::new(0x03ED, "Topic must be dropped first")
    }

    /// TSDB_CODE_PAR_INVALID_COLUMN
    pub fn invalid_column(name: &str) -> Self {
        Self::new(0x2602, format!("Invalid column name: {name}"))
    }

    /// TSDB_CODE_PAR_WRONG_VALUE_TYPE / bad literal.
    pub fn bad_value(what: &str) -> Self {
        Self::new(0x2603, format!("Invalid value: {what}"))
    }

    /// TSDB_CODE_TMQ_CONSUMER_MISMATCH and friends: a TMQ call the consumer cannot make.
    pub fn tmq(message: impl Into<String>) -> Self {
        Self::new(0x4000, message)
    }

    /// TSDB_CODE_TMQ_NO_COMMITTED: no committed offset for that vgroup.
    pub const NO_COMMITTED: i64 = -2147467247;
}
