//! CHECK constraints (a table's and its columns' domains') as the generator understands
//! them: parsed once from `pg_get_constraintdef` with sqlparser into a small expression
//! tree (`Cond`), evaluated on a candidate row with SQL's three-valued logic, and read
//! for hints that let most rows be right by construction: the values an IN-list
//! allows, numeric and length bounds, regular expressions, and which column must come
//! after which (`ends_at > starts_at`). What the evaluator cannot follow is `Unknown`
//! and passes here: the server remains the judge, and its refusal names the constraint.

use std::collections::BTreeMap;

use sqlparser::ast::{
    BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget,
    UnaryOperator, Value as SqlValue,
};

use super::value::Value;
use crate::schema::policy_expr;

/// A parsed condition. Columns are by name.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Col(String),
    Lit(V),
    Cmp(Box<Cond>, Op, Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `x IS NULL` (true) / `x IS NOT NULL` (false).
    IsNull(Box<Cond>, bool),
    /// `x [NOT] IN (...)`, `x = ANY (ARRAY[...])`.
    In(Box<Cond>, Vec<Cond>, bool),
    Regex {
        subject: Box<Cond>,
        pattern: Box<Cond>,
        case_insensitive: bool,
        negated: bool,
    },
    Arith(Box<Cond>, char, Box<Cond>),
    Call(String, Vec<Cond>),
    Cast(Box<Cond>, String),
    Array(Vec<Cond>),
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn flip(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            o => o,
        }
    }

    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
        }
    }
}

/// A value while evaluating: numbers and times on one axis (times in microseconds
/// since the Unix epoch), text, truth, arrays, NULL, and what cannot be known.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Num(f64),
    Text(String),
    Arr(Vec<V>),
    Unknown,
}

impl V {
    pub fn of(value: &Value) -> V {
        match value {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Text(s) | Value::Json(s) | Value::Literal(s) => V::Text(s.clone()),
            Value::Uuid(u) => V::Text(u.to_string()),
            Value::Array(items) => V::Arr(items.iter().map(V::of).collect()),
            Value::Interval(m, d, us) => {
                V::Num(*us as f64 + (*d as f64 + *m as f64 * 30.0) * 86_400e6)
            }
            Value::Bytes(_) => V::Unknown,
            other => other.ordinal().map(V::Num).unwrap_or(V::Unknown),
        }
    }
}

/// One CHECK of a table, parsed.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub cond: Cond,
    /// The columns it reads.
    pub columns: Vec<String>,
}

impl Check {
    /// Parse `pg_get_constraintdef` output (`CHECK ((a > b))`, `... NOT VALID`). A
    /// domain's CHECK reads `VALUE`: `column` names the column it is checked on.
    pub fn parse(name: &str, definition: &str, column: Option<&str>) -> Check {
        let body = definition
            .trim()
            .trim_end_matches(" NOT VALID")
            .trim_start_matches("CHECK")
            .trim();
        let body = match column {
            Some(c) => replace_value_keyword(body, c),
            None => body.to_string(),
        };
        let cond = policy_expr::parse(&body)
            .map(|e| convert(&e))
            .unwrap_or(Cond::Unknown);
        let mut columns = vec![];
        cond.columns(&mut columns);
        Check {
            name: name.to_string(),
            cond,
            columns,
        }
    }

    /// Does the row pass (true or NULL, as PostgreSQL decides; unknown passes)?
    pub fn passes(&self, row: &dyn Fn(&str) -> Option<V>) -> bool {
        !matches!(eval(&self.cond, row), V::Bool(false))
    }

    /// Is it sure to fail (false, not unknown)?
    pub fn fails(&self, row: &dyn Fn(&str) -> Option<V>) -> bool {
        matches!(eval(&self.cond, row), V::Bool(false))
    }
}

