//! Reading a plan's conditions for index advice: PostgreSQL's deparsed expressions
//! (`Filter`, `Index Cond`, `Hash Cond`, `Sort Key`, `Output` of `EXPLAIN (VERBOSE)`)
//! parsed with sqlparser, split into conjuncts and classified for one scanned relation —
//! an equality, a range, a constant predicate (what a partial index can carry), a join
//! equality. Pure: no database.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, BinaryOperator, Expr, Ident, UnaryOperator,
};

use crate::schema::policy_expr::parse;

/// What one conjunct says about a column of the scanned relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `col = <a parameter, an outer column, the tenant's claim>`, or `col = ANY (...)`.
    Equality(String),
    /// `col < x`, `col >= x`, … against anything but the relation's own columns.
    Range(String),
    /// A predicate over the column and constants only (`status <> 'cancelled'`,
    /// `deleted_at IS NULL`): what a partial index's WHERE can hold. `sql` has the
    /// column unqualified; `fixes` when it pins the column to values (`=`, `= ANY`).
    Constant {
        column: String,
        sql: String,
        fixes: bool,
    },
}

/// Which relation a condition is read for: its alias in the plan and its columns.
#[derive(Debug, Clone, Copy)]
pub struct Scanned<'a> {
    pub alias: &'a str,
    pub columns: &'a [String],
}

impl Scanned<'_> {
    /// The column of this relation `expr` names, if it is a plain column reference.
    fn column(&self, expr: &Expr) -> Option<String> {
        match strip(expr) {
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qualifier, column] if qualifier.value == self.alias => Some(column.value.clone()),
                _ => None,
            },
            Expr::Identifier(ident) if self.columns.contains(&ident.value) => {
                Some(ident.value.clone())
            }
            _ => None,
        }
    }

    /// Whether `expr` mentions any column of this relation.
    fn mentions(&self, expr: &Expr) -> bool {
        !self.columns_in(expr).is_empty()
    }

    /// Every column of this relation `expr` reads.
    pub fn columns_in(&self, expr: &Expr) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let _ = visit_expressions(expr, |e| {
            if let Some(c) = self.column(e) {
                out.insert(c);
            }
            ControlFlow::<()>::Continue(())
        });
        out
    }
}

/// `(x)` → `x`, any depth.
fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => strip(inner),
        other => other,
    }
}

/// The conjuncts of a condition as PostgreSQL prints it: `((a) AND (b))` → `[a, b]`.
/// A part sqlparser cannot read (`(SubPlan 1)`, `(hashed SubPlan 2)`) is left out.
pub fn conjuncts(text: &str) -> Vec<Expr> {
    match parse(text) {
        Ok(expr) => {
            let mut out = Vec::new();
            split_and(expr, &mut out);
            out
        }
        Err(_) => split_top_level_and(text)
            .into_iter()
            .filter_map(|part| parse(&part).ok())
            .flat_map(|e| {
                let mut out = Vec::new();
                split_and(e, &mut out);
                out
            })
            .collect(),
    }
}

fn split_and(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::Nested(inner) => split_and(*inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        other => out.push(other),
    }
}

/// `((a) AND (b) AND (c))` split at its outermost ANDs, by text: quotes and parentheses
/// respected. For conditions sqlparser cannot parse whole.
fn split_top_level_and(text: &str) -> Vec<String> {
    let mut body = text.trim();
    while body.starts_with('(') && body.ends_with(')') && balanced(&body[1..body.len() - 1]) {
        body = body[1..body.len() - 1].trim();
    }
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && body[i..].starts_with(" AND ") => {
                parts.push(body[start..i].to_string());
                i += 5;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(body[start..].to_string());
    parts
}

/// Whether the parentheses in `text` (outside quotes) never close more than they open.
fn balanced(text: &str) -> bool {
    let (mut depth, mut quoted) = (0i32, false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Literals, casts of literals, arrays of them: no column, parameter or function.
fn constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(v) => !matches!(v.value, sqlparser::ast::Value::Placeholder(_)),
        Expr::TypedString(_) => true,
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => constant(e),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => constant(expr),
        Expr::Array(a) => a.elem.iter().all(constant),
        _ => false,
    }
}

/// The conjunct as SQL with this relation's columns unqualified (`a.status` → `status`),
/// fit for an index's WHERE.
fn unqualified(expr: &Expr, scan: &Scanned) -> String {
    let mut e = expr.clone();
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Some(c) = scan.column(x) {
            *x = Expr::Identifier(Ident::new(c));
        }
        ControlFlow::<()>::Continue(())
    });
    strip(&e).to_string()
}

