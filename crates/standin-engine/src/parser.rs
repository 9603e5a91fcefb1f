//! A recursive-descent parser for the stand-in's SQL subset.
//!
//! Hand-written because general SQL parsers (sqlparser-rs) do not know TDengine's forms:
//! `INSERT INTO t USING stb TAGS (..) VALUES (..) t2 VALUES (..)`, `CREATE STABLE .. TAGS`,
//! `CREATE TOPIC .. WITH META AS DATABASE`. Anything outside the subset is a syntax error.

use crate::ast::*;
use crate::error::TaosError;
use crate::lexer::{tokenize, Token};
use crate::value::{ColDef, ColType};

/// Parses one statement (a trailing `;` is allowed).
pub fn parse(sql: &str) -> Result<Stmt, TaosError> {
    let tokens = tokenize(sql)?;
    let mut p = Parser {
        t: tokens,
        i: 0,
        sql: sql.trim().trim_end_matches(';').trim_end().to_string(),
    };
    let stmt = p.statement()?;
    p.accept_sym(";");
    if p.i < p.t.len() {
        return Err(p.error());
    }
    Ok(stmt)
}

struct Parser {
    t: Vec<Token>,
    i: usize,
    /// The statement's text (CREATE TOPIC keeps it for ins_topics).
    sql: String,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.t.get(self.i)
    }

    fn error(&self) -> TaosError {
        let near: Vec<String> = self.t[self.i.min(self.t.len())..]
            .iter()
            .take(4)
            .map(|t| match t {
                Token::Word(w) | Token::Number(w) => w.clone(),
                Token::Quoted(q) => format!("`{q}`"),
                Token::Str(s) => format!("'{s}'"),
                Token::Sym(s) => s.to_string(),
            })
            .collect();
        if near.is_empty() {
            TaosError::syntax("end of statement")
        } else {
            TaosError::syntax(&near.join(" "))
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn accept_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn kw(&mut self, kw: &str) -> Result<(), TaosError> {
        if self.accept_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn accept_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Token::Sym(x)) if *x == s) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn sym(&mut self, s: &str) -> Result<(), TaosError> {
        if self.accept_sym(s) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// An identifier: bare words are lowercased (TDengine's rule), backquoted kept.
    fn ident(&mut self) -> Result<String, TaosError> {
        match self.peek().cloned() {
            Some(Token::Word(w)) => {
                self.i += 1;
                Ok(w.to_ascii_lowercase())
            }
            Some(Token::Quoted(q)) => {
                self.i += 1;
                Ok(q)
            }
            _ => Err(self.error()),
        }
    }

    fn name(&mut self) -> Result<Name, TaosError> {
        let first = self.ident()?;
        if self.accept_sym(".") {
            let second = self.ident()?;
            Ok(Name {
                db: Some(first),
                name: second,
            })
        } else {
            Ok(Name {
                db: None,
                name: first,
            })
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, TaosError> {
        if self.accept_kw("if") {
            self.kw("not")?;
            self.kw("exists")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn if_exists(&mut self) -> Result<bool, TaosError> {
        if self.accept_kw("if") {
            self.kw("exists")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn statement(&mut self) -> Result<Stmt, TaosError> {
        if self.accept_kw("create") {
            self.create()
        } else if self.accept_kw("drop") {
            self.drop()
        } else if self.accept_kw("use") {
            Ok(Stmt::Use(self.ident()?))
        } else if self.accept_kw("insert") {
            self.kw("into")?;
            self.insert()
        } else if self.accept_kw("select") {
            Ok(Stmt::Select(self.select()?))
        } else if self.accept_kw("delete") {
            self.kw("from")?;
            let table = self.name()?;
            let preds = if self.accept_kw("where") {
                self.preds()?
            } else {
                Vec::new()
            };
            Ok(Stmt::Delete { table, preds })
        } else if self.accept_kw("alter") {
            self.alter()
        } else if self.accept_kw("show") {
            self.show()
        } else if self.accept_kw("describe") || self.accept_kw("desc") {
            Ok(Stmt::Describe(self.name()?))
        } else if self.accept_kw("flush") {
            self.kw("database")?;
            Ok(Stmt::FlushDatabase(self.ident()?))
        } else {
            Err(self.error())
        }
    }

    fn create(&mut self) -> Result<Stmt, TaosError> {
        if self.accept_kw("database") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.ident()?;
            let mut options = Vec::new();
            while let Some(Token::Word(w)) = self.peek().cloned() {
                self.i += 1;
                let key = w.to_ascii_uppercase();
                let value = self.expr()?;
                // KEEP may list tiers: KEEP 365d,365d,365d
                while self.accept_sym(",") {
                    self.expr()?;
                }
                options.push((key, value));
            }
            return Ok(Stmt::CreateDatabase {
                name,
                if_not_exists,
                options,
            });
        }
        if self.accept_kw("stable") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.name()?;
            let columns = self.col_defs()?;
            self.kw("tags")?;
            let tags = self.col_defs()?;
            return Ok(Stmt::CreateSTable {
                name,
                if_not_exists,
                columns,
                tags,
            });
        }
        if self.accept_kw("table") {
            let if_not_exists = self.if_not_exists()?;
            let mut tables = Vec::new();
            loop {
                let name = self.name()?;
                if self.accept_kw("using") {
                    let stable = self.name()?;
                    let tag_names = if self.accept_sym("(") {
                        Some(self.ident_list()?)
                    } else {
                        None
                    };
                    self.kw("tags")?;
                    let tags = self.expr_list()?;
                    tables.push((
                        name,
                        CreateKind::Child {
                            stable,
                            tag_names,
                            tags,
                        },
                    ));
                } else {
                    let columns = self.col_defs()?;
                    if self.is_kw("tags") {
                        // CREATE TABLE .. TAGS is the old spelling of CREATE STABLE.
                        self.i += 1;
                        let tags = self.col_defs()?;
                        return Ok(Stmt::CreateSTable {
                            name,
                            if_not_exists,
                            columns,
                            tags,
                        });
                    }
                    tables.push((name, CreateKind::Normal(columns)));
                }
                // Several child tables in one statement: `CREATE TABLE a USING .. b USING ..`.
                if !matches!(self.peek(), Some(Token::Word(_) | Token::Quoted(_)))
                    || self.is_kw("if")
                {
                    break;
                }
                self.if_not_exists()?;
            }
            return Ok(Stmt::CreateTables {
                if_not_exists,
                tables,
            });
        }
        if self.accept_kw("topic") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.ident()?;
            // TDengine 3.3 sql.y `with_meta`: AS | WITH META AS | ONLY META AS.
            let (with_meta, only_meta) = if self.accept_kw("with") {
                self.kw("meta")?;
                (true, false)
            } else if self.accept_kw("only") {
                self.kw("meta")?;
                (true, true)
            } else {
                (false, false)
            };
            self.kw("as")?;
            let source = if self.accept_kw("database") {
                TopicSource::Database(self.ident()?)
            } else if self.accept_kw("stable") {
                let n = self.name()?;
                if self.is_kw("where") {
                    return Err(TaosError::unsupported("CREATE TOPIC .. AS STABLE .. WHERE"));
                }
                TopicSource::STable(n)
            } else if self.accept_kw("select") {
                if with_meta {
                    // sql.y: a query topic takes no WITH META / ONLY META.
                    return Err(self.error());
                }
                self.topic_query()?
            } else {
                return Err(self.error());
            };
            return Ok(Stmt::CreateTopic {
                name,
                if_not_exists,
                with_meta,
                only_meta,
                source,
                sql: self.sql.clone(),
            });
        }
        Err(self.error())
    }

    fn drop(&mut self) -> Result<Stmt, TaosError> {
        if self.accept_kw("database") {
            let if_exists = self.if_exists()?;
            return Ok(Stmt::DropDatabase {
                if_exists,
                name: self.ident()?,
            });
        }
        if self.accept_kw("stable") {
            let if_exists = self.if_exists()?;
            return Ok(Stmt::DropSTable {
                if_exists,
                name: self.name()?,
            });
        }
        if self.accept_kw("table") {
            let if_exists = self.if_exists()?;
            let mut names = vec![self.name()?];
            while self.accept_sym(",") {
                names.push(self.name()?);
            }
            return Ok(Stmt::DropTables { names, if_exists });
        }
        if self.accept_kw("topic") {
            let if_exists = self.if_exists()?;
            return Ok(Stmt::DropTopic {
                if_exists,
                name: self.ident()?,
            });
        }
        Err(self.error())
    }

    fn alter(&mut self) -> Result<Stmt, TaosError> {
        let stable = if self.accept_kw("stable") {
            true
        } else if self.accept_kw("table") {
            false
        } else if self.is_kw("database") {
            return Err(TaosError::unsupported("ALTER DATABASE"));
        } else {
            return Err(self.error());
        };
        let name = self.name()?;
        let op = self.alter_op()?;
        Ok(Stmt::Alter { name, stable, op })
    }

    /// The clause after `ALTER TABLE|STABLE name` (TDengine 3.3 docs 03-table.md, 04-stable.md).
    fn alter_op(&mut self) -> Result<AlterOp, TaosError> {
        let verb = match self.peek() {
            Some(Token::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(self.error()),
        };
        let op = match verb.as_str() {
            "add" | "drop" | "modify" | "rename" => {
                self.i += 1;
                let tag = if self.accept_kw("tag") {
                    true
                } else {
                    self.kw("column")?;
                    false
                };
                match (verb.as_str(), tag) {
                    ("add", false) => AlterOp::AddColumn(self.col_def()?),
                    ("add", true) => AlterOp::AddTag(self.col_def()?),
                    ("drop", false) => AlterOp::DropColumn(self.ident()?),
                    ("drop", true) => AlterOp::DropTag(self.ident()?),
                    ("modify", false) => AlterOp::ModifyColumn(self.col_def()?),
                    ("modify", true) => AlterOp::ModifyTag(self.col_def()?),
                    (_, false) => AlterOp::RenameColumn(self.ident()?, self.ident()?),
                    (_, true) => AlterOp::RenameTag(self.ident()?, self.ident()?),
                }
            }
            "set" => {
                self.i += 1;
                self.kw("tag")?;
                let mut tags = Vec::new();
                loop {
                    let tag = self.ident()?;
                    self.sym("=")?;
                    tags.push((tag, self.expr()?));
                    if !self.accept_sym(",") {
                        break;
                    }
                }
                AlterOp::SetTags(tags)
            }
            "ttl" | "comment" => {
                let (mut ttl, mut comment) = (None, None);
                loop {
                    if self.accept_kw("ttl") {
                        ttl = Some(match self.expr()? {
                            Expr::Int(n) if (0..=i32::MAX as i128).contains(&n) => n as i64,
                            _ => return Err(TaosError::bad_value("TTL must be 0..2147483647")),
                        });
                    } else if self.accept_kw("comment") {
                        comment = Some(match self.expr()? {
                            Expr::Str(c) => c,
                            _ => return Err(self.error()),
                        });
                    } else {
                        break;
                    }
                }
                AlterOp::Options { ttl, comment }
            }
            "keep" => return Err(TaosError::unsupported("ALTER STABLE .. KEEP")),
            _ => return Err(self.error()),
        };
        Ok(op)
    }

    /// `SELECT a, b | * FROM [db.]table` of a query topic; the stand-in's query topics take
    /// no WHERE and no expressions.
    fn topic_query(&mut self) -> Result<TopicSource, TaosError> {
        let mut columns = Vec::new();
        loop {
            if self.accept_sym("*") {
                columns.push("*".to_string());
            } else {
                let c = self.ident()?;
                if matches!(self.peek(), Some(Token::Sym("("))) {
                    return Err(TaosError::unsupported(&format!(
                        "{c}() in CREATE TOPIC .. AS SELECT"
                    )));
                }
                columns.push(c);
            }
            if !self.accept_sym(",") {
                break;
            }
        }
        self.kw("from")?;
        let from = self.name()?;
        if self.peek().is_some() && !matches!(self.peek(), Some(Token::Sym(";"))) {
            return Err(TaosError::unsupported(
                "CREATE TOPIC .. AS SELECT with WHERE or other clauses",
            ));
        }
        Ok(TopicSource::Query { columns, from })
    }

    fn show(&mut self) -> Result<Stmt, TaosError> {
        if self.accept_kw("databases") {
            return Ok(Stmt::Show(Show::Databases));
        }
        if self.accept_kw("topics") {
            return Ok(Stmt::Show(Show::Topics));
        }
        if self.accept_kw("dnodes") {
            return Ok(Stmt::Show(Show::Dnodes));
        }
        if self.accept_kw("consumers") {
            return Ok(Stmt::Show(Show::Consumers));
        }
        if self.accept_kw("create") {
            if self.accept_kw("database") {
                return Ok(Stmt::Show(Show::CreateDatabase(self.ident()?)));
            }
            if self.accept_kw("stable") {
                return Ok(Stmt::Show(Show::CreateSTable(self.name()?)));
            }
            if self.accept_kw("table") {
                return Ok(Stmt::Show(Show::CreateTable(self.name()?)));
            }
            return Err(self.error());
        }
        // SHOW [NORMAL|CHILD] [db.]STABLES | TABLES | VGROUPS (3.3 sql.y `table_kind_db_name_cond_opt`)
        let kind = if self.accept_kw("normal") {
            TableKind::Normal
        } else if self.accept_kw("child") {
            TableKind::Child
        } else {
            TableKind::Any
        };
        let mut db = None;
        if !(self.is_kw("stables") || self.is_kw("tables") || self.is_kw("vgroups")) {
            db = Some(self.ident()?);
            self.sym(".")?;
        }
        if kind != TableKind::Any && !self.is_kw("tables") {
            return Err(self.error());
        }
        if self.accept_kw("stables") {
            Ok(Stmt::Show(Show::STables(db)))
        } else if self.accept_kw("tables") {
            Ok(Stmt::Show(Show::Tables(db, kind)))
        } else if self.accept_kw("vgroups") {
            Ok(Stmt::Show(Show::VGroups(db)))
        } else {
            Err(self.error())
        }
    }

    fn insert(&mut self) -> Result<Stmt, TaosError> {
        let mut items = Vec::new();
        loop {
            let table = self.name()?;
            let using = if self.accept_kw("using") {
                let stable = self.name()?;
                let tag_names = if self.accept_sym("(") {
                    Some(self.ident_list()?)
                } else {
                    None
                };
                self.kw("tags")?;
                Some((stable, tag_names, self.expr_list()?))
            } else {
                None
            };
            let columns = if self.accept_sym("(") {
                Some(self.ident_list()?)
            } else {
                None
            };
            self.kw("values")?;
            let mut rows = vec![self.expr_list()?];
            // taosd also takes rows separated by commas, a trailing one included:
            // taos-connector-python's test_decimal.py sends `VALUES (..), (..), ` and
            // passes against TDengine.
            self.accept_sym(",");
            while matches!(self.peek(), Some(Token::Sym("("))) {
                rows.push(self.expr_list()?);
                self.accept_sym(",");
            }
            items.push(InsertItem {
                table,
                using,
                columns,
                rows,
            });
            if !matches!(self.peek(), Some(Token::Word(_) | Token::Quoted(_))) {
                break;
            }
        }
        Ok(Stmt::Insert(items))
    }

    fn select(&mut self) -> Result<Select, TaosError> {
        let mut items = Vec::new();
        loop {
            items.push(self.sel_item()?);
            if !self.accept_sym(",") {
                break;
            }
        }
        let from = if self.accept_kw("from") {
            Some(self.name()?)
        } else {
            None
        };
        let preds = if self.accept_kw("where") {
            self.preds()?
        } else {
            Vec::new()
        };
        let partition_by_table = self.accept_kw("partition");
        if partition_by_table {
            self.kw("by")?;
            if self.ident()? != "tbname" {
                return Err(TaosError::unsupported("PARTITION BY other than tbname"));
            }
        }
        let mut order_desc = None;
        if self.accept_kw("order") {
            self.kw("by")?;
            self.ident()?;
            order_desc = Some(if self.accept_kw("desc") {
                true
            } else {
                self.accept_kw("asc");
                false
            });
        }
        let mut limit = None;
        let mut offset = 0;
        if self.accept_kw("limit") {
            limit = Some(self.unsigned()?);
            if self.accept_kw("offset") {
                offset = self.unsigned()?;
            } else if self.accept_sym(",") {
                // LIMIT offset, count
                offset = limit.unwrap_or(0);
                limit = Some(self.unsigned()?);
            }
        }
        Ok(Select {
            items,
            from,
            preds,
            partition_by_table,
            order_desc,
            limit,
            offset,
        })
    }

    fn sel_item(&mut self) -> Result<SelItem, TaosError> {
        if self.accept_sym("*") {
            return Ok(SelItem::Star);
        }
        if matches!(
            self.peek(),
            Some(Token::Number(_) | Token::Str(_) | Token::Sym("-") | Token::Sym("+"))
        ) || self.is_kw("true")
            || self.is_kw("false")
            || self.is_kw("null")
        {
            let start = self.i;
            let e = self.expr()?;
            let text = self.t[start..self.i]
                .iter()
                .map(|t| match t {
                    Token::Word(w) | Token::Number(w) => w.clone(),
                    Token::Str(s) => format!("'{s}'"),
                    Token::Quoted(q) => q.clone(),
                    Token::Sym(s) => s.to_string(),
                })
                .collect::<String>();
            let text = if self.accept_kw("as") {
                self.ident()?
            } else {
                text
            };
            return Ok(SelItem::Literal(e, text));
        }
        let word = self.ident()?;
        if self.accept_sym("(") {
            let item = match word.as_str() {
                "count" => {
                    if !self.accept_sym("*") {
                        self.ident()?;
                    }
                    SelItem::Count
                }
                "first" => SelItem::First(self.ident()?),
                "last" => SelItem::Last(self.ident()?),
                "server_version" => SelItem::ServerVersion,
                "server_status" => SelItem::ServerStatus,
                "database" => SelItem::Database,
                "timezone" => SelItem::Timezone,
                other => return Err(TaosError::unsupported(&format!("{other}()"))),
            };
            self.sym(")")?;
            if self.accept_kw("as") {
                self.ident()?;
            }
            return Ok(item);
        }
        if self.accept_kw("as") {
            self.ident()?;
        }
        Ok(SelItem::Column(word))
    }

    fn preds(&mut self) -> Result<Vec<Pred>, TaosError> {
        let mut preds = vec![self.pred()?];
        while self.accept_kw("and") {
            preds.push(self.pred()?);
        }
        if self.is_kw("or") {
            return Err(TaosError::unsupported("OR"));
        }
        Ok(preds)
    }

    fn pred(&mut self) -> Result<Pred, TaosError> {
        let paren = self.accept_sym("(");
        let column = self.ident()?;
        let pred = if self.accept_kw("is") {
            let not = self.accept_kw("not");
            self.kw("null")?;
            Pred::IsNull(column, not)
        } else if self.accept_kw("in") {
            Pred::In(column, self.expr_list()?)
        } else if self.accept_kw("between") {
            let lo = self.expr()?;
            self.kw("and")?;
            Pred::Between(column, lo, self.expr()?)
        } else {
            let op = match self.peek() {
                Some(Token::Sym(s)) if ["=", "!=", "<", "<=", ">", ">="].contains(s) => *s,
                _ => return Err(self.error()),
            };
            self.i += 1;
            Pred::Cmp(column, op, self.expr()?)
        };
        if paren {
            self.sym(")")?;
        }
        Ok(pred)
    }

    fn unsigned(&mut self) -> Result<u64, TaosError> {
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.i += 1;
                n.parse().map_err(|_| TaosError::syntax(&n))
            }
            _ => Err(self.error()),
        }
    }

    fn ident_list(&mut self) -> Result<Vec<String>, TaosError> {
        // The opening parenthesis is consumed by the caller.
        let mut out = vec![self.ident()?];
        while self.accept_sym(",") {
            out.push(self.ident()?);
        }
        self.sym(")")?;
        Ok(out)
    }

    fn expr_list(&mut self) -> Result<Vec<Expr>, TaosError> {
        self.sym("(")?;
        let mut out = vec![self.expr()?];
        while self.accept_sym(",") {
            out.push(self.expr()?);
        }
        self.sym(")")?;
        Ok(out)
    }

    fn expr(&mut self) -> Result<Expr, TaosError> {
        let negative = if self.accept_sym("-") {
            true
        } else {
            self.accept_sym("+");
            false
        };
        let tok = self.peek().cloned().ok_or_else(|| self.error())?;
        self.i += 1;
        let e = match tok {
            Token::Number(n) => number(&n, negative)?,
            Token::Str(s) if !negative => Expr::Str(s),
            Token::Word(w) if !negative => match w.to_ascii_lowercase().as_str() {
                "null" => Expr::Null,
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "now" => {
                    if self.accept_sym("(") {
                        self.sym(")")?;
                    }
                    let mut offset = 0i64;
                    loop {
                        let sign = if self.accept_sym("+") {
                            1
                        } else if self.accept_sym("-") {
                            -1
                        } else {
                            break;
                        };
                        match self.peek().cloned() {
                            Some(Token::Number(d)) => {
                                self.i += 1;
                                offset += sign * duration_ns(&d)?;
                            }
                            _ => return Err(self.error()),
                        }
                    }
                    Expr::Now(offset)
                }
                other => Expr::Column(other.to_string()),
            },
            Token::Quoted(q) if !negative => Expr::Column(q),
            _ => {
                self.i -= 1;
                return Err(self.error());
            }
        };
        Ok(e)
    }

    fn col_defs(&mut self) -> Result<Vec<ColDef>, TaosError> {
        self.sym("(")?;
        let mut out = vec![self.col_def()?];
        while self.accept_sym(",") {
            out.push(self.col_def()?);
        }
        self.sym(")")?;
        Ok(out)
    }

    fn col_def(&mut self) -> Result<ColDef, TaosError> {
        let name = self.ident()?;
        let type_name = match self.peek().cloned() {
            Some(Token::Word(w)) => {
                self.i += 1;
                w
            }
            _ => return Err(self.error()),
        };
        if type_name.eq_ignore_ascii_case("decimal") {
            let mut def = ColDef::new(name, self.decimal_type()?, 0);
            def.len = def.ty.fixed_len();
            def.primary_key = self.column_options()?;
            return Ok(def);
        }
        let unsigned = self.accept_kw("unsigned");
        let ty = ColType::from_sql(&type_name, unsigned)?;
        let len = if self.accept_sym("(") {
            let n = self.unsigned()?;
            self.sym(")")?;
            u32::try_from(n).map_err(|_| TaosError::bad_value("column length"))?
        } else if ty.is_var() {
            if ty == ColType::Json {
                4095
            } else {
                return Err(TaosError::syntax(&format!("{type_name} without a length")));
            }
        } else {
            ty.fixed_len()
        };
        let mut def = ColDef::new(name, ty, len);
        def.primary_key = self.column_options()?;
        Ok(def)
    }

    /// `(precision[, scale])` after DECIMAL: precision 1..=38, scale 0..=precision, scale 0
    /// when left out (TDengine 3.3.6 docs, 01-data-type.md).
    fn decimal_type(&mut self) -> Result<ColType, TaosError> {
        self.sym("(")?;
        let precision = self.unsigned()?;
        let scale = if self.accept_sym(",") {
            self.unsigned()?
        } else {
            0
        };
        self.sym(")")?;
        if !(1..=38).contains(&precision) || scale > precision {
            return Err(TaosError::new(
                0x2603,
                format!("Invalid DECIMAL({precision}, {scale}): precision must be 1..38 and scale 0..precision"),
            ));
        }
        Ok(ColType::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    /// `PRIMARY KEY` (or the docs' `COMPOSITE KEY`) after a column's type; the compression
    /// options are refused by name.
    fn column_options(&mut self) -> Result<bool, TaosError> {
        let mut key = false;
        loop {
            if self.accept_kw("primary") || self.accept_kw("composite") {
                self.kw("key")?;
                key = true;
            } else if self.is_kw("encode") || self.is_kw("compress") || self.is_kw("level") {
                return Err(TaosError::unsupported(
                    "ENCODE/COMPRESS/LEVEL column options",
                ));
            } else {
                return Ok(key);
            }
        }
    }
}

fn number(text: &str, negative: bool) -> Result<Expr, TaosError> {
    // A number with a unit (e.g. `10d` in KEEP) is kept as text for options.
    if text.chars().last().is_some_and(|c| c.is_ascii_alphabetic()) && !text.contains(['e', 'E']) {
        return Ok(Expr::Str(text.to_string()));
    }
    if text.contains(['.', 'e', 'E']) {
        let v: f64 = text.parse().map_err(|_| TaosError::syntax(text))?;
        Ok(Expr::Float(if negative { -v } else { v }))
    } else {
        let v: i128 = text.parse().map_err(|_| TaosError::syntax(text))?;
        Ok(Expr::Int(if negative { -v } else { v }))
    }
}

/// A TDengine duration literal (`1h`, `10m`, `5s`, `1a` ms, `1u` us, `1b` ns, `1d`, `1w`)
/// in nanoseconds.
pub fn duration_ns(text: &str) -> Result<i64, TaosError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| TaosError::syntax(text))?;
    let mul: i64 = match unit {
        "b" => 1,
        "u" => 1_000,
        "a" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 604_800_000_000_000,
        _ => return Err(TaosError::syntax(text)),
    };
    n.checked_mul(mul).ok_or_else(|| TaosError::syntax(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_tdibt_uses() {
        for sql in [
            "CREATE DATABASE IF NOT EXISTS db PRECISION 'us' VGROUPS 4 WAL_RETENTION_PERIOD 3600",
            "create stable meters (ts timestamp, v double, s binary(16)) tags (gid int, loc nchar(8))",
            "CREATE TABLE d0 USING meters TAGS (1, 'x')",
            "CREATE TABLE IF NOT EXISTS n1 (ts TIMESTAMP, a INT UNSIGNED, b VARBINARY(4))",
            "INSERT INTO d0 VALUES (1, 1.5, 'a') (2, NULL, 'b') db.d1 USING db.meters TAGS (2, 'y') VALUES (NOW - 1h, 2, 'c')",
            "INSERT INTO n1 (ts, a) VALUES ('2024-01-01 00:00:00.000', 3)",
            "SELECT * FROM db.d0 WHERE _c0 >= 0 AND _c0 < 100 ORDER BY _c0 ASC LIMIT 10 OFFSET 5",
            "select tbname, count(*) from meters where tbname in ('d0','d1') partition by tbname",
            "SELECT * FROM information_schema.ins_tables WHERE db_name = 'db'",
            "DELETE FROM d0 WHERE ts >= 10 AND ts <= 20",
            "DROP TABLE IF EXISTS d0, d1",
            "ALTER TABLE n1 ADD COLUMN c9 BIGINT",
            "SHOW db.VGROUPS",
            "SHOW CREATE TABLE db.d0",
            "CREATE TOPIC IF NOT EXISTS `t1` WITH META AS DATABASE `db`",
            "DROP TOPIC IF EXISTS t1",
            "SELECT server_version()",
            "USE db;",
        ] {
            parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for sql in [
            "SELECT a FROM t WHERE a = 1 OR b = 2",
            "SELECT avg(v) FROM t",
            "CREATE TOPIC t AS SELECT * FROM x WHERE a > 1",
            "GRANT ALL ON db TO u",
            "INSERT INTO t VALUES",
            "SELECT * FROM t extra",
        ] {
            assert_eq!(parse(sql).unwrap_err().code, 0x2600, "{sql}");
        }
    }

    #[test]
    fn rows_may_be_separated_by_commas() {
        match parse("INSERT INTO t VALUES (1, 2), (3, 4), ").unwrap() {
            Stmt::Insert(items) => assert_eq!(items[0].rows.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_and_values() {
        match parse("INSERT INTO `Db`.Tb VALUES (-5, 'x')").unwrap() {
            Stmt::Insert(items) => {
                assert_eq!(
                    items[0].table,
                    Name {
                        db: Some("Db".into()),
                        name: "tb".into()
                    }
                );
                assert_eq!(items[0].rows[0][0], Expr::Int(-5));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(duration_ns("2h").unwrap(), 7_200_000_000_000);
        assert!(duration_ns("2y").is_err());
    }
}
