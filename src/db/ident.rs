//! Quoting SQL identifiers, the one way dbkit does it. Names of databases, tables and
//! columns cannot be bound as parameters, so SQL that names them quotes them here.

/// The identifier in double quotes, inner quotes doubled: always safe, any case.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// As PostgreSQL prints it: bare when it is a plain lower-case name, quoted otherwise.
/// For SQL shown to people (a suggested `CREATE INDEX`); keywords are not detected,
/// so use `quote` for SQL dbkit runs.
pub fn quote_if_needed(ident: &str) -> String {
    let plain = !ident.is_empty()
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !ident.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        ident.to_string()
    } else {
        quote(ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("appointments"), "\"appointments\"");
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_if_needed("appointments"), "appointments");
        assert_eq!(quote_if_needed("Mixed"), "\"Mixed\"");
        assert_eq!(quote_if_needed("1st"), "\"1st\"");
        assert_eq!(quote_if_needed(""), "\"\"");
    }
}
