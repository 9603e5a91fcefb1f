//! Parsing the DELETE statements TDengine's client builds for TMQ meta messages.
//!
//! A delete reaches a `WITH META` consumer as
//! ``{"type":"delete","sql":"delete from `T` where `C` >= A and `C` <= B"}``, written by
//! `processDeleteTable` in TDengine's `source/client/src/clientRawBlockWrite.c` from the
//! vnode's delete record: T is the table (or super table, meaning all its children), C the
//! table's own timestamp column, both bounds inclusive, in the database's precision. The
//! statement is machine-made, so the parser is strict: anything else is an error. Capture
//! never stops on one: taosd builds the statement in a 256-byte buffer, so a long name cuts
//! it off, and a delete that cannot be read marks its whole table (found by
//! [`table_of_delete`] when the name survived) for a full re-read instead.

use tdibt_core::TsRange;

/// A parsed delete: the table it names and the inclusive range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteStatement {
    pub table: String,
    pub ts_column: String,
    pub range: TsRange,
}

/// Why a delete statement could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot parse TMQ delete statement {sql:?}: {reason}")]
pub struct DeleteParseError {
    pub sql: String,
    pub reason: String,
}

/// Parses ``delete from `T` where `C` >= A and `C` <= B``; the two bounds may come in either
/// order and with `>`/`<` (exclusive bounds are turned into inclusive ones).
pub fn parse_delete(sql: &str) -> Result<DeleteStatement, DeleteParseError> {
    let fail = |reason: &str| DeleteParseError {
        sql: sql.to_string(),
        reason: reason.to_string(),
    };
    let mut p = Cursor { rest: sql.trim() };
    p.keyword("delete").ok_or_else(|| fail("expected DELETE"))?;
    p.keyword("from").ok_or_else(|| fail("expected FROM"))?;
    let table = p
        .identifier()
        .ok_or_else(|| fail("expected a table name"))?;
    if p.rest.is_empty() {
        // No WHERE: the whole table.
        return Ok(DeleteStatement {
            table,
            ts_column: String::new(),
            range: TsRange::new(i64::MIN, i64::MAX),
        });
    }
    p.keyword("where").ok_or_else(|| fail("expected WHERE"))?;
    let mut range = TsRange::new(i64::MIN, i64::MAX);
    let mut ts_column: Option<String> = None;
    loop {
        let column = p
            .identifier()
            .ok_or_else(|| fail("expected a column name"))?;
        if ts_column
            .as_ref()
            .is_some_and(|c| !c.eq_ignore_ascii_case(&column))
        {
            return Err(fail("conditions name two different columns"));
        }
        let op = p.operator().ok_or_else(|| fail("expected a comparison"))?;
        let value = p
            .integer()
            .ok_or_else(|| fail("expected an integer timestamp"))?;
        match op {
            ">=" => range.start = range.start.max(value),
            ">" => range.start = range.start.max(value.saturating_add(1)),
            "<=" => range.end = range.end.min(value),
            "<" => range.end = range.end.min(value.saturating_sub(1)),
            "=" => {
                range.start = range.start.max(value);
                range.end = range.end.min(value);
            }
            _ => return Err(fail("unsupported comparison")),
        }
        ts_column = Some(column);
        if p.rest.is_empty() {
            break;
        }
        p.keyword("and").ok_or_else(|| fail("expected AND"))?;
    }
    Ok(DeleteStatement {
        table,
        ts_column: ts_column.unwrap_or_default(),
        range,
    })
}

