//! A taosdump test double: parses its command line as taosdump 3.x does, queries the
//! stand-in over WebSocket, and writes (`-o`) or reads back and inserts (`-i`) Avro files in
//! taosdump's layout. What it mirrors, from TDengine's `tools/taos-tools/src/taosdump.c`:
//!
//! - options before the first positional argument (`ARGP_KEY_ARG`): `dbname [tbname ...]`;
//! - `-p` alone reads the password from standard input (`scanf("%255s")`), `-pPASS` inline;
//! - `-o` must name a new or empty folder (taosdump reports an error and exits otherwise);
//! - `-S`/`-E`: an epoch in the database's precision, or ISO-8601 when the value holds both
//!   `:` and `-` (`parse_timestamp`); the query is `_c0 >= S AND _c0 <= E` (inclusive);
//! - layout: `dbs.sql` marks the output, data rows in `data*/` `*.avro` files whose records
//!   are `{tbname, ts, col0..}` with `["null", T]` unions, tags in `*.avro-tbtags`.
//!
//! Its own simplifications (a double, not taosdump): one data file per table, tags stored as
//! text with their type name, values as long/double/boolean/string. With
//! `TAOSDUMP_DOUBLE_DROP_TABLE=NAME` it silently leaves that table's rows out of every dump
//! (the failure a verification must catch).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use apache_avro::types::{Record, Value as Avro};
use apache_avro::{Reader, Schema, Writer};
use taos::{AsyncFetchable, AsyncQueryable, AsyncTBuilder, Taos, TaosBuilder, Value};

/// The parsed command line.
#[derive(Debug, Default)]
struct Opts {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    password_from_stdin: bool,
    out: Option<PathBuf>,
    input: Option<PathBuf>,
    start: Option<String>,
    end: Option<String>,
    databases: Vec<String>,
    positional: Vec<String>,
}

/// Runs the double with `args` (without the program name); the process's exit code.
pub fn main(args: Vec<String>) -> i32 {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("taosdump: {e}");
            return 1;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(run(opts)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("taosdump: {e}");
            1
        }
    }
}

fn parse(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if !a.starts_with('-') || a == "-" {
            o.positional.push(a);
            // The first positional ends option parsing.
            o.positional.extend(it.by_ref());
            break;
        }
        let (flag, inline) = a.split_at(2.min(a.len()));
        let mut value = |name: &str| -> Result<String, String> {
            if !inline.is_empty() {
                return Ok(inline.to_string());
            }
            it.next()
                .ok_or_else(|| format!("option requires an argument -- '{name}'"))
        };
        match flag {
            "-h" => o.host = Some(value("h")?),
            "-P" => {
                let v = value("P")?;
                o.port = Some(v.parse().map_err(|_| format!("invalid port {v:?}"))?);
            }
            "-u" => o.user = Some(value("u")?),
            "-p" if inline.is_empty() => o.password_from_stdin = true,
            "-p" => o.password = Some(inline.to_string()),
            "-o" => o.out = Some(PathBuf::from(value("o")?)),
            "-i" => o.input = Some(PathBuf::from(value("i")?)),
            "-S" => o.start = Some(value("S")?),
            "-E" => o.end = Some(value("E")?),
            "-D" => o
                .databases
                .extend(value("D")?.split(',').map(str::to_string)),
            // Accepted and without effect in the double: threads, codec, driver, config
            // folder; -e (escape the database name) changes nothing for a plain name.
            "-T" | "-d" | "-Z" | "-c" => {
                value(&flag[1..])?;
            }
            "-e" => {}
            _ => return Err(format!("unrecognized option '{a}'")),
        }
    }
    if o.input.is_some() && o.out.is_some() {
        return Err("-i and -o together: give one".into());
    }
    if o.input.is_none() && o.positional.is_empty() && o.databases.is_empty() {
        return Err("no database given: taosdump [OPTION...] dbname [tbname ...]".into());
    }
    Ok(o)
}

