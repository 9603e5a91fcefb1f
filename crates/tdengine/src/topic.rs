//! The TMQ topic tdibt subscribes to: `WITH META AS DATABASE`, the only kind that carries
//! deletes and drops (TDengine's `IS_META_MSG` covers DELETE; query topics never see it).

use crate::connection::Connection;
use crate::discovery::quote_ident;
use crate::error::TdResult;

/// Creates the topic if it does not exist. Safe to run twice.
pub async fn ensure_topic(conn: &Connection, topic: &str, db: &str) -> TdResult<()> {
    let sql = format!(
        "CREATE TOPIC IF NOT EXISTS {} WITH META AS DATABASE {}",
        quote_ident(topic),
        quote_ident(db)
    );
    conn.exec(&sql).await.map(|_| ())
}

/// Drops the topic (TDengine refuses DROP DATABASE while a topic exists on it).
pub async fn drop_topic(conn: &Connection, topic: &str) -> TdResult<()> {
    let sql = format!("DROP TOPIC IF EXISTS {}", quote_ident(topic));
    conn.exec(&sql).await.map(|_| ())
}
