//! Seed profiles: the YAML that describes the distributions `dbkit seed` draws from.
//! A user profile is laid over the embedded `fixtures/default.yaml` section by section,
//! then every key is checked; an error names the file, the key and the problem.

use std::path::Path;
use std::str::FromStr;

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::error::hinted;
use crate::rows::column::{ColumnProfile, TextKind};
use crate::rows::plan::{RowsProfile, TableProfile};

/// The shipped default profile, embedded so `dbkit seed` works outside the repository.
pub const DEFAULT_YAML: &str = include_str!("../../fixtures/default.yaml");
const DEFAULT_NAME: &str = "fixtures/default.yaml (built in)";

/// A weighted choice between values, in the order the profile lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighted<T> {
    items: Vec<(T, f64)>,
    total: f64,
}

impl<T> Weighted<T> {
    fn new(items: Vec<(T, f64)>) -> Self {
        let total = items.iter().map(|(_, w)| w).sum();
        Weighted { items, total }
    }

    /// Pick by `u` uniform in [0, 1).
    pub fn pick(&self, u: f64) -> &T {
        let mut at = u * self.total;
        for (item, weight) in &self.items {
            if at < *weight {
                return item;
            }
            at -= weight;
        }
        // Rounding at the top end: the last item with a weight.
        &self
            .items
            .iter()
            .rev()
            .find(|(_, w)| *w > 0.0)
            .expect("validated: some weight > 0")
            .0
    }

    /// Weighted mean of a numeric projection.
    pub fn mean(&self, f: impl Fn(&T) -> f64) -> f64 {
        self.items.iter().map(|(t, w)| f(t) * w).sum::<f64>() / self.total
    }