async fn run(mut o: Opts) -> Result<(), String> {
    if o.password_from_stdin {
        print!("Enter password: ");
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password: {e}"))?;
        o.password = line.split_whitespace().next().map(str::to_string);
    }
    let dsn = format!(
        "ws://{}:{}@{}:{}",
        o.user.as_deref().unwrap_or("root"),
        urlencoding::encode(o.password.as_deref().unwrap_or("taosdata")),
        o.host.as_deref().unwrap_or("localhost"),
        o.port.unwrap_or(6041)
    );
    let taos = TaosBuilder::from_dsn(&dsn)
        .map_err(|e| e.to_string())?
        .build()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", dsn_no_password(&o)))?;
    if let Some(dir) = o.input.clone() {
        return import(&taos, &dir).await;
    }
    dump(&taos, &o).await
}

fn dsn_no_password(o: &Opts) -> String {
    format!(
        "{}:{}",
        o.host.as_deref().unwrap_or("localhost"),
        o.port.unwrap_or(6041)
    )
}

async fn query(taos: &Taos, sql: &str) -> Result<Vec<Vec<Value>>, String> {
    let mut rs = taos.query(sql).await.map_err(|e| format!("{sql}: {e}"))?;
    rs.to_records().await.map_err(|e| format!("{sql}: {e}"))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null(_) => None,
        v => Some(v.to_string().unwrap_or_default()),
    }
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One table to dump: its name, super table (if a child) and its columns' type names.
struct Table {
    name: String,
    stable: Option<String>,
    columns: Vec<(String, String)>,
}

async fn dump(taos: &Taos, o: &Opts) -> Result<(), String> {
    let out = o.out.clone().unwrap_or_else(|| PathBuf::from("."));
    if out.exists() {
        let mut entries = std::fs::read_dir(&out).map_err(|e| e.to_string())?;
        if entries.next().is_some() {
            return Err(format!(
                "the output path {} is not empty: give a new or empty folder",
                out.display()
            ));
        }
    }
    let (db, wanted) = match o.positional.split_first() {
        Some((db, tables)) => (db.clone(), tables.to_vec()),
        None => (o.databases[0].clone(), Vec::new()),
    };
    let precision = precision_of(taos, &db).await?;
    let start = o
        .start
        .as_deref()
        .map(|s| parse_ts(s, &precision))
        .transpose()?;
    let end = o
        .end
        .as_deref()
        .map(|s| parse_ts(s, &precision))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(format!("start time {s} is after end time {e}"));
        }
    }
    let tables = tables_of(taos, &db, &wanted).await?;
    std::fs::create_dir_all(out.join("data0")).map_err(|e| e.to_string())?;
    write_dbs_sql(taos, &db, &precision, &tables, &out).await?;
    write_tags(taos, &db, &tables, &out).await?;
    let drop = std::env::var("TAOSDUMP_DOUBLE_DROP_TABLE").ok();
    let mut rows = 0u64;
    for t in &tables {
        if drop.as_deref() == Some(t.name.as_str()) {
            continue;
        }
        rows += dump_table(taos, &db, t, start, end, &out).await?;
    }
    println!(
        "OK: total {rows} row(s) of {} table(s) dumped",
        tables.len()
    );
    Ok(())
}

async fn precision_of(taos: &Taos, db: &str) -> Result<String, String> {
    let rows = query(
        taos,
        &format!(
            "SELECT `precision` FROM information_schema.ins_databases WHERE name = {}",
            lit(db)
        ),
    )
    .await?;
    rows.first()
        .and_then(|r| text(&r[0]))
        .ok_or_else(|| format!("database {db} does not exist"))
}

/// `-S`/`-E` as taosdump reads them: ISO-8601 when the value holds `:` and `-`, else an
/// epoch in the database's precision.
fn parse_ts(s: &str, precision: &str) -> Result<i64, String> {
    if s.contains(':') && s.contains('-') {
        let t = chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|e| format!("invalid time {s:?}: {e}"))?;
        return match precision {
            "us" => Ok(t.timestamp_micros()),
            "ns" => t
                .timestamp_nanos_opt()
                .ok_or_else(|| format!("{s:?} is out of range")),
            _ => Ok(t.timestamp_millis()),
        };
    }
    s.parse().map_err(|_| format!("invalid time {s:?}"))
}

