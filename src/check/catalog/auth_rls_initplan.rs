//! `auth-rls-initplan`: a policy that calls `auth.*()` or `current_setting()` outside a
//! one-shot scalar subquery evaluates it for every row. Judged on the parsed expression
//! (see `policy_expr`): `(select auth.jwt()) ->> 'org_id'` and
//! `(select (auth.jwt() ->> 'org_id')::uuid)` pass; an expression that wraps one call
//! and not another fails.

use super::policy_expr;
use super::{Hit, Policy};
use crate::check::rule::Rule;

pub fn check(policies: &[Policy]) -> Vec<Hit> {
    let mut out = Vec::new();
    for p in policies {
        for (clause, text) in [("USING", &p.using), ("WITH CHECK", &p.with_check)] {
            let Some(text) = text else { continue };
            let calls = match policy_expr::parse(text) {
                Ok(expr) => policy_expr::per_row_calls(&expr),
                // PostgreSQL printed it, sqlparser cannot read it: say so, do not guess.
                Err(e) => {
                    out.push(Hit::new(
                        Rule::AuthRlsInitplan,
                        p.object(),
                        format!(
                            "{clause} expression could not be parsed to judge it ({e}): {text}"
                        ),
                        p.locate(),
                    ));
                    continue;
                }
            };
            if calls.is_empty() {
                continue;
            }
            let mut names = calls.clone();
            names.dedup();
            out.push(Hit::new(
                Rule::AuthRlsInitplan,
                p.object(),
                format!(
                    "policy {} on {}: {clause} calls {} once per row; wrap each call in a scalar subquery, e.g. (select {}), so it runs once per statement",
                    p.name,
                    p.table,
                    names.join(", "),
                    names[0]
                ),
                p.locate(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(using: &str) -> Policy {
        Policy {
            table_oid: 1,
            table: "appointments".into(),
            name: "p".into(),
            permissive: true,
            cmd: "*".into(),
            roles: vec!["authenticated".into()],
            using: Some(using.into()),
            with_check: None,
        }
    }

    #[test]
    fn one_hit_per_clause_naming_the_calls() {
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
