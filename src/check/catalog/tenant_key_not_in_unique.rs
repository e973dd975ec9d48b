//! `tenant-key-not-in-unique` (info): on a tenant table, a primary key, unique
//! constraint or foreign key to another tenant table that lacks the tenant key.
//! Sharding by tenant (Citus's multi-tenant model) needs the key in all of them; this
//! is scale-out readiness on paper, not a defect today, so it is reported only when
//! dbkit.yaml asks (`tenancy: { sharding: true }`).

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::facts::Facts;
use crate::schema::tenancy::{Kind, Tenancy};

pub fn check(facts: &Facts, tenancy: &Tenancy) -> Vec<Hit> {
    let mut hits = Vec::new();
    if !tenancy.sharding {
        return hits;
    }
    for t in &tenancy.tables {
        let Kind::Keyed { key } = &t.kind else {
            continue;
        };
        let Some(r) = facts.relation(t.oid) else {
            continue;
        };
        let lacks = |cols: &[String]| !cols.is_empty() && !cols.contains(key);
        let mut missing = Vec::new();
        if lacks(&r.primary_key) {
            missing.push(format!("primary key ({})", r.primary_key.join(", ")));
        }
        for (name, cols) in r.uniques.iter().filter(|(_, c)| lacks(c)) {
            missing.push(format!("unique {name} ({})", cols.join(", ")));
        }
        for fk in r.foreign_keys.iter().filter(|f| {
            lacks(&f.columns)
                && matches!(
                    tenancy.of(f.target).map(|t| &t.kind),
                    Some(Kind::Keyed { .. })
                )
        }) {
            missing.push(format!(
                "foreign key {} ({})",
                fk.name,
                fk.columns.join(", ")
            ));
        }
        if missing.is_empty() {
            continue;
        }
        hits.push(Hit::new(
            Rule::TenantKeyNotInUnique,
            r.name.clone(),
            format!(
                "{}: {} without the tenant key {key} (sharding by tenant needs it in each)",
                r.name,
                missing.join(", ")
            ),
            vec![format!("table:{}", r.short)],
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{references, table};
    use crate::schema::Config;

    #[test]
    fn keys_between_tenant_tables_need_the_tenant_key() {
        let orgs = table(1, "orgs", &["id"]);
        let mut providers = table(2, "providers", &["id", "org_id"]);
        references(&mut providers, "org_id", 1, "id");
        let mut members = table(3, "members", &["org_id", "user_id"]);
        references(&mut members, "org_id", 1, "id");
        members.primary_key = vec!["org_id".into(), "user_id".into()];
        let mut appointments = table(4, "appointments", &["id", "org_id", "provider_id"]);
        references(&mut appointments, "org_id", 1, "id");
        references(&mut appointments, "provider_id", 2, "id");
        let facts = Facts {
            relations: vec![orgs, providers, members, appointments],
            ..Facts::default()
        };
        let mut config = Config::default();
        assert!(check(&facts, &crate::schema::tenancy::infer(&facts, &config)).is_empty());
        config.tenancy.sharding = true;
        let tenancy = crate::schema::tenancy::infer(&facts, &config);
        let hits = check(&facts, &tenancy);
        let objects: Vec<&str> = hits.iter().map(|h| h.subjects[0].object.as_str()).collect();
        assert_eq!(objects, vec!["appointments", "providers"]);
        assert!(hits[0].subjects[0]
            .message
            .contains("appointments_provider_id_fkey"));
    }
}
