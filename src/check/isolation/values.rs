//! A valid value for a column of any type PostgreSQL has, as text cast to the column's
//! type: enums and CHECK-listed values in turn (so fixture rows vary over them), past
//! and future timestamps, and the numbers a CHECK constraint names. Generated and
//! identity columns are never given one.

use crate::schema::facts::{Check, Column};

/// The values the fixture's rows go through for this column (CHECK lists, enum
/// labels, past and future times). Empty: any one value does.
pub fn variants(column: &Column, checks: &[&Check]) -> Vec<String> {
    if !column.enum_labels.is_empty() {
        return column.enum_labels.clone();
    }
    let listed: Vec<String> = checks
        .iter()
        .flat_map(|c| quoted_literals(&c.definition))
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    if column.category == "D" {
        return vec!["past".into(), "future".into()];
    }
    vec![]
}

/// The quoted literals of a CHECK such as `status = ANY (ARRAY['booked'::text, ...])`.
fn quoted_literals(definition: &str) -> Vec<String> {
    let re = regex::Regex::new(r"'((?:[^']|'')*)'").expect("valid regex");
    // Only lists of allowed values: equality or IN/ANY, not LIKE patterns.
    if !(definition.contains("= ANY") || definition.contains(" = '")) {
        return vec![];
    }
    re.captures_iter(definition)
        .map(|c| c[1].replace("''", "'"))
        .collect()
}

/// A value for `column` in fixture row `row` of tenant `tenant` (both small numbers),
/// as text for `$n::text::<type>`. `None`: the type has no value dbkit can make.
pub fn value(column: &Column, checks: &[&Check], row: usize, tenant: usize) -> Option<String> {
    let variants = variants(column, checks);
    if column.category != "D" && !variants.is_empty() {
        return Some(variants[(row + tenant) % variants.len()].clone());
    }
    let n = row + 10 * tenant;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    Some(
        match (column.category.as_str(), column.base_type.as_str()) {
            (_, "uuid") => uuid::Uuid::new_v4().to_string(),
            (_, "jsonb" | "json") => format!("{{\"dbkit\": {n}}}"),
            (_, "bytea") => format!("\\x{:02x}", n % 256),
            (_, "xml") => "<dbkit/>".into(),
            (_, "tsvector") => "dbkit".into(),
            (_, "tsquery") => "dbkit".into(),
            (_, "macaddr") => format!("08:00:2b:01:02:{:02x}", n % 256),
            (_, "macaddr8") => format!("08:00:2b:01:02:03:04:{:02x}", n % 256),
            (_, "pg_lsn") => "0/0".into(),
            (_, "inet") => format!("10.0.{}.{}", tenant % 256, row % 256),
            (_, "cidr") => format!("10.{}.{}.0/24", tenant % 256, row % 256),
            (_, "point") => format!("({n},{n})"),
            (_, "line") => "{1,-1,0}".into(),
            (_, "lseg") => "[(0,0),(1,1)]".into(),
            (_, "box") => "(1,1),(0,0)".into(),
            (_, "path") => "((0,0),(1,1))".into(),
            (_, "polygon") => "((0,0),(1,1),(1,0))".into(),
            (_, "circle") => "<(0,0),1>".into(),
            (_, "interval") => format!("{} minutes", n + 1),
            (_, "money") => format!("{}", n + 1),
            ("S", _) => format!("dbkit-{tenant}-{row}-{}", &unique[..8]),
            ("N", _) => number(checks, n),
            ("B", _) => "true".into(),
            ("V", _) => "1".into(),
            ("A", _) => "{}".into(),
            ("R", _) if column.base_type.ends_with("multirange") => "{}".into(),
            ("R", _) => "empty".into(),
            ("D", _) => timestamp(row, column.attnum),
            _ => return None,
        },
    )
}