/// The table a delete statement names, when at least that much of it can be read (a
/// statement cut off after the name still names its table).
pub fn table_of_delete(sql: &str) -> Option<String> {
    let mut p = Cursor { rest: sql.trim() };
    p.keyword("delete")?;
    p.keyword("from")?;
    p.identifier()
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn keyword(&mut self, word: &str) -> Option<()> {
        self.skip_ws();
        let head = self.rest.get(..word.len())?;
        let boundary = self.rest[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        if head.eq_ignore_ascii_case(word) && boundary {
            self.rest = &self.rest[word.len()..];
            Some(())
        } else {
            None
        }
    }

    /// A backquoted name (doubled backquotes escape one), possibly `db`.`table`, or a bare word.
    fn identifier(&mut self) -> Option<String> {
        let mut name = self.one_identifier()?;
        while self.rest.starts_with('.') {
            self.rest = &self.rest[1..];
            name = self.one_identifier()?;
        }
        Some(name)
    }

    fn one_identifier(&mut self) -> Option<String> {
        self.skip_ws();
        if let Some(body) = self.rest.strip_prefix('`') {
            let mut out = String::new();
            let mut chars = body.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '`' {
                    if matches!(chars.peek(), Some((_, '`'))) {
                        chars.next();
                        out.push('`');
                        continue;
                    }
                    self.rest = &body[i + 1..];
                    return Some(out);
                }
                out.push(c);
            }
            None
        } else {
            let end = self
                .rest
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(self.rest.len());
            if end == 0 {
                return None;
            }
            let word = &self.rest[..end];
            self.rest = &self.rest[end..];
            Some(word.to_string())
        }
    }

    fn operator(&mut self) -> Option<&'static str> {
        self.skip_ws();
        for op in [">=", "<=", ">", "<", "="] {
            if let Some(rest) = self.rest.strip_prefix(op) {
                self.rest = rest;
                return Some(op);
            }
        }
        None
    }

    fn integer(&mut self) -> Option<i64> {
        self.skip_ws();
        let bytes = self.rest.as_bytes();
        let mut end = usize::from(bytes.first() == Some(&b'-'));
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let value = self.rest[..end].parse().ok()?;
        self.rest = &self.rest[end..];
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tdengine_client_form() {
        let d =
            parse_delete("delete from `d0` where `ts` >= 1700000000000 and `ts` <= 1700000003600")
                .unwrap();
        assert_eq!(d.table, "d0");
        assert_eq!(d.ts_column, "ts");
        assert_eq!(d.range, TsRange::new(1_700_000_000_000, 1_700_000_003_600));
    }

    #[test]
    fn keeps_the_real_timestamp_column_and_negative_bounds() {
        let d =
            parse_delete("delete from `meters` where `_time` >= -5000 and `_time` <= -1").unwrap();
        assert_eq!(d.table, "meters");
        assert_eq!(d.ts_column, "_time");
        assert_eq!(d.range, TsRange::new(-5000, -1));
    }

    #[test]
    fn full_int64_bounds_and_missing_where() {
        let sql = format!(
            "delete from `t` where `ts` >= {} and `ts` <= {}",
            i64::MIN,
            i64::MAX
        );
        assert_eq!(
            parse_delete(&sql).unwrap().range,
            TsRange::new(i64::MIN, i64::MAX)
        );
        assert_eq!(
            parse_delete("delete from `t`").unwrap().range,
            TsRange::new(i64::MIN, i64::MAX)
        );
    }

    #[test]
    fn exclusive_bounds_and_qualified_or_odd_names() {
        let d = parse_delete("DELETE FROM `db`.`we``ird` WHERE `ts` > 10 AND `ts` < 20").unwrap();
        assert_eq!(d.table, "we`ird");
        assert_eq!(d.range, TsRange::new(11, 19));
        let d = parse_delete("delete from t1 where ts = 7").unwrap();
        assert_eq!(d.range, TsRange::new(7, 7));
    }

    #[test]
    fn the_table_of_a_truncated_delete() {
        // taosd's 256-byte buffer cuts a long statement anywhere.
        let long = format!(
            "delete from `{}` where `ts` >= 1 and `ts` <= 2",
            "n".repeat(240)
        );
        let cut = &long[..256];
        assert!(parse_delete(cut).is_err());
        assert_eq!(table_of_delete(cut), Some("n".repeat(240)));
        assert_eq!(table_of_delete("delete from `unterminated"), None);
        assert_eq!(table_of_delete("delete fr"), None);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for sql in [
            "",
            "drop table x",
            "delete from",
            "delete from `t` where",
            "delete from `t` where `ts` >= abc",
            "delete from `t` where `ts` >= 1 or `ts` <= 2",
            "delete from `t` where `ts` >= 1 and `c1` <= 2",
            "delete from `t` where `ts` ~ 1",
            "delete from `unterminated where `ts` >= 1",
        ] {
            assert!(parse_delete(sql).is_err(), "{sql}");
        }
    }

    /// The statement comes from the server (and is cut at 256 bytes by taosd): whatever its
    /// text, parsing answers with a statement or an error, never a panic.
    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use tdibt_testkit::mutated_text;

        const SAMPLE: &str =
            "delete from `d2` where `ts` >= 1700000000000 and `ts` <= 1700000003599";

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            #[test]
            fn mutated_statements(sql in mutated_text(SAMPLE)) {
                let parsed = parse_delete(&sql);
                // Whatever parses names a table that the fallback reader finds too.
                if let Ok(d) = &parsed {
                    prop_assert_eq!(table_of_delete(&sql), Some(d.table.clone()));
                }
            }

            #[test]
            fn arbitrary_text(sql in "\\PC{0,120}") {
                let _ = parse_delete(&sql);
                let _ = table_of_delete(&sql);
            }

            #[test]
            fn any_bounds_and_cuts(a in any::<i64>(), b in any::<i64>(), cut in 0usize..90) {
                let sql = format!("delete from `t` where `ts` > {a} and `ts` < {b}");
                let cut = cut.min(sql.len());
                let _ = parse_delete(&sql[..cut]);
                // Exclusive bounds become inclusive ones, saturating at the type's ends.
                let d = parse_delete(&sql).expect("a well-formed statement parses");
                prop_assert_eq!(d.range, TsRange::new(a.saturating_add(1), b.saturating_sub(1)));
            }
        }
    }
}