async fn tables_of(taos: &Taos, db: &str, wanted: &[String]) -> Result<Vec<Table>, String> {
    let rows = query(
        taos,
        &format!(
            "SELECT table_name, stable_name FROM information_schema.ins_tables WHERE db_name = {}",
            lit(db)
        ),
    )
    .await?;
    let all: BTreeMap<String, Option<String>> = rows
        .iter()
        .filter_map(|r| Some((text(&r[0])?, text(&r[1]).filter(|s| !s.is_empty()))))
        .collect();
    let names: Vec<String> = if wanted.is_empty() {
        all.keys().cloned().collect()
    } else {
        wanted.to_vec()
    };
    let mut out = Vec::new();
    for name in names {
        let Some(stable) = all.get(&name) else {
            return Err(format!("table {db}.{name} does not exist"));
        };
        let described = query(taos, &format!("DESCRIBE `{db}`.`{name}`")).await?;
        let columns = described
            .iter()
            .filter(|r| {
                !text(&r[3])
                    .unwrap_or_default()
                    .trim()
                    .eq_ignore_ascii_case("TAG")
            })
            .map(|r| {
                (
                    text(&r[0]).unwrap_or_default(),
                    text(&r[1]).unwrap_or_default(),
                )
            })
            .collect();
        out.push(Table {
            name,
            stable: stable.clone(),
            columns,
        });
    }
    Ok(out)
}

async fn write_dbs_sql(
    taos: &Taos,
    db: &str,
    precision: &str,
    tables: &[Table],
    out: &Path,
) -> Result<(), String> {
    let mut sql = format!(
        "#!server_ver: stand-in\n#!taosdump_ver: double\nCREATE DATABASE IF NOT EXISTS `{db}` PRECISION {};\n",
        lit(precision)
    );
    let mut stables: Vec<&str> = tables.iter().filter_map(|t| t.stable.as_deref()).collect();
    stables.sort_unstable();
    stables.dedup();
    for st in stables {
        let rows = query(taos, &format!("SHOW CREATE STABLE `{db}`.`{st}`")).await?;
        let create = rows.first().and_then(|r| text(&r[1])).unwrap_or_default();
        sql.push_str(&create.replacen(
            &format!("CREATE STABLE `{st}`"),
            &format!("CREATE STABLE IF NOT EXISTS `{db}`.`{st}`"),
            1,
        ));
        sql.push_str(";\n");
    }
    for t in tables.iter().filter(|t| t.stable.is_none()) {
        let rows = query(taos, &format!("SHOW CREATE TABLE `{db}`.`{}`", t.name)).await?;
        let create = rows.first().and_then(|r| text(&r[1])).unwrap_or_default();
        sql.push_str(&create.replacen(
            &format!("CREATE TABLE `{}`", t.name),
            &format!("CREATE TABLE IF NOT EXISTS `{db}`.`{}`", t.name),
            1,
        ));
        sql.push_str(";\n");
    }
    std::fs::write(out.join("dbs.sql"), sql).map_err(|e| e.to_string())
}

const TAGS_SCHEMA: &str = r#"{"type":"record","name":"tbtags","fields":[
  {"name":"stbname","type":"string"},{"name":"tbname","type":"string"},
  {"name":"tags","type":{"type":"array","items":{"type":"record","name":"tag","fields":[
    {"name":"name","type":"string"},{"name":"type","type":"string"},
    {"name":"value","type":["null","string"]}]}}}]}"#;