/// A number the column's CHECKs allow: just above the first number they name
/// (`x > 0`, `x BETWEEN 5 AND 240`), else small and distinct per row.
fn number(checks: &[&Check], n: usize) -> String {
    let re = regex::Regex::new(r"[<>=]=?\s*\(?(-?\d+)").expect("valid regex");
    checks
        .iter()
        .find_map(|c| re.captures(&c.definition))
        .and_then(|c| c[1].parse::<i64>().ok())
        .map(|low| (low + 1).to_string())
        .unwrap_or_else(|| (n + 1).to_string())
}

/// Even rows in the past, odd rows in the future, on distinct days; within a row the
/// later column is later (`ends_at > scheduled_at` holds).
fn timestamp(row: usize, attnum: i16) -> String {
    let year = if row.is_multiple_of(2) { 2020 } else { 2035 };
    format!(
        "{year}-01-{:02} {:02}:00:00+00",
        1 + row / 2 % 28,
        (attnum as i32 % 20) + 1
    )
}

/// The SQL that turns parameter `$n` (text) into a value of the column's type.
pub fn cast(column: &Column, n: usize) -> String {
    if column.category == "D" && column.base_type != "interval" {
        format!("(${n}::text::timestamptz)::{}", column.sql_type)
    } else {
        format!("${n}::text::{}", column.sql_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(category: &str, base: &str) -> Column {
        Column {
            name: "c".into(),
            sql_type: base.into(),
            base_type: base.into(),
            category: category.into(),
            enum_labels: vec![],
            domain_checks: vec![],
            not_null: true,
            has_default: false,
            identity: false,
            generated: false,
            attnum: 3,
            type_oid: 0,
            base_oid: 0,
            base_kind: "b".into(),
            element: None,
            typmod: -1,
            default: None,
            identity_kind: String::new(),
            sequence: None,
        }
    }

    fn check(def: &str) -> Check {
        Check {
            name: "c_check".into(),
            columns: vec!["c".into()],
            definition: def.into(),
        }
    }

    #[test]
    fn check_lists_and_enums_vary_by_row() {
        let c = check("CHECK ((c = ANY (ARRAY['booked'::text, 'cancelled'::text])))");
        let text = col("S", "text");
        assert_eq!(variants(&text, &[&c]), vec!["booked", "cancelled"]);
        assert_eq!(value(&text, &[&c], 1, 0).unwrap(), "cancelled");
        let mut e = col("E", "mood");
        e.enum_labels = vec!["sad".into(), "ok".into()];
        assert_eq!(value(&e, &[], 0, 1).unwrap(), "ok");
    }

    #[test]
    fn times_are_past_and_future() {
        let t = col("D", "timestamptz");
        assert!(value(&t, &[], 0, 0).unwrap().starts_with("2020"));
        assert!(value(&t, &[], 1, 0).unwrap().starts_with("2035"));
        assert_eq!(cast(&t, 2), "($2::text::timestamptz)::timestamptz");
    }

    #[test]
    fn numbers_follow_the_check() {
        let n = col("N", "int4");
        let c = check("CHECK (((c >= 5) AND (c <= 240)))");
        assert_eq!(value(&n, &[&c], 0, 0).unwrap(), "6");
        assert_eq!(value(&n, &[], 2, 1).unwrap(), "13");
    }

    #[test]
    fn every_kind_of_type_has_a_value() {
        for (cat, base) in [
            ("U", "jsonb"),
            ("U", "json"),
            ("U", "bytea"),
            ("I", "inet"),
            ("I", "cidr"),
            ("T", "interval"),
            ("A", "_text"),
            ("R", "tstzrange"),
            ("R", "int4multirange"),
            ("G", "point"),
            ("G", "polygon"),
            ("G", "circle"),
            ("U", "uuid"),
            ("V", "bit"),
        ] {
            assert!(value(&col(cat, base), &[], 0, 0).is_some(), "{base}");
        }
        assert!(value(&col("C", "some_composite"), &[], 0, 0).is_none());
    }
}