    pub fn items(&self) -> impl Iterator<Item = &(T, f64)> {
        self.items.iter()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IdLayout {
    /// UUIDv7 layout with a deterministic, increasing timestamp: btree appends.
    #[default]
    TimeOrdered,
    /// UUIDv4 layout: keys land all over the primary-key btree.
    Random,
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub past_days: u32,
    pub future_days: u32,
    pub size_skew: f64,
    pub largest_providers: u32,
    pub size_jitter: f64,
    pub members_per_provider: f64,
    pub contacts_per_provider: u32,
    pub inactive_providers: f64,
    pub timezones: Weighted<Tz>,
    pub opens_at: Weighted<NaiveTime>,
    pub open_hours: Weighted<u32>,
    pub business_days: Weighted<Vec<i16>>,
    pub slot_minutes: Weighted<u32>,
    pub booking_horizon_days: Weighted<u32>,
    pub occupancy: f64,
    pub future_occupancy_end: f64,
    pub duration_slots: Weighted<u32>,
    pub past_status: Weighted<&'static str>,
    pub future_status: Weighted<&'static str>,
    pub source: Weighted<&'static str>,
    pub notes: f64,
    pub lead_days_max: u32,
    pub ids: IdLayout,
    /// For a project's own schema: sizes and the `tables` section.
    pub rows: RowsProfile,
}

/// The keys each section takes (anything else is an error naming the key).
const SECTIONS: &[(&str, &[&str])] = &[
    ("window", &["past_days", "future_days"]),
    (
        "orgs",
        &[
            "size_skew",
            "event_rows_per_org",
            "largest_providers",
            "size_jitter",
            "members_per_provider",
            "contacts_per_provider",
            "inactive_providers",
            "timezones",
            "opens_at",
            "open_hours",
            "business_days",
            "slot_minutes",
            "booking_horizon_days",
        ],
    ),
    (
        "appointments",
        &[
            "occupancy",
            "future_occupancy_end",
            "duration_slots",
            "past_status",
            "future_status",
            "source",
            "notes",
            "lead_days_max",
        ],
    ),
];

/// The merged profile document, read key by key so errors can name the key.
struct Doc(Mapping);

impl Doc {
    fn check_keys(&self) -> Check<()> {
        for (key, value) in &self.0 {
            let name = key_name(key);
            if name == "ids" || name == "tables" {
                continue;
            }
            let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| *s == name) else {
                return Err((
                    name,
                    "unknown section (expected window, orgs, appointments, tables or ids)".into(),
                ));
            };
            let Value::Mapping(section) = value else {
                return Err((name, format!("expected a mapping, found {}", kind(value))));
            };
            for k in section.keys() {
                let k = key_name(k);
                if !keys.contains(&k.as_str()) {
                    return Err((
                        format!("{name}.{k}"),
                        format!("unknown key (expected one of {})", keys.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }

    fn value(&self, section: &str, key: &str) -> Check<&Value> {
        self.0
            .get(section)
            .and_then(|s| s.as_mapping())
            .and_then(|s| s.get(key))
            .ok_or_else(|| (format!("{section}.{key}"), "missing".into()))
    }

    fn get<T: serde::de::DeserializeOwned>(&self, section: &str, key: &str) -> Check<T> {
        let v = self.value(section, key)?;
        serde_yaml::from_value(v.clone()).map_err(|e| (format!("{section}.{key}"), e.to_string()))
    }

    fn table(&self, section: &str, key: &str) -> Check<&Mapping> {
        match self.value(section, key)? {
            Value::Mapping(m) => Ok(m),
            other => Err((
                format!("{section}.{key}"),
                format!(
                    "expected a weight table like {{a: 3, b: 1}}, found {}",
                    kind(other)
                ),
            )),
        }
    }
}

fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("<{}>", kind(other)),
    }
}

/// What is wrong with a profile, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.problem)
        }
    }
}

impl std::error::Error for ProfileError {}

impl ProfileError {
    /// As a user-facing error (exit 2) with a hint.
    pub fn into_hinted(self) -> anyhow::Error {
        hinted(
            self.to_string(),
            "the default profile (fixtures/default.yaml in the dbkit repository, built into the binary) lists every key with its meaning; a profile may leave keys out",
        )
    }
}

impl Profile {
    /// The embedded default profile.
    pub fn default_profile() -> Profile {
        Profile::parse(DEFAULT_YAML, DEFAULT_NAME).expect("the built-in profile is valid")
    }

    /// Read a profile file (laid over the default).
    pub fn from_file(path: &Path) -> anyhow::Result<Profile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            hinted(
                format!("cannot read profile {}: {e}", path.display()),
                "pass an existing YAML file to --profile, e.g. fixtures/default.yaml",
            )
        })?;
        Profile::parse(&text, &path.display().to_string()).map_err(ProfileError::into_hinted)
    }

    /// Parse profile text laid over the default profile. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let err = |key: &str, problem: String| ProfileError {
            file: file.to_string(),
            key: key.to_string(),
            problem,
        };
        let user: Value = serde_yaml::from_str(text).map_err(|e| err("", e.to_string()))?;
        let base: Value = serde_yaml::from_str(DEFAULT_YAML).expect("built-in profile is YAML");
        let merged = overlay(base, user).map_err(|(key, problem)| err(&key, problem))?;
        let doc = match merged {
            Value::Mapping(m) => Doc(m),
            _ => unreachable!("overlay returns a mapping"),
        };
        validate(&doc).map_err(|(key, problem)| err(&key, problem))
    }
}

/// Lay `user` over `base`: top-level sections are merged key by key; the value of a key
/// (a number, or a whole weight table) replaces the base one.
fn overlay(base: Value, user: Value) -> Result<Value, (String, String)> {
    let mut base = match base {
        Value::Mapping(m) => m,
        _ => unreachable!("built-in profile is a mapping"),
    };
    let user = match user {
        Value::Null => return Ok(Value::Mapping(base)),
        Value::Mapping(m) => m,
        other => {
            return Err((
                String::new(),
                format!("expected a mapping of sections, found {}", kind(&other)),
            ))
        }
    };
    for (key, value) in user {
        let name = key
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{key:?}"));
        match (base.get_mut(&key), value) {
            (Some(Value::Mapping(section)), Value::Mapping(keys)) => {
                for (k, v) in keys {
                    section.insert(k, v);
                }
            }
            (Some(Value::Mapping(_)), other) => {
                return Err((name, format!("expected a mapping, found {}", kind(&other))))
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    Ok(Value::Mapping(base))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

type Check<T> = Result<T, (String, String)>;

fn range_f64(key: &str, v: f64, lo: f64, hi: f64) -> Check<f64> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        Err((
            key.into(),
            format!("must be between {lo} and {hi} (got {v})"),
        ))
    }
}

fn range_u32(key: &str, v: u32, lo: u32, hi: u32) -> Check<u32> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err((
            key.into(),
            format!("must be between {lo} and {hi} (got {v})"),
        ))
    }
}