async fn write_tags(taos: &Taos, db: &str, tables: &[Table], out: &Path) -> Result<(), String> {
    let schema = Schema::parse_str(TAGS_SCHEMA).map_err(|e| e.to_string())?;
    let mut w = Writer::new(&schema, Vec::new());
    for t in tables {
        let Some(st) = &t.stable else { continue };
        let rows = query(
            taos,
            &format!(
                "SELECT tag_name, tag_type, tag_value FROM information_schema.ins_tags \
                 WHERE db_name = {} AND table_name = {}",
                lit(db),
                lit(&t.name)
            ),
        )
        .await?;
        let tags = rows
            .iter()
            .map(|r| {
                let value = match text(&r[2]) {
                    Some(v) if !v.eq_ignore_ascii_case("NULL") => {
                        Avro::Union(1, Box::new(Avro::String(v)))
                    }
                    _ => Avro::Union(0, Box::new(Avro::Null)),
                };
                Avro::Record(vec![
                    ("name".into(), Avro::String(text(&r[0]).unwrap_or_default())),
                    ("type".into(), Avro::String(text(&r[1]).unwrap_or_default())),
                    ("value".into(), value),
                ])
            })
            .collect();
        let mut rec = Record::new(&schema).unwrap();
        rec.put("stbname", st.as_str());
        rec.put("tbname", t.name.as_str());
        rec.put("tags", Avro::Array(tags));
        w.append(rec).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    std::fs::write(out.join(format!("{db}.avro-tbtags")), bytes).map_err(|e| e.to_string())
}

/// The Avro type a TDengine column is kept as in the double.
fn avro_type(ty: &str) -> &'static str {
    let ty = ty.to_ascii_uppercase();
    match ty.split(['(', ' ']).next().unwrap_or("") {
        "TIMESTAMP" | "TINYINT" | "SMALLINT" | "INT" | "BIGINT" => "long",
        "FLOAT" | "DOUBLE" => "double",
        "BOOL" => "boolean",
        _ => "string",
    }
}

fn data_schema(db: &str, t: &Table) -> Result<Schema, String> {
    let mut fields = vec![
        serde_json::json!({"name": "tbname", "type": "string"}),
        serde_json::json!({"name": "ts", "type": "long"}),
    ];
    for (i, (_, ty)) in t.columns.iter().enumerate().skip(1) {
        fields.push(
            serde_json::json!({"name": format!("col{}", i - 1), "type": ["null", avro_type(ty)]}),
        );
    }
    let schema =
        serde_json::json!({"type": "record", "name": format!("{db}._record"), "fields": fields});
    Schema::parse_str(&schema.to_string()).map_err(|e| e.to_string())
}

fn to_avro(v: &Value, ty: &str) -> Avro {
    let inner = match (v, avro_type(ty)) {
        (Value::Null(_), _) => return Avro::Union(0, Box::new(Avro::Null)),
        (Value::Timestamp(t), _) => Avro::Long(t.as_raw_i64()),
        (Value::Bool(b), _) => Avro::Boolean(*b),
        (v, "long") => Avro::Long(v.to_string().unwrap_or_default().parse().unwrap_or(0)),
        (v, "double") => Avro::Double(v.to_string().unwrap_or_default().parse().unwrap_or(0.0)),
        (v, _) => Avro::String(v.to_string().unwrap_or_default()),
    };
    Avro::Union(1, Box::new(inner))
}

async fn dump_table(
    taos: &Taos,
    db: &str,
    t: &Table,
    start: Option<i64>,
    end: Option<i64>,
    out: &Path,
) -> Result<u64, String> {
    let mut filter = Vec::new();
    if let Some(s) = start {
        filter.push(format!("_c0 >= {s}"));
    }
    if let Some(e) = end {
        filter.push(format!("_c0 <= {e}"));
    }
    let sql = format!(
        "SELECT * FROM `{db}`.`{}`{} ORDER BY _c0 ASC",
        t.name,
        if filter.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filter.join(" AND "))
        }
    );
    let rows = query(taos, &sql).await?;
    let schema = data_schema(db, t)?;
    let mut w = Writer::new(&schema, Vec::new());
    for row in &rows {
        let mut fields = vec![
            ("tbname".to_string(), Avro::String(t.name.clone())),
            (
                "ts".to_string(),
                match &row[0] {
                    Value::Timestamp(ts) => Avro::Long(ts.as_raw_i64()),
                    v => return Err(format!("{sql}: first column is not a timestamp: {v:?}")),
                },
            ),
        ];
        for (i, (_, ty)) in t.columns.iter().enumerate().skip(1) {
            fields.push((format!("col{}", i - 1), to_avro(&row[i], ty)));
        }
        w.append(Avro::Record(fields)).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    let file = out.join("data0").join(format!("{db}.{}.avro", t.name));
    std::fs::write(file, bytes).map_err(|e| e.to_string())?;
    Ok(rows.len() as u64)
}

