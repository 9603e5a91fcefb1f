//! `taos-standin`: test equipment that speaks taosAdapter's WebSocket protocol (`/ws` for
//! SQL, `/rest/tmq` for TMQ) well enough for the official `taos` connector, over the
//! in-memory engine of `taos-standin-engine`. Never a database for production.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let standin = taos_standin::StandinServer::builder().start().await?;
//! let dsn = standin.dsn(); // ws://root:taosdata@127.0.0.1:PORT
//! standin.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod block;
#[cfg(test)]
mod never_panics;
mod quickack;
mod raw;
mod sql;
mod tmq;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
pub use taos_standin_engine::{Engine, TmqConfig};
use tokio::net::{TcpListener, TcpStream};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

/// The version a stand-in reports unless told otherwise: from 3.3.0.8 on the connector uses
/// binary query messages.
pub const DEFAULT_VERSION: &str = "3.3.6.0";

#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the data folder: {0}")]
    Data(#[from] taos_standin_engine::TaosError),
}

/// How to start a stand-in.
pub struct StandinServer {
    version: String,
    data_dir: Option<PathBuf>,
    listen: String,
    tmq: TmqConfig,
}

impl StandinServer {
    pub fn builder() -> Self {
        StandinServer {
            version: DEFAULT_VERSION.into(),
            data_dir: None,
            listen: "127.0.0.1:0".into(),
            tmq: TmqConfig::default(),
        }
    }

    /// The server version string (`< 3.3.0.8` makes the connector use JSON queries).
    pub fn version(mut self, v: &str) -> Self {
        self.version = v.to_string();
        self
    }

    /// Persist everything in this folder; a later start on it resumes.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The mnode's rebalance timer (`mqRebalanceInterval`; TDengine's default is 2 s). A new
    /// subscribe answers only after it fired.
    pub fn rebalance_interval(mut self, every: Duration) -> Self {
        self.tmq.rebalance_interval = every;
        self
    }

    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = addr.to_string();
        self
    }

    pub async fn start(self) -> Result<RunningStandin, StandinError> {
        let engine = match &self.data_dir {
            Some(d) => Engine::open(d, &self.version)?,
            None => Engine::new(&self.version),
        };
        engine.set_tmq_config(self.tmq);
        let listener =
            TcpListener::bind(&self.listen)
                .await
                .map_err(|source| StandinError::Listen {
                    addr: self.listen.clone(),
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StandinError::Listen {
                addr: self.listen.clone(),
                source,
            })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, engine.clone(), stop_rx));
        Ok(RunningStandin {
            addr,
            engine,
            stop: stop_tx,
            task,
        })
    }
}

/// A running stand-in.
pub struct RunningStandin {
    addr: SocketAddr,
    engine: Engine,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningStandin {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connector DSN with the stand-in's credentials.
    pub fn dsn(&self) -> String {
        format!("ws://root:taosdata@{}", self.addr)
    }

    /// The engine, for test hooks such as [`Engine::expire_wal`].
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Closes the listener and every connection, and writes the data folder.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Err(e) = self.engine.flush() {
            warn!("stand-in could not save its data: {e}");
        }
    }
}

async fn serve(listener: TcpListener, engine: Engine, mut stop: watch::Receiver<bool>) {
    let mut connections = Vec::new();
    let written = Arc::new(Notify::new());
    let mut flush = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = flush.tick() => {
                if let Err(e) = engine.flush() {
                    warn!("stand-in could not save its data: {e}");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "connection");
                    connections.push(tokio::spawn(connection(
                        stream,
                        engine.clone(),
                        written.clone(),
                        stop.clone(),
                    )));
                    connections.retain(|c: &JoinHandle<()>| !c.is_finished());
                }
                Err(e) => warn!("accept failed: {e}"),
            }
        }
    }
    for c in connections {
        c.abort();
        let _ = c.await;
    }
}

enum Endpoint {
    Sql(sql::SqlConnection),
    Tmq(tmq::TmqConnection),
}

/// `written` wakes waiting TMQ polls after every SQL frame: taosd answers a waiting poll as
/// soon as a write reaches the WAL (vnode `tqPushMsg` -> `tqProcessPollPush`), rather than
/// when the poll next looks.
async fn connection(
    stream: TcpStream,
    engine: Engine,
    written: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    // Small request/reply frames: without TCP_NODELAY every reply waits ~40 ms for the
    // client's delayed ACK. taosAdapter is written in Go, whose sockets are NODELAY by default.
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    // The signature is tungstenite's callback type; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        path = req.uri().path().to_string();
        match path.as_str() {
            "/ws" | "/rest/ws" | "/rest/tmq" => Ok(resp),
            _ => {
                let mut not_found = ErrorResponse::new(Some("404 page not found".into()));
                *not_found.status_mut() = StatusCode::NOT_FOUND;
                Err(not_found)
            }
        }
    };
    let ws = match tokio_tungstenite::accept_hdr_async(quickack::QuickAck(stream), callback).await {
        Ok(ws) => ws,
        Err(e) => {
            debug!("handshake refused: {e}");
            return;
        }
    };
    let mut endpoint = if path == "/rest/tmq" {
        Endpoint::Tmq(tmq::TmqConnection::new(engine, written.clone()))
    } else {
        Endpoint::Sql(sql::SqlConnection::new(engine))
    };
    let (mut tx, mut rx) = ws.split();
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => break,
            frame = rx.next() => frame,
        };
        let replies = match frame {
            Some(Ok(Message::Text(text))) => match &mut endpoint {
                Endpoint::Sql(c) => c.text(&text),
                Endpoint::Tmq(c) => c.text(&text).await,
            },
            Some(Ok(Message::Binary(data))) => match &mut endpoint {
                Endpoint::Sql(c) => c.binary(&data),
                Endpoint::Tmq(_) => Vec::new(),
            },
            Some(Ok(Message::Ping(p))) => vec![Message::Pong(p)],
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => Vec::new(),
        };
        if matches!(endpoint, Endpoint::Sql(_)) {
            written.notify_waiters();
        }
        for r in replies {
            if tx.send(r).await.is_err() {
                break;
            }
        }
    }
    if let Endpoint::Tmq(c) = &mut endpoint {
        c.close();
    }
}