/// Turn the YAML weight table `section.name` into typed, validated choices.
fn weights<T>(
    doc: &Doc,
    section: &str,
    name: &str,
    mut parse: impl FnMut(&str) -> Result<T, String>,
) -> Check<Weighted<T>> {
    let key = &format!("{section}.{name}");
    let table = doc.table(section, name)?;
    let mut items = Vec::new();
    for (k, w) in table {
        let name = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err((
                    key.into(),
                    format!("keys must be names or numbers, found {}", kind(other)),
                ))
            }
        };
        let at = format!("{key}.{name}");
        let weight = w.as_f64().ok_or_else(|| {
            (
                at.clone(),
                format!("weight must be a number, found {}", kind(w)),
            )
        })?;
        if !(weight.is_finite() && weight >= 0.0) {
            return Err((at, format!("weight must be 0 or more (got {weight})")));
        }
        let value = parse(&name).map_err(|problem| (at.clone(), problem))?;
        items.push((value, weight));
    }
    if !items.iter().any(|(_, w)| *w > 0.0) {
        return Err((
            key.into(),
            "needs at least one entry with a weight above 0".into(),
        ));
    }
    Ok(Weighted::new(items))
}

fn number_in(lo: u32, hi: u32) -> impl FnMut(&str) -> Result<u32, String> {
    move |s| match s.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(n) => Err(format!("must be between {lo} and {hi} (got {n})")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

fn one_of(allowed: &'static [&'static str]) -> impl FnMut(&str) -> Result<&'static str, String> {
    move |s| {
        allowed
            .iter()
            .find(|a| **a == s)
            .copied()
            .ok_or_else(|| format!("`{s}` is not one of {}", allowed.join(", ")))
    }
}