/// What `conj` says about the scanned relation's columns (None: nothing an index key
/// or predicate can use).
pub fn classify(conj: &Expr, scan: &Scanned) -> Option<Term> {
    let conj = strip(conj);
    match conj {
        Expr::BinaryOp { left, op, right } => {
            // The column on either side, the other side free of this relation.
            let (column, other, op) = match (scan.column(left), scan.column(right)) {
                (Some(c), _) if !scan.mentions(right) => (c, right.as_ref(), op.clone()),
                (None, Some(c)) if !scan.mentions(left) => (c, left.as_ref(), flip(op)),
                _ => return None,
            };
            match op {
                BinaryOperator::Eq if constant(other) => Some(Term::Constant {
                    column,
                    sql: unqualified(conj, scan),
                    fixes: true,
                }),
                BinaryOperator::Eq => Some(Term::Equality(column)),
                BinaryOperator::NotEq if constant(other) => Some(Term::Constant {
                    column,
                    sql: unqualified(conj, scan),
                    fixes: false,
                }),
                BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => Some(Term::Range(column)),
                _ => None,
            }
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => {
            let column = scan.column(left)?;
            if scan.mentions(right) {
                return None;
            }
            Some(if constant(right) {
                Term::Constant {
                    column,
                    sql: unqualified(conj, scan),
                    fixes: true,
                }
            } else {
                Term::Equality(column)
            })
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => Some(Term::Constant {
            column: scan.column(e)?,
            sql: unqualified(conj, scan),
            fixes: false,
        }),
        _ => None,
    }
}

/// `x < col` is `col > x`.
fn flip(op: &BinaryOperator) -> BinaryOperator {
    match op {
        BinaryOperator::Lt => BinaryOperator::Gt,
        BinaryOperator::LtEq => BinaryOperator::GtEq,
        BinaryOperator::Gt => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::LtEq,
        other => other.clone(),
    }
}

/// The columns a join condition equates, per side: `(a.contact_id = c.id)` →
/// `[("a", "contact_id"), ("c", "id")]`.
pub fn join_equalities(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for conj in conjuncts(text) {
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = strip(&conj)
        {
            if let (Expr::CompoundIdentifier(l), Expr::CompoundIdentifier(r)) =
                (strip(left), strip(right))
            {
                if let ([la, lc], [ra, rc]) = (l.as_slice(), r.as_slice()) {
                    if la.value != ra.value {
                        out.push((la.value.clone(), lc.value.clone()));
                        out.push((ra.value.clone(), rc.value.clone()));
                    }
                }
            }
        }
    }
    out
}

/// A sort key as the plan prints it (`a.scheduled_at DESC`): (alias, column) when it is
/// a plain column.
pub fn sort_column(key: &str) -> Option<(String, String)> {
    let mut text = key.trim();
    for suffix in [" NULLS FIRST", " NULLS LAST", " DESC", " ASC"] {
        text = text.strip_suffix(suffix).unwrap_or(text);
    }
    match parse(text).ok()? {
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [alias, column] => Some((alias.value.clone(), column.value.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// The columns of the scanned relation an expression list reads (`Output`, conditions).
pub fn columns_read(texts: &[String], scan: &Scanned) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for text in texts {
        match parse(text) {
            Ok(e) => out.extend(scan.columns_in(&e)),
            Err(_) => {
                for e in conjuncts(text) {
                    out.extend(scan.columns_in(&e));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<String> {
        [
            "id",
            "org_id",
            "provider_id",
            "contact_id",
            "scheduled_at",
            "ends_at",
            "status",
        ]
        .map(String::from)
        .to_vec()
    }

    fn terms(text: &str) -> Vec<Term> {
        let columns = cols();
        let scan = Scanned {
            alias: "a",
            columns: &columns,
        };
        conjuncts(text)
            .iter()
            .filter_map(|c| classify(c, &scan))
            .collect()
    }

    #[test]
    fn a_conflict_check_splits_into_equalities_ranges_and_a_constant() {
        let t = terms(
            "((a.org_id = $1) AND (a.provider_id = $2) AND (a.status <> 'cancelled'::text) AND (a.scheduled_at < $4) AND (a.ends_at > $3))",
        );
        assert_eq!(
            t,
            [
                Term::Equality("org_id".into()),
                Term::Equality("provider_id".into()),
                Term::Constant {
                    column: "status".into(),
                    sql: "status <> 'cancelled'::TEXT".into(),
                    fixes: false
                },
                Term::Range("scheduled_at".into()),
                Term::Range("ends_at".into()),
            ]
        );
    }

    #[test]
    fn the_tenant_claim_and_outer_columns_are_equalities_constant_lists_fix_a_column() {
        let t = terms(
            "((a.org_id = (((COALESCE(NULLIF(current_setting('request.jwt.claim'::text, true), ''::text), NULLIF(current_setting('request.jwt.claims'::text, true), ''::text)))::jsonb ->> 'org_id'::text))::uuid) AND (a.status = ANY ('{booked,confirmed}'::text[])) AND (g.slot_start < a.ends_at))",
        );
        assert_eq!(t[0], Term::Equality("org_id".into()));
        assert!(
            matches!(&t[1], Term::Constant { column, fixes: true, sql } if column == "status" && sql.contains("ANY")),
            "{t:?}"
        );
        // `g.slot_start < a.ends_at` is `a.ends_at > g.slot_start`.
        assert_eq!(t[2], Term::Range("ends_at".into()));
        // An InitPlan's parameter is not a constant.
        assert_eq!(terms("(a.org_id = $0)"), [Term::Equality("org_id".into())]);
    }

    #[test]
    fn unreadable_parts_are_skipped_and_the_rest_kept() {
        let t = terms("((NOT (hashed SubPlan 1)) AND (a.contact_id = $2) AND (a.notes IS NULL))");
        assert_eq!(
            t,
            [
                Term::Equality("contact_id".into()),
                Term::Constant {
                    column: "notes".into(),
                    sql: "notes IS NULL".into(),
                    fixes: false
                }
            ]
        );
        assert_eq!(
            split_top_level_and("((x = 'a AND b') AND (y IN (1, 2)))"),
            ["(x = 'a AND b')", "(y IN (1, 2))"]
        );
    }

    #[test]
    fn joins_sorts_and_outputs() {
        assert_eq!(
            join_equalities("(a.provider_id = p.id)"),
            [
                ("a".to_string(), "provider_id".to_string()),
                ("p".to_string(), "id".to_string())
            ]
        );
        assert_eq!(
            sort_column("a.scheduled_at DESC"),
            Some(("a".into(), "scheduled_at".into()))
        );
        assert_eq!(sort_column("(count(*)) DESC"), None);
        let columns = cols();
        let scan = Scanned {
            alias: "a",
            columns: &columns,
        };
        let read = columns_read(
            &["a.id".into(), "(a.scheduled_at + '1 day'::interval)".into()],
            &scan,
        );
        assert_eq!(read.into_iter().collect::<Vec<_>>(), ["id", "scheduled_at"]);
    }
}
