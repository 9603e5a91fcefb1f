//! The engine behind `taos-standin`, tdibt's stand-in for TDengine 3.x in tests and demos:
//! databases, tables and rows in memory, a SQL subset, one write-ahead log per vgroup, and
//! TMQ consumers over it. Test equipment, never a database for production.
//!
//! Pure and synchronous: the server crate speaks the protocol and calls [`Engine`].
#![forbid(unsafe_code)]

mod alter;
pub mod ast;
mod convert;
mod ddl;
pub mod error;
mod geometry;
mod lexer;
pub mod meta;
#[cfg(test)]
mod never_panics;
pub mod parser;
mod query;
pub mod raw_apply;
pub mod raw_meta;
pub mod result;
pub mod store;
pub mod tencode;
pub mod tmq;
pub mod value;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use error::TaosError;
pub use result::{QueryResult, ResultSet};
pub use store::Precision;
pub use tmq::{
    Assignment, ConsumerId, ConsumerOptions, MessageBody, OffsetReset, TableRows, TmqConfig,
    TmqMessage,
};
pub use value::{Cell, ColDef, ColType, Column};

use ast::Stmt;
use store::Store;
use tmq::Consumers;

/// A SQL connection's state.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub current_db: Option<String>,
    /// Date strings without a zone are read in it (`timezone()` names it).
    pub tz: convert::Zone,
}

impl Session {
    /// Sets the connection's time zone, as taosAdapter's `conn` `tz` does through
    /// TSDB_OPTION_CONNECTION_TIMEZONE: an IANA name (`Asia/Shanghai`) or a POSIX TZ string
    /// (`UTC-8`).
    pub fn set_time_zone(&mut self, name: &str) -> Result<(), TaosError> {
        let zone = convert::Zone::get(name)
            .or_else(|_| convert::Zone::posix(name))
            .map_err(|e| TaosError::new(0x0118, format!("invalid time zone {name:?}: {e}")))?;
        self.tz = zone;
        Ok(())
    }
}

struct Inner {
    store: Store,
    consumers: Consumers,
    dirty: bool,
}

/// The engine: shared by every connection of a server.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Mutex<Inner>>,
    version: String,
    data_dir: Option<PathBuf>,
}

const SNAPSHOT: &str = "standin.json";

