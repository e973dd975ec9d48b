//! A catalog parameter's type and value. The type is PostgreSQL's name for it (`uuid`,
//! `timestamptz`, `text`, an enum's name, …): any type a column can have. Values are
//! sampled as text and bound in PostgreSQL's text format, so the server parses them
//! with the type's own input function — a value sampled from an enum, a `numeric` or a
//! `citext` column goes back exactly as it came out.

use std::fmt;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type};

/// A parameter's PostgreSQL type, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ParamType(String);

impl ParamType {
    /// The type named `name` (trimmed, lower-cased; PostgreSQL's long names and their
    /// short aliases mean the same type).
    pub fn new(name: &str) -> ParamType {
        let name = name.trim().to_ascii_lowercase();
        let name = match name.as_str() {
            "timestamp with time zone" => "timestamptz",
            "timestamp without time zone" => "timestamp",
            "time without time zone" => "time",
            "time with time zone" => "timetz",
            "integer" | "int" => "int4",
            "bigint" => "int8",
            "smallint" => "int2",
            "boolean" => "bool",
            "character varying" => "varchar",
            "character" => "bpchar",
            "double precision" => "float8",
            "real" => "float4",
            "decimal" => "numeric",
            other => other,
        };
        ParamType(name.to_string())
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The type to prepare the statement with: PostgreSQL's built-in type of that name,
    /// or — for a type of the project's own (an enum, a domain, an extension's type) —
    /// "unspecified", so the server infers it from where the parameter is used.
    pub fn pg_type(&self) -> Type {
        builtin(&self.0).unwrap_or_else(|| {
            Type::new(
                "unknown".into(),
                UNSPECIFIED,
                Kind::Pseudo,
                "pg_catalog".into(),
            )
        })
    }
}

/// OID 0 in a Parse message: let the server infer the parameter's type.
const UNSPECIFIED: u32 = 0;

fn builtin(name: &str) -> Option<Type> {
    Some(match name {
        "uuid" => Type::UUID,
        "text" => Type::TEXT,
        "varchar" => Type::VARCHAR,
        "bpchar" => Type::BPCHAR,
        "name" => Type::NAME,
        "int2" => Type::INT2,
        "int4" => Type::INT4,
        "int8" => Type::INT8,
        "numeric" => Type::NUMERIC,
        "float4" => Type::FLOAT4,
        "float8" => Type::FLOAT8,
        "bool" => Type::BOOL,
        "date" => Type::DATE,
        "time" => Type::TIME,
        "timetz" => Type::TIMETZ,
        "timestamp" => Type::TIMESTAMP,
        "timestamptz" => Type::TIMESTAMPTZ,
        "interval" => Type::INTERVAL,
        "json" => Type::JSON,
        "jsonb" => Type::JSONB,
        "inet" => Type::INET,
        "bytea" => Type::BYTEA,
        "tstzrange" => Type::TSTZ_RANGE,
        "daterange" => Type::DATE_RANGE,
        "text[]" | "_text" => Type::TEXT_ARRAY,
        "uuid[]" | "_uuid" => Type::UUID_ARRAY,
        "int4[]" | "_int4" => Type::INT4_ARRAY,
        "int8[]" | "_int8" => Type::INT8_ARRAY,
        _ => return None,
    })
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ParamType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "a parameter type is a PostgreSQL type name",
            ));
        }
        Ok(ParamType::new(&name))
    }
}

/// A sampled value: PostgreSQL's text form of it, sent in the text format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParamValue(pub String);

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ToSql for ParamValue {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        // Any type: the server parses the text with the type's input function.
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

/// `values` as the parameter list tokio-postgres takes.
pub fn refs(values: &[ParamValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_and_aliases_are_one_type() {
        assert_eq!(
            ParamType::new("timestamp with time zone"),
            ParamType::new("timestamptz")
        );
        assert_eq!(ParamType::new(" Integer "), ParamType::new("int4"));
        assert_eq!(ParamType::new("character varying").pg_type(), Type::VARCHAR);
    }

    #[test]
    fn a_project_type_is_left_to_the_server() {
        let t = ParamType::new("booking_status");
        assert_eq!(t.pg_type().oid(), 0);
        assert_eq!(t.name(), "booking_status");
    }
}
