//! Pure, deterministic row generators: (seed, orgs, profile, anchor date) → the same
//! rows in the same order, byte for byte, and a SHA-256 fingerprint over them computed
//! while they are made. No I/O: rows go to a callback in chunks, so memory stays
//! bounded by one org's contacts plus one chunk, however many orgs are asked for.
//!
//! Randomness: one ChaCha8 stream per org (`set_stream(org + 1)`) and stream 0 for the
//! plan (tenant sizes), so an org's rows do not depend on how much randomness other
//! orgs used. Ids are drawn from those streams too; with the `time_ordered` layout
//! they are UUIDv7-shaped with a deterministic, strictly increasing timestamp (a
//! counter from a fixed base, not the clock), so every table's primary key is
//! appended to in load order.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::names::{self, Kind};
use super::profile::{IdLayout, Profile};

// ---- rows ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrgSettings {
    pub org_id: Uuid,
    pub timezone: &'static str,
    pub opens_at: NaiveTime,
    pub closes_at: NaiveTime,
    pub business_days: Vec<i16>,
    pub slot_minutes: i32,
    pub booking_horizon_days: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub role: &'static str,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub specialty: Option<&'static str>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: Uuid,
    pub org_id: Uuid,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    pub id: Uuid,
    pub org_id: Uuid,
    pub provider_id: Uuid,
    pub contact_id: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: &'static str,
    pub source: &'static str,
    pub notes: Option<&'static str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The six tenant tables in load (foreign-key) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Orgs,
    OrgSettings,
    Members,
    Providers,
    Contacts,
    Appointments,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Orgs,
        Table::OrgSettings,
        Table::Members,
        Table::Providers,
        Table::Contacts,
        Table::Appointments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Orgs => "orgs",
            Table::OrgSettings => "org_settings",
            Table::Members => "members",
            Table::Providers => "providers",
            Table::Contacts => "contacts",
            Table::Appointments => "appointments",
        }
    }
}

/// What the generator hands on: chunks of one table's rows, and the end of an org
/// (all of its rows have been handed on; a loader may commit).
#[derive(Debug)]
pub enum Batch {
    Orgs(Vec<Org>),
    OrgSettings(Vec<OrgSettings>),
    Members(Vec<Member>),
    Providers(Vec<Provider>),
    Contacts(Vec<Contact>),
    Appointments(Vec<Appointment>),
    OrgDone { index: u32, slug: String },
}

impl Batch {
    pub fn table(&self) -> Option<Table> {
        Some(match self {
            Batch::Orgs(_) => Table::Orgs,
            Batch::OrgSettings(_) => Table::OrgSettings,
            Batch::Members(_) => Table::Members,
            Batch::Providers(_) => Table::Providers,
            Batch::Contacts(_) => Table::Contacts,
            Batch::Appointments(_) => Table::Appointments,
            Batch::OrgDone { .. } => return None,
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Batch::Orgs(r) => r.len(),
            Batch::OrgSettings(r) => r.len(),
            Batch::Members(r) => r.len(),
            Batch::Providers(r) => r.len(),
            Batch::Contacts(r) => r.len(),
            Batch::Appointments(r) => r.len(),
            Batch::OrgDone { .. } => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---- parameters and results ------------------------------------------------------

/// Everything the rows depend on. Equal parameters → equal rows.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    pub orgs: u32,
    pub seed: u64,
    pub profile: &'a Profile,
    /// "Today": appointments before it are past, after it future. Midnight UTC.
    pub anchor: NaiveDate,
    /// Rows per chunk handed to the callback.
    pub chunk_rows: usize,
}

/// Rows generated per table, and the fingerprint over all of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Generated {
    pub rows: [u64; 6],
    pub fingerprint: String,
}

/// The consumer stopped taking rows (an error or Ctrl-C on the loading side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Generate every row, handing chunks to `emit` (which returns false to stop).
pub fn generate(
    params: &Params,
    mut emit: impl FnMut(Batch) -> bool,
) -> Result<Generated, Stopped> {
    let sizes = plan_sizes(params.orgs, params.seed, params.profile);
    let mut state = State {
        fp: Fingerprint::default(),
        rows: [0; 6],
        ids: IdClock::new(params.profile.ids, params.anchor, params.profile.past_days),
    };
    for (index, providers) in sizes.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(index as u64 + 1);
        let org = OrgGen {
            params,
            index: index as u32,
            providers: *providers,
        };
        org.run(&mut rng, &mut state, &mut emit)?;
    }
    Ok(Generated {
        rows: state.rows,
        fingerprint: state.fp.finish(),
    })
}

/// Providers per org, Zipf-like over a random permutation of size ranks.
pub fn plan_sizes(orgs: u32, seed: u64, profile: &Profile) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0);
    let mut ranks: Vec<u32> = (1..=orgs).collect();
    ranks.shuffle(&mut rng);
    ranks
        .iter()
        .map(|&rank| {
            let base = profile.largest_providers as f64 / (rank as f64).powf(profile.size_skew);
            let jitter = 1.0 + profile.size_jitter * (2.0 * rng.random::<f64>() - 1.0);
            ((base * jitter).round() as u32).max(1)
        })
        .collect()
}

