//! A statement as PostgreSQL's own grammar reads it (libpg_query, through the
//! `pg_query` crate), and the questions the lint rules ask of its parse tree: which
//! table an ALTER TABLE changes, what a column definition says, whether a default is
//! volatile. Names come folded as PostgreSQL folds them (unquoted: lower-case).

use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint, ObjectType, RangeVar,
    TypeName,
};
use pg_query::{Node, NodeEnum};

/// Parse one statement's text: its parse trees (one per statement in the text, then
/// the SQL statements inside a PL/pgSQL `DO` block, which run as the migration's own),
/// or PostgreSQL's syntax error.
pub fn parse(sql: &str) -> Result<Vec<NodeEnum>, String> {
    let parsed = pg_query::parse(sql).map_err(|e| match e {
        pg_query::Error::Parse(message) => message,
        other => other.to_string(),
    })?;
    let mut trees: Vec<NodeEnum> = parsed
        .protobuf
        .stmts
        .into_iter()
        .filter_map(|raw| raw.stmt.and_then(|node| node.node))
        .collect();
    let inner: Vec<NodeEnum> = trees
        .iter()
        .filter_map(|t| match t {
            NodeEnum::DoStmt(d) => Some(do_block_statements(d)),
            _ => None,
        })
        .flatten()
        .collect();
    trees.extend(inner);
    Ok(trees)
}

/// The static SQL statements of a PL/pgSQL `DO` block (`EXECUTE` of a string is
/// dynamic and cannot be read; statements PL/pgSQL variables make unparseable are left
/// out).
fn do_block_statements(block: &pg_query::protobuf::DoStmt) -> Vec<NodeEnum> {
    let option = |name: &str| {
        block.args.iter().find_map(|a| match inner(a) {
            Some(NodeEnum::DefElem(d)) if d.defname == name => d.arg.as_deref().and_then(string_of),
            _ => None,
        })
    };
    let Some(body) = option("as") else {
        return vec![];
    };
    if option("language").is_some_and(|l| l != "plpgsql") || body.contains("$dbkit_do$") {
        return vec![];
    }
    let function = format!(
        "CREATE FUNCTION dbkit_do() RETURNS void LANGUAGE plpgsql AS $dbkit_do${body}$dbkit_do$"
    );
    let Ok(json) = pg_query::parse_plpgsql(&function) else {
        return vec![];
    };
    let mut queries = Vec::new();
    collect_queries(&json, &mut queries);
    queries
        .iter()
        .filter_map(|q| pg_query::parse(q).ok())
        .flat_map(|p| p.protobuf.stmts)
        .filter_map(|raw| raw.stmt.and_then(|node| node.node))
        .collect()
}

/// Every `PLpgSQL_stmt_execsql`'s query in a parsed PL/pgSQL function, in order.
fn collect_queries(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "PLpgSQL_stmt_execsql" {
                    if let Some(q) = value["sqlstmt"]["PLpgSQL_expr"]["query"].as_str() {
                        out.push(q.to_string());
                    }
                } else {
                    collect_queries(value, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_queries(v, out)),
        _ => {}
    }
}

/// The node inside a `Node` wrapper.
pub fn inner(node: &Node) -> Option<&NodeEnum> {
    node.node.as_ref()
}

/// The table's own name (schema dropped).
pub fn relation_key(relation: &RangeVar) -> String {
    relation.relname.clone()
}

/// `ALTER TABLE name …` (not ALTER INDEX, VIEW, …): the table and its commands.
pub fn alter_table(stmt: &NodeEnum) -> Option<(&RangeVar, Vec<&AlterTableCmd>)> {
    let NodeEnum::AlterTableStmt(alter) = stmt else {
        return None;
    };
    if alter.objtype() != ObjectType::ObjectTable {
        return None;
    }
    let cmds = alter
        .cmds
        .iter()
        .filter_map(|c| match inner(c) {
            Some(NodeEnum::AlterTableCmd(cmd)) => Some(cmd.as_ref()),
            _ => None,
        })
        .collect();
    Some((alter.relation.as_ref()?, cmds))
}

/// The command's `def` as a column definition (ADD COLUMN).
pub fn column_def(cmd: &AlterTableCmd) -> Option<&ColumnDef> {
    match cmd.def.as_deref().and_then(inner) {
        Some(NodeEnum::ColumnDef(def)) => Some(def),
        _ => None,
    }
}

