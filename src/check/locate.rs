//! Where in the migrations an object was last defined, so a catalog finding (found on
//! the final schema) can point at a file and line — and be silenced by an inline ignore.

use std::collections::HashMap;

use sqlparser::ast::{AlterTableOperation, Statement as Ast};

use super::files::MigrationFile;
use super::lint::{ident_key, table_key};

/// Object keys: `table:NAME`, `policy:TABLE.NAME`, `index:NAME`, `function:NAME`.
#[derive(Debug, Default)]
pub struct Locator {
    places: HashMap<String, (String, usize)>,
}

impl Locator {
    pub fn new(files: &[MigrationFile]) -> Locator {
        let mut places = HashMap::new();
        for file in files {
            for s in &file.statements {
                let Some(ast) = &s.ast else { continue };
                let here = (file.display.clone(), s.stmt.line);
                let mut keys = Vec::new();
                match ast {
                    Ast::CreateTable(t) => keys.push(format!("table:{}", table_key(&t.name))),
                    // The statement that switched RLS is where rls-* findings belong.
                    Ast::AlterTable(a)
                        if a.operations.iter().any(|op| {
                            matches!(
                                op,
                                AlterTableOperation::EnableRowLevelSecurity
                                    | AlterTableOperation::DisableRowLevelSecurity
                            )
                        }) =>
                    {
                        keys.push(format!("rls:{}", table_key(&a.name)))
                    }
                    Ast::CreatePolicy(p) => keys.push(format!(
                        "policy:{}.{}",
                        table_key(&p.table_name),
                        ident_key(&p.name)
                    )),
                    Ast::AlterPolicy(p) => keys.push(format!(
                        "policy:{}.{}",
                        table_key(&p.table_name),
                        ident_key(&p.name)
                    )),
                    Ast::CreateIndex(i) => {
                        if let Some(name) = &i.name {
                            keys.push(format!("index:{}", table_key(name)));
                        }
                    }
                    Ast::CreateFunction(f) => keys.push(format!("function:{}", table_key(&f.name))),
                    _ => {}
                }
                for key in keys {
                    places.insert(key, here.clone());
                }
            }
        }
        Locator { places }
    }

    /// The last statement that defined `key`, e.g. `table:appointments`.
    pub fn find(&self, key: &str) -> Option<(String, usize)> {
        self.places.get(key).cloned()
    }

    /// The first of `keys` that is known.
    pub fn first(&self, keys: &[String]) -> Option<(String, usize)> {
        keys.iter().find_map(|k| self.find(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_objects_are_found_where_last_defined() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let (files, _) = crate::check::files::load(&dir).unwrap();
        let l = Locator::new(&files);
        let (file, line) = l.find("policy:appointments.appointments_tenant").unwrap();
        assert!(
            file.ends_with("V5__rls_initplan.sql") && line == 27,
            "{file}:{line}"
        );
        assert!(l
            .find("table:appointments")
            .unwrap()
            .0
            .ends_with("V2__booking_schema.sql"));
        assert!(l
            .find("rls:contacts")
            .unwrap()
            .0
            .ends_with("V3__tenant_rls.sql"));
        assert!(l.find("index:appointments_org_time_idx").is_some());
    }
}
