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
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub items: Vec<SelItem>,
    /// None for `SELECT server_version()` and friends.
    pub from: Option<Name>,
    pub preds: Vec<Pred>,
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
}

#[derive(Clone, Debug, PartialEq)]
pub enum Show {
    Databases,
    STables(Option<String>),
    Tables(Option<String>),
    VGroups(Option<String>),
    Topics,
    CreateDatabase(String),
    CreateSTable(Name),
    CreateTable(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TopicSource {
    Database(String),
    STable(Name),
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
    Alter {
        name: Name,
        op: AlterOp,
    },
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
        source: TopicSource,
    },
    DropTopic {
        name: String,
        if_exists: bool,
    },
}
