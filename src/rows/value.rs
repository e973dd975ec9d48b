//! One generated cell (`Value`) and how it travels: PostgreSQL's binary COPY encoding
//! for the types whose wire format dbkit writes itself (`Wire`), the text form every
//! type's input function reads (text COPY, `$1::text::type` parameters), and the bytes
//! a fingerprint hashes.

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use uuid::Uuid;

use crate::schema::facts::Column;

/// A generated value, typed by what dbkit knows of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A decimal number as text (`12.50`).
    Numeric(String),
    /// Text, varchar, char, citext, an enum's label.
    Text(String),
    Uuid(Uuid),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// Months, days, microseconds.
    Interval(i32, i32, i64),
    /// json or jsonb, as JSON text.
    Json(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    /// The text input form of any other type (`10.0.0.1`, `[1,5)`), cast by the server.
    Literal(String),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The form PostgreSQL's input function for the column's type reads.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => if *b { "t" } else { "f" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Numeric(s) | Value::Text(s) | Value::Json(s) | Value::Literal(s) => s.clone(),
            Value::Uuid(u) => u.hyphenated().to_string(),
            Value::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Time(t) => t.format("%H:%M:%S%.6f").to_string(),
            Value::Interval(m, d, us) => format!("{m} mons {d} days {us} microseconds"),
            Value::Bytes(b) => {
                let mut s = String::from("\\x");
                for byte in b {
                    s.push_str(&format!("{byte:02x}"));
                }
                s
            }
            Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|v| match v.to_text() {
                        None => "NULL".into(),
                        Some(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
        })
    }

    /// A key in a column of another type: the org's key is a uuid (a user's id when
    /// the schema has no tenant table) or a number, and a tenant key column of text
    /// (or of a type read from text) holds its text form.
    pub fn in_column(&self, wire: &Wire) -> Value {
        match (self, wire) {
            (Value::Uuid(_) | Value::Int(_), Wire::Text) => {
                Value::Text(self.to_text().unwrap_or_default())
            }
            (Value::Uuid(_) | Value::Int(_), Wire::Other) => {
                Value::Literal(self.to_text().unwrap_or_default())
            }
            _ => self.clone(),
        }
    }

    /// A timestamp, date or number as a number on one axis (microseconds since the
    /// Unix epoch for times), for comparisons.
    pub fn ordinal(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Numeric(s) => s.parse().ok(),
            Value::Timestamp(t) => Some(t.timestamp_micros() as f64),
            Value::Date(d) => Some(d.and_time(NaiveTime::MIN).and_utc().timestamp_micros() as f64),
            Value::Time(t) => Some(t.num_seconds_from_midnight() as f64 * 1e6),
            _ => None,
        }
    }
}

/// How a column's values are written in binary COPY. `Other`: only its text form.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Uuid,
    Timestamptz,
    Timestamp,
    Date,
    Time,
    Interval,
    Json,
    Jsonb,
    Bytea,
    /// One-dimensional array of elements of this wire kind and type oid.
    Array(Box<Wire>, u32),
    Other,
}

impl Wire {
    /// The wire kind of a base type by name (`typname`), for built-in types; enums
    /// travel as their labels.
    pub fn of_type(type_name: &str, enum_like: bool) -> Wire {
        match type_name {
            "bool" => Wire::Bool,
            "int2" => Wire::Int2,
            "int4" => Wire::Int4,
            "int8" => Wire::Int8,
            "float4" => Wire::Float4,
            "float8" => Wire::Float8,
            "numeric" => Wire::Numeric,
            "text" | "varchar" | "bpchar" | "name" => Wire::Text,
            "uuid" => Wire::Uuid,
            "timestamptz" => Wire::Timestamptz,
            "timestamp" => Wire::Timestamp,
            "date" => Wire::Date,
            "time" => Wire::Time,
            "interval" => Wire::Interval,
            "json" => Wire::Json,
            "jsonb" => Wire::Jsonb,
            "bytea" => Wire::Bytea,
            _ if enum_like => Wire::Text,
            _ => Wire::Other,
        }
    }

    /// The wire kind of a column (a domain's base type, an array's elements).
    pub fn of(column: &Column) -> Wire {
        if let Some(e) = &column.element {
            let inner = Wire::of_type(&e.type_name, !e.enum_labels.is_empty());
            return match inner {
                Wire::Other => Wire::Other,
                inner => Wire::Array(Box::new(inner), e.oid),
            };
        }
        Wire::of_type(&column.base_type, column.base_kind == "e")
    }

