//! Rows out as raw blocks and back in, against the TDengine stand-in through the official
//! connector: a range read returns exactly the rows of the range, the DDL recreates the
//! tables, and the blocks written back give the same rows.

use taos::{AsyncFetchable, AsyncQueryable, Value};
use taos_standin::StandinServer;
use tdibt_core::{Precision, TsRange};
use tdibt_tdengine::export::{read_range, show_create, write_block, DdlKind};
use tdibt_tdengine::Connection;

async fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut rs = conn.taos().query(sql).await.unwrap();
    rs.to_records().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_goes_out_as_raw_blocks_and_back_in_unchanged() {
    let standin = StandinServer::builder().start().await.unwrap();
    let settings = crate::support::settings(&standin);
    let conn = Connection::open(&settings).await.unwrap();
    for sql in [
        "CREATE DATABASE src PRECISION 'us' VGROUPS 2",
        "CREATE STABLE src.meters (ts TIMESTAMP, v INT, f DOUBLE, s VARCHAR(16), n NCHAR(8), b BOOL) TAGS (site INT, name VARCHAR(10))",
        "INSERT INTO src.d1 USING src.meters TAGS (1, 'north') VALUES (1000, 1, 1.5, 'a', 'x', true) (2000, NULL, 2.5, NULL, 'y', false) (3600000000, 3, NULL, 'c', NULL, NULL) (-5, -1, -1.0, 'neg', 'n', true)",
        "CREATE TABLE src.plain (ts TIMESTAMP, u BIGINT UNSIGNED, t TINYINT)",
        "INSERT INTO src.plain VALUES (10, 18446744073709551615, -128) (20, 0, 127)",
    ] {
        conn.exec(sql).await.unwrap();
    }

    // The first hour only: the row an hour later and the one before the epoch stay out.
    let hour = TsRange::new(0, 3_599_999_999);
    let blocks = read_range(&conn, "src", "d1", hour).await.unwrap();
    assert_eq!(blocks.iter().map(|b| b.rows).sum::<usize>(), 2);
    assert_eq!(blocks[0].columns, ["ts", "v", "f", "s", "n", "b"]);
    let everything = read_range(&conn, "src", "d1", TsRange::new(i64::MIN, i64::MAX))
        .await
        .unwrap();
    assert_eq!(everything.iter().map(|b| b.rows).sum::<usize>(), 4);

    // Recreate the schema elsewhere from the recorded DDL and write the blocks back.
    let db_sql = show_create(&conn, DdlKind::Database, "src", "src")
        .await
        .unwrap();
    assert!(db_sql.contains("PRECISION 'us'"), "{db_sql}");
    let st_sql = show_create(&conn, DdlKind::SuperTable, "src", "meters")
        .await
        .unwrap();
    let t_sql = show_create(&conn, DdlKind::Table, "src", "plain")
        .await
        .unwrap();
    conn.exec(&db_sql.replacen("`src`", "`dst`", 1))
        .await
        .unwrap();
    conn.exec("USE dst").await.unwrap();
    conn.exec(&st_sql).await.unwrap();
    conn.exec(&t_sql).await.unwrap();
    conn.exec("CREATE TABLE dst.d1 USING dst.meters TAGS (1, 'north')")
        .await
        .unwrap();
    for b in &everything {
        write_block(&conn, "d1", b, Precision::Micros)
            .await
            .unwrap();
    }
    for b in read_range(&conn, "src", "plain", TsRange::new(i64::MIN, i64::MAX))
        .await
        .unwrap()
    {
        write_block(&conn, "plain", &b, Precision::Micros)
            .await
            .unwrap();
    }
    for t in ["d1", "plain"] {
        assert_eq!(
            rows(&conn, &format!("SELECT * FROM dst.{t}")).await,
            rows(&conn, &format!("SELECT * FROM src.{t}")).await,
            "{t}"
        );
    }

    // A block whose record does not match its bytes is refused, and nothing is written.
    let mut bad = everything[0].clone();
    bad.columns.pop();
    let err = write_block(&conn, "d1", &bad, Precision::Micros)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("columns"), "{err}");
    // A missing table is TDengine's error, named.
    let err = read_range(&conn, "src", "nope", hour).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    standin.shutdown().await;
}