/// `1-5` or `1,3,5`: ISO weekdays, 1 = Monday.
pub fn parse_days(s: &str) -> Result<Vec<i16>, String> {
    let bad = || format!("`{s}` is not a weekday range like 1-5 or a list like 1,3,5 (1 = Monday)");
    let days: Vec<i16> = if let Some((a, b)) = s.split_once('-') {
        let a: i16 = a.trim().parse().map_err(|_| bad())?;
        let b: i16 = b.trim().parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        s.split(',')
            .map(|d| d.trim().parse::<i16>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?
    };
    if days.is_empty() || days.iter().any(|d| !(1..=7).contains(d)) {
        return Err(bad());
    }
    let mut sorted = days.clone();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

/// Contacts of the largest org: their ids stay in memory while its appointments are
/// made (16 bytes each, 32 MB at the limit).
pub const MAX_CONTACTS_PER_ORG: u64 = 2_000_000;
/// Bookable slots of the largest org on one day: a day's bookings are held to keep
/// contacts from being double-booked.
pub const MAX_SLOTS_PER_ORG_DAY: u64 = 1_000_000;

/// The products of in-range values that would exhaust memory: refused with the keys.
fn check_sizes(p: &Profile) -> Check<()> {
    let largest = (p.largest_providers as f64 * (1.0 + p.size_jitter)).round() as u64;
    let contacts = largest * p.contacts_per_provider as u64;
    if contacts > MAX_CONTACTS_PER_ORG {
        return Err((
            "orgs.contacts_per_provider".into(),
            format!(
                "orgs.largest_providers ({}) × (1 + orgs.size_jitter {}) × \
                 orgs.contacts_per_provider ({}) gives {contacts} contacts in the largest \
                 org; at most {MAX_CONTACTS_PER_ORG}",
                p.largest_providers, p.size_jitter, p.contacts_per_provider
            ),
        ));
    }
    let hours = p.open_hours.items().map(|(h, _)| *h).max().unwrap_or(0) as u64;
    let slot = p
        .slot_minutes
        .items()
        .map(|(m, _)| *m)
        .min()
        .unwrap_or(1)
        .max(1) as u64;
    let slots = largest * hours * 60 / slot;
    if slots > MAX_SLOTS_PER_ORG_DAY {
        return Err((
            "orgs.largest_providers".into(),
            format!(
                "orgs.largest_providers ({}) × (1 + orgs.size_jitter {}) × orgs.open_hours \
                 ({hours} h) / orgs.slot_minutes ({slot} min) gives {slots} slots a day in the \
                 largest org; at most {MAX_SLOTS_PER_ORG_DAY}",
                p.largest_providers, p.size_jitter
            ),
        ));
    }
    Ok(())
}

fn validate(doc: &Doc) -> Check<Profile> {
    let profile = read(doc)?;
    check_sizes(&profile)?;
    Ok(profile)
}

fn read(doc: &Doc) -> Check<Profile> {
    doc.check_keys()?;
    let opens_at = weights(doc, "orgs", "opens_at", |s| {
        NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("`{s}` is not a time like 08:30"))
    })?;
    let open_hours = weights(doc, "orgs", "open_hours", number_in(1, 16))?;
    for (t, _) in opens_at.items() {
        for (h, _) in open_hours.items() {
            let minutes = chrono::Timelike::num_seconds_from_midnight(t) / 60 + h * 60;
            if minutes >= 24 * 60 {
                return Err((
                    "orgs.open_hours".into(),
                    format!(
                        "opening at {} for {h} hours runs past midnight",
                        t.format("%H:%M")
                    ),
                ));
            }
        }
    }
    let f = |section: &str, key: &str, lo: f64, hi: f64| -> Check<f64> {
        range_f64(&format!("{section}.{key}"), doc.get(section, key)?, lo, hi)
    };
    let n = |section: &str, key: &str, lo: u32, hi: u32| -> Check<u32> {
        range_u32(&format!("{section}.{key}"), doc.get(section, key)?, lo, hi)
    };
    let ids = match doc.0.get("ids") {
        None => IdLayout::default(),
        Some(v) => serde_yaml::from_value(v.clone()).map_err(|_| {
            (
                "ids".to_string(),
                format!("expected time_ordered or random, found {}", kind(v)),
            )
        })?,
    };
    Ok(Profile {
        past_days: n("window", "past_days", 0, 3650)?,
        future_days: n("window", "future_days", 0, 3650)?,
        size_skew: f("orgs", "size_skew", 0.0, 5.0)?,
        largest_providers: n("orgs", "largest_providers", 1, 10_000)?,
        size_jitter: f("orgs", "size_jitter", 0.0, 0.9)?,
        members_per_provider: f("orgs", "members_per_provider", 0.0, 100.0)?,
        contacts_per_provider: n("orgs", "contacts_per_provider", 1, 1_000_000)?,
        inactive_providers: f("orgs", "inactive_providers", 0.0, 1.0)?,
        timezones: weights(doc, "orgs", "timezones", |s| {
            Tz::from_str(s)
                .map_err(|_| format!("`{s}` is not an IANA time zone (e.g. Europe/Berlin)"))
        })?,
        opens_at,
        open_hours,
        business_days: weights(doc, "orgs", "business_days", parse_days)?,
        slot_minutes: weights(doc, "orgs", "slot_minutes", number_in(5, 240))?,
        booking_horizon_days: weights(doc, "orgs", "booking_horizon_days", number_in(1, 3650))?,
        occupancy: f("appointments", "occupancy", 0.0, 0.99)?,
        future_occupancy_end: f("appointments", "future_occupancy_end", 0.0, 0.99)?,
        duration_slots: weights(doc, "appointments", "duration_slots", number_in(1, 16))?,
        past_status: weights(
            doc,
            "appointments",
            "past_status",
            one_of(&["completed", "no_show", "cancelled"]),
        )?,
        future_status: weights(
            doc,
            "appointments",
            "future_status",
            one_of(&["booked", "confirmed", "cancelled"]),
        )?,
        source: weights(
            doc,
            "appointments",
            "source",
            one_of(&["voice", "web", "phone"]),
        )?,
        notes: f("appointments", "notes", 0.0, 1.0)?,
        lead_days_max: n("appointments", "lead_days_max", 0, 365)?,
        ids,
        rows: RowsProfile {
            size_skew: f("orgs", "size_skew", 0.0, 5.0)?,
            size_jitter: f("orgs", "size_jitter", 0.0, 0.9)?,
            event_rows_per_org: f("orgs", "event_rows_per_org", 0.0, 1_000_000.0)?,
            tables: tables(doc)?,
        },
    })
}

/// The keys a table takes under `tables`, and a column under `tables.<t>.columns`.
const TABLE_KEYS: &[&str] = &[
    "rows_per_org",
    "rows_per_parent",
    "rows_per_user",
    "rows",
    "skip",
    "columns",
];
const COLUMN_KEYS: &[&str] = &[
    "weights",
    "value",
    "generator",
    "pattern",
    "min",
    "max",
    "null_share",
];

/// The `tables` section: per table, rows and column generators (names are checked
/// against the database when the seed plans).
fn tables(doc: &Doc) -> Check<std::collections::BTreeMap<String, TableProfile>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(section) = doc.0.get("tables") else {
        return Ok(out);
    };
    let Value::Mapping(section) = section else {
        return Err((
            "tables".into(),
            format!("expected a mapping of table names, found {}", kind(section)),
        ));
    };
    for (name, table) in section {
        let name = key_name(name);
        let at = format!("tables.{name}");
        let Value::Mapping(table) = table else {
            return Err((
                at,
                format!(
                    "expected a mapping like {{rows_per_org: 20}}, found {}",
                    kind(table)
                ),
            ));
        };
        let mut tp = TableProfile::default();
        for (k, v) in table {
            let k = key_name(k);
            let key = format!("{at}.{k}");
            let number = |lo: f64, hi: f64| -> Check<f64> {
                let n = v.as_f64().ok_or_else(|| {
                    (key.clone(), format!("expected a number, found {}", kind(v)))
                })?;
                range_f64(&key, n, lo, hi)
            };
            match k.as_str() {
                "rows_per_org" => tp.rows_per_org = Some(number(0.0, 1_000_000.0)?),
                "rows_per_parent" => tp.rows_per_parent = Some(number(0.0, 10_000.0)?),
                "rows_per_user" => tp.rows_per_user = Some(number(0.0, 10_000.0)?),
                "rows" => tp.rows = Some(number(0.0, 10_000_000.0)? as u64),
                "skip" => {
                    tp.skip = v.as_bool().ok_or_else(|| {
                        (
                            key.clone(),
                            format!("expected true or false, found {}", kind(v)),
                        )
                    })?
                }
                "columns" => {
                    let Value::Mapping(columns) = v else {
                        return Err((
                            key,
                            format!("expected a mapping of column names, found {}", kind(v)),
                        ));
                    };
                    for (c, spec) in columns {
                        let c = key_name(c);
                        let ckey = format!("{key}.{c}");
                        tp.columns.insert(c, column_profile(&ckey, spec)?);
                    }
                }
                _ => {
                    return Err((
                        key,
                        format!("unknown key (expected one of {})", TABLE_KEYS.join(", ")),
                    ))
                }
            }
        }
        out.insert(name, tp);
    }
    Ok(out)
}

