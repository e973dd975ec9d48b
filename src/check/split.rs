//! Split a migration file into statements with their line numbers. Understands
//! single-quoted strings (with `''` and E'' backslash escapes), quoted identifiers,
//! dollar quotes (`$$`, `$tag$`), `--` comments and nested `/* */` comments, so a `;`
//! inside any of them does not end a statement.
//!
//! Interim copy: `migrate::split` (being written for the migrate command) does the same
//! job; the lead keeps one of the two when both are on main.

/// One statement of a migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement text, without the terminating `;`, trimmed.
    pub sql: String,
    /// 1-based line of the statement's first token.
    pub line: usize,
    /// The `--` comments between the previous statement and this one, without `--`,
    /// each with its 1-based line.
    pub leading_comments: Vec<(usize, String)>,
}

/// Split `text` into statements. Comments-only text yields no statement.
pub fn split(text: &str) -> Vec<Statement> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut i = 0usize;
    let mut start: Option<(usize, usize)> = None; // (byte offset, line)
    let mut comments: Vec<(usize, String)> = Vec::new();

    let finish = |out: &mut Vec<Statement>,
                  start: &mut Option<(usize, usize)>,
                  end: usize,
                  comments: &mut Vec<(usize, String)>| {
        if let Some((s, l)) = start.take() {
            let sql = text[s..end].trim().to_string();
            if !sql.is_empty() {
                out.push(Statement {
                    sql,
                    line: l,
                    leading_comments: std::mem::take(comments),
                });
            }
        }
    };

    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                if start.is_none() {
                    comments.push((line, text[i + 2..end].trim().to_string()));
                }
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < bytes.len() && depth > 0 {
                    if bytes[i] == b'\n' {
                        line += 1;
                    }
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b';' => {
                finish(&mut out, &mut start, i, &mut comments);
                comments.clear();
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                if start.is_none() {
                    start = Some((i, line));
                }
                match c {
                    b'\'' => {
                        // E'...' allows backslash escapes; plain strings only ''.
                        let escapes = i > 0
                            && matches!(bytes[i - 1], b'e' | b'E')
                            && (i < 2 || !is_ident_byte(bytes[i - 2]));
                        i = skip_quoted(bytes, i, b'\'', escapes, &mut line);
                    }
                    b'"' => i = skip_quoted(bytes, i, b'"', false, &mut line),
                    b'$' => match dollar_tag(text, i) {
                        Some(tag) => {
                            let body = i + tag.len();
                            let end = text[body..]
                                .find(tag)
                                .map_or(bytes.len(), |n| body + n + tag.len());
                            line += text[i..end].matches('\n').count();
                            i = end;
                        }
                        None => i += 1,
                    },
                    _ => {
                        // Identifiers may contain `$` (foo$1): consume them whole.
                        if is_ident_byte(c) {
                            while i < bytes.len() && (is_ident_byte(bytes[i]) || bytes[i] == b'$') {
                                i += 1;
                            }
                        } else {
                            i += 1;
                        }
                    }
                }
            }
        }
    }
    finish(&mut out, &mut start, bytes.len(), &mut comments);
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Skip a quoted string starting at `i`; returns the offset after the closing quote.
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, escapes: bool, line: &mut usize) -> usize {
    i += 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            *line += 1;
        }
        if escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

/// `$tag$` starting at `i`, if there is one (`$1` is a parameter, not a tag).
fn dollar_tag(text: &str, i: usize) -> Option<&str> {
    let rest = &text[i + 1..];
    let close = rest.find('$')?;
    let tag = &rest[..close];
    let ok = tag.is_empty()
        || (!tag.as_bytes()[0].is_ascii_digit()
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    ok.then(|| &text[i..i + close + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_with_lines() {
        let s =
            split("-- head\nCREATE TABLE a (x int);\n\n-- about b\nCREATE TABLE b (\n y int\n);\n");
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].line, s[0].sql.as_str()),
            (2, "CREATE TABLE a (x int)")
        );
        assert_eq!(s[0].leading_comments, vec![(1, "head".to_string())]);
        assert_eq!(s[1].line, 5);
        assert_eq!(s[1].leading_comments, vec![(4, "about b".to_string())]);
    }

    #[test]
    fn semicolons_inside_quotes_comments_and_dollar_quotes() {
        let text = "SELECT 'a;b', \"c;d\", E'x\\';y' /* ; /* nested ; */ */;\nDO $$ BEGIN PERFORM 1; END $$;\nCREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;\nSELECT $1;";
        let s = split(text);
        assert_eq!(s.len(), 4, "{s:#?}");
        assert_eq!(s[1].line, 2);
        assert!(s[1].sql.ends_with("END $$"));
        assert_eq!(s[2].line, 3);
        assert_eq!(s[3].sql, "SELECT $1");
    }

    #[test]
    fn multiline_dollar_body_counts_lines() {
        let s = split("DO $$\nBEGIN\n  NULL;\nEND\n$$;\n\nSELECT 1;");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].line, 7);
    }

    #[test]
    fn trailing_statement_without_semicolon_and_comment_only() {
        assert_eq!(split("-- nothing here\n").len(), 0);
        let s = split("SELECT 1");
        assert_eq!(s[0].sql, "SELECT 1");
    }

    #[test]
    fn repo_migrations_split() {
        let v4 = include_str!("../../migrations/V4__appointment_indexes.sql");
        let s = split(v4);
        assert_eq!(s.len(), 7);
        assert_eq!(s[0].line, 15);
        assert_eq!(s[0].leading_comments[0].1, "dbkit:no-transaction");
        let v1 = include_str!("../../migrations/V1__supabase_compat.sql");
        assert_eq!(split(v1).len(), 3);
    }
}
