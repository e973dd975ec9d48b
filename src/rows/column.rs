//! Values for one column: a generator (`Gen`) chosen once per column from its type, its
//! name (`email`, `price_cents`, `starts_at`, ...), its CHECK hints (IN-lists, bounds,
//! lengths, regular expressions), enum labels, and what a profile says; then drawn per
//! row from the org's random stream, so equal seeds give equal values.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::check::ColumnHints;
use super::names;
use super::value::{Value, Wire};
use crate::schema::facts::Column;

/// What is known of the org a row belongs to, for values that should agree with it.
#[derive(Debug, Clone)]
pub struct OrgInfo {
    pub name: String,
    pub slug: String,
    /// The org's e-mail domain (`maple-salon.com`).
    pub domain: String,
    pub created_at: DateTime<Utc>,
    pub city: usize,
}

/// The time window rows live in.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Midnight UTC of the anchor date: "now".
    pub anchor: DateTime<Utc>,
    pub past_days: u32,
    pub future_days: u32,
}

/// Everything a value may depend on.
pub struct Ctx<'a> {
    pub rng: &'a mut ChaCha8Rng,
    pub window: Window,
    pub org: &'a OrgInfo,
    /// The row's number in its table within the org (0-based).
    pub row: usize,
    /// Go through every listed value and past and future times in turn (the isolation
    /// proof's few rows must cover them), instead of drawing at random.
    pub cover: bool,
    /// The person the row is about (first and last name): its names, e-mail address
    /// and user name agree.
    pub person: (&'static str, &'static str),
}

/// Kinds of text recognised by column name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    FullName,
    FirstName,
    LastName,
    Username,
    Email,
    Phone,
    Slug,
    OrgName,
    Title,
    ThingName,
    Sentence,
    Url,
    City,
    Country,
    CountryCode,
    Address,
    PostalCode,
    Currency,
    Locale,
    TimeZone,
    Color,
    Code,
    Hex,
    Ip,
    Word,
    /// The org's own slug (the tenant table's slug column).
    OrgSlug,
}

impl TextKind {
    pub const NAMES: &'static [(&'static str, TextKind)] = &[
        ("full_name", TextKind::FullName),
        ("first_name", TextKind::FirstName),
        ("last_name", TextKind::LastName),
        ("username", TextKind::Username),
        ("email", TextKind::Email),
        ("phone", TextKind::Phone),
        ("slug", TextKind::Slug),
        ("company", TextKind::OrgName),
        ("title", TextKind::Title),
        ("name", TextKind::ThingName),
        ("sentence", TextKind::Sentence),
        ("url", TextKind::Url),
        ("city", TextKind::City),
        ("country", TextKind::Country),
        ("country_code", TextKind::CountryCode),
        ("address", TextKind::Address),
        ("postal_code", TextKind::PostalCode),
        ("currency", TextKind::Currency),
        ("locale", TextKind::Locale),
        ("time_zone", TextKind::TimeZone),
        ("color", TextKind::Color),
        ("code", TextKind::Code),
        ("hex", TextKind::Hex),
        ("ip", TextKind::Ip),
        ("word", TextKind::Word),
    ];

    pub fn parse(name: &str) -> Option<TextKind> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("slug")
    }

    /// By column name (lower case), for a table whose rows are `people` or not.
    fn guess(column: &str, people: bool, tenant: bool) -> TextKind {
        let has = |w: &str| column.contains(w);
        let is = |w: &[&str]| w.contains(&column);
        match () {
            _ if has("email") => TextKind::Email,
            _ if has("phone") || has("mobile") => TextKind::Phone,
            _ if has("first_name") || column == "given_name" || column == "firstname" => {
                TextKind::FirstName
            }
            _ if has("last_name") || column == "family_name" || column == "surname" => {
                TextKind::LastName
            }
            _ if has("full_name") || column == "display_name" || column == "contact_name" => {
                TextKind::FullName
            }
            _ if is(&["username", "user_name", "handle", "login", "nickname"]) => {
                TextKind::Username
            }
            _ if has("slug") => TextKind::Slug,
            _ if has("url")
                || has("website")
                || has("link")
                || has("avatar")
                || has("image")
                || has("logo")
                || has("photo")
                || has("picture")
                || has("href") =>
            {
                TextKind::Url
            }
            _ if has("country_code") || column == "iso2" => TextKind::CountryCode,
            _ if has("country") => TextKind::Country,
            _ if has("city") || column == "town" => TextKind::City,
            _ if has("address") || has("street") => TextKind::Address,
            _ if has("zip") || has("postal") || has("postcode") => TextKind::PostalCode,
            _ if has("currency") => TextKind::Currency,
            _ if has("locale") || has("language") || column == "lang" => TextKind::Locale,
            _ if has("timezone") || has("time_zone") || column == "tz" => TextKind::TimeZone,
            _ if has("color") || has("colour") => TextKind::Color,
            _ if has("token")
                || has("secret")
                || has("hash")
                || has("password")
                || has("api_key")
                || has("signature")
                || has("checksum")
                || has("digest") =>
            {
                TextKind::Hex
            }
            _ if column == "ip" || has("ip_address") => TextKind::Ip,
            _ if has("code")
                || has("sku")
                || has("reference")
                || column == "ref"
                || has("number")
                || has("invoice_no") =>
            {
                TextKind::Code
            }
            _ if is(&[
                "title", "subject", "headline", "label", "heading", "caption",
            ]) =>
            {
                TextKind::Title
            }
            _ if has("description")
                || has("note")
                || has("body")
                || has("content")
                || has("comment")
                || has("message")
                || has("bio")
                || has("summary")
                || has("text")
                || has("details")
                || has("reason")
                || has("instructions")
                || has("about")
                || has("prompt")
                || has("answer")
                || has("question") =>
            {
                TextKind::Sentence
            }
            _ if column == "name" && tenant => TextKind::OrgName,
            _ if column == "name" && people => TextKind::FullName,
            _ if column == "name" || column.ends_with("_name") => TextKind::ThingName,
            _ => TextKind::Word,
        }
    }
}

