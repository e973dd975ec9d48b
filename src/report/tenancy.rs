//! Renders the tenancy model `dbkit check --explain-tenancy` prints: the tenant table,
//! how requests get their tenant, then one row per table with its kind and key.

use std::io::{self, Write};

use super::{render_rows, write_json, Format, Render};
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
                Kind::Public => ("public", "readable by everyone (configured)".to_string()),
            };
            let source = if table.configured {
                "dbkit.yaml"
            } else {
                "inferred"
            };
            vec![table.table.clone(), kind.into(), how, source.into()]
        })
        .collect();
    for name in &t.untenanted {
        rows.push(vec![
            name.clone(),
            "NONE".into(),
            "isolation-untested: configure it in dbkit.yaml".into(),
            "-".into(),
        ]);
    }
    rows
}

fn summary(t: &Tenancy) -> Vec<String> {
    let mut lines = vec![match &t.tenant_table {
        Some(root) => format!(
            "tenant table: {} (key {}, {})",
            root.table, root.key, root.key_type
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

const HEADERS: &[&str] = &["table", "kind", "tenant", "source"];

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
                    writeln!(out, "{line}")?;
                }
                out.write_all(render_rows(Format::Table, HEADERS, &rows(self)).as_bytes())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::assert_contains;
    use crate::report::to_string;
    use crate::schema::tenancy::{Membership, TableTenancy, TenantTable};

    fn model() -> Tenancy {
        Tenancy {
            exposed_schemas: vec!["public".into()],
            config: None,
            tenant_table: Some(TenantTable {
                oid: 1,
                table: "accounts".into(),
                key: "id".into(),
                key_type: "uuid".into(),
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
                },
            ],
            untenanted: vec!["audit_log".into()],
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
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    }

    #[test]
    fn markdown_and_json() {
        let md = to_string(&model(), Format::Markdown);
        assert!(
            md.starts_with("### dbkit tenancy")
                && md.contains("| tasks | tenant rows | key account_id | inferred |"),
            "{md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&to_string(&model(), Format::Json)).unwrap();
        assert_eq!(json["tenant_table"]["table"], "accounts");
        assert_eq!(json["tables"][1]["kind"], "child");
        assert_eq!(json["tables"][1]["via"][0], "task_id");
        assert_eq!(json["derivations"][0]["kind"], "helper");
        assert_eq!(json["untenanted"][0], "audit_log");
    }
}