// ---- internals -------------------------------------------------------------------

struct State {
    fp: Fingerprint,
    rows: [u64; 6],
    ids: IdClock,
}

impl State {
    fn count(&mut self, table: Table, n: usize) {
        self.rows[table as usize] += n as u64;
    }
}

/// Deterministic ids: the v7 timestamp is a counter from a fixed base (one ms per id),
/// the remaining bits come from the org's random stream.
struct IdClock {
    layout: IdLayout,
    next_ms: u64,
}

impl IdClock {
    fn new(layout: IdLayout, anchor: NaiveDate, past_days: u32) -> IdClock {
        let base = anchor - Duration::days(past_days as i64 + 3 * 365);
        let ms = base
            .and_time(NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
            .max(0) as u64;
        IdClock {
            layout,
            next_ms: ms,
        }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng) -> Uuid {
        let bytes: [u8; 16] = rng.random();
        match self.layout {
            IdLayout::Random => uuid::Builder::from_random_bytes(bytes).into_uuid(),
            IdLayout::TimeOrdered => {
                let ms = self.next_ms;
                self.next_ms += 1;
                let rest: [u8; 10] = bytes[..10].try_into().expect("10 bytes");
                uuid::Builder::from_unix_timestamp_millis(ms, &rest).into_uuid()
            }
        }
    }
}

/// Auth user ids are random (v4), as an auth service makes them.
fn user_id(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// SHA-256 over a canonical encoding of every row (table tag, then each field with
/// its length), in generation order.
#[derive(Default)]
struct Fingerprint(Sha256);

impl Fingerprint {
    fn tag(&mut self, t: Table) {
        self.0.update([t as u8]);
    }
    fn uuid(&mut self, u: &Uuid) {
        self.0.update(u.as_bytes());
    }
    fn text(&mut self, s: &str) {
        self.0.update((s.len() as u32).to_le_bytes());
        self.0.update(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.0.update([0u8]),
            Some(s) => {
                self.0.update([1u8]);
                self.text(s);
            }
        }
    }
    fn ts(&mut self, t: &DateTime<Utc>) {
        self.0.update(t.timestamp_micros().to_le_bytes());
    }
    fn int(&mut self, i: i64) {
        self.0.update(i.to_le_bytes());
    }
    fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

struct OrgGen<'p, 'a> {
    params: &'p Params<'a>,
    index: u32,
    providers: u32,
}

struct ProviderPlan {
    id: Uuid,
    /// Day offset (from the anchor) from which an inactive provider takes no bookings.
    until_day: i64,
}

fn secs(rng: &mut ChaCha8Rng, max: i64) -> Duration {
    Duration::seconds(if max > 0 { rng.random_range(0..max) } else { 0 })
}

fn pick(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

/// A phone number in the format of the org's country, guessed from its time zone.
fn phone(rng: &mut ChaCha8Rng, tz: &str) -> String {
    let d = |rng: &mut ChaCha8Rng, n: u32| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect()
    };
    let area =
        |rng: &mut ChaCha8Rng, codes: &[&'static str]| codes[rng.random_range(0..codes.len())];
    match tz {
        "Europe/London" => format!("+44 7{} {}", d(rng, 3), d(rng, 6)),
        "Europe/Berlin" => format!("+49 15{} {}", d(rng, 2), d(rng, 7)),
        "Europe/Paris" => format!(
            "+33 6 {} {} {} {}",
            d(rng, 2),
            d(rng, 2),
            d(rng, 2),
            d(rng, 2)
        ),
        "Europe/Madrid" => format!("+34 6{} {} {}", d(rng, 2), d(rng, 3), d(rng, 3)),
        t if t.starts_with("Australia/") => {
            format!("+61 4{} {} {}", d(rng, 2), d(rng, 3), d(rng, 3))
        }
        "Pacific/Auckland" => format!("+64 21 {} {}", d(rng, 3), d(rng, 4)),
        t if t.starts_with("America/") => {
            let codes: &[&str] = match t {
                "America/New_York" => &["212", "718", "646", "917", "347"],
                "America/Chicago" => &["312", "773", "872", "214", "713"],
                "America/Denver" => &["303", "720", "801"],
                "America/Phoenix" => &["602", "480", "623"],
                "America/Los_Angeles" => &["213", "310", "415", "818", "206"],
                "America/Toronto" => &["416", "647", "437"],
                _ => &["202", "305", "404"],
            };
            let a = area(rng, codes);
            format!(
                "+1 {a}-{}{}-{}",
                rng.random_range(2..10u8),
                d(rng, 2),
                d(rng, 4)
            )
        }
        _ => format!(
            "+{} {} {}",
            rng.random_range(30..99u8),
            d(rng, 3),
            d(rng, 6)
        ),
    }
}

impl OrgGen<'_, '_> {
    fn run(
        &self,
        rng: &mut ChaCha8Rng,
        st: &mut State,
        emit: &mut impl FnMut(Batch) -> bool,
    ) -> Result<(), Stopped> {
        let p = self.params.profile;
        let anchor = self.params.anchor.and_time(NaiveTime::MIN).and_utc();
        let window_start = anchor - Duration::days(p.past_days as i64);
        let first_booking = window_start - Duration::days(p.lead_days_max as i64 + 1);

        // orgs
        let kind: &Kind = &names::KINDS[rng.random_range(0..names::KINDS.len())];
        let name = format!("{} {}", pick(rng, names::PLACES), pick(rng, kind.suffixes));
        let base_slug = slugify(&name);
        let org_created =
            first_booking - Duration::days(rng.random_range(30..1500)) - secs(rng, 86_400);
        let org = Org {
            id: st.ids.next(rng),
            slug: format!("{base_slug}-{}", self.index + 1),
            name,
            created_at: org_created,
        };
        let org_id = org.id;
        st.fp.tag(Table::Orgs);
        st.fp.uuid(&org.id);
        st.fp.text(&org.name);
        st.fp.text(&org.slug);
        st.fp.ts(&org.created_at);
        st.count(Table::Orgs, 1);
        let slug = org.slug.clone();
        if !emit(Batch::Orgs(vec![org])) {
            return Err(Stopped);
        }

        // org_settings
        let tz: Tz = *p.timezones.pick(rng.random());
        let opens_at = *p.opens_at.pick(rng.random());
        let open_minutes = p.open_hours.pick(rng.random()) * 60;
        let closes_at = opens_at + Duration::minutes(open_minutes as i64);
        let business_days = p.business_days.pick(rng.random()).clone();
        let slot_minutes = *p.slot_minutes.pick(rng.random());
        let horizon = *p.booking_horizon_days.pick(rng.random());
        let settings = OrgSettings {
            org_id,
            timezone: tz.name(),
            opens_at,
            closes_at,
            business_days: business_days.clone(),
            slot_minutes: slot_minutes as i32,
            booking_horizon_days: horizon as i32,
            updated_at: org_created + secs(rng, (anchor - org_created).num_seconds()),
        };
        st.fp.tag(Table::OrgSettings);
        st.fp.uuid(&org_id);
        st.fp.text(settings.timezone);
        st.fp
            .int(settings.opens_at.num_seconds_from_midnight() as i64);
        st.fp
            .int(settings.closes_at.num_seconds_from_midnight() as i64);
        for d in &settings.business_days {
            st.fp.int(*d as i64);
        }
        st.fp.int(settings.slot_minutes as i64);
        st.fp.int(settings.booking_horizon_days as i64);
        st.fp.ts(&settings.updated_at);
        st.count(Table::OrgSettings, 1);
        if !emit(Batch::OrgSettings(vec![settings])) {
            return Err(Stopped);
        }

        // members: the owner first, about one admin in eight, the rest staff
        let n_members = ((self.providers as f64 * p.members_per_provider).round() as u32).max(1);
        let mut members = Vec::with_capacity(n_members as usize);
        for i in 0..n_members {
            let m = Member {
                org_id,
                user_id: user_id(rng),
                role: match i {
                    0 => "owner",
                    i if i % 8 == 1 => "admin",
                    _ => "staff",
                },
                created_at: org_created + secs(rng, (first_booking - org_created).num_seconds()),
            };
            st.fp.tag(Table::Members);
            st.fp.uuid(&m.org_id);
            st.fp.uuid(&m.user_id);
            st.fp.text(m.role);
            st.fp.ts(&m.created_at);
            members.push(m);
        }
        st.count(Table::Members, members.len());
        if !emit(Batch::Members(members)) {
            return Err(Stopped);
        }

        // providers
        let domain = format!("{base_slug}.com");
        let mut providers = Vec::with_capacity(self.providers as usize);
        let mut plans = Vec::with_capacity(self.providers as usize);
        let mut seen_emails: HashMap<String, u32> = HashMap::new();
        let past_days = p.past_days as i64;
        for _ in 0..self.providers {
            let first = pick(rng, names::FIRST_NAMES);
            let last = pick(rng, names::LAST_NAMES);
            let active = rng.random::<f64>() >= p.inactive_providers;
            let until_day = if active || past_days < 2 {
                i64::MAX
            } else {
                -rng.random_range(1..past_days)
            };
            let local = format!(
                "{}.{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase()
            );
            let n = seen_emails.entry(local.clone()).or_insert(0);
            *n += 1;
            let email = if *n == 1 {
                format!("{local}@{domain}")
            } else {
                format!("{local}{n}@{domain}")
            };
            let pr = Provider {
                id: st.ids.next(rng),
                org_id,
                name: if kind.doctors {
                    format!("Dr. {first} {last}")
                } else {
                    format!("{first} {last}")
                },
                email: Some(email),
                specialty: Some(pick(rng, kind.specialties)),
                active,
                created_at: org_created + secs(rng, (first_booking - org_created).num_seconds()),
            };
            st.fp.tag(Table::Providers);
            st.fp.uuid(&pr.id);
            st.fp.uuid(&pr.org_id);
            st.fp.text(&pr.name);
            st.fp.opt(pr.email.as_deref());
            st.fp.opt(pr.specialty);
            st.fp.int(pr.active as i64);
            st.fp.ts(&pr.created_at);
            plans.push(ProviderPlan {
                id: pr.id,
                until_day,
            });
            providers.push(pr);
        }
        st.count(Table::Providers, providers.len());
        if !emit(Batch::Providers(providers)) {
            return Err(Stopped);
        }

        // contacts, in chunks; only their ids stay in memory
        let n_contacts = self.providers as usize * p.contacts_per_provider as usize;
        let mut contact_ids = Vec::with_capacity(n_contacts);
        let chunk = self.params.chunk_rows.max(1);
        let mut contacts = Vec::with_capacity(chunk.min(n_contacts));
        let created_span = (first_booking - org_created).num_seconds();
        for i in 0..n_contacts {
            let first = pick(rng, names::FIRST_NAMES);
            let last = pick(rng, names::LAST_NAMES);
            let email = (rng.random::<f64>() < 0.9).then(|| {
                let dom = pick(rng, names::EMAIL_DOMAINS);
                let sep = if rng.random_bool(0.5) { "." } else { "" };
                format!(
                    "{}{sep}{}{}@{dom}",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase(),
                    // the contact's index keeps addresses unique within the org
                    i + 1
                )
            });
            let phone = (rng.random::<f64>() < 0.95).then(|| phone(rng, tz.name()));
            let c = Contact {
                id: st.ids.next(rng),
                org_id,
                first_name: first,
                last_name: last,
                email,
                phone,
                created_at: org_created + secs(rng, created_span),
            };
            st.fp.tag(Table::Contacts);
            st.fp.uuid(&c.id);
            st.fp.uuid(&c.org_id);
            st.fp.text(c.first_name);
            st.fp.text(c.last_name);
            st.fp.opt(c.email.as_deref());
            st.fp.opt(c.phone.as_deref());
            st.fp.ts(&c.created_at);
            contact_ids.push(c.id);
            contacts.push(c);
            if contacts.len() == chunk {
                st.count(Table::Contacts, contacts.len());
                if !emit(Batch::Contacts(std::mem::replace(
                    &mut contacts,
                    Vec::with_capacity(chunk),
                ))) {
                    return Err(Stopped);
                }
            }
        }
        if !contacts.is_empty() {
            st.count(Table::Contacts, contacts.len());
            if !emit(Batch::Contacts(contacts)) {
                return Err(Stopped);
            }
        }

        // appointments: day by day, provider by provider, walking the slot grid
        let slots_per_day = open_minutes / slot_minutes;
        let mean_len = p.duration_slots.mean(|k| *k as f64);
        let future_days = (p.future_days.min(horizon)) as i64;
        let lead_max_min = p.lead_days_max as i64 * 1440;
        let mut appts: Vec<Appointment> = Vec::with_capacity(chunk);
        // a contact's bookings on the current day, in minutes from opening
        let mut busy: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        for day in -past_days..future_days {
            let date = self.params.anchor + Duration::days(day);
            let dow = date.weekday().number_from_monday() as i16;
            if !business_days.contains(&dow) {
                continue;
            }
            busy.clear();
            let occ = if day < 0 || future_days <= 1 {
                p.occupancy
            } else {
                let f = day as f64 / (future_days - 1) as f64;
                p.occupancy + (p.future_occupancy_end - p.occupancy) * f
            };
            // chance that a free slot starts a booking, so that `occ` of the time is booked
            let start_p = occ / (mean_len * (1.0 - occ) + occ);
            for plan in &plans {
                if day >= plan.until_day {
                    continue;
                }
                let mut pos = 0u32;
                while pos < slots_per_day {
                    if rng.random::<f64>() >= start_p {
                        pos += 1;
                        continue;
                    }
                    let len = (*p.duration_slots.pick(rng.random())).min(slots_per_day - pos);
                    let (start_min, end_min) = (pos * slot_minutes, (pos + len) * slot_minutes);
                    pos += len;
                    // a contact free at that time, by a skewed draw (regulars come often)
                    let mut contact = None;
                    for _ in 0..8 {
                        let u: f64 = rng.random();
                        let c = ((u * u) * contact_ids.len() as f64) as u32;
                        let taken = busy
                            .get(&c)
                            .is_some_and(|v| v.iter().any(|&(s, e)| s < end_min && start_min < e));
                        if !taken {
                            contact = Some(c);
                            break;
                        }
                    }
                    let Some(contact) = contact else { continue };
                    let local = date.and_time(opens_at) + Duration::minutes(start_min as i64);
                    // a start that does not exist on a DST change day is not offered
                    let Some(start) = tz.from_local_datetime(&local).earliest() else {
                        continue;
                    };
                    busy.entry(contact).or_default().push((start_min, end_min));
                    let scheduled_at = start.with_timezone(&Utc);
                    let ends_at = scheduled_at + Duration::minutes((end_min - start_min) as i64);
                    let past = scheduled_at < anchor;
                    let status = if past {
                        *p.past_status.pick(rng.random())
                    } else {
                        *p.future_status.pick(rng.random())
                    };
                    let source = *p.source.pick(rng.random());
                    let notes = (rng.random::<f64>() < p.notes).then(|| pick(rng, names::NOTES));
                    let u: f64 = rng.random();
                    let lead = Duration::minutes(30 + (u * u * lead_max_min as f64) as i64);
                    // nothing is created after "now" (the anchor)
                    let created_at = (scheduled_at - lead).min(anchor - secs(rng, 3 * 86_400));
                    let later = |rng: &mut ChaCha8Rng, until: DateTime<Utc>| {
                        created_at + secs(rng, (until - created_at).num_seconds())
                    };
                    let updated_at = match status {
                        "booked" => created_at,
                        "completed" | "no_show" => (ends_at
                            + Duration::minutes(rng.random_range(5..180)))
                        .min(anchor)
                        .max(created_at),
                        _ => later(rng, scheduled_at.min(anchor)),
                    };
                    let a = Appointment {
                        id: st.ids.next(rng),
                        org_id,
                        provider_id: plan.id,
                        contact_id: contact_ids[contact as usize],
                        scheduled_at,
                        ends_at,
                        status,
                        source,
                        notes,
                        created_at,
                        updated_at,
                    };
                    let fp = &mut st.fp;
                    fp.tag(Table::Appointments);
                    fp.uuid(&a.id);
                    fp.uuid(&a.org_id);
                    fp.uuid(&a.provider_id);
                    fp.uuid(&a.contact_id);
                    fp.ts(&a.scheduled_at);
                    fp.ts(&a.ends_at);
                    fp.text(a.status);
                    fp.text(a.source);
                    fp.opt(a.notes);
                    fp.ts(&a.created_at);
                    fp.ts(&a.updated_at);
                    appts.push(a);
                    if appts.len() == chunk {
                        st.count(Table::Appointments, appts.len());
                        if !emit(Batch::Appointments(std::mem::replace(
                            &mut appts,
                            Vec::with_capacity(chunk),
                        ))) {
                            return Err(Stopped);
                        }
                    }
                }
            }
        }
        if !appts.is_empty() {
            st.count(Table::Appointments, appts.len());
            if !emit(Batch::Appointments(appts)) {
                return Err(Stopped);
            }
        }
        if !emit(Batch::OrgDone {
            index: self.index,
            slug,
        }) {
            return Err(Stopped);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Profile {
        Profile::parse(
            "window: {past_days: 20, future_days: 10}\norgs: {largest_providers: 6, contacts_per_provider: 20}\n",
            "test.yaml",
        )
        .unwrap()
    }

    type Span = (DateTime<Utc>, DateTime<Utc>);

    fn collect(params: &Params) -> (Vec<Batch>, Generated) {
        let mut out = Vec::new();
        let g = generate(params, |b| {
            out.push(b);
            true
        })
        .unwrap();
        (out, g)
    }

    fn params(profile: &Profile, seed: u64) -> Params<'_> {
        Params {
            orgs: 4,
            seed,
            profile,
            anchor: NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
            chunk_rows: 100,
        }
    }

    #[test]
    fn equal_inputs_equal_rows_and_fingerprint() {
        let p = small();
        let (a, ga) = collect(&params(&p, 7));
        let (b, gb) = collect(&params(&p, 7));
        assert_eq!(ga, gb);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let (_, gc) = collect(&params(&p, 8));
        assert_ne!(ga.fingerprint, gc.fingerprint);
        assert!(ga.rows[Table::Appointments as usize] > 100, "{ga:?}");
    }

    #[test]
    fn chunking_does_not_change_the_fingerprint() {
        let p = small();
        let mut other = params(&p, 7);
        other.chunk_rows = 7;
        assert_eq!(collect(&params(&p, 7)).1, collect(&other).1);
    }

    #[test]
    fn appointments_fit_hours_grid_and_never_overlap() {
        let p = small();
        let params = params(&p, 3);
        let (batches, _) = collect(&params);
        let anchor = params.anchor.and_time(NaiveTime::MIN).and_utc();
        let mut settings = HashMap::new();
        let mut per_provider: HashMap<Uuid, Vec<Span>> = HashMap::new();
        let mut per_contact: HashMap<Uuid, Vec<Span>> = HashMap::new();
        let mut ids = std::collections::HashSet::new();
        let mut last_id = Uuid::nil();
        for b in &batches {
            match b {
                Batch::OrgSettings(s) => {
                    for s in s {
                        settings.insert(s.org_id, s.clone());
                    }
                }
                Batch::Appointments(rows) => {
                    for a in rows {
                        assert!(ids.insert(a.id));
                        assert!(a.id > last_id, "time-ordered ids increase");
                        last_id = a.id;
                        let s = &settings[&a.org_id];
                        let tz: Tz = s.timezone.parse().unwrap();
                        let local = a.scheduled_at.with_timezone(&tz);
                        let local_end = a.ends_at.with_timezone(&tz);
                        assert!(
                            local.time() >= s.opens_at && local_end.time() <= s.closes_at,
                            "{a:?}"
                        );
                        assert!(s
                            .business_days
                            .contains(&(local.weekday().number_from_monday() as i16)));
                        let minutes = (a.ends_at - a.scheduled_at).num_minutes();
                        assert_eq!(minutes % s.slot_minutes as i64, 0);
                        let from_open = (local.time() - s.opens_at).num_minutes();
                        assert_eq!(from_open % s.slot_minutes as i64, 0);
                        if a.scheduled_at < anchor {
                            assert!(["completed", "no_show", "cancelled"].contains(&a.status));
                        } else {
                            assert!(["booked", "confirmed", "cancelled"].contains(&a.status));
                        }
                        assert!(a.created_at <= a.scheduled_at && a.created_at <= anchor);
                        assert!(a.updated_at >= a.created_at);
                        per_provider
                            .entry(a.provider_id)
                            .or_default()
                            .push((a.scheduled_at, a.ends_at));
                        per_contact
                            .entry(a.contact_id)
                            .or_default()
                            .push((a.scheduled_at, a.ends_at));
                    }
                }
                _ => {}
            }
        }
        for spans in per_provider.values_mut().chain(per_contact.values_mut()) {
            spans.sort();
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "overlap: {w:?}");
            }
        }
    }

    #[test]
    fn default_profile_is_skewed_at_fifty_orgs() {
        let p = Profile::default_profile();
        let mut sizes = plan_sizes(50, 42, &p);
        sizes.sort_unstable();
        let median = sizes[25] as f64;
        let largest = *sizes.last().unwrap() as f64;
        assert!(largest >= 5.0 * median, "{sizes:?}");
    }

    #[test]
    fn slugs_and_phones_look_right() {
        assert_eq!(slugify("Oak Park Dental Care"), "oak-park-dental-care");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(phone(&mut rng, "America/New_York").starts_with("+1 "));
        assert!(phone(&mut rng, "Europe/London").starts_with("+44 7"));
    }
}