/// When a timestamp or date lies, by column name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Between the org's creation and now.
    Created,
    /// Anywhere in the window, past and future: the time of an event.
    Event,
    /// In the past part of the window.
    Past,
    /// In the future part of the window.
    Future,
    /// A birth date.
    Birth,
}

impl Moment {
    fn guess(column: &str) -> Moment {
        let has = |w: &str| column.contains(w);
        match () {
            _ if has("birth") || column == "dob" => Moment::Birth,
            _ if has("created")
                || has("inserted")
                || has("joined")
                || has("signed_up")
                || has("registered")
                || has("updated")
                || has("modified") =>
            {
                Moment::Created
            }
            _ if has("expire") || has("valid_until") || has("renew") || has("next_") => {
                Moment::Future
            }
            _ if has("start")
                || has("end")
                || has("scheduled")
                || has("due")
                || has("begin")
                || has("finish")
                || has("event")
                || has("occurs")
                || has("date")
                || has("booked")
                || has("from")
                || has("until")
                || has("at_time")
                || column == "at"
                || has("time")
                || has("deadline") =>
            {
                Moment::Event
            }
            _ => Moment::Past,
        }
    }
}

/// How a column's values are made.
#[derive(Debug, Clone)]
pub enum Gen {
    Uuid,
    /// One of these, by weight.
    Choice(Vec<(Value, f64)>),
    Text {
        kind: TextKind,
        min_len: usize,
        max_len: Option<usize>,
    },
    /// A string matching a regular expression (generated, then verified); a plausible
    /// text of `prefer`'s kind when it matches.
    Pattern {
        generator: Box<rand_regex::Regex>,
        check: Box<regex::Regex>,
        max_len: Option<usize>,
        prefer: TextKind,
    },
    Int {
        lo: i64,
        hi: i64,
        step: i64,
    },
    Numeric {
        lo: f64,
        hi: f64,
        scale: u32,
    },
    Float {
        lo: f64,
        hi: f64,
    },
    Bool {
        p_true: f64,
    },
    Timestamp(Moment),
    Date(Moment),
    TimeOfDay,
    Interval,
    Json {
        array: bool,
    },
    Bytes,
    Array(Box<Gen>),
    /// The text input form of a type dbkit has no generator for, from the profile.
    Constant(Value),
    /// Built-in text forms of less common types (inet, ranges, ...).
    Literal(fn(&mut Ctx) -> String),
}

/// A column dbkit cannot make values for, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    pub type_name: String,
}

/// What a profile says about one column (validated by the profile reader).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnProfile {
    /// Weighted values (text input forms).
    pub weights: Option<Vec<(String, f64)>>,
    /// A constant (text input form).
    pub value: Option<String>,
    pub generator: Option<TextKind>,
    pub pattern: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub null_share: Option<f64>,
}

/// The share of NULLs of a nullable column, by name.
pub fn null_share(column: &Column) -> f64 {
    let n = column.name.to_lowercase();
    let has = |w: &str| n.contains(w);
    match () {
        _ if has("deleted")
            || has("archived")
            || has("banned")
            || has("cancel")
            || has("revoked")
            || has("disabled") =>
        {
            0.9
        }
        _ if has("note") || has("comment") || has("description") || has("bio") => 0.5,
        _ if has("updated") || has("modified") => 0.3,
        _ if has("parent") => 0.5,
        _ => 0.15,
    }
}