/// `-i DIR`: `dbs.sql`, then the tags (child tables created), then every data file's rows.
async fn import(taos: &Taos, dir: &Path) -> Result<(), String> {
    let dbs = std::fs::read_to_string(dir.join("dbs.sql"))
        .map_err(|e| format!("{}: not a taosdump folder: {e}", dir.display()))?;
    let mut db = String::new();
    for stmt in dbs
        .lines()
        .filter(|l| !l.starts_with("#!") && !l.trim().is_empty())
    {
        if let Some(rest) = stmt.strip_prefix("CREATE DATABASE IF NOT EXISTS `") {
            db = rest.split('`').next().unwrap_or_default().to_string();
        }
        taos.exec(stmt.trim_end_matches(';'))
            .await
            .map_err(|e| format!("{stmt}: {e}"))?;
    }
    import_tags(taos, &db, &dir.join(format!("{db}.avro-tbtags"))).await?;
    let mut rows = 0u64;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("data0"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "avro"))
        .collect();
    files.sort();
    for f in files {
        rows += import_rows(taos, &db, &f).await?;
    }
    println!("OK: {rows} row(s) imported from {}", dir.display());
    Ok(())
}

fn avro_records(file: &Path) -> Result<Vec<Vec<(String, Avro)>>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let reader = Reader::new(&bytes[..]).map_err(|e| format!("{}: {e}", file.display()))?;
    reader
        .map(|r| match r {
            Ok(Avro::Record(f)) => Ok(f),
            Ok(v) => Err(format!("{}: not a record: {v:?}", file.display())),
            Err(e) => Err(format!("{}: {e}", file.display())),
        })
        .collect()
}

fn sql_value(v: &Avro) -> String {
    match v {
        Avro::Union(_, inner) => sql_value(inner),
        Avro::Null => "NULL".into(),
        Avro::Long(n) => n.to_string(),
        Avro::Double(d) => d.to_string(),
        Avro::Boolean(b) => b.to_string(),
        Avro::String(s) => lit(s),
        v => lit(&format!("{v:?}")),
    }
}

async fn import_tags(taos: &Taos, db: &str, file: &Path) -> Result<(), String> {
    if !file.exists() {
        return Ok(());
    }
    for rec in avro_records(file)? {
        let get = |n: &str| rec.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let (Some(Avro::String(st)), Some(Avro::String(tb)), Some(Avro::Array(tags))) =
            (get("stbname"), get("tbname"), get("tags"))
        else {
            return Err(format!(
                "{}: a tag record without stbname/tbname/tags",
                file.display()
            ));
        };
        let values: Vec<String> = tags
            .iter()
            .map(|t| {
                let Avro::Record(f) = t else {
                    return "NULL".into();
                };
                let ty = f.iter().find(|(k, _)| k == "type").map(|(_, v)| v.clone());
                let value = f.iter().find(|(k, _)| k == "value").map(|(_, v)| v.clone());
                match (ty, value) {
                    (Some(Avro::String(ty)), Some(Avro::Union(1, v))) => match (*v, avro_type(&ty))
                    {
                        (Avro::String(s), "string") => lit(&s),
                        (Avro::String(s), _) => s,
                        _ => "NULL".into(),
                    },
                    _ => "NULL".into(),
                }
            })
            .collect();
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`{tb}` USING `{db}`.`{st}` TAGS ({})",
            values.join(", ")
        );
        taos.exec(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
    }
    Ok(())
}

async fn import_rows(taos: &Taos, db: &str, file: &Path) -> Result<u64, String> {
    let records = avro_records(file)?;
    let mut n = 0u64;
    for chunk in records.chunks(500) {
        let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for rec in chunk {
            let Some((_, Avro::String(tb))) = rec.iter().find(|(k, _)| k == "tbname") else {
                return Err(format!("{}: a record without tbname", file.display()));
            };
            let values: Vec<String> = rec
                .iter()
                .filter(|(k, _)| k != "tbname")
                .map(|(_, v)| sql_value(v))
                .collect();
            by_table
                .entry(tb.clone())
                .or_default()
                .push(format!("({})", values.join(", ")));
        }
        for (tb, rows) in by_table {
            let sql = format!("INSERT INTO `{db}`.`{tb}` VALUES {}", rows.join(" "));
            taos.exec(&sql)
                .await
                .map_err(|e| format!("insert into {tb}: {e}"))?;
            n += rows.len() as u64;
        }
    }
    Ok(n)
}