/// The command's `def` as a constraint (ADD CONSTRAINT, column constraints).
pub fn constraint(cmd: &AlterTableCmd) -> Option<&Constraint> {
    match cmd.def.as_deref().and_then(inner) {
        Some(NodeEnum::Constraint(c)) => Some(c),
        _ => None,
    }
}

/// A constraint as a finding's object: `table.name`, or the table when it is unnamed.
pub fn constraint_object(table: &str, c: &Constraint) -> String {
    match c.conname.as_str() {
        "" => table.to_string(),
        name => format!("{table}.{name}"),
    }
}

/// Is this command of `subtype`?
pub fn is(cmd: &AlterTableCmd, subtype: AlterTableType) -> bool {
    cmd.subtype() == subtype
}

/// The constraints written on a column (NOT NULL, DEFAULT, PRIMARY KEY, REFERENCES …).
pub fn column_constraints(def: &ColumnDef) -> impl Iterator<Item = &Constraint> {
    def.constraints.iter().filter_map(|c| match inner(c) {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

/// The column's constraint of `kind`, if written.
pub fn column_constraint(def: &ColumnDef, kind: ConstrType) -> Option<&Constraint> {
    column_constraints(def).find(|c| c.contype() == kind)
}

/// The last part of a type's name, as written or as the grammar resolved it
/// (`int` → `int4`, `serial` stays `serial`).
pub fn type_key(type_name: Option<&TypeName>) -> String {
    type_name
        .and_then(|t| t.names.last())
        .and_then(string_of)
        .unwrap_or_default()
}

/// The string of a `String` node.
pub fn string_of(node: &Node) -> Option<String> {
    match inner(node) {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

/// A `serial` pseudo-type: the column gets a sequence and `DEFAULT nextval(...)`.
pub fn is_serial(def: &ColumnDef) -> bool {
    matches!(
        type_key(def.type_name.as_ref()).as_str(),
        "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2"
    )
}

/// A column whose values the database fills itself: serial or GENERATED … AS IDENTITY.
pub fn is_auto_numbered(def: &ColumnDef) -> bool {
    is_serial(def) || column_constraint(def, ConstrType::ConstrIdentity).is_some()
}

/// Functions a DEFAULT may call without making the ADD COLUMN rewrite the table: they
/// are STABLE or IMMUTABLE, so PostgreSQL (11+) evaluates them once and stores the
/// value in the catalog. Anything else may be volatile and is judged so.
const NON_VOLATILE: &[&str] = &[
    "to_timestamp",
    "make_date",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "lower",
    "upper",
    "coalesce",
    "jsonb_build_object",
    "json_build_object",
    "jsonb_build_array",
    "array_fill",
    "current_setting",
];

/// STABLE functions of no argument (`now()`); called with arguments, the name is
/// another function, unknown.
const NON_VOLATILE_NO_ARGS: &[&str] = &[
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "current_date",
    "current_timestamp",
    "localtimestamp",
];

/// Does evaluating `expr` once per row give different values (or might it)? Constants,
/// casts of them, CURRENT_TIMESTAMP and its kind, and the functions in `NON_VOLATILE`
/// over such arguments are not volatile; every other call is.
pub fn is_volatile(expr: &Node) -> bool {
    match inner(expr) {
        None => false,
        Some(NodeEnum::AConst(_)) | Some(NodeEnum::SqlvalueFunction(_)) => false,
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().is_some_and(is_volatile),
        Some(NodeEnum::AArrayExpr(array)) => array.elements.iter().any(is_volatile),
        Some(NodeEnum::FuncCall(call)) => {
            let name = call.funcname.last().and_then(string_of).unwrap_or_default();
            let known = NON_VOLATILE.contains(&name.as_str())
                || (call.args.is_empty() && NON_VOLATILE_NO_ARGS.contains(&name.as_str()));
            !known || call.args.iter().any(is_volatile)
        }
        Some(NodeEnum::AExpr(e)) => {
            e.lexpr.as_deref().is_some_and(is_volatile)
                || e.rexpr.as_deref().is_some_and(is_volatile)
        }
        Some(NodeEnum::BoolExpr(e)) => e.args.iter().any(is_volatile),
        Some(NodeEnum::CoalesceExpr(e)) => e.args.iter().any(is_volatile),
        // Anything else (a subquery, a column reference…) cannot be judged: say so.
        Some(_) => true,
    }
}

/// `CHECK (col IS NOT NULL)`: the column it proves not null.
pub fn not_null_check_column(c: &Constraint) -> Option<String> {
    if c.contype() != ConstrType::ConstrCheck {
        return None;
    }
    let Some(NodeEnum::NullTest(test)) = c.raw_expr.as_deref().and_then(inner) else {
        return None;
    };
    if test.nulltesttype() != pg_query::protobuf::NullTestType::IsNotNull {
        return None;
    }
    match test.arg.as_deref().and_then(inner) {
        Some(NodeEnum::ColumnRef(column)) => column.fields.last().and_then(string_of),
        _ => None,
    }
}

/// Is a `concurrently` option among `params` (REINDEX (CONCURRENTLY), CLUSTER, …)?
pub fn has_option(params: &[Node], name: &str) -> bool {
    params.iter().any(|p| match inner(p) {
        Some(NodeEnum::DefElem(d)) => {
            d.defname == name
                && match d.arg.as_deref().and_then(inner) {
                    // `(CONCURRENTLY false)` / `(FULL off)` turn it off.
                    Some(NodeEnum::Boolean(b)) => b.boolval,
                    Some(NodeEnum::String(s)) => !matches!(s.sval.as_str(), "false" | "off" | "0"),
                    Some(NodeEnum::Integer(i)) => i.ival != 0,
                    _ => true,
                }
        }
        _ => false,
    })
}

/// The dotted name of a `List` of `String` nodes (DROP's objects): its last part.
pub fn list_name(node: &Node) -> Option<String> {
    match inner(node) {
        Some(NodeEnum::List(list)) => list.items.last().and_then(string_of),
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_of(sql: &str) -> Node {
        let stmt = parse(sql).unwrap().remove(0);
        let (_, cmds) = alter_table(&stmt).unwrap();
        let def = column_def(cmds[0]).unwrap();
        let default = column_constraint(def, ConstrType::ConstrDefault).unwrap();
        *default.raw_expr.clone().unwrap()
    }

    #[test]
    fn volatile_defaults() {
        for sql in [
            "ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()",
            "ALTER TABLE t ADD COLUMN c float DEFAULT random()",
            "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT clock_timestamp()",
            "ALTER TABLE t ADD COLUMN c int DEFAULT my_func()",
            "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now(123)",
        ] {
            assert!(is_volatile(&default_of(sql)), "{sql}");
        }
        for sql in [
            "ALTER TABLE t ADD COLUMN c int DEFAULT 10",
            "ALTER TABLE t ADD COLUMN c text DEFAULT 'x'::text",
            "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()",
            "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT CURRENT_TIMESTAMP",
            "ALTER TABLE t ADD COLUMN c int DEFAULT -1",
            "ALTER TABLE t ADD COLUMN c jsonb DEFAULT '{}'::jsonb",
        ] {
            assert!(!is_volatile(&default_of(sql)), "{sql}");
        }
    }

    #[test]
    fn do_blocks_bring_their_statements() {
        let trees = parse(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN CREATE TYPE mood AS ENUM ('a'); END IF; ALTER TABLE t ADD COLUMN x int NOT NULL; EXECUTE 'DROP TABLE y'; END $$",
        )
        .unwrap();
        let kinds: Vec<&str> = trees
            .iter()
            .map(|t| match t {
                NodeEnum::DoStmt(_) => "do",
                NodeEnum::CreateEnumStmt(_) => "create type",
                NodeEnum::AlterTableStmt(_) => "alter table",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, vec!["do", "create type", "alter table"]);
        // Another language's body is not PL/pgSQL: only the DO itself.
        assert_eq!(parse("DO LANGUAGE plperl $$ 1 $$").unwrap().len(), 1);
    }

    #[test]
    fn syntax_errors_are_postgresql_messages() {
        let err = parse("CREATE TABLE t (x int,)").unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
        assert_eq!(parse("SELECT 1; SELECT 2").unwrap().len(), 2);
    }
}