/// `VALUE` (outside quotes) → the quoted column name.
fn replace_value_keyword(body: &str, column: &str) -> String {
    let quoted = format!("\"{}\"", column.replace('"', "\"\""));
    let mut out = String::new();
    let mut in_quote = false;
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_quote = !in_quote;
        }
        let word_start = !in_quote
            && chars[i..].starts_with(&['V', 'A', 'L', 'U', 'E'])
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
            && chars
                .get(i + 5)
                .is_none_or(|n| !(n.is_alphanumeric() || *n == '_'));
        if word_start {
            out.push_str(&quoted);
            i += 5;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn convert(e: &Expr) -> Cond {
    let b = |e: &Expr| Box::new(convert(e));
    match e {
        Expr::Identifier(i) => Cond::Col(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(|i| Cond::Col(i.value.clone()))
            .unwrap_or(Cond::Unknown),
        Expr::Nested(inner) => convert(inner),
        Expr::Value(v) => Cond::Lit(match &v.value {
            SqlValue::Number(n, _) => n.parse().map(V::Num).unwrap_or(V::Unknown),
            SqlValue::SingleQuotedString(s) | SqlValue::EscapedStringLiteral(s) => {
                V::Text(s.clone())
            }
            SqlValue::Boolean(b) => V::Bool(*b),
            SqlValue::Null => V::Null,
            _ => V::Unknown,
        }),
        Expr::BinaryOp { left, op, right } => {
            let cmp = |o| Cond::Cmp(b(left), o, b(right));
            match op {
                BinaryOperator::Eq => cmp(Op::Eq),
                BinaryOperator::NotEq => cmp(Op::Ne),
                BinaryOperator::Lt => cmp(Op::Lt),
                BinaryOperator::LtEq => cmp(Op::Le),
                BinaryOperator::Gt => cmp(Op::Gt),
                BinaryOperator::GtEq => cmp(Op::Ge),
                BinaryOperator::And => {
                    let mut parts = vec![];
                    flatten_and(&convert(left), &mut parts);
                    flatten_and(&convert(right), &mut parts);
                    Cond::And(parts)
                }
                BinaryOperator::Or => Cond::Or(vec![convert(left), convert(right)]),
                BinaryOperator::Plus => Cond::Arith(b(left), '+', b(right)),
                BinaryOperator::Minus => Cond::Arith(b(left), '-', b(right)),
                BinaryOperator::Multiply => Cond::Arith(b(left), '*', b(right)),
                BinaryOperator::Divide => Cond::Arith(b(left), '/', b(right)),
                BinaryOperator::Modulo => Cond::Arith(b(left), '%', b(right)),
                BinaryOperator::StringConcat => Cond::Arith(b(left), '|', b(right)),
                BinaryOperator::PGRegexMatch
                | BinaryOperator::PGRegexIMatch
                | BinaryOperator::PGRegexNotMatch
                | BinaryOperator::PGRegexNotIMatch => Cond::Regex {
                    subject: b(left),
                    pattern: b(right),
                    case_insensitive: matches!(
                        op,
                        BinaryOperator::PGRegexIMatch | BinaryOperator::PGRegexNotIMatch
                    ),
                    negated: matches!(
                        op,
                        BinaryOperator::PGRegexNotMatch | BinaryOperator::PGRegexNotIMatch
                    ),
                },
                BinaryOperator::PGLikeMatch
                | BinaryOperator::PGILikeMatch
                | BinaryOperator::PGNotLikeMatch
                | BinaryOperator::PGNotILikeMatch => match convert(right) {
                    Cond::Lit(V::Text(p)) => Cond::Regex {
                        subject: b(left),
                        pattern: Box::new(Cond::Lit(V::Text(like_to_regex(&p)))),
                        case_insensitive: matches!(
                            op,
                            BinaryOperator::PGILikeMatch | BinaryOperator::PGNotILikeMatch
                        ),
                        negated: matches!(
                            op,
                            BinaryOperator::PGNotLikeMatch | BinaryOperator::PGNotILikeMatch
                        ),
                    },
                    Cond::Cast(inner, _) => match *inner {
                        Cond::Lit(V::Text(p)) => Cond::Regex {
                            subject: b(left),
                            pattern: Box::new(Cond::Lit(V::Text(like_to_regex(&p)))),
                            case_insensitive: matches!(
                                op,
                                BinaryOperator::PGILikeMatch | BinaryOperator::PGNotILikeMatch
                            ),
                            negated: matches!(
                                op,
                                BinaryOperator::PGNotLikeMatch | BinaryOperator::PGNotILikeMatch
                            ),
                        },
                        _ => Cond::Unknown,
                    },
                    _ => Cond::Unknown,
                },
                _ => Cond::Unknown,
            }
        }
        Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Not => Cond::Not(b(expr)),
            UnaryOperator::Minus => match convert(expr) {
                Cond::Lit(V::Num(n)) => Cond::Lit(V::Num(-n)),
                other => Cond::Arith(Box::new(Cond::Lit(V::Num(0.0))), '-', Box::new(other)),
            },
            UnaryOperator::Plus => convert(expr),
            _ => Cond::Unknown,
        },
        Expr::IsNull(x) => Cond::IsNull(b(x), true),
        Expr::IsNotNull(x) => Cond::IsNull(b(x), false),
        Expr::IsTrue(x) => Cond::Cmp(b(x), Op::Eq, Box::new(Cond::Lit(V::Bool(true)))),
        Expr::IsFalse(x) => Cond::Cmp(b(x), Op::Eq, Box::new(Cond::Lit(V::Bool(false)))),
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => Cond::In(b(expr), list.iter().map(convert).collect(), *negated),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let within = Cond::And(vec![
                Cond::Cmp(b(expr), Op::Ge, b(low)),
                Cond::Cmp(b(expr), Op::Le, b(high)),
            ]);
            if *negated {
                Cond::Not(Box::new(within))
            } else {
                within
            }
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => match convert(right) {
            Cond::Array(items) => Cond::In(b(left), items, false),
            _ => Cond::Unknown,
        },
        Expr::AllOp {
            left,
            compare_op: BinaryOperator::NotEq,
            right,
        } => match convert(right) {
            Cond::Array(items) => Cond::In(b(left), items, true),
            _ => Cond::Unknown,
        },
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => match convert(pattern) {
            Cond::Lit(V::Text(p)) => Cond::Regex {
                subject: b(expr),
                pattern: Box::new(Cond::Lit(V::Text(like_to_regex(&p)))),
                case_insensitive: matches!(e, Expr::ILike { .. }),
                negated: *negated,
            },
            _ => Cond::Unknown,
        },
        Expr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr,
            data_type,
            ..
        } => Cond::Cast(b(expr), data_type.to_string().to_lowercase()),
        Expr::Array(a) => Cond::Array(a.elem.iter().map(convert).collect()),
        Expr::Trim { expr, .. } => Cond::Call("btrim".into(), vec![convert(expr)]),
        Expr::Function(f) => {
            let name = f
                .name
                .0
                .last()
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default();
            let args = match &f.args {
                FunctionArguments::List(list) => list
                    .args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => convert(e),
                        _ => Cond::Unknown,
                    })
                    .collect(),
                FunctionArguments::None => vec![],
                FunctionArguments::Subquery(_) => vec![Cond::Unknown],
            };
            Cond::Call(name, args)
        }
        _ => Cond::Unknown,
    }
}

