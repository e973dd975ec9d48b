//! `auth-rls-initplan`: a policy that calls `auth.*()` or `current_setting()` outside a
//! one-shot scalar subquery evaluates it for every row. Judged on the parsed expression
//! (see `policy_expr`): `(select auth.jwt()) ->> 'org_id'` and
//! `(select (auth.jwt() ->> 'org_id')::uuid)` pass; an expression that wraps one call
//! and not another fails.

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::policy::Policy;
use crate::schema::policy_expr;

/// One hit per policy, listing every clause that calls per row.
pub fn check(policies: &[Policy]) -> Vec<Hit> {
    policies.iter().filter_map(judge).collect()
}

fn judge(p: &Policy) -> Option<Hit> {
    let mut per_row: Vec<String> = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    let mut first_call = None;
    for (clause, text) in [("USING", &p.using), ("WITH CHECK", &p.with_check)] {
        let Some(text) = text else { continue };
        match policy_expr::parse(text) {
            Ok(expr) => {
                let mut calls = policy_expr::per_row_calls(&expr);
                calls.dedup();
                if let Some(call) = calls.first() {
                    first_call.get_or_insert_with(|| call.clone());
                    per_row.push(format!("{clause} calls {}", calls.join(", ")));
                }
            }
            // PostgreSQL printed it, sqlparser cannot read it: say so, do not guess.
            Err(e) => unreadable.push(format!(
                "{clause} expression could not be parsed to judge it ({e}): {text}"
            )),
        }
    }
    let mut parts = Vec::new();
    if let Some(call) = first_call {
        parts.push(format!(
            "policy {} on {}: {} once per row; wrap each call in a scalar subquery, e.g. (select {call}), so it runs once per statement",
            p.name,
            p.table,
            per_row.join("; ")
        ));
    }
    if !unreadable.is_empty() {
        parts.push(format!(
            "policy {} on {}: {}",
            p.name,
            p.table,
            unreadable.join("; ")
        ));
    }
    (!parts.is_empty()).then(|| {
        Hit::new(
            Rule::AuthRlsInitplan,
            p.object(),
            parts.join(". "),
            p.locate(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(using: &str) -> Policy {
        policy_checking(using, None)
    }

    fn policy_checking(using: &str, with_check: Option<&str>) -> Policy {
        Policy {
            table_oid: 1,
            table: "appointments".into(),
            name: "p".into(),
            permissive: true,
            cmd: "*".into(),
            roles: vec!["authenticated".into()],
            using: Some(using.into()),
            with_check: with_check.map(String::from),
        }
    }

    #[test]
    fn one_hit_per_policy_listing_its_clauses() {
        let hits = check(&[policy_checking(
            "(org_id = ((auth.jwt() ->> 'org_id'::text))::uuid)",
            Some("(user_id = auth.uid())"),
        )]);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let message = &hits[0].subjects[0].message;
        assert!(
            message.contains("USING calls auth.jwt(); WITH CHECK calls auth.uid() once per row")
                && message.contains("e.g. (select auth.jwt())"),
            "{message}"
        );
    }

    #[test]
    fn one_hit_naming_the_calls() {
        let hits = check(&[policy("(org_id = ((auth.jwt() ->> 'org_id'::text))::uuid)")]);
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].subjects[0]
                .message
                .contains("USING calls auth.jwt()"),
            "{}",
            hits[0].subjects[0].message
        );
        assert!(check(&[policy(
            "(org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))"
        )])
        .is_empty());
    }
}
