//! `identifier-too-long`: PostgreSQL keeps the first 63 bytes of an identifier
//! (NAMEDATALEN - 1) and only says so in a NOTICE. The object then has another name
//! than the one written: a later `DROP POLICY "<full name>"` misses it, and two long
//! names that share their first 63 bytes collide. Judged from the statement's tokens,
//! so statements sqlparser cannot parse are checked too; bodies in dollar quotes are
//! strings to the tokenizer and are not.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{Ctx, Violation};
use crate::check::rule::Rule;

/// PostgreSQL's longest identifier, in bytes.
const MAX_BYTES: usize = 63;

pub fn check_text(_ctx: &Ctx, sql: &str) -> Vec<Violation> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return vec![];
    };
    let mut out: Vec<Violation> = Vec::new();
    for token in tokens {
        let Token::Word(word) = token else { continue };
        let name = if word.quote_style.is_some() {
            word.value
        } else {
            word.value.to_lowercase()
        };
        if name.len() <= MAX_BYTES {
            continue;
        }
        let kept = truncated(&name);
        if out.iter().any(|v| v.object == kept) {
            continue;
        }
        out.push(Violation {
            lock: None,
            rule: Rule::IdentifierTooLong,
            object: kept.to_string(),
            message: format!(
                "identifier \"{name}\" is {} bytes: PostgreSQL silently keeps the first {MAX_BYTES} (\"{kept}\"), so the full name will not find it later and two such names can collide; shorten it",
                name.len()
            ),
        });
    }
    out
}

/// The first 63 bytes, cut at a character boundary as PostgreSQL does.
fn truncated(name: &str) -> &str {
    let mut end = MAX_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::truncated;
    use crate::check::lint::test_support::{assert_flags, hits};
    use crate::check::rule::Rule::IdentifierTooLong as R;

    #[test]
    fn flags_long_identifiers_once_each() {
        let long = "a".repeat(64);
        assert_eq!(hits(&format!("CREATE TABLE {long} (x int);"), R), 1);
        assert_eq!(
            hits(
                &format!(
                    "CREATE TABLE t (x int);\nCREATE INDEX {long} ON t (x);\nDROP INDEX {long};"
                ),
                R
            ),
            2
        );
        assert_flags(
            R,
            &[
                "CREATE POLICY \"Enable read access for every signed-in member of the same organisation only\" ON t FOR SELECT USING (true);",
            ],
        );
    }

    #[test]
    fn passes_63_bytes_strings_and_comments() {
        let exact = "b".repeat(63);
        assert_eq!(hits(&format!("CREATE TABLE {exact} (x int);"), R), 0);
        let long = "c".repeat(80);
        assert_eq!(hits(&format!("-- {long}\nSELECT '{long}' AS x;"), R), 0);
    }

    #[test]
    fn truncates_at_a_character_boundary() {
        let name = format!("{}é", "d".repeat(62));
        assert_eq!(name.len(), 64);
        assert_eq!(truncated(&name), "d".repeat(62));
    }
}
