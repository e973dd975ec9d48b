//! Where in the migrations an object was last defined, so a catalog finding (found on
//! the final schema) can point at a file and line — and be silenced by an inline ignore.
//! Objects are known by their schema-qualified name (an unqualified name is `public`'s,
//! where Supabase's search_path creates it) and, for older callers, by their bare name.

use std::collections::HashMap;

use sqlparser::ast::{
    AlterTableOperation, ObjectName, ObjectNamePart, Statement as Ast, TableConstraint,
};

use super::files::ParsedFile;

/// An identifier as PostgreSQL folds it: unquoted names are lower-cased.
fn ident_key(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The object's own name (schema dropped), folded.
fn table_key(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident_key(ident),
        _ => name.to_string(),
    }
}

/// Object keys: `table:S.NAME`, `rls:S.NAME`, `policy:S.TABLE.NAME`, `index:S.NAME` (the
/// table's schema), `function:S.NAME`, `view:S.NAME`; each also without the `S.` part;
/// and `constraint:S.TABLE.NAME` for a foreign key an ALTER TABLE added.
#[derive(Debug, Default)]
pub struct Locator {
    /// Key -> (file, line, position of the statement among all files in version order).
    places: HashMap<String, (String, usize, usize)>,
}

/// The schema a name is in: its qualifier, folded, else `public`.
fn schema_key(name: &ObjectName) -> String {
    match name.0.iter().rev().nth(1) {
        Some(ObjectNamePart::Identifier(ident)) => ident_key(ident),
        _ => "public".to_string(),
    }
}

/// `kind:schema.name` and `kind:name` for a relation or function name.
fn keys_of(kind: &str, name: &ObjectName) -> [String; 2] {
    let bare = table_key(name);
    [
        format!("{kind}:{}.{bare}", schema_key(name)),
        format!("{kind}:{bare}"),
    ]
}

/// The keys of the objects `ast` defines.
fn defined_by(ast: &Ast) -> Vec<String> {
    let policy = |table: &ObjectName, name: &sqlparser::ast::Ident| {
        let policy = ident_key(name);
        keys_of("policy", table)
            .map(|k| format!("{k}.{policy}"))
            .to_vec()
    };
    match ast {
        Ast::CreateTable(t) => keys_of("table", &t.name).to_vec(),
        Ast::CreateForeignTable(t) => keys_of("table", &t.name).to_vec(),
        // The statement that switched RLS is where rls-* findings belong; the one that
        // added a foreign key is where findings on that key belong.
        Ast::AlterTable(a) => {
            let mut keys = Vec::new();
            for op in &a.operations {
                match op {
                    AlterTableOperation::EnableRowLevelSecurity
                    | AlterTableOperation::DisableRowLevelSecurity => {
                        keys.extend(keys_of("rls", &a.name));
                    }
                    AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::ForeignKey(fk),
                        ..
                    } => {
                        let table = table_key(&a.name);
                        // PostgreSQL's name for an unnamed one: table_col1_col2_fkey.
                        let name = match &fk.name {
                            Some(n) => ident_key(n),
                            None => {
                                let cols: Vec<String> = fk.columns.iter().map(ident_key).collect();
                                format!("{table}_{}_fkey", cols.join("_"))
                            }
                        };
                        keys.push(format!("constraint:{}.{table}.{name}", schema_key(&a.name)));
                    }
                    _ => {}
                }
            }
            keys
        }
        Ast::CreatePolicy(p) => policy(&p.table_name, &p.name),
        Ast::AlterPolicy(p) => policy(&p.table_name, &p.name),
        Ast::CreateIndex(i) => match &i.name {
            // An index is created in its table's schema, whatever its name says.
            Some(name) => {
                let index = table_key(name);
                vec![
                    format!("index:{}.{index}", schema_key(&i.table_name)),
                    format!("index:{index}"),
                ]
            }
            None => vec![],
        },
        Ast::CreateFunction(f) => keys_of("function", &f.name).to_vec(),
        Ast::CreateView(v) => keys_of("view", &v.name).to_vec(),
        _ => vec![],
    }
}

impl Locator {
    pub fn new(files: &[ParsedFile]) -> Locator {
        let mut places = HashMap::new();
        // `files` come sorted by version, so statement order is definition order.
        let statements = files
            .iter()
            .flat_map(|file| file.statements.iter().map(move |s| (file, s)));
        for (order, (file, s)) in statements.enumerate() {
            let Some(ast) = &s.ast else { continue };
            let here = (file.display.clone(), s.stmt.line, order);
            for key in defined_by(ast) {
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
        assert_eq!(
            l.find("policy:public.appointments.appointments_tenant"),
            l.find("policy:appointments.appointments_tenant")
        );
        assert!(l.find("index:public.appointments_org_time_idx").is_some());
    }

    #[test]
    fn objects_in_other_schemas_are_found_by_their_qualified_name() {
        let file = crate::check::files::parse_file(
            "V7__storage.sql".into(),
            "migrations/V7__storage.sql".into(),
            7,
            "storage".into(),
            "CREATE SCHEMA app;\nCREATE TABLE app.Notes (id int);\nCREATE INDEX notes_idx ON app.notes (id);\n\
             CREATE POLICY \"Own files\" ON storage.objects FOR SELECT TO authenticated USING (true);\n\
             CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n\
             CREATE VIEW app.v AS SELECT 1;\n"
                .into(),
        );
        let l = Locator::new(&[file]);
        let line = |key: &str| l.find(key).map(|(_, line)| line);
        assert_eq!(line("table:app.notes"), Some(2));
        assert_eq!(line("index:app.notes_idx"), Some(3));
        assert_eq!(line("index:public.notes_idx"), None);
        assert_eq!(line("policy:storage.objects.Own files"), Some(4));
        assert_eq!(line("function:app.f"), Some(5));
        assert_eq!(line("view:app.v"), Some(6));
        assert_eq!(line("table:public.notes"), None);
    }

    #[test]
    fn a_foreign_key_is_found_where_an_alter_table_added_it() {
        let file = crate::check::files::parse_file(
            "V7__fk.sql".into(),
            "migrations/V7__fk.sql".into(),
            7,
            "fk".into(),
            "CREATE TABLE notes (id int, org_id uuid);\n\
             ALTER TABLE ONLY \"public\".\"notes\"\n    ADD CONSTRAINT \"notes_org_fk\" FOREIGN KEY (org_id) REFERENCES orgs (id);\n\
             ALTER TABLE notes ADD FOREIGN KEY (id) REFERENCES other (id);\n"
                .into(),
        );
        let l = Locator::new(&[file]);
        let line = |key: &str| l.find(key).map(|(_, line)| line);
        assert_eq!(line("constraint:public.notes.notes_org_fk"), Some(2));
        assert_eq!(line("constraint:public.notes.notes_id_fkey"), Some(4));
        assert_eq!(line("table:public.notes"), Some(1));
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