fn flatten_and(c: &Cond, out: &mut Vec<Cond>) {
    match c {
        Cond::And(parts) => parts.iter().for_each(|p| flatten_and(p, out)),
        other => out.push(other.clone()),
    }
}

/// A LIKE pattern as an anchored regular expression.
pub fn like_to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

impl Cond {
    fn columns(&self, out: &mut Vec<String>) {
        let mut add = |c: &Cond| c.columns(out);
        match self {
            Cond::Col(c) => {
                if !out.contains(c) {
                    out.push(c.clone())
                }
            }
            Cond::Lit(_) | Cond::Unknown => {}
            Cond::Cmp(a, _, b) | Cond::Arith(a, _, b) => {
                add(a);
                add(b);
            }
            Cond::And(v) | Cond::Or(v) | Cond::Array(v) | Cond::Call(_, v) => {
                v.iter().for_each(add)
            }
            Cond::Not(a) | Cond::IsNull(a, _) | Cond::Cast(a, _) => add(a),
            Cond::In(a, v, _) => {
                add(a);
                v.iter().for_each(add);
            }
            Cond::Regex {
                subject, pattern, ..
            } => {
                add(subject);
                add(pattern);
            }
        }
    }

    /// The column this expression is, looking through casts.
    fn column(&self) -> Option<&str> {
        match self {
            Cond::Col(c) => Some(c),
            Cond::Cast(inner, _) => inner.column(),
            _ => None,
        }
    }

    /// The literal this expression is, casts applied.
    fn literal(&self) -> Option<V> {
        match self {
            Cond::Lit(v) => Some(v.clone()),
            Cond::Cast(..) | Cond::Arith(..) => {
                let v = eval(self, &|_| None);
                (!matches!(v, V::Unknown)).then_some(v)
            }
            _ => None,
        }
    }
}

// ---- evaluation ------------------------------------------------------------------