/// Choose the generator of `column` of a table (`people`: its rows are persons;
/// `tenant`: it is the tenant table).
pub fn choose(
    column: &Column,
    hints: Option<&ColumnHints>,
    profile: Option<&ColumnProfile>,
    people: bool,
    tenant: bool,
) -> Result<Gen, Unsupported> {
    let name = column.name.to_lowercase();
    let wire = Wire::of(column);
    let empty = ColumnHints::default();
    let hints = hints.unwrap_or(&empty);
    if let Some(p) = profile {
        if let Some(v) = &p.value {
            return Ok(Gen::Constant(typed(v, &wire)));
        }
        if let Some(w) = &p.weights {
            return Ok(Gen::Choice(
                w.iter().map(|(v, w)| (typed(v, &wire), *w)).collect(),
            ));
        }
        if let Some(pattern) = &p.pattern {
            if let Some(g) = pattern_gen(pattern, false, column.max_chars(), TextKind::Word) {
                return Ok(g);
            }
        }
        if let Some(kind) = p.generator {
            return Ok(Gen::Text {
                kind,
                min_len: hints.min_len.unwrap_or(0),
                max_len: column.max_chars(),
            });
        }
    }
    // Enums and IN-lists: their values, evenly.
    let labels = if !column.enum_labels.is_empty() {
        Some(column.enum_labels.clone())
    } else {
        hints.allowed.clone()
    };
    if let Some(labels) = labels.filter(|l| !l.is_empty()) {
        let allowed: Vec<(Value, f64)> = labels
            .iter()
            .filter(|l| !hints.denied.contains(l))
            .map(|l| (typed(l, &wire), 1.0))
            .collect();
        if !allowed.is_empty() && column.element.is_none() {
            return Ok(Gen::Choice(allowed));
        }
    }
    let (pmin, pmax) = (profile.and_then(|p| p.min), profile.and_then(|p| p.max));
    if let Some(e) = &column.element {
        let inner = element_gen(e, &name)?;
        return Ok(Gen::Array(Box::new(inner)));
    }
    Ok(match column.base_type.as_str() {
        "uuid" => Gen::Uuid,
        "text" | "varchar" | "bpchar" | "citext" | "name" => {
            if let Some((p, ci)) = hints.patterns.first() {
                let prefer = match TextKind::guess(&name, people, tenant) {
                    TextKind::Slug if tenant => TextKind::OrgSlug,
                    kind => kind,
                };
                if let Some(g) = pattern_gen(p, *ci, column.max_chars().or(hints.max_len), prefer) {
                    return Ok(g);
                }
            }
            let max_len = match (column.max_chars(), hints.max_len) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let min_len = if column.base_type == "bpchar" {
                column.max_chars().unwrap_or(1)
            } else {
                hints.min_len.unwrap_or(0)
            };
            let kind = match max_len {
                Some(2) if name.contains("country") || name.contains("lang") => {
                    TextKind::CountryCode
                }
                Some(3) if name.contains("currency") => TextKind::Currency,
                _ => match TextKind::guess(&name, people, tenant) {
                    TextKind::Slug if tenant => TextKind::OrgSlug,
                    kind => kind,
                },
            };
            Gen::Text {
                kind,
                min_len,
                max_len,
            }
        }
        "int2" | "int4" | "int8" => {
            let (tlo, thi) = match column.base_type.as_str() {
                "int2" => (i16::MIN as i64, i16::MAX as i64),
                "int4" => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN / 2, i64::MAX / 2),
            };
            let (lo, hi, step) = int_range(&name);
            let (lo, hi) = bounded(lo as f64, hi as f64, hints, pmin, pmax, 1.0);
            Gen::Int {
                lo: (lo.ceil() as i64).clamp(tlo, thi),
                hi: (hi.floor() as i64).clamp(tlo, thi),
                step,
            }
        }
        "numeric" | "float4" | "float8" | "money" => {
            let (lo, hi) = float_range(&name);
            let scale = column
                .numeric_precision()
                .map(|(_, s)| s)
                .unwrap_or(if column.base_type == "numeric" { 2 } else { 4 });
            let unit = 10f64.powi(-(scale as i32));
            let (mut lo, mut hi) = bounded(lo, hi, hints, pmin, pmax, unit);
            if let Some((p, s)) = column.numeric_precision() {
                let cap = 10f64.powi(p as i32 - s as i32) - unit;
                hi = hi.min(cap);
                lo = lo.max(-cap);
            }
            if column.base_type == "numeric" || column.base_type == "money" {
                Gen::Numeric { lo, hi, scale }
            } else {
                Gen::Float { lo, hi }
            }
        }
        "bool" => Gen::Bool {
            p_true: bool_share(&name),
        },
        "timestamptz" | "timestamp" => Gen::Timestamp(Moment::guess(&name)),
        "date" => Gen::Date(Moment::guess(&name)),
        "time" | "timetz" => Gen::TimeOfDay,
        "interval" => Gen::Interval,
        "json" | "jsonb" => Gen::Json {
            array: hints.json_kind.as_deref() == Some("array")
                || (hints.json_kind.is_none()
                    && (name.ends_with('s')
                        && !name.ends_with("ss")
                        && !name.contains("settings")
                        && !name.contains("details")
                        && !name.contains("options")
                        && !name.contains("preferences")
                        && !name.contains("params")
                        && !name.contains("attributes")
                        && !name.contains("metadata")
                        && !name.contains("properties")
                        && !name.contains("stats")
                        && !name.contains("credentials"))),
        },
        "bytea" => Gen::Bytes,
        "inet" | "cidr" => Gen::Literal(|c| {
            format!(
                "10.{}.{}.{}",
                c.org.city,
                c.rng.random_range(0..255u8),
                c.rng.random_range(1..255u8)
            )
        }),
        "tstzrange" | "tsrange" => Gen::Literal(|c| {
            let start = c.window.anchor + Duration::hours(c.rng.random_range(-2000..2000i64));
            let end = start + Duration::hours(c.rng.random_range(1..48i64));
            format!(
                "[\"{}\",\"{}\")",
                start.format("%Y-%m-%d %H:%M:%S+00"),
                end.format("%Y-%m-%d %H:%M:%S+00")
            )
        }),
        "daterange" => Gen::Literal(|c| {
            let start =
                c.window.anchor.date_naive() + Duration::days(c.rng.random_range(-300..90i64));
            format!(
                "[{},{})",
                start,
                start + Duration::days(c.rng.random_range(1..30i64))
            )
        }),
        "int4range" | "int8range" | "numrange" => Gen::Literal(|c| {
            let lo = c.rng.random_range(0..100i64);
            format!("[{lo},{})", lo + c.rng.random_range(1..100i64))
        }),
        "tsvector" => Gen::Literal(|c| {
            (0..3)
                .map(|_| pick(c.rng, names::WORDS))
                .collect::<Vec<_>>()
                .join(" ")
        }),
        "point" => Gen::Literal(|c| {
            format!(
                "({:.5},{:.5})",
                c.rng.random_range(-180.0..180.0f64),
                c.rng.random_range(-90.0..90.0f64)
            )
        }),
        "macaddr" => Gen::Literal(|c| {
            let b: [u8; 3] = c.rng.random();
            format!("08:00:2b:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
        }),
        "xml" => Gen::Literal(|_| "<note/>".into()),
        "bit" | "varbit" => Gen::Literal(|c| {
            if c.rng.random_bool(0.5) {
                "1".into()
            } else {
                "0".into()
            }
        }),
        _ if column.base_kind == "e" => Gen::Choice(vec![]),
        other => {
            return Err(Unsupported {
                type_name: if column.sql_type.is_empty() {
                    other.to_string()
                } else {
                    column.sql_type.clone()
                },
            })
        }
    })
}

