//! Where in the migrations an object was last defined, so a catalog finding (found on
//! the final schema) can point at a file and line — and be silenced by an inline ignore.

use std::collections::HashMap;

use sqlparser::ast::{AlterTableOperation, Statement as Ast};

use super::files::MigrationFile;
use super::lint::{ident_key, table_key};

/// Object keys: `table:NAME`, `policy:TABLE.NAME`, `index:NAME`, `function:NAME`.
#[derive(Debug, Default)]
pub struct Locator {
    /// Key -> (file, line, position of the statement among all files in version order).
    places: HashMap<String, (String, usize, usize)>,
}

impl Locator {
    pub fn new(files: &[MigrationFile]) -> Locator {
        let mut places = HashMap::new();
        // `files` come sorted by version, so statement order is definition order.
        let statements = files
            .iter()
            .flat_map(|file| file.statements.iter().map(move |s| (file, s)));
        for (order, (file, s)) in statements.enumerate() {
            let Some(ast) = &s.ast else { continue };
            let here = (file.display.clone(), s.stmt.line, order);
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
                Ast::CreateView(v) => keys.push(format!("view:{}", table_key(&v.name))),
                _ => {}
            }
            for key in keys {
                places.insert(key, here.clone());
            }
        }
        Locator { places }
    }

    /// The last statement that defined `key`, e.g. `table:appointments`.
    pub fn find(&self, key: &str) -> Option<(String, usize)> {
        self.places
            .get(key)
            .map(|(file, line, _)| (file.clone(), *line))
    }

    /// The first of `keys` that is known.
    pub fn first(&self, keys: &[String]) -> Option<(String, usize)> {
        self.first_placed(keys)
            .map(|(file, line, _)| (file.clone(), *line))
    }

    fn first_placed(&self, keys: &[String]) -> Option<&(String, usize, usize)> {
        keys.iter().find_map(|k| self.places.get(k))
    }

    /// For several objects, each given as its keys (most specific first, as `first`
    /// takes them): the one defined last in the migrations, as (its index, file, line).
    /// On a tie (e.g. all fall back to the same table) the earliest object wins.
    pub fn latest(&self, objects: &[&[String]]) -> Option<(usize, (String, usize))> {
        let mut best: Option<(usize, &(String, usize, usize))> = None;
        for (index, keys) in objects.iter().enumerate() {
            if let Some(place) = self.first_placed(keys) {
                if best.is_none_or(|(_, b)| place.2 > b.2) {
                    best = Some((index, place));
                }
            }
        }
        best.map(|(index, (file, line, _))| (index, (file.clone(), *line)))
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

    #[test]
    fn latest_picks_the_object_defined_last_whatever_its_name() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let (mut files, _) = crate::check::files::load(&dir).unwrap();
        files.push(crate::check::files::parse_file(
            "V7__open.sql".into(),
            "migrations/V7__open.sql".into(),
            7,
            "open".into(),
            "SELECT 1;\nCREATE POLICY aaa_open ON appointments FOR SELECT USING (true);\n".into(),
        ));
        let l = Locator::new(&files);
        let keys = |policy: &str| {
            vec![
                format!("policy:appointments.{policy}"),
                "table:appointments".to_string(),
            ]
        };
        let (tenant, open, gone) = (
            keys("appointments_tenant"),
            keys("aaa_open"),
            keys("made_in_a_do_block"),
        );
        assert_eq!(
            l.latest(&[&tenant, &open]),
            Some((1, ("migrations/V7__open.sql".to_string(), 2)))
        );
        assert_eq!(l.latest(&[&open, &tenant]).unwrap().0, 0);
        // An object found only through its table's fallback counts as defined there.
        let (index, (file, _)) = l.latest(&[&gone, &tenant]).unwrap();
        assert!(
            index == 1 && file.ends_with("V5__rls_initplan.sql"),
            "{file}"
        );
        assert_eq!(l.latest(&[&keys("x"), &keys("y")]).unwrap().0, 0);
        assert_eq!(l.latest(&[&["table:nowhere".to_string()]]), None);
    }
}