/// Compare two non-NULL values; None when they cannot be compared here.
fn compare(a: &V, b: &V) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Text(x), V::Text(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Num(x), V::Text(y)) => parse_scalar(y).and_then(|y| x.partial_cmp(&y)),
        (V::Text(x), V::Num(y)) => parse_scalar(x).and_then(|x| x.partial_cmp(y)),
        (V::Text(x), V::Bool(y)) => parse_bool(x).map(|x| x.cmp(y)),
        (V::Bool(x), V::Text(y)) => parse_bool(y).map(|y| x.cmp(&y)),
        _ => None,
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A number, or a date / timestamp (microseconds since the epoch).
fn parse_scalar(s: &str) -> Option<f64> {
    if let Ok(n) = s.trim().parse::<f64>() {
        return Some(n);
    }
    parse_time(s)
}

fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros() as f64);
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_micros() as f64);
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros() as f64);
        }
    }
    None
}

/// `8 hours`, `1 day 2 hours`, `00:30:00`, `30 minutes` → microseconds.
pub fn parse_interval(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    if let Some((h, rest)) = s.split_once(':') {
        let parts: Vec<f64> = std::iter::once(h)
            .chain(rest.split(':'))
            .map(|p| p.trim().parse::<f64>().ok())
            .collect::<Option<_>>()?;
        let secs = match parts.as_slice() {
            [h, m] => h * 3600.0 + m * 60.0,
            [h, m, s] => h * 3600.0 + m * 60.0 + s,
            _ => return None,
        };
        return Some(secs * 1e6);
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return None;
    }
    let mut total = 0.0;
    for pair in words.chunks(2) {
        let n: f64 = pair[0].parse().ok()?;
        let unit = pair[1].trim_end_matches('s');
        let us = match unit {
            "microsecond" | "usec" => 1.0,
            "millisecond" | "msec" => 1e3,
            "second" | "sec" => 1e6,
            "minute" | "min" => 60e6,
            "hour" | "hr" => 3600e6,
            "day" => 86_400e6,
            "week" => 7.0 * 86_400e6,
            "mon" | "month" => 30.0 * 86_400e6,
            "year" | "yr" => 365.25 * 86_400e6,
            _ => return None,
        };
        total += n * us;
    }
    Some(total)
}

/// Evaluate `c` on a row (`row(column)`: None for a column it does not know).
pub fn eval(c: &Cond, row: &dyn Fn(&str) -> Option<V>) -> V {
    match c {
        Cond::Col(name) => row(name).unwrap_or(V::Unknown),
        Cond::Lit(v) => v.clone(),
        Cond::Unknown => V::Unknown,
        Cond::Cmp(a, op, b) => {
            let (a, b) = (eval(a, row), eval(b, row));
            if a == V::Null || b == V::Null {
                return V::Null;
            }
            compare(&a, &b)
                .map(|o| V::Bool(op.holds(o)))
                .unwrap_or(V::Unknown)
        }
        Cond::And(parts) => {
            let mut result = V::Bool(true);
            for p in parts {
                match eval(p, row) {
                    V::Bool(false) => return V::Bool(false),
                    V::Bool(true) => {}
                    V::Null if result != V::Unknown => result = V::Null,
                    _ => result = V::Unknown,
                }
            }
            result
        }
        Cond::Or(parts) => {
            let mut result = V::Bool(false);
            for p in parts {
                match eval(p, row) {
                    V::Bool(true) => return V::Bool(true),
                    V::Bool(false) => {}
                    V::Null if result != V::Unknown => result = V::Null,
                    _ => result = V::Unknown,
                }
            }
            result
        }
        Cond::Not(a) => match eval(a, row) {
            V::Bool(b) => V::Bool(!b),
            other => other,
        },
        Cond::IsNull(a, is) => match eval(a, row) {
            V::Unknown => V::Unknown,
            V::Null => V::Bool(*is),
            _ => V::Bool(!*is),
        },
        Cond::In(a, list, negated) => {
            let a = eval(a, row);
            if a == V::Null {
                return V::Null;
            }
            let mut unknown = false;
            for item in list {
                let item = eval(item, row);
                match compare(&a, &item) {
                    Some(std::cmp::Ordering::Equal) => return V::Bool(!negated),
                    Some(_) => {}
                    None => unknown = true,
                }
            }
            if unknown {
                V::Unknown
            } else {
                V::Bool(*negated)
            }
        }
        Cond::Regex {
            subject,
            pattern,
            case_insensitive,
            negated,
        } => match (eval(subject, row), eval(pattern, row)) {
            (V::Null, _) | (_, V::Null) => V::Null,
            (V::Text(s), V::Text(p)) => match compile(&p, *case_insensitive) {
                Some(re) => V::Bool(re.is_match(&s) != *negated),
                None => V::Unknown,
            },
            _ => V::Unknown,
        },
        Cond::Arith(a, op, b) => arith(eval(a, row), *op, eval(b, row)),
        Cond::Cast(a, ty) => cast(eval(a, row), ty),
        Cond::Array(items) => V::Arr(items.iter().map(|i| eval(i, row)).collect()),
        Cond::Call(name, args) => call(name, args.iter().map(|a| eval(a, row)).collect()),
    }
}