fn element_gen(e: &crate::schema::facts::Element, name: &str) -> Result<Gen, Unsupported> {
    if !e.enum_labels.is_empty() {
        return Ok(Gen::Choice(
            e.enum_labels
                .iter()
                .map(|l| (Value::Text(l.clone()), 1.0))
                .collect(),
        ));
    }
    Ok(match e.type_name.as_str() {
        "text" | "varchar" | "citext" | "bpchar" => Gen::Text {
            kind: if name.contains("email") {
                TextKind::Email
            } else {
                TextKind::Word
            },
            min_len: 0,
            max_len: None,
        },
        "uuid" => Gen::Uuid,
        "int2" => Gen::Int {
            lo: 1,
            hi: 7,
            step: 1,
        },
        "int4" | "int8" => Gen::Int {
            lo: 1,
            hi: 100,
            step: 1,
        },
        "numeric" => Gen::Numeric {
            lo: 0.0,
            hi: 100.0,
            scale: 2,
        },
        "float4" | "float8" => Gen::Float { lo: 0.0, hi: 1.0 },
        "bool" => Gen::Bool { p_true: 0.5 },
        "timestamptz" | "timestamp" => Gen::Timestamp(Moment::Past),
        "date" => Gen::Date(Moment::Past),
        "jsonb" | "json" => Gen::Json { array: false },
        other => {
            return Err(Unsupported {
                type_name: format!("{other}[]"),
            })
        }
    })
}

/// A value of the column's kind from its text form (profile weights, IN-lists).
pub fn typed(text: &str, wire: &Wire) -> Value {
    match wire {
        Wire::Int2 | Wire::Int4 | Wire::Int8 => text
            .parse()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::Literal(text.into())),
        Wire::Float4 | Wire::Float8 => text
            .parse()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::Literal(text.into())),
        Wire::Numeric if text.parse::<f64>().is_ok() => Value::Numeric(text.into()),
        Wire::Bool => match text {
            "t" | "true" | "yes" | "on" | "1" => Value::Bool(true),
            "f" | "false" | "no" | "off" | "0" => Value::Bool(false),
            _ => Value::Literal(text.into()),
        },
        Wire::Text => Value::Text(text.into()),
        Wire::Json | Wire::Jsonb => Value::Json(text.into()),
        Wire::Uuid => Uuid::parse_str(text)
            .map(Value::Uuid)
            .unwrap_or_else(|_| Value::Literal(text.into())),
        _ => Value::Literal(text.into()),
    }
}

fn pattern_gen(pattern: &str, ci: bool, max_len: Option<usize>, prefer: TextKind) -> Option<Gen> {
    let check = super::check::compile(pattern, ci)?;
    // Anchors only tell where the match is; generate the rest and verify.
    let mut hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(false)
        .build()
        .parse(pattern)
        .ok()?;
    hir = strip_looks(hir);
    let generator = rand_regex::Regex::with_hir(hir, 8).ok()?;
    Some(Gen::Pattern {
        generator: Box::new(generator),
        check: Box::new(check),
        max_len,
        prefer,
    })
}

/// The HIR without its anchors and word boundaries.
fn strip_looks(hir: regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Hir, HirKind};
    match hir.into_kind() {
        HirKind::Look(_) => Hir::empty(),
        HirKind::Concat(parts) => Hir::concat(parts.into_iter().map(strip_looks).collect()),
        HirKind::Alternation(parts) => {
            Hir::alternation(parts.into_iter().map(strip_looks).collect())
        }
        HirKind::Repetition(mut r) => {
            r.sub = Box::new(strip_looks(*r.sub));
            Hir::repetition(r)
        }
        HirKind::Capture(mut c) => {
            c.sub = Box::new(strip_looks(*c.sub));
            Hir::capture(c)
        }
        other => other_kind(other),
    }
}

