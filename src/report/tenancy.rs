//! Renders the tenancy model `dbkit check --explain-tenancy` prints: the tenant table,
//! how requests get their tenant, then one row per table with its kind and key, how
//! sure the inference is and the evidence it rests on.

use std::io::{self, Write};

use super::{
    render_rows, render_rows_keeping, table_width, write_json, write_wrapped, Format, Render,
};
use crate::schema::tenancy::{Derivation, Kind, Tenancy};

fn derivation(d: &Derivation) -> String {
    match d {
        Derivation::Claim { claim } => format!("JWT claim `{claim}`"),
        Derivation::Membership { table } => format!("membership lookup in {table} by auth.uid()"),
        Derivation::Helper { function } => format!("SECURITY DEFINER helper {function}()"),
    }
}

fn rows(t: &Tenancy) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = t
        .tables
        .iter()
        .map(|table| {
            let (kind, how) = match &table.kind {
                Kind::Tenant { key } => ("tenant table", format!("key {key}")),
                Kind::Keyed { key } => ("tenant rows", format!("key {key}")),
                Kind::Child { via, parent, .. } => {
                    ("child", format!("via {} -> {parent}", via.join(", ")))
                }
                Kind::PerUser { column } => ("per user", format!("{column} = auth.uid()")),
                Kind::Public => ("no tenant", "public on purpose".to_string()),
            };
            let kind = if table.closed {
                format!("{kind} (service role only)")
            } else {
                kind.to_string()
            };
            vec![
                table.table.clone(),
                kind,
                how,
                table.confidence.to_string(),
                table.evidence.clone(),
            ]
        })
        .collect();
    for name in &t.untenanted {
        rows.push(vec![
            name.clone(),
            "NONE".into(),
            "isolation-untested: configure it in dbkit.yaml".into(),
            "-".into(),
            "no tenant key, foreign key or user column a policy ties to the caller".into(),
        ]);
    }
    for name in &t.service_only {
        rows.push(vec![
            name.clone(),
            "service role only".into(),
            "-".into(),
            "-".into(),
            "row-level security on, no policy for anon, authenticated or PUBLIC".into(),
        ]);
    }
    rows
}

fn summary(t: &Tenancy) -> Vec<String> {
    let mut lines = vec![match &t.tenant_table {
        Some(root) => format!(
            "tenant table: {} (key {}, {}) — {} confidence: {}",
            root.table, root.key, root.key_type, root.confidence, root.evidence
        ),
        None => "tenant table: none found".to_string(),
    }];
    let how: Vec<String> = t.derivations.iter().map(derivation).collect();
    lines.push(format!(
        "request tenant: {}",
        if how.is_empty() {
            "not derived by any policy".to_string()
        } else {
            how.join("; ")
        }
    ));
    if let Some(m) = &t.membership {
        lines.push(format!(
            "membership: {} ({} -> {})",
            m.table, m.user_column, m.key
        ));
    }
    lines.push(format!(
        "exposed schemas: {}; config: {}",
        t.exposed_schemas.join(", "),
        t.config.as_deref().unwrap_or("none (dbkit.yaml not found)")
    ));
    lines
}

const HEADERS: &[&str] = &["table", "kind", "tenant", "confidence", "evidence"];

impl Render for Tenancy {
    fn render(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => write_json(out, self),
            Format::Markdown => {
                writeln!(out, "### dbkit tenancy\n")?;
                for line in summary(self) {
                    writeln!(out, "- {line}")?;
                }
                writeln!(out)?;
                out.write_all(render_rows(Format::Markdown, HEADERS, &rows(self)).as_bytes())
            }
            Format::Table => {
                for line in summary(self) {
                    write_wrapped(out, &line, "", "  ", table_width())?;
                }
                // Names stay whole; the tenant and the evidence wrap.
                out.write_all(
                    render_rows_keeping(Format::Table, HEADERS, &rows(self), &[0, 1, 3]).as_bytes(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::assert_contains;
    use crate::report::to_string;
    use crate::schema::tenancy::{Confidence, Membership, TableTenancy, TenantTable};

    fn model() -> Tenancy {
        Tenancy {
            exposed_schemas: vec!["public".into()],
            config: None,
            tenant_table: Some(TenantTable {
                oid: 1,
                table: "accounts".into(),
                key: "id".into(),
                key_type: "uuid".into(),
                confidence: Confidence::High,
                evidence: "policies tie 2 foreign key(s) to it to the caller: tasks.account_id"
                    .into(),
            }),
            derivations: vec![Derivation::Helper {
                function: "has_role_on_account".into(),
            }],
            membership: Some(Membership {
                oid: 2,
                table: "accounts_memberships".into(),
                key: "account_id".into(),
                user_column: "user_id".into(),
            }),
            tables: vec![
                TableTenancy {
                    oid: 3,
                    table: "tasks".into(),
                    kind: Kind::Keyed {
                        key: "account_id".into(),
                    },
                    configured: false,
                    closed: false,
                    confidence: Confidence::High,
                    evidence: "policy tasks_all: public.has_role_on_account(account_id)".into(),
                },
                TableTenancy {
                    oid: 4,
                    table: "task_comments".into(),
                    kind: Kind::Child {
                        via: vec!["task_id".into()],
                        parent: "tasks".into(),
                        parent_oid: 3,
                    },
                    configured: false,
                    closed: false,
                    confidence: Confidence::Medium,
                    evidence: "a policy reads task_id -> tasks".into(),
                },
            ],
            untenanted: vec!["audit_log".into()],
            service_only: vec!["billing_events".into()],
            sharding: false,
        }
    }

    #[test]
    fn table_lists_every_table_and_the_untenanted() {
        let out = to_string(&model(), Format::Table);
        assert_contains(
            &out,
            &[
                "tenant table: accounts (key id, uuid)",
                "SECURITY DEFINER helper has_role_on_account()",
                "via task_id -> tasks",
            ],
        );
        assert!(out.contains("audit_log") && out.contains("NONE"), "{out}");
        assert!(
            out.contains("billing_events") && out.contains("service role only"),
            "{out}"
        );
        assert_contains(&out, &["high confidence: policies tie 2 foreign key(s)"]);
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    }

    #[test]
    fn markdown_and_json() {
        let md = to_string(&model(), Format::Markdown);
        assert!(
            md.starts_with("### dbkit tenancy")
                && md.contains("| tasks | tenant rows | key account_id | high | policy tasks_all: public.has_role_on_account(account_id) |"),
            "{md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&model(), Format::Json)).unwrap();
        assert_eq!(json["tenant_table"]["table"], "accounts");
        assert_eq!(json["tables"][1]["kind"], "child");
        assert_eq!(json["tables"][1]["via"][0], "task_id");
        assert_eq!(json["derivations"][0]["kind"], "helper");
        assert_eq!(json["untenanted"][0], "audit_log");
        assert_eq!(json["tables"][0]["confidence"], "high");
        assert_eq!(
            json["tables"][1]["evidence"],
            "a policy reads task_id -> tasks"
        );
        assert_eq!(json["tenant_table"]["confidence"], "high");
    }
}
