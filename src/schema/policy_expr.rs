//! Judging a policy expression as PostgreSQL stores it (`pg_get_expr` of polqual /
//! polwithcheck), parsed with sqlparser rather than matched as text.
//!
//! A claim call (`auth.*()`, `current_setting()`) is evaluated once per statement when
//! its nearest enclosing query is a one-shot scalar subquery: no FROM, no reference to
//! an outer column — PostgreSQL runs that as an InitPlan. Anywhere else (the bare
//! comparison, or a subquery that scans a table) it runs once per row.
//!
//! The tenancy inference reads policies here too: their boolean atoms, the table's own
//! columns an atom reads, whether it reads who is calling (`auth.uid()`, the JWT claims,
//! a helper function that does), and which column a JWT claim is compared with.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, BinaryOperator, Expr, FunctionArguments, InTarget, ObjectNamePart, Query,
    SetExpr, UnaryOperator, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

pub fn parse(text: &str) -> Result<Expr, String> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| e.to_string())
}

/// Is `expr` a call of `auth.<anything>()` or `current_setting()`?
fn claim_call(expr: &Expr) -> Option<String> {
    let Expr::Function(f) = expr else { return None };
    let parts: Vec<String> = f
        .name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
            ObjectNamePart::Function(_) => String::new(),
        })
        .collect();
    let hit = match parts.as_slice() {
        [schema, _] if schema == "auth" => true,
        [name] | [_, name] if name == "current_setting" => true,
        _ => false,
    };
    hit.then(|| format!("{}()", f.name))
}

/// A query PostgreSQL evaluates once: a single FROM-less SELECT without outer columns.
fn runs_once(q: &Query) -> bool {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return false;
    };
    if !select.from.is_empty() || q.with.is_some() {
        return false;
    }
    // With no FROM, any column reference is an outer one: correlated, so per row.
    let correlated = visit_expressions(select.as_ref(), |e| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    correlated.is_continue()
}

#[derive(Default)]
struct CallFinder {
    /// For each enclosing query, whether it runs once.
    frames: Vec<bool>,
    per_row: Vec<String>,
}