fn other_kind(kind: regex_syntax::hir::HirKind) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Hir, HirKind};
    match kind {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(printable(c)),
        _ => Hir::empty(),
    }
}

/// A class narrowed to printable ASCII where it has any (`[^@\s]` would otherwise
/// draw from all of Unicode).
fn printable(class: regex_syntax::hir::Class) -> regex_syntax::hir::Class {
    use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange};
    match class {
        Class::Unicode(c) => {
            let mut narrowed = c.clone();
            narrowed.intersect(&ClassUnicode::new([ClassUnicodeRange::new('!', '~')]));
            if narrowed.ranges().is_empty() {
                Class::Unicode(c)
            } else {
                Class::Unicode(narrowed)
            }
        }
        Class::Bytes(c) => {
            let mut narrowed = c.clone();
            narrowed.intersect(&ClassBytes::new([ClassBytesRange::new(b'!', b'~')]));
            if narrowed.ranges().is_empty() {
                Class::Bytes(c)
            } else {
                Class::Bytes(narrowed)
            }
        }
    }
}

/// Bounds from name defaults narrowed by CHECK hints and the profile (`unit`: the
/// smallest step, for strict bounds).
fn bounded(
    lo: f64,
    hi: f64,
    hints: &ColumnHints,
    pmin: Option<f64>,
    pmax: Option<f64>,
    unit: f64,
) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    let cmin = hints.min.map(|(b, inc)| if inc { b } else { b + unit });
    let cmax = hints.max.map(|(b, inc)| if inc { b } else { b - unit });
    if let Some(m) = cmin {
        lo = lo.max(m);
        if hi < lo {
            hi = lo + (hi - lo).abs().max(10.0 * unit);
        }
    }
    if let Some(m) = cmax {
        hi = hi.min(m);
        if lo > hi {
            lo = cmin.unwrap_or(hi - 10.0 * unit).min(hi);
        }
    }
    if let Some(m) = pmin {
        lo = m;
    }
    if let Some(m) = pmax {
        hi = m;
    }
    if hi < lo {
        hi = lo;
    }
    (lo, hi)
}

fn int_range(name: &str) -> (i64, i64, i64) {
    let has = |w: &str| name.contains(w);
    match () {
        _ if has("cents")
            || has("price")
            || has("amount")
            || has("cost")
            || has("total")
            || has("fee")
            || has("balance")
            || has("salary") =>
        {
            (500, 50_000, 50)
        }
        _ if has("minutes") || has("duration") => (15, 180, 15),
        _ if has("seconds") => (30, 7200, 30),
        _ if has("hours") => (1, 12, 1),
        _ if has("days") => (1, 90, 1),
        _ if has("year") => (2015, 2026, 1),
        _ if has("age") => (18, 90, 1),
        _ if has("rating") || has("stars") => (1, 5, 1),
        _ if has("score") || has("percent") || has("progress") => (0, 100, 1),
        _ if has("priority") || has("level") => (1, 5, 1),
        _ if has("position")
            || has("sort")
            || has("order")
            || has("rank")
            || has("index")
            || has("sequence")
            || has("seq") =>
        {
            (0, 100, 1)
        }
        _ if has("quantity") || has("qty") || has("seats") || has("capacity") => (1, 20, 1),
        _ if has("count") || has("number_of") || has("num_") => (0, 50, 1),
        _ if has("port") => (1024, 65535, 1),
        _ if has("size") || has("bytes") => (1_000, 5_000_000, 1),
        _ => (1, 1000, 1),
    }
}

fn float_range(name: &str) -> (f64, f64) {
    let has = |w: &str| name.contains(w);
    match () {
        _ if has("lat") => (-60.0, 70.0),
        _ if has("lng") || has("lon") => (-170.0, 170.0),
        _ if has("price")
            || has("amount")
            || has("cost")
            || has("total")
            || has("fee")
            || has("balance")
            || has("salary") =>
        {
            (5.0, 500.0)
        }
        _ if has("rating") => (1.0, 5.0),
        _ if has("percent") || has("score") || has("progress") => (0.0, 100.0),
        _ if has("rate") || has("ratio") || has("probability") || has("weight") => (0.0, 1.0),
        _ => (0.0, 1000.0),
    }
}

