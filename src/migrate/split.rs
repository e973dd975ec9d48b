//! Split a migration file into statements the way psql does: semicolons end a statement
//! except inside single quotes (with `E'..'` backslash escapes), double quotes, dollar
//! quotes (`$tag$ .. $tag$`), `--` and nested `/* */` comments, and `BEGIN ATOMIC .. END`
//! bodies of SQL-standard functions. Each statement knows the line it starts on, so an
//! error position inside it can be turned into a line of the file. Each statement also
//! keeps the `--` comments written before it (`dbkit check` reads `-- dbkit:ignore` there).

/// One statement of a file: its text (from its first token to its closing `;`,
/// without the `;` and trailing whitespace) and where that text starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    /// 1-based line of the file where the statement's first token is.
    pub line: usize,
    /// Byte offset of `text` in the file.
    pub offset: usize,
    /// The `--` comments between the previous statement's `;` and this statement's
    /// first token, in order (block comments are not kept).
    pub leading_comments: Vec<LineComment>,
}

/// A `--` comment: its 1-based line and its text after `--`, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineComment {
    pub line: usize,
    pub text: String,
}

impl Statement {
    /// The file line of a 1-based *character* position inside `text`, as PostgreSQL
    /// reports it (`ErrorPosition::Original`). Out-of-range positions give the last line.
    pub fn line_of_position(&self, position: u32) -> usize {
        // u32 → usize is lossless on every platform dbkit builds for; saturate anyway.
        let before = usize::try_from(position)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        self.line
            + self
                .text
                .chars()
                .take(before)
                .filter(|&c| c == '\n')
                .count()
    }
}

/// Split `sql` into statements. Statements that hold only comments and whitespace are
/// dropped; a last statement without a closing `;` is kept.
pub fn split(sql: &str) -> Vec<Statement> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut i = 0usize;
    // Start (byte, line) of the current statement's first token, once seen.
    let mut start: Option<(usize, usize)> = None;
    // Leading words of the current statement, lowercased, to recognise CREATE FUNCTION.
    let mut words: Vec<String> = Vec::new();
    // BEGIN/CASE .. END depth inside a CREATE FUNCTION/PROCEDURE body (psql's rule).
    let mut depth = 0usize;
    // `--` comments seen since the previous statement ended, before this one started.
    let mut comments: Vec<LineComment> = Vec::new();

    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let from = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                if start.is_none() {
                    comments.push(LineComment {
                        line,
                        text: sql[from + 2..i].trim().to_string(),
                    });
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut nest = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        nest += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        nest -= 1;
                        i += 2;
                        if nest == 0 {
                            break;
                        }
                    } else {
                        if bytes[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b';' if depth == 0 => {
                if let Some((s, l)) = start.take() {
                    out.push(Statement {
                        text: sql[s..i].trim_end().to_string(),
                        line: l,
                        offset: s,
                        leading_comments: std::mem::take(&mut comments),
                    });
                }
                // Comments before an empty statement (`;;`) belong to none.
                comments.clear();
                words.clear();
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                if start.is_none() {
                    start = Some((i, line));
                }
                match c {
                    b'\'' => {
                        let escapes = i > 0
                            && matches!(bytes[i - 1], b'E' | b'e')
                            && (i < 2 || !is_ident_byte(bytes[i - 2]));
                        i = skip_quoted(bytes, i, b'\'', escapes, &mut line);
                    }
                    b'"' => i = skip_quoted(bytes, i, b'"', false, &mut line),
                    b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(bytes, i) {
                        Some(tag_len) => {
                            let tag = &sql[i..i + tag_len];
                            let body = i + tag_len;
                            let end = sql[body..]
                                .find(tag)
                                .map(|p| body + p + tag_len)
                                .unwrap_or(bytes.len());
                            line += sql[i..end].matches('\n').count();
                            i = end;
                        }
                        None => i += 1,
                    },
                    _ if is_ident_start(c) => {
                        let s = i;
                        while i < bytes.len() && is_ident_byte(bytes[i]) {
                            i += 1;
                        }
                        let word = sql[s..i].to_ascii_lowercase();
                        if is_routine(&words) {
                            match word.as_str() {
                                "begin" | "case" => depth += 1,
                                "end" => depth = depth.saturating_sub(1),
                                _ => {}
                            }
                        }
                        if words.len() < 4 {
                            words.push(word);
                        }
                    }
                    _ => i += 1,
                }
            }
        }
    }
    if let Some((s, l)) = start {
        let text = sql[s..].trim_end().to_string();
        out.push(Statement {
            text,
            line: l,
            offset: s,
            leading_comments: comments,
        });
    }
    out
}