/// A range read split per window: one server block cut at window boundaries (the windows
/// hold exactly their rows, in order, the edge windows open-ended), a VARBINARY table too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_reads_hold_each_windows_rows() {
    use tdibt_core::{BlockSpan, Window};
    use tdibt_tdengine::read_windows;
    let standin = StandinServer::builder().start().await.unwrap();
    let conn = Connection::open(&crate::support::settings(&standin))
        .await
        .unwrap();
    let hour = 3_600_000i64;
    for sql in [
        "CREATE DATABASE w VGROUPS 1".to_string(),
        "CREATE TABLE w.t (ts TIMESTAMP, v INT, s VARCHAR(8))".to_string(),
        "CREATE TABLE w.vb (ts TIMESTAMP, b VARBINARY(8))".to_string(),
        format!(
            "INSERT INTO w.t VALUES (-1, -1, 'neg') (0, 0, 'a') (1, 1, NULL) ({hour}, 2, 'b') ({}, 3, 'c') ({}, 4, 'd')",
            3 * hour + 5,
            3 * hour + 6
        ),
        format!("INSERT INTO w.vb VALUES (0, '\\x01') ({hour}, '\\x02') ({}, '\\x03')", 2 * hour),
    ] {
        conn.exec(&sql).await.unwrap();
    }
    let span = BlockSpan::one_hour(Precision::Millis);
    let all = read_windows(&conn, "w", "t", span, Window(i32::MIN), Window(i32::MAX))
        .await
        .unwrap();
    let got: Vec<(i32, u64)> = all.iter().map(|w| (w.window.0, w.rows())).collect();
    assert_eq!(got, [(-1, 1), (0, 2), (1, 1), (3, 2)]);
    // A part's bytes are a raw block of just its rows: written back, they are those rows.
    conn.exec("CREATE DATABASE w2 VGROUPS 1").await.unwrap();
    conn.exec("CREATE TABLE w2.t (ts TIMESTAMP, v INT, s VARCHAR(8))")
        .await
        .unwrap();
    conn.exec("USE w2").await.unwrap();
    for w in &all {
        for part in &w.parts {
            write_block(&conn, "t", part, Precision::Millis)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        rows(&conn, "SELECT * FROM w2.t").await,
        rows(&conn, "SELECT * FROM w.t").await
    );
    // Only some windows.
    let some = read_windows(&conn, "w", "t", span, Window(0), Window(1))
        .await
        .unwrap();
    assert_eq!(some.iter().map(|w| w.window.0).collect::<Vec<_>>(), [0, 1]);

    let vb = read_windows(&conn, "w", "vb", span, Window(i32::MIN), Window(i32::MAX))
        .await
        .unwrap();
    let got: Vec<(i32, u64)> = vb.iter().map(|w| (w.window.0, w.rows())).collect();
    assert_eq!(got, [(0, 1), (1, 1), (2, 1)]);
    standin.shutdown().await;
}

/// Several child tables read in one query hold what each table's own read holds: the same
/// windows with the same rows (NCHAR and NULLs included), `tbname` cut off, a table with no
/// rows in the range present and empty; written back, the parts are the tables' rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_read_together_hold_what_each_own_read_holds() {
    use tdibt_core::{BlockSpan, Window};
    use tdibt_tdengine::{read_tables_windows, read_windows, TablesRead};
    let standin = StandinServer::builder().start().await.unwrap();
    let conn = Connection::open(&crate::support::settings(&standin))
        .await
        .unwrap();
    let hour = 3_600_000i64;
    let mut setup = vec![
        "CREATE DATABASE m VGROUPS 2".to_string(),
        "CREATE STABLE m.st (ts TIMESTAMP, v INT, n NCHAR(8)) TAGS (g INT)".to_string(),
    ];
    for (i, t) in ["a", "b c", "d", "e"].iter().enumerate() {
        setup.push(format!("CREATE TABLE m.`{t}` USING m.st TAGS ({i})"));
    }
    setup.push(format!(
        "INSERT INTO m.a VALUES (0, 1, '温度') ({}, NULL, 'x') ({hour}, 3, NULL) m.`b c` VALUES (5, 4, 'y') ({}, 5, 'z') m.e VALUES ({}, 6, 'far')",
        hour - 1,
        hour + 7,
        5 * hour
    ));
    for sql in &setup {
        conn.exec(sql).await.unwrap();
    }
    let span = BlockSpan::one_hour(Precision::Millis);
    let columns = ["ts".to_string(), "v".to_string(), "n".to_string()];
    let tables = [
        "b c".to_string(),
        "a".to_string(),
        "d".to_string(),
        "e".to_string(),
    ];
    let together = TablesRead {
        super_table: "st",
        columns: &columns,
        tables: &tables,
        first: Window(0),
        last: Window(1),
    };
    let read = read_tables_windows(&conn, "m", span, &together)
        .await
        .unwrap();
    let names: Vec<&str> = read.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["b c", "a", "d", "e"]);
    for (table, windows) in &read {
        let own = read_windows(&conn, "m", table, span, Window(0), Window(1))
            .await
            .unwrap();
        let shape = |w: &[tdibt_tdengine::WindowRows]| -> Vec<(i32, u64)> {
            w.iter().map(|w| (w.window.0, w.rows())).collect()
        };
        assert_eq!(shape(windows), shape(&own), "{table}");
        for w in windows {
            for p in &w.parts {
                assert_eq!(p.columns, columns, "{table}: tbname is cut off");
            }
        }
    }
    assert_eq!(read[0].1.len(), 2, "b c: windows 0 and 1");
    assert!(
        read[2].1.is_empty() && read[3].1.is_empty(),
        "d has no rows, e none in range"
    );
    // Written back, each table's parts are its rows in those windows.
    conn.exec("CREATE DATABASE m2 VGROUPS 1").await.unwrap();
    conn.exec("CREATE STABLE m2.st (ts TIMESTAMP, v INT, n NCHAR(8)) TAGS (g INT)")
        .await
        .unwrap();
    conn.exec("USE m2").await.unwrap();
    for (table, windows) in &read {
        conn.exec(&format!("CREATE TABLE m2.`{table}` USING m2.st TAGS (0)"))
            .await
            .unwrap();
        for w in windows {
            for part in &w.parts {
                write_block(&conn, table, part, Precision::Millis)
                    .await
                    .unwrap();
            }
        }
    }
    for t in ["a", "b c"] {
        let q = |db: &str| format!("SELECT * FROM {db}.`{t}` WHERE ts < {}", 2 * hour);
        assert_eq!(
            rows(&conn, &q("m2")).await,
            rows(&conn, &q("m")).await,
            "{t}"
        );
    }
    standin.shutdown().await;
}
