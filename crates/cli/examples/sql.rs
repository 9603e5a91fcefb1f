//! A minimal SQL client for trying tdibt on a machine without TDengine's `taos` shell: runs
//! each argument as one statement through the `taos` connector (WebSocket) and prints rows.
//!
//! `cargo run -p tdibt --example sql -- "CREATE DATABASE testdb" "SELECT COUNT(*) FROM testdb.meters"`
//! (DSN from `TDIBT_SQL_DSN`, default `ws://root:taosdata@localhost:6041`).

use taos::{AsyncFetchable, AsyncQueryable, AsyncTBuilder, TaosBuilder};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dsn = std::env::var("TDIBT_SQL_DSN")
        .unwrap_or_else(|_| "ws://root:taosdata@localhost:6041".to_string());
    let taos = TaosBuilder::from_dsn(&dsn)?.build().await?;
    for sql in std::env::args().skip(1) {
        let head = sql.trim_start().to_ascii_lowercase();
        if !(head.starts_with("select") || head.starts_with("show")) {
            taos.exec(&sql).await?;
            continue;
        }
        let mut result = taos.query(&sql).await?;
        let names: Vec<String> = result
            .fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        let records = result.to_records().await?;
        println!("{}", names.join("\t"));
        for row in records {
            let cells: Vec<String> = row
                .iter()
                .map(|v| v.to_string().unwrap_or_default())
                .collect();
            println!("{}", cells.join("\t"));
        }
    }
    Ok(())
}