/// A PostgreSQL regular expression as the `regex` crate reads it (None: not readable).
pub fn compile(pattern: &str, case_insensitive: bool) -> Option<regex::Regex> {
    let flags = if case_insensitive { "(?i)" } else { "" };
    regex::Regex::new(&format!("{flags}{pattern}")).ok()
}

fn arith(a: V, op: char, b: V) -> V {
    match (&a, &b) {
        (V::Null, _) | (_, V::Null) => V::Null,
        (V::Text(x), V::Text(y)) if op == '|' => V::Text(format!("{x}{y}")),
        (V::Num(x), V::Num(y)) => V::Num(match op {
            '+' => x + y,
            '-' => x - y,
            '*' => x * y,
            '/' if *y != 0.0 => x / y,
            '%' if *y != 0.0 => x % y,
            _ => return V::Unknown,
        }),
        // timestamp ± '1 day' (an interval literal not cast yet).
        (V::Num(x), V::Text(y)) if op == '+' || op == '-' => match parse_interval(y) {
            Some(us) if op == '+' => V::Num(x + us),
            Some(us) => V::Num(x - us),
            None => V::Unknown,
        },
        _ => V::Unknown,
    }
}

fn cast(v: V, ty: &str) -> V {
    let ty = ty.trim();
    match v {
        V::Text(s) if ty.starts_with("interval") => {
            parse_interval(&s).map(V::Num).unwrap_or(V::Unknown)
        }
        V::Text(s)
            if ty.starts_with("timestamp")
                || ty == "date"
                || ty.starts_with("int")
                || ty.starts_with("numeric")
                || ty.starts_with("decimal")
                || ty.starts_with("float")
                || ty == "real"
                || ty.starts_with("double")
                || ty == "bigint"
                || ty == "smallint" =>
        {
            parse_scalar(&s).map(V::Num).unwrap_or(V::Unknown)
        }
        V::Text(s) if ty == "boolean" || ty == "bool" => {
            parse_bool(&s).map(V::Bool).unwrap_or(V::Unknown)
        }
        V::Num(n) if ty == "text" || ty.starts_with("character") || ty.starts_with("varchar") => {
            // A number's text; a time's text is not known here.
            if n.fract() == 0.0 && n.abs() < 1e15 {
                V::Text(format!("{}", n as i64))
            } else {
                V::Unknown
            }
        }
        V::Num(n) if ty == "date" => V::Num((n / 86_400e6).floor() * 86_400e6),
        V::Num(n) if ty.starts_with("int") || ty == "bigint" || ty == "smallint" => {
            V::Num(n.round())
        }
        other => other,
    }
}