fn bool_share(name: &str) -> f64 {
    let has = |w: &str| name.contains(w);
    match () {
        _ if has("deleted")
            || has("archived")
            || has("blocked")
            || has("banned")
            || has("disabled")
            || has("is_admin")
            || has("test")
            || has("super") =>
        {
            0.05
        }
        _ if has("active")
            || has("enabled")
            || has("verified")
            || has("confirmed")
            || has("published")
            || has("visible")
            || has("available") =>
        {
            0.85
        }
        _ => 0.5,
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

impl Gen {
    /// Draw one value.
    pub fn value(&self, ctx: &mut Ctx) -> Value {
        match self {
            Gen::Uuid => {
                Value::Uuid(uuid::Builder::from_random_bytes(ctx.rng.random()).into_uuid())
            }
            Gen::Choice(items) => {
                if items.is_empty() {
                    return Value::Null;
                }
                if ctx.cover {
                    return items[ctx.row % items.len()].0.clone();
                }
                let total: f64 = items.iter().map(|(_, w)| w).sum();
                let mut at = ctx.rng.random::<f64>() * total;
                for (v, w) in items {
                    if at < *w {
                        return v.clone();
                    }
                    at -= w;
                }
                items.last().expect("not empty").0.clone()
            }
            Gen::Text {
                kind,
                min_len,
                max_len,
            } => Value::Text(fit(text(*kind, ctx), *min_len, *max_len, ctx.rng)),
            Gen::Pattern {
                generator,
                check,
                max_len,
                prefer,
            } => {
                if *prefer != TextKind::Word {
                    let s = text(*prefer, ctx);
                    if check.is_match(&s) && max_len.is_none_or(|m| s.chars().count() <= m) {
                        return Value::Text(s);
                    }
                }
                let mut s = String::new();
                for _ in 0..20 {
                    s = ctx.rng.sample::<String, _>(generator.as_ref());
                    if check.is_match(&s) && max_len.is_none_or(|m| s.chars().count() <= m) {
                        break;
                    }
                }
                Value::Text(s)
            }
            Gen::Int { lo, hi, step } => {
                let steps = ((hi - lo) / step.max(&1)).max(0);
                Value::Int(lo + ctx.rng.random_range(0..=steps) * step.max(&1))
            }
            Gen::Numeric { lo, hi, scale } => {
                let v = if hi > lo {
                    ctx.rng.random_range(*lo..=*hi)
                } else {
                    *lo
                };
                let v =
                    ((v * 10f64.powi(*scale as i32)).floor() / 10f64.powi(*scale as i32)).max(*lo);
                Value::Numeric(format!("{v:.*}", *scale as usize))
            }
            Gen::Float { lo, hi } => Value::Float(if hi > lo {
                ctx.rng.random_range(*lo..*hi)
            } else {
                *lo
            }),
            Gen::Bool { p_true } => Value::Bool(ctx.rng.random_bool(p_true.clamp(0.0, 1.0))),
            Gen::Timestamp(m) => Value::Timestamp(moment(*m, ctx)),
            Gen::Date(m) => Value::Date(moment(*m, ctx).date_naive()),
            Gen::TimeOfDay => Value::Time(
                NaiveTime::from_hms_opt(
                    ctx.rng.random_range(7..20),
                    [0, 15, 30, 45][ctx.rng.random_range(0..4)],
                    0,
                )
                .expect("valid time"),
            ),
            Gen::Interval => {
                Value::Interval(0, 0, ctx.rng.random_range(1..16i64) * 15 * 60_000_000)
            }
            Gen::Json { array } => Value::Json(if *array {
                format!(
                    "[\"{}\", \"{}\"]",
                    pick(ctx.rng, names::WORDS),
                    pick(ctx.rng, names::WORDS)
                )
            } else {
                format!(
                    "{{\"source\": \"dbkit\", \"{}\": {}}}",
                    pick(ctx.rng, names::WORDS),
                    ctx.rng.random_range(1..100u32)
                )
            }),
            Gen::Bytes => Value::Bytes(ctx.rng.random::<[u8; 16]>().to_vec()),
            Gen::Array(inner) => {
                let n = ctx.rng.random_range(0..4usize);
                let mut items: Vec<Value> = Vec::with_capacity(n);
                for _ in 0..n {
                    let v = inner.value(ctx);
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
                Value::Array(items)
            }
            Gen::Constant(v) => v.clone(),
            Gen::Literal(f) => Value::Literal(f(ctx)),
        }
    }
}

/// Fit text into [min, max] characters.
fn fit(mut s: String, min: usize, max: Option<usize>, rng: &mut ChaCha8Rng) -> String {
    while s.chars().count() < min {
        s.push(char::from(b'a' + rng.random_range(0..26u8)));
    }
    if let Some(max) = max {
        if s.chars().count() > max {
            s = s
                .chars()
                .take(max)
                .collect::<String>()
                .trim_end()
                .to_string();
            while s.chars().count() < min.min(max) {
                s.push('x');
            }
        }
    }
    s
}

fn person(ctx: &mut Ctx) -> (&'static str, &'static str) {
    ctx.person
}

/// A person for a row.
pub fn someone(rng: &mut ChaCha8Rng) -> (&'static str, &'static str) {
    (pick(rng, names::FIRST_NAMES), pick(rng, names::LAST_NAMES))
}

fn text(kind: TextKind, ctx: &mut Ctx) -> String {
    let rng_word = |ctx: &mut Ctx| pick(ctx.rng, names::WORDS);
    match kind {
        TextKind::FullName => {
            let (f, l) = person(ctx);
            format!("{f} {l}")
        }
        TextKind::FirstName => ctx.person.0.into(),
        TextKind::LastName => ctx.person.1.into(),
        TextKind::Username => {
            let (f, l) = person(ctx);
            format!(
                "{}{}{}",
                f.to_ascii_lowercase(),
                &l[..1].to_ascii_lowercase(),
                ctx.rng.random_range(1..999u32)
            )
        }
        TextKind::Email => {
            let (f, l) = person(ctx);
            let domain = if ctx.rng.random_bool(0.5) {
                ctx.org.domain.clone()
            } else {
                pick(ctx.rng, names::EMAIL_DOMAINS).to_string()
            };
            format!(
                "{}.{}@{domain}",
                f.to_ascii_lowercase(),
                l.to_ascii_lowercase()
            )
        }
        TextKind::Phone => names::phone(ctx.rng, "America/New_York"),
        TextKind::Slug => names::slugify(&format!(
            "{} {}",
            pick(ctx.rng, names::ADJECTIVES),
            pick(ctx.rng, names::NOUNS)
        )),
        TextKind::OrgName => ctx.org.name.clone(),
        TextKind::OrgSlug => ctx.org.slug.clone(),
        TextKind::Title => {
            let w = rng_word(ctx);
            let mut t = format!(
                "{} {} {}",
                pick(ctx.rng, names::ADJECTIVES),
                w,
                rng_word(ctx)
            );
            if let Some(first) = t.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            t
        }
        TextKind::ThingName => format!(
            "{} {}",
            pick(ctx.rng, names::ADJECTIVES),
            pick(ctx.rng, names::NOUNS)
        ),
        TextKind::Sentence => {
            if ctx.rng.random_bool(0.5) {
                pick(ctx.rng, names::NOTES).to_string()
            } else {
                let n = ctx.rng.random_range(4..10usize);
                let words: Vec<&str> = (0..n).map(|_| rng_word(ctx)).collect();
                let mut s = format!("{}.", words.join(" "));
                if let Some(first) = s.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                s
            }
        }
        TextKind::Url => format!(
            "https://{}/{}/{}",
            ctx.org.domain,
            rng_word(ctx),
            ctx.rng.random_range(1..10_000u32)
        ),
        TextKind::City => names::CITIES[ctx.org.city % names::CITIES.len()].0.into(),
        TextKind::Country => names::CITIES[ctx.org.city % names::CITIES.len()].1.into(),
        TextKind::CountryCode => names::CITIES[ctx.org.city % names::CITIES.len()].2.into(),
        TextKind::Address => format!(
            "{} {}",
            ctx.rng.random_range(1..400u32),
            pick(ctx.rng, names::STREETS)
        ),
        TextKind::PostalCode => format!("{:05}", ctx.rng.random_range(1000..99_999u32)),
        TextKind::Currency => pick(ctx.rng, &["USD", "EUR", "GBP", "CAD", "AUD"]).into(),
        TextKind::Locale => pick(ctx.rng, &["en", "en-US", "en-GB", "de", "fr", "es"]).into(),
        TextKind::TimeZone => pick(
            ctx.rng,
            &[
                "America/New_York",
                "America/Chicago",
                "Europe/London",
                "Europe/Berlin",
                "Australia/Sydney",
            ],
        )
        .into(),
        TextKind::Color => format!("#{:06x}", ctx.rng.random_range(0..0xff_ffffu32)),
        TextKind::Code => format!(
            "{}-{:05}",
            pick(ctx.rng, &["A", "B", "C", "K", "M", "R", "X"]),
            ctx.rng.random_range(0..100_000u32)
        ),
        TextKind::Hex => {
            let b: [u8; 16] = ctx.rng.random();
            b.iter().map(|x| format!("{x:02x}")).collect()
        }
        TextKind::Ip => format!("192.0.2.{}", ctx.rng.random_range(1..255u8)),
        TextKind::Word => {
            let w = rng_word(ctx);
            format!("{w}-{}", ctx.rng.random_range(1..1000u32))
        }
    }
}

/// A moment of `kind`, relative to the window and the org.
fn moment(kind: Moment, ctx: &mut Ctx) -> DateTime<Utc> {
    let w = ctx.window;
    let secs = |ctx: &mut Ctx, from: DateTime<Utc>, to: DateTime<Utc>| {
        let span = (to - from).num_seconds().max(1);
        from + Duration::seconds(ctx.rng.random_range(0..span))
    };
    let past = w.anchor - Duration::days(w.past_days as i64);
    let future = w.anchor + Duration::days(w.future_days.max(1) as i64);
    let kind = match kind {
        // Covering: past and future in turn, whatever the column's kind.
        Moment::Past | Moment::Future if ctx.cover => Moment::Event,
        k => k,
    };
    match kind {
        Moment::Created => {
            let from = ctx.org.created_at.min(w.anchor - Duration::days(1));
            secs(ctx, from, w.anchor)
        }
        Moment::Past => secs(ctx, past, w.anchor),
        Moment::Future => secs(ctx, w.anchor, future),
        Moment::Event => {
            // On a quarter-hour grid in working hours, like things people schedule.
            let day = if ctx.cover {
                // Even rows in the past, odd ones in the future.
                if ctx.row.is_multiple_of(2) {
                    -(1 + ctx.row as i64 / 2).min(w.past_days.max(1) as i64)
                } else {
                    (1 + ctx.row as i64 / 2).min(w.future_days.max(1) as i64)
                }
            } else {
                ctx.rng
                    .random_range(-(w.past_days as i64)..=(w.future_days as i64))
            };
            let minutes = ctx.rng.random_range(8 * 4..19 * 4i64) * 15;
            w.anchor + Duration::days(day) + Duration::minutes(minutes)
        }
        Moment::Birth => {
            let year = ctx.rng.random_range(1950..2006);
            NaiveDate::from_ymd_opt(
                year,
                ctx.rng.random_range(1..13),
                ctx.rng.random_range(1..29),
            )
            .expect("valid date")
            .and_time(NaiveTime::MIN)
            .and_utc()
        }
    }
}

/// A later value for `earlier` (`ends_at` after `starts_at`): a duration on a
/// quarter-hour grid for times, a day or more for dates, a step for numbers.
pub fn after(earlier: &Value, strict: bool, rng: &mut ChaCha8Rng) -> Option<Value> {
    let min = if strict { 1 } else { 0 };
    Some(match earlier {
        Value::Timestamp(t) => {
            Value::Timestamp(*t + Duration::minutes(15 * rng.random_range(min.max(1)..=12i64)))
        }
        Value::Date(d) => Value::Date(*d + Duration::days(rng.random_range(min..=30i64))),
        Value::Int(i) => Value::Int(i + rng.random_range(min..=100i64)),
        Value::Float(f) => Value::Float(f + rng.random_range(0.0..100.0) + min as f64),
        Value::Numeric(s) => {
            let v: f64 = s.parse().ok()?;
            let scale = s.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
            Value::Numeric(format!(
                "{:.*}",
                scale,
                v + rng.random_range(min..=100i64) as f64
            ))
        }
        Value::Time(t) => {
            let later = *t + Duration::minutes(15 * rng.random_range(min.max(1)..=8i64));
            if later <= *t {
                return None;
            }
            Value::Time(later)
        }
        _ => return None,
    })
}

/// The org's creation time: one to four years before the window opens.
pub fn org_created(window: &Window, rng: &mut ChaCha8Rng) -> DateTime<Utc> {
    let open = window.anchor - Duration::days(window.past_days as i64);
    open - Duration::days(rng.random_range(30..1460))
        - Duration::seconds(rng.random_range(0..86_400))
}

/// The year of the anchor, for defaults that mention years.
pub fn anchor_year(window: &Window) -> i32 {
    window.anchor.year()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn column(name: &str, base: &str) -> Column {
        let mut c = crate::schema::facts::testing::table(1, "t", &[name])
            .columns
            .remove(0);
        c.base_type = base.into();
        c.sql_type = base.into();
        c
    }

    fn ctx_values(gen: &Gen, n: usize) -> Vec<Value> {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let org = OrgInfo {
            name: "Maple Salon".into(),
            slug: "maple-salon".into(),
            domain: "maple-salon.com".into(),
            created_at: DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
                .unwrap()
                .into(),
            city: 0,
        };
        let window = Window {
            anchor: DateTime::parse_from_rfc3339("2026-01-15T00:00:00Z")
                .unwrap()
                .into(),
            past_days: 30,
            future_days: 10,
        };
        (0..n)
            .map(|row| {
                gen.value(&mut Ctx {
                    rng: &mut rng,
                    window,
                    org: &org,
                    row,
                    cover: false,
                    person: ("Ada", "Lovelace"),
                })
            })
            .collect()
    }

    #[test]
    fn names_pick_plausible_text() {
        let g = choose(&column("email", "text"), None, None, true, false).unwrap();
        for v in ctx_values(&g, 20) {
            let Value::Text(s) = v else { panic!() };
            assert!(s.contains('@') && s.contains('.'), "{s}");
        }
        let g = choose(&column("slug", "text"), None, None, false, false).unwrap();
        let Value::Text(s) = &ctx_values(&g, 1)[0] else {
            panic!()
        };
        assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
    }

    #[test]
    fn hints_bound_numbers_lengths_and_patterns() {
        let hints = ColumnHints {
            min: Some((5.0, true)),
            max: Some((480.0, true)),
            ..Default::default()
        };
        let g = choose(
            &column("duration_minutes", "int4"),
            Some(&hints),
            None,
            false,
            false,
        )
        .unwrap();
        for v in ctx_values(&g, 50) {
            let Value::Int(i) = v else { panic!() };
            assert!((5..=480).contains(&i), "{i}");
        }
        let hints = ColumnHints {
            patterns: vec![("^[A-Z]{3}-[0-9]{4}$".into(), false)],
            ..Default::default()
        };
        let g = choose(&column("code", "text"), Some(&hints), None, false, false).unwrap();
        let re = regex::Regex::new("^[A-Z]{3}-[0-9]{4}$").unwrap();
        for v in ctx_values(&g, 20) {
            let Value::Text(s) = v else { panic!() };
            assert!(re.is_match(&s), "{s}");
        }
        let hints = ColumnHints {
            min_len: Some(2),
            max_len: Some(4),
            ..Default::default()
        };
        let g = choose(&column("title", "text"), Some(&hints), None, false, false).unwrap();
        for v in ctx_values(&g, 20) {
            let Value::Text(s) = v else { panic!() };
            assert!((2..=4).contains(&s.chars().count()), "{s}");
        }
    }

    #[test]
    fn unknown_base_types_are_unsupported() {
        let mut c = column("embedding", "vector");
        c.sql_type = "vector(3)".into();
        let e = choose(&c, None, None, false, false).unwrap_err();
        assert_eq!(e.type_name, "vector(3)");
    }
}
