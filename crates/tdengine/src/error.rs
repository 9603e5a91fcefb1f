//! Errors of the TDengine access layer, each naming what failed and where.

/// What went wrong talking to TDengine.
#[derive(Debug, thiserror::Error)]
pub enum TdError {
    #[error("cannot reach taosAdapter at {target}: {message}")]
    Unreachable { target: String, message: String },
    #[error("login refused for user {user:?} at {target}: {message}")]
    LoginRefused {
        target: String,
        user: String,
        message: String,
    },
    #[error("database {0:?} does not exist")]
    MissingDatabase(String),
    #[error("TDengine refused `{sql}`: {source}")]
    Sql {
        sql: String,
        #[source]
        source: taos::Error,
    },
    #[error("TMQ {operation} failed: {source}")]
    Tmq {
        operation: &'static str,
        #[source]
        source: taos::Error,
    },
    #[error("unexpected answer from TDengine to {what}: {detail}")]
    BadAnswer { what: String, detail: String },
    #[error(transparent)]
    Delete(#[from] crate::delete_sql::DeleteParseError),
}

pub type TdResult<T> = Result<T, TdError>;

impl TdError {
    pub(crate) fn sql(sql: &str, source: taos::Error) -> Self {
        TdError::Sql {
            sql: sql.to_string(),
            source,
        }
    }

    pub(crate) fn tmq(operation: &'static str, source: taos::Error) -> Self {
        TdError::Tmq { operation, source }
    }

    pub(crate) fn bad_answer(what: impl Into<String>, detail: impl Into<String>) -> Self {
        TdError::BadAnswer {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Whether retrying later may help (the server or the network went away).
    pub fn is_transient(&self) -> bool {
        match self {
            TdError::Unreachable { .. } => true,
            TdError::Sql { source, .. } | TdError::Tmq { source, .. } => {
                is_connection_error(source)
            }
            _ => false,
        }
    }
}

/// TDengine error codes tdibt reacts to (taoserror.h).
pub mod codes {
    /// TSDB_CODE_MND_DB_NOT_EXIST
    pub const DB_NOT_EXIST: i32 = 0x0388;
    /// TSDB_CODE_MND_AUTH_FAILURE ("Authentication failure")
    pub const AUTH_FAILURE: i32 = 0x0357;
    /// TSDB_CODE_MND_USER_NOT_EXIST
    pub const USER_NOT_EXIST: i32 = 0x0350;
    /// TSDB_CODE_MND_INVALID_PASS_FORMAT
    pub const INVALID_PASS: i32 = 0x0355;
}

/// The connector reports lost connections with its own codes and messages; match on both
/// since 0.12 does not give them a dedicated kind.
pub(crate) fn is_connection_error(e: &taos::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    [
        "connection",
        "websocket",
        "broken pipe",
        "closed",
        "reset",
        "refused",
        "timed out",
        "timeout",
        "eof",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