fn call(name: &str, args: Vec<V>) -> V {
    let first = args.first().cloned().unwrap_or(V::Unknown);
    match name {
        "length" | "char_length" | "character_length" => match first {
            V::Text(s) => V::Num(s.chars().count() as f64),
            V::Null => V::Null,
            _ => V::Unknown,
        },
        "octet_length" => match first {
            V::Text(s) => V::Num(s.len() as f64),
            V::Null => V::Null,
            _ => V::Unknown,
        },
        "lower" | "upper" | "btrim" | "trim" => match first {
            V::Text(s) => V::Text(match name {
                "lower" => s.to_lowercase(),
                "upper" => s.to_uppercase(),
                _ => s.trim().to_string(),
            }),
            other => other,
        },
        "num_nonnulls" | "num_nulls" => {
            if args.contains(&V::Unknown) {
                return V::Unknown;
            }
            let nulls = args.iter().filter(|a| **a == V::Null).count();
            V::Num(if name == "num_nulls" {
                nulls
            } else {
                args.len() - nulls
            } as f64)
        }
        "coalesce" => args.into_iter().find(|a| *a != V::Null).unwrap_or(V::Null),
        "cardinality" | "array_length" => match first {
            V::Arr(items) if items.is_empty() && name == "array_length" => V::Null,
            V::Arr(items) => V::Num(items.len() as f64),
            V::Null => V::Null,
            _ => V::Unknown,
        },
        "jsonb_typeof" | "json_typeof" => match first {
            V::Text(s) => match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(j) => V::Text(
                    match j {
                        serde_json::Value::Object(_) => "object",
                        serde_json::Value::Array(_) => "array",
                        serde_json::Value::String(_) => "string",
                        serde_json::Value::Number(_) => "number",
                        serde_json::Value::Bool(_) => "boolean",
                        serde_json::Value::Null => "null",
                    }
                    .into(),
                ),
                Err(_) => V::Unknown,
            },
            V::Null => V::Null,
            _ => V::Unknown,
        },
        "abs" => match first {
            V::Num(n) => V::Num(n.abs()),
            other => other,
        },
        "now" | "current_timestamp" | "statement_timestamp" | "transaction_timestamp" => {
            V::Num(chrono::Utc::now().timestamp_micros() as f64)
        }
        _ => V::Unknown,
    }
}

// ---- hints -----------------------------------------------------------------------

/// What a table's CHECKs say about one column, read from their top-level conjuncts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnHints {
    /// The only values allowed (IN lists, `= 'x'`), intersected.
    pub allowed: Option<Vec<String>>,
    /// Values not allowed (`<> 'x'`, NOT IN).
    pub denied: Vec<String>,
    /// Bounds on the value: (bound, inclusive).
    pub min: Option<(f64, bool)>,
    pub max: Option<(f64, bool)>,
    /// Bounds on its length in characters.
    pub min_len: Option<usize>,
    pub max_len: Option<usize>,
    /// Regular expressions it must match: (pattern, case-insensitive).
    pub patterns: Vec<(String, bool)>,
    pub not_null: bool,
    /// jsonb_typeof(col) = 'object' | 'array' | ...
    pub json_kind: Option<String>,
}

/// `later` must be after (or, `strict` false, not before) `earlier`.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub earlier: String,
    pub later: String,
    pub strict: bool,
}

/// Hints per column, and the orderings between columns, of a set of CHECKs.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub columns: BTreeMap<String, ColumnHints>,
    pub orders: Vec<Order>,
}

impl Hints {
    pub fn of(checks: &[Check]) -> Hints {
        let mut hints = Hints::default();
        for check in checks {
            let mut parts = vec![];
            flatten_and(&check.cond, &mut parts);
            for part in &parts {
                hints.read(part);
            }
        }
        hints
    }

    pub fn column(&self, name: &str) -> Option<&ColumnHints> {
        self.columns.get(name)
    }

    fn entry(&mut self, column: &str) -> &mut ColumnHints {
        self.columns.entry(column.to_string()).or_default()
    }

    fn read(&mut self, part: &Cond) {
        match part {
            Cond::Cmp(a, op, b) => {
                if let (Some(x), Some(y)) = (a.column(), b.column()) {
                    self.order(x, *op, y);
                } else if let (Some(col), Some(lit)) = (a.column(), b.literal()) {
                    self.bound(col, *op, &lit, false);
                } else if let (Some(lit), Some(col)) = (a.literal(), b.column()) {
                    self.bound(col, op.flip(), &lit, false);
                } else if let (Some(col), Some(lit)) = (length_of(a), b.literal()) {
                    self.bound(col, *op, &lit, true);
                } else if let (Some(lit), Some(col)) = (a.literal(), length_of(b)) {
                    self.bound(col, op.flip(), &lit, true);
                } else if let (Cond::Call(f, args), Some(V::Text(kind))) = (&**a, b.literal()) {
                    if (f == "jsonb_typeof" || f == "json_typeof") && *op == Op::Eq {
                        if let Some(col) = args.first().and_then(Cond::column) {
                            self.entry(col).json_kind = Some(kind);
                        }
                    }
                }
            }
            Cond::In(a, list, negated) => {
                let Some(col) = a.column() else { return };
                let values: Option<Vec<String>> = list
                    .iter()
                    .map(|l| match l.literal() {
                        Some(V::Text(s)) => Some(s),
                        Some(V::Num(n)) => Some(format_number(n)),
                        _ => None,
                    })
                    .collect();
                if let Some(values) = values {
                    if *negated {
                        self.entry(col).denied.extend(values);
                    } else {
                        self.allow(col, values);
                    }
                }
            }
            Cond::Regex {
                subject,
                pattern,
                case_insensitive,
                negated: false,
            } => {
                if let (Some(col), Some(V::Text(p))) = (subject.column(), pattern.literal()) {
                    self.entry(col).patterns.push((p, *case_insensitive));
                }
            }
            Cond::IsNull(a, false) => {
                if let Some(col) = a.column() {
                    self.entry(col).not_null = true;
                }
            }
            Cond::Not(inner) => {
                if let Cond::IsNull(a, true) = &**inner {
                    if let Some(col) = a.column() {
                        self.entry(col).not_null = true;
                    }
                }
            }
            _ => {}
        }
    }