/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: the statements whose bodies may be
/// `BEGIN ATOMIC ... END` with semicolons inside.
fn is_routine(words: &[String]) -> bool {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["create", "function" | "procedure", ..]
            | ["create", "or", "replace", "function" | "procedure", ..]
    )
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Skip a quoted literal or identifier starting at `i` (on the opening quote); a
/// doubled quote is an escaped quote, and with `escapes` so is a backslash.
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, escapes: bool, line: &mut usize) -> usize {
    i += 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            *line += 1;
        }
        if escapes && c == b'\\' {
            if bytes.get(i + 1) == Some(&b'\n') {
                *line += 1;
            }
            i += 2;
            continue;
        }
        if c == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Length of the dollar-quote tag (`$$`, `$body$`) starting at `i`, if there is one.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if bytes.get(j) == Some(&b'$') {
        return Some(2);
    }
    if !bytes.get(j).is_some_and(|&c| is_ident_start(c)) {
        return None;
    }
    while j < bytes.len()
        && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80)
    {
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1 - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<(usize, String)> {
        split(sql).into_iter().map(|s| (s.line, s.text)).collect()
    }

    /// The line each statement starts on.
    fn starts(texts: &[(usize, String)]) -> Vec<usize> {
        texts.iter().map(|(line, _)| *line).collect()
    }

    #[test]
    fn splits_on_semicolons_with_lines() {
        let sql = "CREATE TABLE a (id int);\n\nCREATE TABLE b (id int);\n  SELECT 1";
        assert_eq!(
            texts(sql),
            vec![
                (1, "CREATE TABLE a (id int)".into()),
                (3, "CREATE TABLE b (id int)".into()),
                (4, "SELECT 1".into()),
            ]
        );
    }

    #[test]
    fn comments_are_not_statements_and_hide_semicolons() {
        let sql = "-- header; not a statement\n/* block; /* nested; */ still; */\nSELECT 1; -- trailing;\n-- only a comment\n";
        assert_eq!(texts(sql), vec![(3, "SELECT 1".into())]);
    }

    #[test]
    fn comment_inside_statement_keeps_start_line() {
        let sql = "SELECT 1\n-- a; b\n, 2;";
        assert_eq!(texts(sql), vec![(1, "SELECT 1\n-- a; b\n, 2".into())]);
    }

    #[test]
    fn quotes_hide_semicolons_and_count_lines() {
        let sql = "INSERT INTO t VALUES ('a;b', 'it''s;\nnext');\nSELECT \"we;ird\"\"col\" FROM t;\nSELECT E'x\\';y';\nSELECT 4;";
        let got = texts(sql);
        assert_eq!(starts(&got), [1, 3, 4, 5], "{got:?}");
        assert_eq!(got[1], (3, "SELECT \"we;ird\"\"col\" FROM t".into()));
        assert_eq!(got[2], (4, "SELECT E'x\\';y'".into()));
        assert_eq!(got[3], (5, "SELECT 4".into()));
    }

    #[test]
    fn backslash_is_literal_in_standard_strings() {
        // standard_conforming_strings: 'a\' is a complete literal.
        assert_eq!(texts("SELECT 'a\\'; SELECT 2;").len(), 2);
    }

    #[test]
    fn dollar_quotes_with_and_without_tags() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1; RETURN 1;\nEND $$;\nDO $body$ BEGIN RAISE NOTICE '$$;'; END $body$;\nSELECT $1x, a$b$c FROM t;\nSELECT 5;";
        let got = texts(sql);
        assert_eq!(starts(&got), [1, 5, 6, 7], "{got:?}");
        assert!(got[0].1.ends_with("END $$"));
        assert_eq!(got[3].1, "SELECT 5");
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let sql = "CREATE OR REPLACE FUNCTION g(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\nSELECT 3;";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].1.ends_with("END"));
        assert_eq!(got[1], (6, "SELECT 3".into()));
        // Outside routines BEGIN is just a word.
        assert_eq!(texts("BEGIN; SELECT 1; COMMIT;").len(), 3);
    }

    #[test]
    fn error_positions_map_to_file_lines() {
        let sql = "-- header\n\nCREATE TABLE x (id int);\nSELECT 1,\n  2,\n  SELEC 3;";
        let stmts = split(sql);
        let second = &stmts[1];
        assert_eq!(second.line, 4);
        let pos = u32::try_from(second.text.find("SELEC ").unwrap()).unwrap() + 1;
        assert_eq!(second.line_of_position(pos), 6);
        assert_eq!(second.line_of_position(1), 4);
        assert_eq!(&sql[second.offset..second.offset + 6], "SELECT");
    }

    #[test]
    fn positions_are_characters_not_bytes() {
        let stmts = split("SELECT 'é\nü',\n oops;");
        let pos = u32::try_from(stmts[0].text.chars().position(|c| c == 'o').unwrap()).unwrap() + 1;
        assert_eq!(stmts[0].line_of_position(pos), 3);
    }

    fn comments(stmt: &Statement) -> Vec<(usize, &str)> {
        stmt.leading_comments
            .iter()
            .map(|c| (c.line, c.text.as_str()))
            .collect()
    }

    #[test]
    fn leading_comments_belong_to_the_next_statement() {
        let s =
            split("-- head\nCREATE TABLE a (x int);\n\n-- about b\nCREATE TABLE b (\n y int\n);\n");
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].line, s[0].text.as_str()),
            (2, "CREATE TABLE a (x int)")
        );
        assert_eq!(comments(&s[0]), vec![(1, "head")]);
        assert_eq!(s[1].line, 5);
        assert_eq!(comments(&s[1]), vec![(4, "about b")]);
    }

    #[test]
    fn comments_inside_a_statement_or_before_nothing_are_not_leading() {
        let s = split("-- one\n/* block */ -- two\nSELECT 1 -- inside\n, 2;\n-- stray\n;\nSELECT 3 ;\n-- tail\n");
        assert_eq!(s.len(), 2, "{s:#?}");
        assert_eq!(comments(&s[0]), vec![(1, "one"), (2, "two")]);
        assert!(s[1].leading_comments.is_empty(), "{s:#?}");
        assert_eq!(s[1].text, "SELECT 3");
    }

    #[test]
    fn multiline_dollar_body_counts_lines() {
        let s = split("DO $$\nBEGIN\n  NULL;\nEND\n$$;\n\nSELECT 1;");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].line, 7);
    }

    #[test]
    fn repo_migrations_split() {
        let v4 = include_str!("../../migrations/V4__appointment_indexes.sql");
        let s = split(v4);
        assert_eq!(s.len(), 7);
        assert_eq!(s[0].line, 15);
        assert_eq!(s[0].leading_comments[0].text, "dbkit:no-transaction");
        let v1 = include_str!("../../migrations/V1__supabase_compat.sql");
        assert_eq!(split(v1).len(), 3);
    }

    #[test]
    fn unterminated_quote_swallows_the_rest() {
        assert_eq!(texts("SELECT 'abc; SELECT 2;").len(), 1);
    }
}
