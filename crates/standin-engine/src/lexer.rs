//! Tokens of TDengine's SQL dialect (the subset the stand-in speaks).

use crate::error::TaosError;

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// A bare word: keyword or identifier (kept as written; compare case-insensitively).
    Word(String),
    /// A backquoted identifier, exact.
    Quoted(String),
    /// A string literal ('..' or "..").
    Str(String),
    /// A number as written.
    Number(String),
    /// Punctuation and operators: ( ) , . * = != <> < <= > >= + - ;
    Sym(&'static str),
}

/// Splits SQL into tokens.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, TaosError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '`' {
            let (s, next) = delimited(&chars, i, '`')?;
            out.push(Token::Quoted(s));
            i = next;
        } else if c == '\'' || c == '"' {
            let (s, next) = delimited(&chars, i, c)?;
            out.push(Token::Str(s));
            i = next;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '+' || chars[i] == '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = match two.as_str() {
                "<=" => Some("<="),
                ">=" => Some(">="),
                "!=" => Some("!="),
                "<>" => Some("!="),
                _ => None,
            };
            if let Some(s) = sym {
                out.push(Token::Sym(s));
                i += 2;
                continue;
            }
            let s = match c {
                '(' => "(",
                ')' => ")",
                ',' => ",",
                '.' => ".",
                '*' => "*",
                '=' => "=",
                '<' => "<",
                '>' => ">",
                '+' => "+",
                '-' => "-",
                ';' => ";",
                _ => {
                    return Err(TaosError::syntax(
                        &chars[i..].iter().take(20).collect::<String>(),
                    ))
                }
            };
            out.push(Token::Sym(s));
            i += 1;
        }
    }
    Ok(out)
}

/// Reads a quoted run starting at `start` (the opening quote). A doubled quote is one
/// quote; a backslash escapes a quote or a backslash and is kept before anything else, so
/// VARBINARY's `'\x0A'` reaches the value as written (TDengine's `trimString` keeps unknown
/// escapes).
fn delimited(chars: &[char], start: usize, quote: char) -> Result<(String, usize), TaosError> {
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && quote != '`' && i + 1 < chars.len() {
            let next = chars[i + 1];
            if !matches!(next, '\'' | '"' | '\\') {
                s.push('\\');
            }
            s.push(next);
            i += 2;
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                s.push(quote);
                i += 2;
            } else {
                return Ok((s, i + 1));
            }
        } else {
            s.push(c);
            i += 1;
        }
    }
    Err(TaosError::syntax(
        &chars[start..].iter().take(20).collect::<String>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_an_insert() {
        let t = tokenize("INSERT INTO `d0` VALUES (1700000000000, 'it''s', -1.5e3) ;").unwrap();
        assert_eq!(t[0], Token::Word("INSERT".into()));
        assert_eq!(t[2], Token::Quoted("d0".into()));
        assert!(t.contains(&Token::Str("it's".into())));
        assert!(t.contains(&Token::Number("1.5e3".into())));
        assert!(t.contains(&Token::Sym("-")));
    }

    #[test]
    fn operators_and_errors() {
        let t = tokenize("a<>b and c>=1").unwrap();
        assert!(t.contains(&Token::Sym("!=")));
        assert!(t.contains(&Token::Sym(">=")));
        assert!(tokenize("'unterminated").is_err());
        assert!(tokenize("a # b").is_err());
    }
}