    fn allow(&mut self, col: &str, values: Vec<String>) {
        let e = self.entry(col);
        e.allowed = Some(match e.allowed.take() {
            None => values,
            Some(before) => before.into_iter().filter(|v| values.contains(v)).collect(),
        });
    }

    fn order(&mut self, x: &str, op: Op, y: &str) {
        let (earlier, later, strict) = match op {
            Op::Gt => (y, x, true),
            Op::Ge => (y, x, false),
            Op::Lt => (x, y, true),
            Op::Le => (x, y, false),
            _ => return,
        };
        self.orders.push(Order {
            earlier: earlier.into(),
            later: later.into(),
            strict,
        });
    }

    fn bound(&mut self, col: &str, op: Op, lit: &V, length: bool) {
        if op == Op::Eq {
            if let (false, V::Text(s)) = (length, lit) {
                self.allow(col, vec![s.clone()]);
                return;
            }
        }
        if op == Op::Ne {
            if let (false, V::Text(s)) = (length, lit) {
                self.entry(col).denied.push(s.clone());
            }
            return;
        }
        let n = match lit {
            V::Num(n) => *n,
            V::Text(s) => match parse_scalar(s) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
        let e = self.entry(col);
        if length {
            let n = n.max(0.0);
            match op {
                Op::Gt => e.min_len = Some(e.min_len.unwrap_or(0).max(n as usize + 1)),
                Op::Ge => e.min_len = Some(e.min_len.unwrap_or(0).max(n.ceil() as usize)),
                Op::Lt => {
                    e.max_len = Some(
                        e.max_len
                            .unwrap_or(usize::MAX)
                            .min((n.ceil() as usize).saturating_sub(1)),
                    )
                }
                Op::Le => e.max_len = Some(e.max_len.unwrap_or(usize::MAX).min(n as usize)),
                Op::Eq => {
                    e.min_len = Some(n as usize);
                    e.max_len = Some(n as usize);
                }
                Op::Ne => {}
            }
            return;
        }
        let tighter_min = |old: Option<(f64, bool)>, new: (f64, bool)| match old {
            Some(o) if o.0 > new.0 || (o.0 == new.0 && !o.1) => o,
            _ => new,
        };
        let tighter_max = |old: Option<(f64, bool)>, new: (f64, bool)| match old {
            Some(o) if o.0 < new.0 || (o.0 == new.0 && !o.1) => o,
            _ => new,
        };
        match op {
            Op::Gt => e.min = Some(tighter_min(e.min, (n, false))),
            Op::Ge => e.min = Some(tighter_min(e.min, (n, true))),
            Op::Lt => e.max = Some(tighter_max(e.max, (n, false))),
            Op::Le => e.max = Some(tighter_max(e.max, (n, true))),
            Op::Eq => {
                e.min = Some((n, true));
                e.max = Some((n, true));
            }
            Op::Ne => {}
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// `length(col)`, `char_length(col)`, `char_length(btrim(col))`: the column.
fn length_of(c: &Cond) -> Option<&str> {
    match c {
        Cond::Call(f, args)
            if matches!(f.as_str(), "length" | "char_length" | "character_length") =>
        {
            match args.first()? {
                Cond::Call(g, inner)
                    if matches!(g.as_str(), "btrim" | "trim" | "lower" | "upper") =>
                {
                    inner.first()?.column()
                }
                other => other.column(),
            }
        }
        Cond::Cast(inner, _) => length_of(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(pairs: &'a [(&'a str, V)]) -> impl Fn(&str) -> Option<V> + 'a {
        move |c| pairs.iter().find(|(n, _)| *n == c).map(|(_, v)| v.clone())
    }

    #[test]
    fn in_lists_bounds_and_regexes_become_hints() {
        let checks = [
            Check::parse(
                "s",
                "CHECK ((status = ANY (ARRAY['pending'::text, 'confirmed'::text])))",
                None,
            ),
            Check::parse(
                "n",
                "CHECK (((char_length(name) >= 2) AND (char_length(name) <= 80)))",
                None,
            ),
            Check::parse(
                "p",
                "CHECK (((price_cents >= 0) AND (price_cents < 100000)))",
                None,
            ),
            Check::parse("r", "CHECK ((slug ~ '^[a-z0-9][a-z0-9-]*$'::text))", None),
            Check::parse("o", "CHECK ((ends_at > starts_at))", None),
            Check::parse(
                "d",
                "CHECK ((VALUE >= 5) AND (VALUE <= 240))",
                Some("minutes"),
            ),
        ];
        let h = Hints::of(&checks);
        assert_eq!(
            h.column("status").unwrap().allowed,
            Some(vec!["pending".into(), "confirmed".into()])
        );
        let name = h.column("name").unwrap();
        assert_eq!((name.min_len, name.max_len), (Some(2), Some(80)));
        let price = h.column("price_cents").unwrap();
        assert_eq!(
            (price.min, price.max),
            (Some((0.0, true)), Some((100000.0, false)))
        );
        assert_eq!(
            h.column("slug").unwrap().patterns[0].0,
            "^[a-z0-9][a-z0-9-]*$"
        );
        assert_eq!(
            h.orders,
            vec![Order {
                earlier: "starts_at".into(),
                later: "ends_at".into(),
                strict: true
            }]
        );
        assert_eq!(h.column("minutes").unwrap().min, Some((5.0, true)));
    }

    #[test]
    fn evaluation_follows_three_valued_logic() {
        let c = Check::parse("o", "CHECK ((ends_at > starts_at))", None);
        assert!(c.fails(&row(&[
            ("starts_at", V::Num(10.0)),
            ("ends_at", V::Num(5.0))
        ])));
        assert!(c.passes(&row(&[("starts_at", V::Num(10.0)), ("ends_at", V::Null)])));
        let either = Check::parse("e", "CHECK ((num_nonnulls(user_id, team_id) = 1))", None);
        assert!(either.fails(&row(&[("user_id", V::Null), ("team_id", V::Null)])));
        assert!(either.passes(&row(&[
            ("user_id", V::Text("u".into())),
            ("team_id", V::Null)
        ])));
        let done = Check::parse(
            "d",
            "CHECK (((status <> 'done'::text) OR (completed_at IS NOT NULL)))",
            None,
        );
        assert!(done.fails(&row(&[
            ("status", V::Text("done".into())),
            ("completed_at", V::Null)
        ])));
        assert!(done.passes(&row(&[
            ("status", V::Text("open".into())),
            ("completed_at", V::Null)
        ])));
        let span = Check::parse(
            "s",
            "CHECK (((ends_at - starts_at) <= '08:00:00'::interval))",
            None,
        );
        assert!(span.fails(&row(&[
            ("starts_at", V::Num(0.0)),
            ("ends_at", V::Num(9.0 * 3600e6))
        ])));
        let unknown = Check::parse("u", "CHECK (my_function(x))", None);
        assert!(unknown.passes(&row(&[("x", V::Num(1.0))])));
        let email = Check::parse(
            "m",
            "CHECK ((email ~* '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'::text))",
            None,
        );
        assert!(email.passes(&row(&[("email", V::Text("A@b.co".into()))])));
        assert!(email.fails(&row(&[("email", V::Text("nope".into()))])));
        let like = Check::parse("l", "CHECK ((code ~~ 'SKU-%'::text))", None);
        assert!(like.fails(&row(&[("code", V::Text("x".into()))])));
        assert!(like.passes(&row(&[("code", V::Text("SKU-12".into()))])));
    }

    #[test]
    fn domain_value_is_replaced_outside_quotes() {
        assert_eq!(
            replace_value_keyword("(VALUE ~ 'VALUE'::text) AND (VALUES_X > 0)", "code"),
            "(\"code\" ~ 'VALUE'::text) AND (VALUES_X > 0)"
        );
    }
}