/// `s` with the cell as SQL text (numbers, booleans).
pub(crate) fn ddl_value_text(c: &Cell) -> String {
    match c {
        Cell::Null => "NULL".into(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Float(v) => v.to_string(),
        Cell::Str(s) => s.clone(),
        Cell::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Cell::Decimal(v) => v.to_string(),
    }
}

impl Engine {
    /// An empty in-memory engine reporting `server_version`.
    pub fn new(server_version: &str) -> Engine {
        Engine {
            inner: Arc::new(Mutex::new(Inner {
                store: Store::default(),
                consumers: Consumers::default(),
                dirty: false,
            })),
            version: server_version.to_string(),
            data_dir: None,
        }
    }

    /// An engine persisted in `data_dir` (loaded from its snapshot when there is one).
    pub fn open(data_dir: &Path, server_version: &str) -> Result<Engine, TaosError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            TaosError::new(0x000B, format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(SNAPSHOT);
        let store = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                TaosError::new(0x000B, format!("corrupt snapshot {}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Store::default(),
            Err(e) => {
                return Err(TaosError::new(
                    0x000B,
                    format!("cannot read {}: {e}", path.display()),
                ))
            }
        };
        Ok(Engine {
            inner: Arc::new(Mutex::new(Inner {
                store,
                consumers: Consumers::default(),
                dirty: false,
            })),
            version: server_version.to_string(),
            data_dir: Some(data_dir.to_path_buf()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug in the stand-in; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn server_version(&self) -> String {
        self.version.clone()
    }

    /// Writes the snapshot if anything changed (atomically: temp file, fsync, rename).
    pub fn flush(&self) -> Result<(), TaosError> {
        let Some(dir) = &self.data_dir else {
            return Ok(());
        };
        let bytes = {
            let mut inner = self.lock();
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            serde_json::to_vec(&inner.store).map_err(|e| TaosError::new(0x000B, e.to_string()))?
        };
        let tmp = dir.join(format!("{SNAPSHOT}.tmp"));
        let io = |e: std::io::Error| TaosError::new(0x000B, format!("cannot write snapshot: {e}"));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, dir.join(SNAPSHOT)).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// Checks credentials: the stand-in knows one user, root with password taosdata.
    pub fn login(
        &self,
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> Result<Session, TaosError> {
        if user != "root" || password != "taosdata" {
            return Err(TaosError::auth());
        }
        let db = db.filter(|d| !d.is_empty()).map(str::to_string);
        if let Some(d) = &db {
            self.lock().store.db(d)?;
        }
        Ok(Session {
            user: user.to_string(),
            current_db: db,
            // taosd's client defaults to the host's zone (tsTimezone); so does the stand-in.
            tz: convert::Zone::system(),
        })
    }

    /// Runs one SQL statement.
    pub fn execute(&self, session: &mut Session, sql: &str) -> Result<QueryResult, TaosError> {
        let stmt = parser::parse(sql)?;
        let mut guard = self.lock();
        let inner = &mut *guard;
        let store = &mut inner.store;
        let db = session.current_db.clone();
        let tz = session.tz.clone();
        let need_db = |name: &Option<String>| -> Result<String, TaosError> {
            name.clone()
                .or_else(|| db.clone())
                .ok_or_else(TaosError::no_db)
        };
        let affected = |n: usize| Ok(QueryResult::Affected(n));
        let result = match stmt {
            Stmt::Select(s) => return query::select(store, db.as_deref(), &s, &self.version, &tz),
            Stmt::Show(ast::Show::Consumers) => {
                return Ok(query::show_consumers(&inner.consumers.members()))
            }
            Stmt::Show(s) => return query::show(store, db.as_deref(), &s),
            Stmt::Describe(n) => return query::describe(store, db.as_deref(), &n),
            Stmt::Use(name) => {
                store.db(&name)?;
                session.current_db = Some(name);
                return affected(0);
            }
            Stmt::CreateDatabase {
                name,
                if_not_exists,
                options,
            } => ddl::create_database(store, &name, if_not_exists, &options).map(|_| 0),
            Stmt::DropDatabase { name, if_exists } => {
                ddl::drop_database(store, &name, if_exists).map(|_| 0)
            }
            Stmt::CreateSTable {
                name,
                if_not_exists,
                columns,
                tags,
            } => {
                let d = need_db(&name.db)?;
                ddl::create_stable(store.db_mut(&d)?, &name.name, if_not_exists, columns, tags)
                    .map(|_| 0)
            }
            Stmt::CreateTables {
                if_not_exists,
                tables,
            } => {
                let d = match tables.first().and_then(|t| t.0.db.clone()) {
                    Some(d) => d,
                    None => need_db(&None)?,
                };
                ddl::create_tables(store, &d, if_not_exists, tables, &tz).map(|_| 0)
            }
            Stmt::DropTables { names, if_exists } => {
                let d = db.clone().unwrap_or_default();
                if d.is_empty() && names.iter().any(|n| n.db.is_none()) {
                    return Err(TaosError::no_db());
                }
                ddl::drop_tables(store, &d, &names, if_exists).map(|_| 0)
            }
            Stmt::DropSTable { name, if_exists } => {
                let d = need_db(&name.db)?;
                ddl::drop_stable(store, &d, &name, if_exists).map(|_| 0)
            }
            Stmt::Alter { name, stable, op } => {
                let d = need_db(&name.db)?;
                alter::alter(store, &d, &name, stable, op, &tz).map(|_| 0)
            }
            Stmt::FlushDatabase(name) => {
                // taosd writes its memory tables to disk; the stand-in's rows are already
                // where queries read them, so only the database must exist.
                store.db(&name)?;
                return affected(0);
            }
            Stmt::Insert(items) => write::insert(store, db.as_deref(), items, &tz),
            Stmt::Delete { table, preds } => {
                let d = need_db(&table.db)?;
                write::delete(store, &d, &table.name, &preds, &tz)
            }
            Stmt::CreateTopic {
                name,
                if_not_exists,
                with_meta,
                only_meta,
                source,
                sql,
            } => ddl::create_topic(
                store,
                db.as_deref(),
                ddl::TopicStmt {
                    name,
                    if_not_exists,
                    with_meta,
                    only_meta,
                    source,
                    sql,
                },
            )
            .map(|_| 0),
            Stmt::DropTopic { name, if_exists } => {
                ddl::drop_topic(store, &name, if_exists).map(|_| 0)
            }
        }?;
        inner.dirty = true;
        affected(result)
    }

    /// Rows decoded from a raw block; `table` may be `db.table`. `named`
    /// (`write_raw_block_with_fields`): columns are matched to the table's by name and the
    /// table's others are NULL; else the block has every column in table order.
    pub fn write_rows(
        &self,
        session: &Session,
        table: &str,
        columns: &[Column],
        rows: Vec<Vec<Cell>>,
        named: bool,
    ) -> Result<usize, TaosError> {
        let (db, table) = match table.split_once('.') {
            Some((d, t)) => (d.to_string(), t.to_string()),
            None => (
                session.current_db.clone().ok_or_else(TaosError::no_db)?,
                table.to_string(),
            ),
        };
        let defs: Vec<ColDef> = columns
            .iter()
            .map(|c| ColDef::new(c.name.clone(), c.ty, c.len))
            .collect();
        let mut inner = self.lock();
        let n = write::write_rows(&mut inner.store, &db, &table, &defs, rows, named)?;
        inner.dirty = true;
        Ok(n)
    }

    /// `tmq_write_raw` of a vnode request (`raw_meta`), carried out in the session's
    /// database as the statement it stands for (`raw_apply`).
    pub fn write_raw_meta(
        &self,
        session: &mut Session,
        ty: u16,
        bytes: &[u8],
    ) -> Result<(), TaosError> {
        let req = raw_apply::decode(ty, bytes)?;
        self.apply_raw(session, req)
    }

    /// Creates the table of one framed `SVCreateTbReq` (a raw data message's auto-created
    /// table), if it does not exist.
    pub fn create_table_raw(&self, session: &mut Session, req: &[u8]) -> Result<(), TaosError> {
        let t = raw_apply::table_req(&mut tencode::Decoder::new(req))?;
        self.apply_raw(session, raw_apply::RawMetaReq::CreateTables(vec![t]))
    }

    fn apply_raw(
        &self,
        session: &mut Session,
        req: raw_apply::RawMetaReq,
    ) -> Result<(), TaosError> {
        use raw_apply::*;
        let db = session.current_db.clone().ok_or_else(TaosError::no_db)?;
        let stable = |name: &str| -> Option<StableReq> {
            let inner = self.lock();
            let st = inner.store.db(&db).ok()?.stables.get(name)?;
            Some(StableReq {
                name: st.name.clone(),
                columns: st.columns.clone(),
                tags: st.tags.clone(),
            })
        };
        let statements: Vec<String> = match req {
            RawMetaReq::Stable(new) => match stable(&new.name) {
                None => vec![create_stable_sql(&new)],
                Some(old) => stable_alters(&old, &new),
            },
            RawMetaReq::DropStable(name) => vec![drop_stable_sql(&name)],
            RawMetaReq::CreateTables(reqs) => {
                let mut out = Vec::new();
                for r in &reqs {
                    let tags = match r {
                        TableReq::Child { stable: s, .. } => stable(s).map(|s| s.tags),
                        TableReq::Normal { .. } => Some(Vec::new()),
                    };
                    out.extend(create_sql(r, tags.as_deref())?);
                }
                out
            }
            RawMetaReq::DropTables(names) => vec![drop_tables_sql(&names)],
            RawMetaReq::AlterTable(sql) => vec![sql],
            RawMetaReq::Delete {
                table,
                ts_col,
                lo,
                hi,
            } => vec![delete_sql(&table, &ts_col, lo, hi)],
        };
        for sql in statements {
            self.execute(session, &sql)?;
        }
        Ok(())
    }

    /// The precision of the database a table (`table` or `db.table`) lives in.
    pub fn precision_of(&self, session: &Session, table: &str) -> Result<Precision, TaosError> {
        let db = match table.split_once('.') {
            Some((d, _)) => d.to_string(),
            None => session.current_db.clone().ok_or_else(TaosError::no_db)?,
        };
        Ok(self.lock().store.db(&db)?.precision)
    }

    /// TMQ server settings (the rebalance timer, the rows per message).
    pub fn set_tmq_config(&self, config: TmqConfig) {
        self.lock().consumers.set_config(config);
    }

    pub fn subscribe(
        &self,
        group: &str,
        topics: Vec<String>,
        reset: OffsetReset,
    ) -> Result<ConsumerId, TaosError> {
        self.subscribe_with(group, topics, ConsumerOptions::new(reset))
    }

    /// A new consumer; it gets vgroups at the next rebalance (see [`Engine::consumer_ready`]).
    pub fn subscribe_with(
        &self,
        group: &str,
        topics: Vec<String>,
        options: ConsumerOptions,
    ) -> Result<ConsumerId, TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner
            .consumers
            .subscribe(&mut inner.store, group, topics, options)
    }

    /// Whether the rebalance timer has taken the consumer in (`tmq_subscribe` returns then).
    pub fn consumer_ready(&self, c: ConsumerId) -> bool {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.consumers.ready(&mut inner.store, c)
    }

    /// Test hook: the mnode's rebalance timer fires now.
    pub fn rebalance_now(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.consumers.rebalance_now(&mut inner.store);
        inner.dirty = true;
    }

    pub fn poll(&self, c: ConsumerId) -> Result<Option<TmqMessage>, TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        // A rebalance inside the poll may have written WAL versions.
        inner.dirty = true;
        inner.consumers.poll(&mut inner.store, c)
    }

    /// `tmq_commit_offset_sync`.
    pub fn commit(
        &self,
        c: ConsumerId,
        topic: &str,
        vgroup_id: i32,
        offset: i64,
    ) -> Result<(), TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner
            .consumers
            .commit(&mut inner.store, c, topic, vgroup_id, offset)?;
        inner.dirty = true;
        Ok(())
    }

    /// `tmq_commit_sync(tmq, NULL)`: commits every vgroup's position.
    pub fn commit_all(&self, c: ConsumerId) -> Result<(), TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.consumers.commit_all(&mut inner.store, c)?;
        inner.dirty = true;
        Ok(())
    }

    pub fn committed(&self, c: ConsumerId, topic: &str, vgroup_id: i32) -> Result<i64, TaosError> {
        let guard = self.lock();
        guard.consumers.committed(&guard.store, c, topic, vgroup_id)
    }

    pub fn position(&self, c: ConsumerId, topic: &str, vgroup_id: i32) -> Result<i64, TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.consumers.position(&inner.store, c, topic, vgroup_id)
    }

    pub fn assignment(&self, c: ConsumerId, topic: &str) -> Result<Vec<Assignment>, TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.consumers.assignment(&mut inner.store, c, topic)
    }

    pub fn seek(
        &self,
        c: ConsumerId,
        topic: &str,
        vgroup_id: i32,
        offset: i64,
    ) -> Result<(), TaosError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner
            .consumers
            .seek(&mut inner.store, c, topic, vgroup_id, offset)
    }

    pub fn unsubscribe(&self, c: ConsumerId) {
        self.lock().consumers.unsubscribe(c);
    }

    /// Test hook: the WAL of a vgroup loses every version before `before` (as when
    /// `WAL_RETENTION_PERIOD` passes).
    pub fn expire_wal(&self, db: &str, vgroup_id: i32, before: i64) -> Result<(), TaosError> {
        let mut inner = self.lock();
        let d = inner.store.db_mut(db)?;
        let wal = d.wal.entry(vgroup_id).or_default();
        while wal.first < before && !wal.entries.is_empty() {
            wal.entries.pop_front();
            wal.first += 1;
        }
        if wal.entries.is_empty() && wal.first < before {
            wal.first = before;
        }
        inner.dirty = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tmq_rules;
