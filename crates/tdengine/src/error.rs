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
    #[error("TMQ {operation} refused by TDengine: [0x{code:04X}] {message}")]
    TmqRefused {
        operation: &'static str,
        code: i32,
        message: String,
    },
    #[error("TMQ connection to {target} lost during {operation}: {message}; reconnecting helps")]
    TmqLink {
        target: String,
        operation: &'static str,
        message: String,
    },
    #[error("raw block of table {table}: {source}")]
    Block {
        table: String,
        #[source]
        source: crate::block_ts::BlockError,
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

    pub(crate) fn bad_answer(what: impl Into<String>, detail: impl Into<String>) -> Self {
        TdError::BadAnswer {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Whether TDengine said an offset lies outside the vgroup's WAL (a seek or commit to
    /// a version it no longer or not yet keeps).
    pub fn is_out_of_range(&self) -> bool {
        matches!(self, TdError::TmqRefused { code, message, .. }
            if *code == crate::tmq_ws::tmq_codes::VERSION_OUT_OF_RANGE
                || message.to_ascii_lowercase().contains("out of range"))
    }

    /// Whether retrying later may help (the server or the network went away).
    pub fn is_transient(&self) -> bool {
        match self {
            TdError::Unreachable { .. } | TdError::TmqLink { .. } => true,
            TdError::Sql { source, .. } => is_connection_error(source),
            _ => false,
        }
    }
}

/// TDengine error codes tdibt reacts to (taoserror.h).
pub mod codes {
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