    pub fn binary(&self) -> bool {
        !matches!(self, Wire::Other)
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

/// Append `value`'s binary COPY field (length, then bytes) for a column of `wire`.
/// An error names what does not fit.
pub fn encode_binary(value: &Value, wire: &Wire, out: &mut Vec<u8>) -> Result<(), String> {
    if value.is_null() {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    let at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    encode_payload(value, wire, out)?;
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn encode_payload(value: &Value, wire: &Wire, out: &mut Vec<u8>) -> Result<(), String> {
    let mismatch = || format!("{value:?} is not a value of {wire:?}");
    match (wire, value) {
        (Wire::Bool, Value::Bool(b)) => out.push(*b as u8),
        (Wire::Int2, Value::Int(i)) => out.extend_from_slice(
            &i16::try_from(*i)
                .map_err(|_| format!("{i} is out of range for smallint"))?
                .to_be_bytes(),
        ),
        (Wire::Int4, Value::Int(i)) => out.extend_from_slice(
            &i32::try_from(*i)
                .map_err(|_| format!("{i} is out of range for integer"))?
                .to_be_bytes(),
        ),
        (Wire::Int8, Value::Int(i)) => out.extend_from_slice(&i.to_be_bytes()),
        (Wire::Float4, Value::Float(f)) => out.extend_from_slice(&(*f as f32).to_be_bytes()),
        (Wire::Float8, Value::Float(f)) => out.extend_from_slice(&f.to_be_bytes()),
        (Wire::Float4, Value::Int(i)) => out.extend_from_slice(&(*i as f32).to_be_bytes()),
        (Wire::Float8, Value::Int(i)) => out.extend_from_slice(&(*i as f64).to_be_bytes()),
        (Wire::Numeric, Value::Numeric(s)) => encode_numeric(s, out)?,
        (Wire::Numeric, Value::Int(i)) => encode_numeric(&i.to_string(), out)?,
        (Wire::Text | Wire::Json, Value::Text(s) | Value::Json(s) | Value::Literal(s)) => {
            out.extend_from_slice(s.as_bytes())
        }
        (Wire::Jsonb, Value::Json(s) | Value::Text(s)) => {
            out.push(1);
            out.extend_from_slice(s.as_bytes());
        }
        (Wire::Uuid, Value::Uuid(u)) => out.extend_from_slice(u.as_bytes()),
        (Wire::Timestamptz | Wire::Timestamp, Value::Timestamp(t)) => {
            out.extend_from_slice(&(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes())
        }
        (Wire::Date, Value::Date(d)) => {
            let days = d
                .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch"))
                .num_days() as i32;
            out.extend_from_slice(&(days - PG_EPOCH_DAYS).to_be_bytes())
        }
        (Wire::Time, Value::Time(t)) => {
            let us =
                t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64;
            out.extend_from_slice(&us.to_be_bytes())
        }
        (Wire::Interval, Value::Interval(m, d, us)) => {
            out.extend_from_slice(&us.to_be_bytes());
            out.extend_from_slice(&d.to_be_bytes());
            out.extend_from_slice(&m.to_be_bytes());
        }
        (Wire::Bytea, Value::Bytes(b)) => out.extend_from_slice(b),
        (Wire::Array(inner, oid), Value::Array(items)) => {
            let dims: i32 = if items.is_empty() { 0 } else { 1 };
            out.extend_from_slice(&dims.to_be_bytes());
            out.extend_from_slice(&(items.iter().any(Value::is_null) as i32).to_be_bytes());
            out.extend_from_slice(&oid.to_be_bytes());
            if dims == 1 {
                out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
            }
            for item in items {
                encode_binary(item, inner, out)?;
            }
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// PostgreSQL's binary numeric: base-10000 digits, weight, sign, display scale.
fn encode_numeric(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let bad = || format!("`{text}` is not a decimal number");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .chars()
            .chain(frac_part.chars())
            .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let int_part = int_part.trim_start_matches('0');
    let dscale = frac_part.len() as i16;
    // Pad the integer part on the left and the fraction on the right to groups of 4.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let all = format!(
        "{}{int_part}{frac_part}{}",
        "0".repeat(int_pad),
        "0".repeat(frac_pad)
    );
    let mut groups: Vec<i16> = all
        .as_bytes()
        .chunks(4)
        .map(|c| {
            std::str::from_utf8(c)
                .expect("ascii")
                .parse()
                .expect("digits")
        })
        .collect();
    let mut weight = ((int_part.len() + int_pad) / 4) as i16 - 1;
    // Strip leading and trailing zero groups.
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// Append `value` as a field of a text-format COPY line (escaped; `\N` for NULL).
pub fn encode_text(value: &Value, out: &mut Vec<u8>) {
    match value.to_text() {
        None => out.extend_from_slice(b"\\N"),
        Some(text) => {
            for byte in text.bytes() {
                match byte {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b => out.push(b),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(s: &str) -> Vec<u8> {
        let mut out = vec![];
        encode_numeric(s, &mut out).unwrap();
        out
    }

    fn words(bytes: &[u8]) -> Vec<i16> {
        bytes
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_encode_as_postgres_does() {
        // 12.50: one integer group (12), one fraction group (5000), weight 0, scale 2.
        assert_eq!(words(&numeric("12.50")), vec![2, 0, 0, 2, 12, 5000]);
        // 123456.7: groups 12, 3456, 7000; weight 1.
        assert_eq!(
            words(&numeric("123456.7")),
            vec![3, 1, 0, 1, 12, 3456, 7000]
        );
        // -0.0001: weight -1, one group 1, negative.
        assert_eq!(words(&numeric("-0.0001")), vec![1, -1, 0x4000, 4, 1]);
        assert_eq!(words(&numeric("0")), vec![0, 0, 0, 0]);
        assert_eq!(words(&numeric("10000")), vec![1, 1, 0, 0, 1]);
        assert!(encode_numeric("1e5", &mut vec![]).is_err());
    }

    #[test]
    fn text_forms_read_back_as_postgres_input() {
        let t = DateTime::parse_from_rfc3339("2026-01-15T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Value::Timestamp(t).to_text().unwrap(),
            "2026-01-15 10:30:00.000000+00"
        );
        assert_eq!(
            Value::Array(vec![Value::Text("a\"b".into()), Value::Null])
                .to_text()
                .unwrap(),
            "{\"a\\\"b\",NULL}"
        );
        let mut line = vec![];
        encode_text(&Value::Text("a\tb\\c\n".into()), &mut line);
        assert_eq!(line, b"a\\tb\\\\c\\n");
        let mut null = vec![];
        encode_text(&Value::Null, &mut null);
        assert_eq!(null, b"\\N");
    }

    #[test]
    fn a_key_takes_the_form_of_its_column() {
        let u = Uuid::from_u128(0x017e602f_0000_7864_baaa_fb911f29525d);
        let text = Value::Uuid(u).in_column(&Wire::Text);
        assert_eq!(
            text.to_text().unwrap(),
            "017e602f-0000-7864-baaa-fb911f29525d"
        );
        assert!(matches!(text, Value::Text(_)));
        assert!(matches!(
            Value::Uuid(u).in_column(&Wire::Uuid),
            Value::Uuid(_)
        ));
        assert!(matches!(
            Value::Int(7).in_column(&Wire::Other),
            Value::Literal(ref s) if s == "7"
        ));
        assert!(matches!(
            Value::Int(7).in_column(&Wire::Int8),
            Value::Int(7)
        ));
    }

    #[test]
    fn binary_fields_carry_their_length() {
        let mut out = vec![];
        encode_binary(&Value::Int(7), &Wire::Int4, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 4, 0, 0, 0, 7]);
        out.clear();
        encode_binary(&Value::Null, &Wire::Int4, &mut out).unwrap();
        assert_eq!(out, (-1i32).to_be_bytes());
        out.clear();
        assert!(encode_binary(&Value::Int(70_000), &Wire::Int2, &mut out).is_err());
        out.clear();
        encode_binary(
            &Value::Array(vec![Value::Int(1)]),
            &Wire::Array(Box::new(Wire::Int4), 23),
            &mut out,
        )
        .unwrap();
        // length, ndim 1, no nulls, oid 23, len 1, lbound 1, element (len 4, 1).
        assert_eq!(out.len(), 4 + 4 * 5 + 8);
    }
}