fn column_profile(at: &str, spec: &Value) -> Check<ColumnProfile> {
    let Value::Mapping(spec) = spec else {
        return Err((
            at.into(),
            format!(
                "expected a mapping like {{generator: email}}, found {}",
                kind(spec)
            ),
        ));
    };
    let mut cp = ColumnProfile::default();
    let text = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    for (k, v) in spec {
        let k = key_name(k);
        let key = format!("{at}.{k}");
        match k.as_str() {
            "weights" => {
                let Value::Mapping(m) = v else {
                    return Err((
                        key,
                        format!(
                            "expected a weight table like {{a: 3, b: 1}}, found {}",
                            kind(v)
                        ),
                    ));
                };
                let mut items = vec![];
                for (value, w) in m {
                    let value = key_name(value);
                    let w = w
                        .as_f64()
                        .filter(|w| w.is_finite() && *w >= 0.0)
                        .ok_or_else(|| {
                            (
                                format!("{key}.{value}"),
                                "weight must be a number, 0 or more".to_string(),
                            )
                        })?;
                    items.push((value, w));
                }
                if !items.iter().any(|(_, w)| *w > 0.0) {
                    return Err((key, "needs at least one entry with a weight above 0".into()));
                }
                cp.weights = Some(items);
            }
            "value" => {
                cp.value =
                    Some(text(v).ok_or_else(|| {
                        (key.clone(), format!("expected a value, found {}", kind(v)))
                    })?)
            }
            "generator" => {
                let name = text(v).unwrap_or_default();
                cp.generator = Some(TextKind::parse(&name).ok_or_else(|| {
                    let names: Vec<&str> = TextKind::NAMES.iter().map(|(n, _)| *n).collect();
                    (
                        key.clone(),
                        format!("`{name}` is not a generator (one of {})", names.join(", ")),
                    )
                })?);
            }
            "pattern" => {
                let p = text(v).unwrap_or_default();
                if regex::Regex::new(&p).is_err() {
                    return Err((key, format!("`{p}` is not a regular expression")));
                }
                cp.pattern = Some(p);
            }
            "min" | "max" => {
                let n = v.as_f64().ok_or_else(|| {
                    (key.clone(), format!("expected a number, found {}", kind(v)))
                })?;
                if k == "min" {
                    cp.min = Some(n);
                } else {
                    cp.max = Some(n);
                }
            }
            "null_share" => {
                let n = v.as_f64().ok_or_else(|| {
                    (key.clone(), format!("expected a number, found {}", kind(v)))
                })?;
                cp.null_share = Some(range_f64(&key, n, 0.0, 1.0)?);
            }
            _ => {
                return Err((
                    key,
                    format!("unknown key (expected one of {})", COLUMN_KEYS.join(", ")),
                ))
            }
        }
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_valid() {
        let p = Profile::default_profile();
        assert_eq!(p.past_days, 365);
        assert_eq!(p.ids, IdLayout::TimeOrdered);
        assert_eq!(
            p.business_days.items().next().unwrap().0,
            vec![1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn overlay_keeps_unnamed_keys_and_replaces_tables() {
        let p = Profile::parse(
            "window:\n  past_days: 7\norgs:\n  slot_minutes: {20: 1}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(p.past_days, 7);
        assert_eq!(p.future_days, 90);
        assert_eq!(p.slot_minutes.items().count(), 1);
        assert_eq!(p.timezones, Profile::default_profile().timezones);
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = Profile::parse("appointments:\n  occupancy: 1.5\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "appointments.occupancy");
        assert!(
            e.to_string()
                .starts_with("p.yaml: appointments.occupancy: must be between"),
            "{e}"
        );

        let e = Profile::parse("orgs:\n  timezones: {Mars/Olympus: 1}\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "orgs.timezones.Mars/Olympus");

        let e = Profile::parse("orgs:\n  size_skew: lots\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "orgs.size_skew", "{e}");

        let e = Profile::parse("orgs:\n  sise_skew: 1\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "orgs.sise_skew", "{e}");

        let e =
            Profile::parse("appointments:\n  past_status: {booked: 1}\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "appointments.past_status.booked", "{e}");

        let e = Profile::parse("orgs:\n  business_days: {\"5-1\": 1}\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "orgs.business_days.5-1", "{e}");

        let e = Profile::parse("window: [1, 2]\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "window", "{e}");

        let e = Profile::parse("ids: sideways\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "ids", "{e}");

        let e = Profile::parse("colours: {a: 1}\n", "p.yaml").unwrap_err();
        assert_eq!(e.key, "colours", "{e}");

        let e = Profile::parse(
            "orgs: {largest_providers: 10000, contacts_per_provider: 1000000}\n",
            "p.yaml",
        )
        .unwrap_err();
        assert_eq!(e.key, "orgs.contacts_per_provider", "{e}");
        assert!(
            e.to_string().contains("orgs.largest_providers (10000)"),
            "{e}"
        );

        let e = Profile::parse(
            "orgs: {largest_providers: 10000, contacts_per_provider: 1, slot_minutes: {5: 1}}\n",
            "p.yaml",
        )
        .unwrap_err();
        assert_eq!(e.key, "orgs.largest_providers", "{e}");

        let e = Profile::parse("window: {past_days: 1\n", "p.yaml").unwrap_err();
        assert!(e.to_string().starts_with("p.yaml: "), "{e}");
    }

    #[test]
    fn weighted_pick_follows_weights() {
        let w = Weighted::new(vec![("a", 1.0), ("b", 0.0), ("c", 3.0)]);
        assert_eq!(*w.pick(0.0), "a");
        assert_eq!(*w.pick(0.24), "a");
        assert_eq!(*w.pick(0.26), "c");
        assert_eq!(*w.pick(0.999_999_9), "c");
    }

    #[test]
    fn weekday_sets() {
        assert_eq!(parse_days("1-5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_days("6,1,3").unwrap(), vec![1, 3, 6]);
        assert!(parse_days("0-5").is_err());
        assert!(parse_days("mon").is_err());
    }
}
