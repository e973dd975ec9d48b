//! `view-bypasses-rls`: a view an API role can read, over a table with row-level
//! security, without `security_invoker = true`: it reads as its owner, so the policies
//! never run. A materialized view over a tenant table has no policies at all.

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::facts::{Facts, RelKind};
use crate::schema::Tenancy;

pub fn check(facts: &Facts, tenancy: &Tenancy) -> Vec<Hit> {
    let mut hits = Vec::new();
    for v in facts
        .relations
        .iter()
        .filter(|r| r.exposed && r.kind != RelKind::Table && (r.anon || r.authenticated))
    {
        let over: Vec<&str> = v
            .reads
            .iter()
            .filter_map(|oid| facts.relation(*oid))
            .filter(|t| match v.kind {
                RelKind::MaterializedView => tenancy.of(t.oid).is_some() || t.rls,
                _ => t.rls && !v.security_invoker,
            })
            .map(|t| t.name.as_str())
            .collect();
        if over.is_empty() {
            continue;
        }
        let message = if v.kind == RelKind::MaterializedView {
            format!(
                "materialized view {} copies rows of {} and has no row-level security: every API role that can select it reads every tenant's rows (revoke SELECT from anon, authenticated)",
                v.name,
                over.join(", ")
            )
        } else {
            format!(
                "view {} reads {} as its owner, past row-level security: API roles read every tenant's rows through it (CREATE VIEW ... WITH (security_invoker = true))",
                v.name,
                over.join(", ")
            )
        };
        hits.push(Hit::new(
            Rule::ViewBypassesRls,
            v.name.clone(),
            message,
            vec![format!("view:{}", v.short), format!("table:{}", v.short)],
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::table;
    use crate::schema::Config;

    #[test]
    fn definer_views_over_rls_tables() {
        let base = table(1, "appointments", &["id", "org_id"]);
        let mut v = table(2, "appointments_v", &["id", "org_id"]);
        v.kind = RelKind::View;
        v.reads = vec![1];
        let mut invoker = v.clone();
        invoker.oid = 3;
        invoker.name = "appointments_safe".into();
        invoker.security_invoker = true;
        let facts = Facts {
            relations: vec![base, v, invoker],
            ..Facts::default()
        };
        let tenancy = crate::schema::tenancy::infer(&facts, &Config::default());
        let hits = check(&facts, &tenancy);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].subjects[0].object, "appointments_v");
    }
}
