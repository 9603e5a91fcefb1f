//! Connecting to TDengine through taosAdapter's WebSocket endpoint.

use std::sync::atomic::{AtomicBool, Ordering};

use taos::{AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder};
use tdibt_core::config::{DatabaseConfig, Secret, PORT_ADVICE, TAOSD_NATIVE_PORT};

use crate::error::{codes, is_connection_error, TdError, TdResult};

/// Where and as whom to connect. The password never appears in `Debug` or [`Self::target`].
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
}

impl ConnectionSettings {
    pub fn from_config(db: &DatabaseConfig) -> Self {
        ConnectionSettings {
            host: db.host.clone(),
            port: db.port,
            user: db.user.clone(),
            password: db.password.clone(),
        }
    }

    /// The endpoint for messages: no password.
    pub fn target(&self) -> String {
        format!("ws://{}@{}:{}", self.user, self.host, self.port)
    }

    /// The connector's DSN, credentials URL-encoded (the connector decodes them). Contains the
    /// password: never log it.
    pub(crate) fn dsn(&self, query: &str) -> String {
        let mut dsn = format!(
            "ws://{}:{}@{}:{}",
            urlencoding::encode(&self.user),
            urlencoding::encode(self.password.expose()),
            self.host,
            self.port
        );
        if !query.is_empty() {
            dsn.push('?');
            dsn.push_str(query);
        }
        dsn
    }

    /// Classifies a failure to connect.
    pub(crate) fn connect_error(&self, e: taos::Error) -> TdError {
        let code = i32::from(e.code());
        let auth_codes = [
            codes::AUTH_FAILURE,
            codes::USER_NOT_EXIST,
            codes::INVALID_PASS,
        ];
        let text = e.to_string();
        if auth_codes.contains(&(code & 0xffff))
            || text.contains("Unauthorized")
            || text.to_ascii_lowercase().contains("authentication")
        {
            TdError::LoginRefused {
                target: self.target(),
                user: self.user.clone(),
                message: text,
            }
        } else {
            let mut message = if is_connection_error(&e) || code == 0xffff || code == 0 {
                text
            } else {
                format!("[0x{code:04X}] {text}")
            };
            if self.port == TAOSD_NATIVE_PORT {
                message.push_str(&format!(
                    "; port {TAOSD_NATIVE_PORT} is taosd's native port: {PORT_ADVICE}"
                ));
            }
            TdError::Unreachable {
                target: self.target(),
                message,
            }
        }
    }

    /// A server that accepts the TCP connection yet fails the WebSocket handshake is not
    /// taosAdapter (taosd's native port behaves so): say which port tdibt needs. Probed
    /// only after a failure, so a working connection costs nothing.
    async fn explain_unreachable(&self, e: TdError) -> TdError {
        let TdError::Unreachable { target, message } = e else {
            return e;
        };
        if self.port == TAOSD_NATIVE_PORT {
            return TdError::Unreachable { target, message };
        }
        let probe = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await;
        let message = match probe {
            Ok(Ok(_)) => format!(
                "{message}; {}:{} accepted the connection but did not answer as a WebSocket \
                 server (taosd's native port {TAOSD_NATIVE_PORT} answers so): {PORT_ADVICE}",
                self.host, self.port
            ),
            _ => message,
        };
        TdError::Unreachable { target, message }
    }
}

/// An open SQL connection.
pub struct Connection {
    taos: Taos,
    settings: ConnectionSettings,
    /// Whether the server ever answered: until then a connection failure may be a server
    /// that is not taosAdapter, which [`ConnectionSettings::explain_unreachable`] probes.
    answered: AtomicBool,
}

impl Connection {
    /// Connects and checks the server answers.
    pub async fn open(settings: &ConnectionSettings) -> TdResult<Self> {
        let builder =
            TaosBuilder::from_dsn(settings.dsn("")).map_err(|e| settings.connect_error(e))?;
        let taos = match builder.build().await {
            Ok(taos) => taos,
            Err(e) => {
                return Err(settings
                    .explain_unreachable(settings.connect_error(e))
                    .await)
            }
        };
        Ok(Connection {
            taos,
            settings: settings.clone(),
            answered: AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// The connector's handle, for queries this crate does not wrap.
    pub fn taos(&self) -> &Taos {
        &self.taos
    }

    /// The connector logs in lazily, on the first statement: a refused login can surface
    /// from any call, and is reported as a refused login wherever it does.
    pub(crate) fn classify(&self, sql: &str, e: taos::Error) -> TdError {
        let code = i32::from(e.code()) & 0xffff;
        if [
            codes::AUTH_FAILURE,
            codes::USER_NOT_EXIST,
            codes::INVALID_PASS,
        ]
        .contains(&code)
            || is_connection_error(&e)
        {
            self.settings.connect_error(e)
        } else {
            TdError::sql(sql, e)
        }
    }

    /// The server's version string.
    pub async fn server_version(&self) -> TdResult<String> {
        let result = self.taos.server_version().await.map(|v| v.to_string());
        self.answer(result.map_err(|e| self.classify("server_version()", e)))
            .await
    }

    /// Runs a statement, returning affected rows.
    pub async fn exec(&self, sql: &str) -> TdResult<usize> {
        let result = self.taos.exec(sql).await;
        self.answer(result.map_err(|e| self.classify(sql, e))).await
    }

    /// Runs a query, returning its column names and rows.
    pub async fn query(&self, sql: &str) -> TdResult<crate::rows::Rows> {
        let result = crate::rows::Rows::query(&self.taos, sql)
            .await
            .map_err(|e| match e {
                TdError::Sql { sql, source } => self.classify(&sql, source),
                other => other,
            });
        self.answer(result).await
    }

    /// Notes that the server answered, or explains a first failure (the connector connects
    /// lazily, so the first statement is where a wrong port shows).
    async fn answer<T>(&self, result: TdResult<T>) -> TdResult<T> {
        match result {
            Ok(v) => {
                self.answered.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) if self.answered.load(Ordering::Relaxed) => Err(e),
            Err(e) => Err(self.settings.explain_unreachable(e).await),
        }
    }
}
