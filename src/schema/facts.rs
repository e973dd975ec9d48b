//! What every command reads from the catalog: relations with their columns (types down
//! to the base type of a domain and the element type of an array, type modifiers,
//! defaults, identity, generated, owned sequences), keys, foreign keys (composite and
//! self-referencing), CHECKs, every index (partial and expression ones included) and
//! exclusion constraints; API reachability (counting the privileges Supabase's default
//! privileges would grant), functions, and policies. Loaded once per run; everything
//! after this is a pure function of these facts.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::policy::{policies, Policy};
use super::user_schema;

/// The roles PostgREST switches to for requests.
pub const API_ROLES: [&str; 2] = ["anon", "authenticated"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelKind {
    Table,
    View,
    MaterializedView,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    /// As reported: schema omitted for `public`.
    pub name: String,
    /// Unqualified name (locator keys and policy texts use it).
    pub short: String,
    /// Quoted, schema-qualified, for SQL.
    pub sql_name: String,
    pub kind: RelKind,
    pub rls: bool,
    /// In one of the exposed schemas (PostgREST's `db_schemas`).
    pub exposed: bool,
    /// One of the project's schemas (not `auth`, `storage`, ...).
    pub owned: bool,
    /// Can anon / authenticated reach it (any of SELECT, INSERT, UPDATE, DELETE)? A
    /// relation that was never granted or revoked (NULL ACL) in an exposed schema
    /// counts as granted: Supabase's default privileges grant it.
    pub anon: bool,
    pub authenticated: bool,
    /// Never granted or revoked: the default privileges decide.
    pub default_acl: bool,
    pub security_invoker: bool,
    pub columns: Vec<Column>,
    pub foreign_keys: Vec<ForeignKey>,
    pub primary_key: Vec<String>,
    /// Unique constraints and unique indexes other than the primary key.
    pub uniques: Vec<(String, Vec<String>)>,
    pub checks: Vec<Check>,
    /// Relations a view or materialized view reads.
    pub reads: Vec<u32>,
    /// A partition of a partitioned table (rows go in through its parent).
    pub partition: bool,
    /// Every index, constraint-owned ones included.
    pub indexes: Vec<Index>,
    pub exclusions: Vec<Exclusion>,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// An index as the catalog has it.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub primary: bool,
    /// One per key column: the column's name, or the expression's text
    /// (`lower(email)`), as `pg_get_indexdef(index, k, true)` prints it.
    pub keys: Vec<String>,
    /// Whether each key is a plain column (false: an expression).
    pub plain: Vec<bool>,
    /// A partial index's WHERE.
    pub predicate: Option<String>,
    /// btree, gist, gin, ...
    pub method: String,
    /// A constraint (primary key, unique, exclusion) owns it.
    pub constraint: bool,
}

/// An exclusion constraint: no two rows whose elements all match under their operators
/// (`staff_id WITH =, tstzrange(starts_at, ends_at) WITH &&`), among the rows its
/// predicate selects.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub name: String,
    /// Column names or expression texts, with their operators.
    pub elements: Vec<(String, String)>,
    pub predicate: Option<String>,
    pub definition: String,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type`: what to cast to.
    pub sql_type: String,
    /// The base type's name (a domain's base type for domains).
    pub base_type: String,
    /// pg_type.typcategory of the base type.
    pub category: String,
    pub enum_labels: Vec<String>,
    /// A domain's CHECK constraints: (name, definition).
    pub domain_checks: Vec<Check>,
    pub not_null: bool,
    pub has_default: bool,
    pub identity: bool,
    pub generated: bool,
    pub attnum: i16,
    /// The declared type (a domain's own oid for a domain).
    pub type_oid: u32,
    /// The base type's oid and pg_type.typtype (b, e, r, m, c, p, ...).
    pub base_oid: u32,
    pub base_kind: String,
    /// For an array: its element type's oid, name and category; its enum labels.
    pub element: Option<Element>,
    /// atttypmod (or the domain's): varchar's length + 4, numeric's precision and scale.
    pub typmod: i32,
    /// The DEFAULT expression.
    pub default: Option<String>,
    /// `a` (GENERATED ALWAYS) or `d` (BY DEFAULT) for identity columns, else empty.
    pub identity_kind: String,
    /// The sequence a serial or identity column owns (`public.t_id_seq`).
    pub sequence: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub oid: u32,
    pub type_name: String,
    pub category: String,
    pub enum_labels: Vec<String>,
}

impl Column {
    /// varchar(n) / char(n): at most n characters.
    pub fn max_chars(&self) -> Option<usize> {
        matches!(self.base_type.as_str(), "varchar" | "bpchar")
            .then(|| self.typmod - 4)
            .filter(|n| *n > 0)
            .map(|n| n as usize)
    }

    /// numeric(p, s): precision and scale.
    pub fn numeric_precision(&self) -> Option<(u32, u32)> {
        (self.base_type == "numeric" && self.typmod >= 4).then(|| {
            let m = (self.typmod - 4) as u32;
            (m >> 16, m & 0xffff)
        })
    }
}

impl Column {
    /// Can an INSERT or UPDATE name the column?
    pub fn writable(&self) -> bool {
        !self.generated && !self.identity
    }

    /// Must an INSERT give it a value?
    pub fn required(&self) -> bool {
        self.not_null && !self.has_default && self.writable()
    }
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub target: u32,
    pub target_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub columns: Vec<String>,
    pub definition: String,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub oid: u32,
    pub name: String,
    pub short: String,
    pub sql_name: String,
    pub exposed: bool,
    pub security_definer: bool,
    pub returns_set: bool,
    /// Arguments without defaults: 0 means callable as `f()`.
    pub required_args: i16,
    pub is_trigger: bool,
    pub anon: bool,
    pub authenticated: bool,
    pub body: String,
    /// What it returns, as `pg_get_function_result` prints it (`boolean`,
    /// `SETOF appointments`, `TABLE(id uuid, ...)`, `void`).
    pub returns: String,
    /// Its input arguments, in order.
    pub args: Vec<FunctionArg>,
}

/// One input argument of a function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FunctionArg {
    /// Empty when unnamed.
    pub name: String,
    /// `format_type`: what to cast to.
    pub sql_type: String,
    /// The base type's name (a domain's base type for domains).
    pub base_type: String,
    /// pg_type.typcategory of the base type.
    pub category: String,
}

/// A user trigger on a relation of the facts.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub table: u32,
    pub name: String,
    /// Its function's body.
    pub body: String,
    pub on_insert: bool,
    pub row_level: bool,
    /// Not disabled (`tgenabled <> 'D'`).
    pub enabled: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub relations: Vec<Relation>,
    pub functions: Vec<Function>,
    pub policies: Vec<Policy>,
    pub triggers: Vec<Trigger>,
}

impl Facts {
    pub fn relation(&self, oid: u32) -> Option<&Relation> {
        self.relations.iter().find(|r| r.oid == oid)
    }

    pub fn policies_on<'a>(&'a self, r: &'a Relation) -> impl Iterator<Item = &'a Policy> {
        self.policies.iter().filter(move |p| p.table_oid == r.oid)
    }
}

// $1: the exposed schemas.
const RELATIONS: &str = concat!(
    "SELECT c.oid, n.nspname::text,
            CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END::text,
            c.relname::text, format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relrowsecurity,
            n.nspname = ANY($1), (", user_schema!(), "),
            c.relacl IS NULL,
            coalesce(c.reloptions::text[] && ARRAY['security_invoker=true','security_invoker=on','security_invoker=1'], false),
            ARRAY(SELECT DISTINCT d.refobjid FROM pg_rewrite w JOIN pg_depend d ON d.objid = w.oid
                  WHERE w.ev_class = c.oid AND d.classid = 'pg_rewrite'::regclass
                    AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid),
            c.relispartition
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
       AND ((", user_schema!(), ") OR n.nspname = ANY($1) OR n.nspname = 'auth')
     ORDER BY 3"
);

// $1: oids. Privileges of the API roles on each relation.
const REACH: &str = "
    SELECT r.oid, has_table_privilege('anon', r.oid, 'SELECT, INSERT, UPDATE, DELETE'),
           has_table_privilege('authenticated', r.oid, 'SELECT, INSERT, UPDATE, DELETE')
    FROM unnest($1::oid[]) AS r(oid)";

const COLUMNS: &str = "
    SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
           coalesce(bt.typname, t.typname)::text, coalesce(bt.typcategory, t.typcategory)::text,
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid) ORDER BY e.enumsortorder),
           ARRAY(SELECT con.conname::text FROM pg_constraint con WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY 1),
           ARRAY(SELECT pg_get_constraintdef(con.oid) FROM pg_constraint con WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname),
           a.attnotnull OR coalesce(t.typnotnull, false), a.atthasdef, a.attidentity <> '', a.attgenerated <> '', a.attnum,
           t.oid, coalesce(bt.oid, t.oid), coalesce(bt.typtype, t.typtype)::text,
           coalesce(et.oid, 0::oid), coalesce(et.typname::text, ''), coalesce(et.typcategory::text, ''),
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = et.oid ORDER BY e.enumsortorder),
           CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE coalesce(nullif(t.typtypmod, -1), -1) END,
           pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text,
           pg_get_serial_sequence(a.attrelid::regclass::text, a.attname), a.attrelid
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
    LEFT JOIN pg_type et ON coalesce(bt.typcategory, t.typcategory) = 'A'
                        AND et.oid = coalesce(bt.typelem, t.typelem)
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum";

const CONSTRAINTS: &str = "
    SELECT con.conname::text, con.contype::text,
           ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
           coalesce(con.confrelid, 0::oid),
           ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
           pg_get_constraintdef(con.oid), con.conrelid
    FROM pg_constraint con WHERE con.conrelid = ANY($1::oid[]) ORDER BY con.conrelid, 1";

/// Every index: its key columns or expressions, predicate, method.
const INDEXES: &str = "
    SELECT i.indrelid, ic.relname::text, i.indisunique, i.indisprimary,
           ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
           ARRAY(SELECT (i.indkey::int2[])[k - 1] <> 0 FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
           pg_get_expr(i.indpred, i.indrelid, true), am.amname::text,
           EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                   AND con.contype IN ('p', 'u', 'x'))
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = ANY($1::oid[]) ORDER BY 1";

/// Exclusion constraints: elements with their operators, predicate.
const EXCLUSIONS: &str = "
    SELECT con.conrelid, con.conname::text,
           ARRAY(SELECT pg_get_indexdef(con.conindid, k::int, true) FROM generate_series(1, cardinality(con.conexclop)) k ORDER BY k),
           ARRAY(SELECT o.oprname::text FROM unnest(con.conexclop) WITH ORDINALITY e(op, k)
                 JOIN pg_operator o ON o.oid = e.op ORDER BY e.k),
           pg_get_expr(i.indpred, i.indrelid, true), pg_get_constraintdef(con.oid)
    FROM pg_constraint con JOIN pg_index i ON i.indexrelid = con.conindid
    WHERE con.conrelid = ANY($1::oid[]) AND con.contype = 'x' ORDER BY 2";

/// Unique indexes that are not constraints.
const UNIQUE_INDEXES: &str = "
    SELECT ic.relname::text,
           ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
           i.indrelid
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE i.indrelid = ANY($1::oid[]) AND i.indisunique AND NOT i.indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
    ORDER BY i.indrelid, i.indexrelid";

// $1: exposed schemas. Functions in exposed schemas and in the project's schemas (the
// tenancy inference reads their bodies: a helper in `private` may read the caller).
const FUNCTIONS: &str = concat!(
    "SELECT p.oid, CASE WHEN n.nspname = 'public' THEN p.proname ELSE n.nspname || '.' || p.proname END::text,
            p.proname::text, format('%I.%I', n.nspname, p.proname), n.nspname = ANY($1), p.prosecdef, p.proretset,
            (p.pronargs - p.pronargdefaults)::int2, p.prorettype = 'trigger'::regtype,
            has_function_privilege('anon', p.oid, 'EXECUTE'),
            has_function_privilege('authenticated', p.oid, 'EXECUTE'), coalesce(p.prosrc, ''),
            pg_get_function_result(p.oid),
            coalesce((SELECT json_agg(json_build_object(
                        'name', coalesce(x.n, ''), 'sql_type', format_type(x.t, NULL),
                        'base_type', coalesce(bt.typname, ty.typname)::text,
                        'category', coalesce(bt.typcategory, ty.typcategory)::text) ORDER BY x.i)
                      FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                                  coalesce(p.proargmodes, array_fill('i'::\"char\", ARRAY[p.pronargs::int])),
                                  coalesce(p.proargnames, array_fill(''::text, ARRAY[p.pronargs::int])))
                           WITH ORDINALITY AS x(t, m, n, i)
                      JOIN pg_type ty ON ty.oid = x.t
                      LEFT JOIN pg_type bt ON ty.typtype = 'd' AND bt.oid = ty.typbasetype
                      WHERE x.m IN ('i', 'b', 'v')), '[]'::json)::text
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prokind = 'f'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
       AND (n.nspname = ANY($1) OR (", user_schema!(), "))
     ORDER BY 2"
);

/// User triggers on tables, with their function's body.
const TRIGGERS: &str = "
    SELECT t.tgrelid, t.tgname::text, coalesce(p.prosrc, ''), (t.tgtype & 4) <> 0, (t.tgtype & 1) <> 0,
           t.tgenabled <> 'D'
    FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal AND t.tgrelid = ANY($1::oid[])
    ORDER BY 1, 2";

/// Read the facts. `exposed` are PostgREST's schemas.
pub async fn load(client: &Client, exposed: &[String]) -> Result<Facts> {
    let roles_exist: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')",
            &[],
        )
        .await?
        .get(0);
    let mut relations = Vec::new();
    for r in client
        .query(RELATIONS, &[&exposed])
        .await
        .context("reading relations")?
    {
        let kind = match r.get::<_, String>(5).as_str() {
            "v" => RelKind::View,
            "m" => RelKind::MaterializedView,
            _ => RelKind::Table,
        };
        let oid: u32 = r.get(0);
        let exposed_here: bool = r.get(7);
        let default_acl: bool = r.get(9);
        let reach = [exposed_here && default_acl, exposed_here && default_acl];
        relations.push(Relation {
            oid,
            schema: r.get(1),
            name: r.get(2),
            short: r.get(3),
            sql_name: r.get(4),
            kind,
            rls: r.get(6),
            exposed: exposed_here,
            owned: r.get(8),
            anon: reach[0],
            authenticated: reach[1],
            default_acl,
            security_invoker: r.get(10),
            reads: r.get(11),
            partition: r.get(12),
            columns: vec![],
            foreign_keys: vec![],
            primary_key: vec![],
            uniques: vec![],
            checks: vec![],
            indexes: vec![],
            exclusions: vec![],
        });
    }
    // dbkit's own migration history is not the project's schema.
    relations
        .retain(|r| !(r.schema == "public" && r.short == crate::migrate::history::REFINERY_TABLE));
    if roles_exist == 2 {
        let oids: Vec<u32> = relations.iter().map(|r| r.oid).collect();
        for row in client
            .query(REACH, &[&oids])
            .await
            .context("reading privileges")?
        {
            let oid: u32 = row.get(0);
            if let Some(rel) = relations.iter_mut().find(|r| r.oid == oid) {
                rel.anon |= rel.exposed && row.get::<_, bool>(1);
                rel.authenticated |= rel.exposed && row.get::<_, bool>(2);
            }
        }
    }
    fill_relations(client, &mut relations).await?;
    fill_indexes(client, &mut relations).await?;
    let functions = if roles_exist == 2 {
        client
            .query(FUNCTIONS, &[&exposed])
            .await
            .context("reading functions")?
            .iter()
            .map(|r| Function {
                oid: r.get(0),
                name: r.get(1),
                short: r.get(2),
                sql_name: r.get(3),
                exposed: r.get(4),
                security_definer: r.get(5),
                returns_set: r.get(6),
                required_args: r.get(7),
                is_trigger: r.get(8),
                anon: r.get(9),
                authenticated: r.get(10),
                body: r.get(11),
                returns: r.get(12),
                args: serde_json::from_str(r.get::<_, &str>(13)).unwrap_or_default(),
            })
            .collect()
    } else {
        vec![]
    };
    let oids: Vec<u32> = relations.iter().map(|r| r.oid).collect();
    let triggers = client
        .query(TRIGGERS, &[&oids])
        .await
        .context("reading triggers")?
        .iter()
        .map(|r| Trigger {
            table: r.get(0),
            name: r.get(1),
            body: r.get(2),
            on_insert: r.get(3),
            row_level: r.get(4),
            enabled: r.get(5),
        })
        .collect();
    Ok(Facts {
        relations,
        functions,
        policies: policies(client).await?,
        triggers,
    })
}

/// Every relation's columns, constraints and unique indexes, in three queries.
async fn fill_relations(client: &Client, relations: &mut [Relation]) -> Result<()> {
    let oids: Vec<u32> = relations.iter().map(|r| r.oid).collect();
    let position: std::collections::HashMap<u32, usize> = relations
        .iter()
        .enumerate()
        .map(|(i, r)| (r.oid, i))
        .collect();
    for r in client
        .query(COLUMNS, &[&oids])
        .await
        .context("reading columns")?
    {
        let Some(&at) = position.get(&r.get::<_, u32>(23)) else {
            continue;
        };
        let names: Vec<String> = r.get(5);
        let defs: Vec<String> = r.get(6);
        relations[at].columns.push(Column {
            name: r.get(0),
            sql_type: r.get(1),
            base_type: r.get(2),
            category: r.get(3),
            enum_labels: r.get(4),
            domain_checks: names
                .into_iter()
                .zip(defs)
                .map(|(name, definition)| Check {
                    name,
                    columns: vec![],
                    definition,
                })
                .collect(),
            not_null: r.get(7),
            has_default: r.get(8),
            identity: r.get(9),
            generated: r.get(10),
            attnum: r.get(11),
            type_oid: r.get(12),
            base_oid: r.get(13),
            base_kind: r.get(14),
            element: match r.get::<_, u32>(15) {
                0 => None,
                oid => Some(Element {
                    oid,
                    type_name: r.get(16),
                    category: r.get(17),
                    enum_labels: r.get(18),
                }),
            },
            typmod: r.get(19),
            default: r.get(20),
            identity_kind: r.get(21),
            sequence: r.get(22),
        });
    }
    for r in client
        .query(CONSTRAINTS, &[&oids])
        .await
        .context("reading constraints")?
    {
        let Some(&at) = position.get(&r.get::<_, u32>(6)) else {
            continue;
        };
        let rel = &mut relations[at];
        let name: String = r.get(0);
        let columns: Vec<String> = r.get(2);
        match r.get::<_, String>(1).as_str() {
            "p" => rel.primary_key = columns,
            "u" => rel.uniques.push((name, columns)),
            "f" => rel.foreign_keys.push(ForeignKey {
                name,
                columns,
                target: r.get(3),
                target_columns: r.get(4),
            }),
            "c" => rel.checks.push(Check {
                name,
                columns,
                definition: r.get(5),
            }),
            _ => {}
        }
    }
    for r in client
        .query(UNIQUE_INDEXES, &[&oids])
        .await
        .context("reading unique indexes")?
    {
        if let Some(&at) = position.get(&r.get::<_, u32>(2)) {
            relations[at].uniques.push((r.get(0), r.get(1)));
        }
    }
    Ok(())
}

/// Every relation's indexes and exclusion constraints, in two queries.
async fn fill_indexes(client: &Client, relations: &mut [Relation]) -> Result<()> {
    let oids: Vec<u32> = relations.iter().map(|r| r.oid).collect();
    let by_oid =
        |relations: &mut [Relation], oid: u32| relations.iter_mut().position(|r| r.oid == oid);
    for r in client
        .query(INDEXES, &[&oids])
        .await
        .context("reading indexes")?
    {
        if let Some(i) = by_oid(relations, r.get(0)) {
            relations[i].indexes.push(Index {
                name: r.get(1),
                unique: r.get(2),
                primary: r.get(3),
                keys: r.get(4),
                plain: r.get(5),
                predicate: r.get(6),
                method: r.get(7),
                constraint: r.get(8),
            });
        }
    }
    for r in client
        .query(EXCLUSIONS, &[&oids])
        .await
        .context("reading exclusion constraints")?
    {
        if let Some(i) = by_oid(relations, r.get(0)) {
            let elements: Vec<String> = r.get(2);
            let operators: Vec<String> = r.get(3);
            relations[i].exclusions.push(Exclusion {
                name: r.get(1),
                elements: elements.into_iter().zip(operators).collect(),
                predicate: r.get(4),
                definition: r.get(5),
            });
        }
    }
    Ok(())
}

/// Facts built by hand, for unit tests of the pure parts.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// An exposed, RLS-enabled table both API roles can reach; `id` is its uuid
    /// primary key and every column is a NOT NULL uuid.
    pub fn table(oid: u32, name: &str, columns: &[&str]) -> Relation {
        Relation {
            oid,
            schema: "public".into(),
            name: name.into(),
            short: name.into(),
            sql_name: format!("public.{name}"),
            kind: RelKind::Table,
            rls: true,
            exposed: true,
            owned: true,
            anon: true,
            authenticated: true,
            default_acl: false,
            security_invoker: false,
            columns: columns
                .iter()
                .enumerate()
                .map(|(i, c)| Column {
                    name: c.to_string(),
                    sql_type: "uuid".into(),
                    base_type: "uuid".into(),
                    category: "U".into(),
                    enum_labels: vec![],
                    domain_checks: vec![],
                    not_null: true,
                    has_default: *c == "id",
                    identity: false,
                    generated: false,
                    attnum: i as i16 + 1,
                    type_oid: 2950,
                    base_oid: 2950,
                    base_kind: "b".into(),
                    element: None,
                    typmod: -1,
                    default: (*c == "id").then(|| "gen_random_uuid()".into()),
                    identity_kind: String::new(),
                    sequence: None,
                })
                .collect(),
            foreign_keys: vec![],
            primary_key: if columns.contains(&"id") {
                vec!["id".into()]
            } else {
                vec![]
            },
            uniques: vec![],
            checks: vec![],
            reads: vec![],
            partition: false,
            indexes: vec![],
            exclusions: vec![],
        }
    }

    /// The tenancy inferred, with the default configuration, from facts of just these
    /// relations and policies.
    pub fn tenancy_of(
        relations: Vec<Relation>,
        policies: Vec<Policy>,
    ) -> crate::schema::tenancy::Tenancy {
        let facts = Facts {
            relations,
            policies,
            ..Facts::default()
        };
        crate::schema::tenancy::infer(&facts, &Default::default())
    }

    /// A foreign key `column` -> `target`.`target_column`.
    pub fn references(r: &mut Relation, column: &str, target: u32, target_column: &str) {
        r.foreign_keys.push(ForeignKey {
            name: format!("{}_{column}_fkey", r.short),
            columns: vec![column.into()],
            target,
            target_columns: vec![target_column.into()],
        });
    }

    pub fn policy(
        on: &Relation,
        name: &str,
        cmd: &str,
        using: Option<&str>,
        check: Option<&str>,
    ) -> Policy {
        Policy {
            table_oid: on.oid,
            table: on.name.clone(),
            name: name.into(),
            permissive: true,
            cmd: cmd.into(),
            roles: vec!["authenticated".into()],
            using: using.map(str::to_string),
            with_check: check.map(str::to_string),
        }
    }
}