impl Visitor for CallFinder {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        self.frames.push(runs_once(q));
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.frames.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Some(call) = claim_call(expr) {
            if !self.frames.last().copied().unwrap_or(false) {
                self.per_row.push(call);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The claim calls that run once per row (empty: the policy is fine).
pub fn per_row_calls(expr: &Expr) -> Vec<String> {
    visited::<CallFinder>(expr).per_row
}

/// `expr` walked by a fresh `V`.
fn visited<V: Visitor + Default>(expr: &Expr) -> V {
    let mut visitor = V::default();
    let _ = expr.visit(&mut visitor);
    visitor
}

fn mentions_claim(node: &impl Visit) -> bool {
    visit_expressions(node, |e| {
        if claim_call(e).is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
        Expr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

#[derive(Default)]
struct KeyFinder {
    depth: usize,
    columns: Vec<String>,
}

impl Visitor for KeyFinder {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let found = match expr {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => match (column_name(left), column_name(right)) {
                (Some(c), None) if mentions_claim(right) => Some(c),
                (None, Some(c)) if mentions_claim(left) => Some(c),
                _ => None,
            },
            Expr::In {
                expr,
                target: InTarget::Subquery(q),
                negated: false,
                ..
            } => column_name(expr).filter(|_| mentions_claim(q.as_ref())),
            _ => None,
        };
        if let Some(c) = found {
            if !self.columns.contains(&c) {
                self.columns.push(c);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The table's own columns the policy compares with the claim (`org_id = <claim>`):
/// the tenant key, which an index should lead with.
pub fn tenant_columns(expr: &Expr) -> Vec<String> {
    visited::<KeyFinder>(expr).columns
}

/// The boolean atoms of an expression: the operands of its AND, OR and NOT, recursively
/// (`a = 1 AND (b = 2 OR c)` has three).
pub fn atoms(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And | BinaryOperator::Or,
            right,
        } => {
            let mut out = atoms(left);
            out.extend(atoms(right));
            out
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        }
        | Expr::Nested(expr) => atoms(expr),
        other => vec![other],
    }
}

/// The last part of a function's name, lowercased (`public.is_member` is `is_member`).
fn function_name(f: &sqlparser::ast::Function) -> String {
    match f.name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.to_lowercase(),
        _ => String::new(),
    }
}

/// Is `expr` a call that reads who is calling: `auth.uid()`, `auth.jwt()`,
/// `auth.email()`, `current_setting()` of the JWT claims or of an application setting,
/// or one of `helpers` (functions whose body does)? `auth.role()` and request headers
/// are not: they say what kind of caller, or what the client sent, not who.
pub fn is_caller_call(expr: &Expr, helpers: &BTreeSet<String>) -> bool {
    let Expr::Function(f) = expr else {
        return false;
    };
    let name = function_name(f);
    if helpers.contains(&name) {
        return true;
    }
    let schema = match f.name.0.iter().rev().nth(1) {
        Some(ObjectNamePart::Identifier(i)) => i.value.to_lowercase(),
        _ => String::new(),
    };
    match (schema.as_str(), name.as_str()) {
        ("auth", "uid" | "jwt" | "email") => true,
        (_, "current_setting") => {
            let first = match &f.args {
                FunctionArguments::List(list) => {
                    list.args.first().map(|a| a.to_string()).unwrap_or_default()
                }
                _ => String::new(),
            };
            !first.contains("request.") || first.contains("request.jwt")
        }
        _ => false,
    }
}

/// Does anything in `node` read who is calling?
pub fn mentions_caller(node: &impl Visit, helpers: &BTreeSet<String>) -> bool {
    visit_expressions(node, |e| {
        if is_caller_call(e, helpers) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

#[derive(Default)]
struct OwnColumns<'a> {
    table: &'a str,
    depth: usize,
    found: BTreeSet<String>,
}

impl Visitor for OwnColumns<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            // Inside a subquery a bare name is the subquery's own column; pg_get_expr
            // qualifies outer references with the table's name.
            Expr::Identifier(i) if self.depth == 0 => {
                self.found.insert(i.value.clone());
            }
            Expr::CompoundIdentifier(parts) if parts.len() == 2 && parts[0].value == self.table => {
                self.found.insert(parts[1].value.clone());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The columns of `table` (its unqualified name) an expression of its policy reads.
pub fn own_columns(expr: &Expr, table: &str) -> BTreeSet<String> {
    let mut finder = OwnColumns {
        table,
        ..OwnColumns::default()
    };
    let _ = expr.visit(&mut finder);
    finder.found
}

/// The JSON path a claim expression reads (`auth.jwt() -> 'app_metadata' ->> 'org_id'`
/// reads `app_metadata.org_id`), when it reads the JWT.
fn claim_path(expr: &Expr) -> Option<String> {
    let text = expr.to_string();
    if !(text.contains("jwt") || text.contains("current_setting")) {
        return None;
    }
    let re = regex::Regex::new(r"->>?\s*'([^']+)'").expect("valid regex");
    let path: Vec<String> = re.captures_iter(&text).map(|c| c[1].to_string()).collect();
    (!path.is_empty()).then(|| path.join("."))
}

/// Each `column = <JWT claim>` comparison in `expr` (either side, `IN` a subquery
/// reading the claim too): the column, and the claim's path. A claim compared with a
/// constant (`auth.jwt() ->> 'aal' = 'aal2'`) is not one.
pub fn claim_comparisons(expr: &Expr) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for atom in atoms(expr) {
        let found = match atom {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => match (column_name(left), column_name(right)) {
                (Some(c), None) => claim_path(right).map(|p| (c, p)),
                (None, Some(c)) => claim_path(left).map(|p| (c, p)),
                _ => None,
            },
            Expr::In {
                expr,
                target: InTarget::Subquery(q),
                negated: false,
                ..
            } => column_name(expr).and_then(|c| {
                let text = q.to_string();
                let path = claim_path(&parse(&format!("({text})")).ok()?)?;
                Some((c, path))
            }),
            _ => None,
        };
        if let Some(found) = found.filter(|f| !out.contains(f)) {
            out.push(found);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_row(text: &str) -> Vec<String> {
        per_row_calls(&parse(text).unwrap())
    }

    #[test]
    fn unwrapped_call_is_per_row() {
        assert_eq!(
            per_row("org_id = ((auth.jwt() ->> 'org_id'::text))::uuid"),
            vec!["auth.jwt()"]
        );
        assert_eq!(per_row("user_id = auth.uid()"), vec!["auth.uid()"]);
    }

    #[test]
    fn both_wrapped_forms_pass() {
        // As pg_get_expr prints V5's policy and the other common form.
        assert!(
            per_row("(org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))")
                .is_empty()
        );
        assert!(
            per_row("org_id = ((( SELECT auth.jwt() AS jwt) ->> 'org_id'::text))::uuid").is_empty()
        );
        assert!(per_row("(select auth.jwt()) ->> 'org_id' = org_id::text").is_empty());
    }

    #[test]
    fn mixed_expression_fails() {
        let calls =
            per_row("org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid) AND user_id = auth.uid()");
        assert_eq!(calls, vec!["auth.uid()"]);
    }

    #[test]
    fn current_setting_is_judged_the_same() {
        assert_eq!(
            per_row("org_id = (current_setting('app.org_id'::text, true))::uuid"),
            vec!["current_setting()"]
        );
        assert!(per_row("org_id = ( SELECT (current_setting('app.org_id'::text, true))::uuid AS current_setting)").is_empty());
        assert_eq!(
            per_row("org_id = (pg_catalog.current_setting('x'))::uuid").len(),
            1
        );
    }

    #[test]
    fn calls_inside_scanning_or_correlated_subqueries_are_per_row() {
        assert_eq!(
            per_row("org_id IN ( SELECT m.org_id FROM members m WHERE m.user_id = auth.uid())")
                .len(),
            1
        );
        assert!(per_row("org_id IN ( SELECT m.org_id FROM members m WHERE m.user_id = ( SELECT auth.uid() AS uid))").is_empty());
        // FROM-less but correlated with the outer row: a SubPlan per row.
        assert_eq!(
            per_row("( SELECT org_id = (auth.jwt() ->> 'org_id')::uuid)").len(),
            1
        );
    }

    #[test]
    fn other_functions_are_ignored() {
        assert!(per_row("created_at < now() AND lower(name) = 'x'").is_empty());
        assert!(per_row("true").is_empty());
    }

    #[test]
    fn atoms_split_and_or_not() {
        let e = parse("(a = 1 AND (NOT (b = 2) OR c)) AND d IN (SELECT 1)").unwrap();
        let found: Vec<String> = atoms(&e).iter().map(|a| a.to_string()).collect();
        assert_eq!(found, vec!["a = 1", "b = 2", "c", "d IN (SELECT 1)"]);
    }

    #[test]
    fn caller_calls_are_identity_reads_only() {
        let helpers: BTreeSet<String> = ["is_member".to_string()].into();
        let reads = |t: &str| mentions_caller(&parse(t).unwrap(), &helpers);
        assert!(reads("user_id = ( SELECT auth.uid() AS uid)"));
        assert!(reads("public.is_member(org_id)"));
        assert!(reads(
            "org_id = (current_setting('request.jwt.claims'::text, true))::uuid"
        ));
        assert!(reads(
            "org_id = (current_setting('app.tenant'::text))::uuid"
        ));
        assert!(!reads("auth.role() = 'authenticated'::text"));
        assert!(!reads(
            "(current_setting('request.headers'::text, true)::json ->> 'origin') = 'x'"
        ));
        assert!(!reads("sharing <> 'private'::text"));
    }

    #[test]
    fn own_columns_skip_the_subquery_s_own_names() {
        let e = parse("org_id IN ( SELECT m.org_id FROM members m WHERE user_id = auth.uid()) OR EXISTS (SELECT 1 FROM t WHERE t.id = notes.task_id)").unwrap();
        let cols: Vec<String> = own_columns(&e, "notes").into_iter().collect();
        assert_eq!(cols, vec!["org_id", "task_id"]);
    }

    #[test]
    fn claims_compared_with_columns_only() {
        let found = |t: &str| claim_comparisons(&parse(t).unwrap());
        assert_eq!(
            found("(org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))"),
            vec![("org_id".to_string(), "org_id".to_string())]
        );
        assert_eq!(
            found("org_id = (((auth.jwt() -> 'app_metadata'::text) ->> 'org_id'::text))::uuid"),
            vec![("org_id".to_string(), "app_metadata.org_id".to_string())]
        );
        assert!(found("((auth.jwt() ->> 'aal'::text) = 'aal2'::text)").is_empty());
        assert!(found(
            "((current_setting('request.headers'::text, true))::json ->> 'x-org') = 'a'"
        )
        .is_empty());
    }

    #[test]
    fn tenant_columns_found() {
        let cols = |t: &str| tenant_columns(&parse(t).unwrap());
        assert_eq!(
            cols("(org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))"),
            vec!["org_id"]
        );
        assert_eq!(
            cols("(id = ((auth.jwt() ->> 'org_id'::text))::uuid)"),
            vec!["id"]
        );
        assert_eq!(
            cols("org_id IN ( SELECT m.org_id FROM members m WHERE m.user_id = ( SELECT auth.uid() AS uid))"),
            vec!["org_id"]
        );
        assert!(cols("true").is_empty());
        assert!(cols("status = 'booked'").is_empty());
    }
}
