//! The statements the stand-in understands.

use crate::value::ColDef;

/// A possibly db-qualified name.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub db: Option<String>,
    pub name: String,
}

/// A literal or NOW-based value in VALUES, TAGS and WHERE.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    /// NOW plus an offset in nanoseconds.
    Now(i64),
    /// A bare column reference (only in comparisons against another literal side).
    Column(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    Cmp(String, &'static str, Expr),
    In(String, Vec<Expr>),
    Between(String, Expr, Expr),
    /// `col IS NULL` (false) or `col IS NOT NULL` (true).
    IsNull(String, bool),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelItem {
    Star,
    Column(String),
    Count,
    First(String),
    Last(String),
    ServerVersion,
    ServerStatus,
    Database,
    /// `timezone()`: the connection's time zone.
    Timezone,
    /// A constant (`SELECT 1`), with the text TDengine names its column by.
    Literal(Expr, String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub items: Vec<SelItem>,
    /// None for `SELECT server_version()` and friends.
    pub from: Option<Name>,
    pub preds: Vec<Pred>,
    /// `PARTITION BY tbname`.
    pub partition_by_table: bool,
    pub order_desc: Option<bool>,
    pub limit: Option<u64>,
    pub offset: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CreateKind {
    Normal(Vec<ColDef>),
    Child {
        stable: Name,
        tag_names: Option<Vec<String>>,
        tags: Vec<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct InsertItem {
    pub table: Name,
    pub using: Option<(Name, Option<Vec<String>>, Vec<Expr>)>,
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Expr>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AlterOp {
    AddColumn(ColDef),
    DropColumn(String),
    ModifyColumn(ColDef),
    RenameColumn(String, String),
    AddTag(ColDef),
    DropTag(String),
    ModifyTag(ColDef),
    RenameTag(String, String),
    /// `SET TAG a = 1[, b = 'x' ...]`
    SetTags(Vec<(String, Expr)>),
    /// `TTL n` and/or `COMMENT 's'`
    Options {
        ttl: Option<i64>,
        comment: Option<String>,
    },
}

/// `SHOW [NORMAL|CHILD] TABLES`
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TableKind {
    Any,
    Normal,
    Child,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Show {
    Databases,
    STables(Option<String>),
    Tables(Option<String>, TableKind),
    VGroups(Option<String>),
    Topics,
    Dnodes,
    Consumers,
    CreateDatabase(String),
    CreateSTable(Name),
    CreateTable(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TopicSource {
    Database(String),
    STable(Name),
    /// `AS SELECT cols FROM table` (no WHERE, no functions).
    Query {
        columns: Vec<String>,
        from: Name,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    CreateDatabase {
        name: String,
        if_not_exists: bool,
        options: Vec<(String, Expr)>,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    Use(String),
    CreateSTable {
        name: Name,
        if_not_exists: bool,
        columns: Vec<ColDef>,
        tags: Vec<ColDef>,
    },
    CreateTables {
        if_not_exists: bool,
        tables: Vec<(Name, CreateKind)>,
    },
    DropTables {
        names: Vec<Name>,
        if_exists: bool,
    },
    DropSTable {
        name: Name,
        if_exists: bool,
    },
    /// `ALTER TABLE` (stable: false) or `ALTER STABLE` (true).
    Alter {
        name: Name,
        stable: bool,
        op: AlterOp,
    },
    FlushDatabase(String),
    Insert(Vec<InsertItem>),
    Select(Select),
    Delete {
        table: Name,
        preds: Vec<Pred>,
    },
    Show(Show),
    Describe(Name),
    CreateTopic {
        name: String,
        if_not_exists: bool,
        with_meta: bool,
        only_meta: bool,
        source: TopicSource,
        sql: String,
    },
    DropTopic {
        name: String,
        if_exists: bool,
    },
}
