//! Pure, deterministic row generators: (seed, orgs, profile, anchor date) → the same
//! rows in the same order, byte for byte, and a SHA-256 fingerprint over them computed
//! while they are made. No I/O: rows go to a callback in chunks, so memory stays
//! bounded by one org's contact ids plus one chunk, however many orgs are asked for.
//!
//! Randomness: one ChaCha8 stream per org (`set_stream(org + 1)`) and stream 0 for the
//! plan (tenant sizes), so an org's rows do not depend on how much randomness other
//! orgs used. Ids are drawn from those streams too; with the `time_ordered` layout
//! they are UUIDv7-shaped with a deterministic, strictly increasing timestamp (a
//! counter from a fixed base, not the clock), so every table's primary key is
//! appended to in load order.
//!
//! One org is made by `OrgGen`, one method per table, in foreign-key order; every row
//! goes through `Out::push`, which fingerprints it, counts it and hands full chunks on.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::fingerprint::{Fingerprint, Fingerprinted};
use super::profile::{IdLayout, Profile};
pub use super::rows::*;
use crate::rows::names::{self, phone, slugify, Kind};

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
pub fn generate(params: &Params, emit: impl FnMut(Batch) -> bool) -> Result<Generated, Stopped> {
    let sizes = plan_sizes(params.orgs, params.seed, params.profile);
    let mut out = Out {
        emit,
        chunk: params.chunk_rows.max(1),
        fp: Fingerprint::default(),
        rows: [0; 6],
    };
    let mut ids = IdClock::new(params.profile.ids, params.anchor, params.profile.past_days);
    for (index, providers) in sizes.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(index as u64 + 1);
        let org = OrgGen::new(params, index as u32, *providers, &mut rng);
        org.run(&mut rng, &mut ids, &mut out)?;
    }
    Ok(Generated {
        rows: out.rows,
        fingerprint: out.fp.finish(),
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

// ---- the emit helper -------------------------------------------------------------

/// Where rows go: fingerprinted and counted in generation order, handed on in chunks.
struct Out<E> {
    emit: E,
    chunk: usize,
    fp: Fingerprint,
    rows: [u64; 6],
}

impl<E: FnMut(Batch) -> bool> Out<E> {
    /// Add `row` to `buf`; a full chunk is handed on.
    fn push<R: Row + Fingerprinted>(&mut self, buf: &mut Vec<R>, row: R) -> Result<(), Stopped> {
        self.fp.row(&row);
        buf.push(row);
        if buf.len() >= self.chunk {
            self.flush(buf)?;
        }
        Ok(())
    }

    /// Hand on what `buf` holds (nothing when it is empty).
    fn flush<R: Row>(&mut self, buf: &mut Vec<R>) -> Result<(), Stopped> {
        if buf.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(buf);
        self.rows[R::TABLE as usize] += rows.len() as u64;
        self.send(R::batch(rows))
    }

    /// One row as a chunk of its own.
    fn one<R: Row + Fingerprinted>(&mut self, row: R) -> Result<(), Stopped> {
        let mut buf = Vec::with_capacity(1);
        self.push(&mut buf, row)?;
        self.flush(&mut buf)
    }

    fn send(&mut self, batch: Batch) -> Result<(), Stopped> {
        if (self.emit)(batch) {
            Ok(())
        } else {
            Err(Stopped)
        }
    }
}

// ---- internals -------------------------------------------------------------------

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

fn secs(rng: &mut ChaCha8Rng, max: i64) -> Duration {
    Duration::seconds(if max > 0 { rng.random_range(0..max) } else { 0 })
}

fn pick(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

/// One org's generator: its size, its kind, its window, and what later tables need
/// of earlier ones (the org's id, its settings, its providers and contacts).
struct OrgGen<'p, 'a> {
    params: &'p Params<'a>,
    index: u32,
    providers: u32,
    kind: &'static Kind,
    /// Midnight UTC of the anchor date ("now").
    anchor: DateTime<Utc>,
    /// Before the first booking of the window: every row but appointments is older.
    first_booking: DateTime<Utc>,
}

/// What the appointment walk needs of the org's settings.
struct Hours {
    tz: Tz,
    opens_at: NaiveTime,
    open_minutes: u32,
    slot_minutes: u32,
    business_days: Vec<i16>,
    horizon: u32,
}

struct ProviderPlan {
    id: Uuid,
    /// Day offset (from the anchor) from which an inactive provider takes no bookings.
    until_day: i64,
}

impl<'p, 'a> OrgGen<'p, 'a> {
    fn new(params: &'p Params<'a>, index: u32, providers: u32, rng: &mut ChaCha8Rng) -> Self {
        let p = params.profile;
        let anchor = params.anchor.and_time(NaiveTime::MIN).and_utc();
        let window_start = anchor - Duration::days(p.past_days as i64);
        OrgGen {
            params,
            index,
            providers,
            kind: &names::KINDS[rng.random_range(0..names::KINDS.len())],
            anchor,
            first_booking: window_start - Duration::days(p.lead_days_max as i64 + 1),
        }
    }

    /// Every row of the org, table by table, then `OrgDone`.
    fn run<E: FnMut(Batch) -> bool>(
        &self,
        rng: &mut ChaCha8Rng,
        ids: &mut IdClock,
        out: &mut Out<E>,
    ) -> Result<(), Stopped> {
        let (org, base_slug) = self.org(rng, ids);
        let slug = org.slug.clone();
        let (org_id, org_created) = (org.id, org.created_at);
        out.one(org)?;
        let hours = self.settings(rng, org_id, org_created, out)?;
        self.members(rng, org_id, org_created, out)?;
        let plans = self.providers(rng, ids, org_id, org_created, &base_slug, out)?;
        let contact_ids = self.contacts(rng, ids, org_id, org_created, &hours, out)?;
        self.appointments(rng, ids, org_id, &hours, &plans, &contact_ids, out)?;
        out.send(Batch::OrgDone {
            index: self.index,
            slug,
        })
    }

    fn org(&self, rng: &mut ChaCha8Rng, ids: &mut IdClock) -> (Org, String) {
        let name = format!(
            "{} {}",
            pick(rng, names::PLACES),
            pick(rng, self.kind.suffixes)
        );
        let base_slug = slugify(&name);
        let created_at =
            self.first_booking - Duration::days(rng.random_range(30..1500)) - secs(rng, 86_400);
        let org = Org {
            id: ids.next(rng),
            slug: format!("{base_slug}-{}", self.index + 1),
            name,
            created_at,
        };
        (org, base_slug)
    }

    fn settings<E: FnMut(Batch) -> bool>(
        &self,
        rng: &mut ChaCha8Rng,
        org_id: Uuid,
        org_created: DateTime<Utc>,
        out: &mut Out<E>,
    ) -> Result<Hours, Stopped> {
        let p = self.params.profile;
        let tz: Tz = *p.timezones.pick(rng.random());
        let opens_at = *p.opens_at.pick(rng.random());
        let open_minutes = p.open_hours.pick(rng.random()) * 60;
        let closes_at = opens_at + Duration::minutes(open_minutes as i64);
        let business_days = p.business_days.pick(rng.random()).clone();
        let slot_minutes = *p.slot_minutes.pick(rng.random());
        let horizon = *p.booking_horizon_days.pick(rng.random());
        out.one(OrgSettings {
            org_id,
            timezone: tz.name(),
            opens_at,
            closes_at,
            business_days: business_days.clone(),
            slot_minutes: slot_minutes as i32,
            booking_horizon_days: horizon as i32,
            updated_at: org_created + secs(rng, (self.anchor - org_created).num_seconds()),
        })?;
        Ok(Hours {
            tz,
            opens_at,
            open_minutes,
            slot_minutes,
            business_days,
            horizon,
        })
    }

    /// The owner first, about one admin in eight, the rest staff.
    fn members<E: FnMut(Batch) -> bool>(
        &self,
        rng: &mut ChaCha8Rng,
        org_id: Uuid,
        org_created: DateTime<Utc>,
        out: &mut Out<E>,
    ) -> Result<(), Stopped> {
        let p = self.params.profile;
        let n_members = ((self.providers as f64 * p.members_per_provider).round() as u32).max(1);
        let mut members = Vec::new();
        for i in 0..n_members {
            let member = Member {
                org_id,
                user_id: user_id(rng),
                role: match i {
                    0 => "owner",
                    i if i % 8 == 1 => "admin",
                    _ => "staff",
                },
                created_at: org_created
                    + secs(rng, (self.first_booking - org_created).num_seconds()),
            };
            out.push(&mut members, member)?;
        }
        out.flush(&mut members)
    }

    /// Providers, and what the appointment walk needs of each.
    fn providers<E: FnMut(Batch) -> bool>(
        &self,
        rng: &mut ChaCha8Rng,
        ids: &mut IdClock,
        org_id: Uuid,
        org_created: DateTime<Utc>,
        base_slug: &str,
        out: &mut Out<E>,
    ) -> Result<Vec<ProviderPlan>, Stopped> {
        let p = self.params.profile;
        let domain = format!("{base_slug}.com");
        let mut providers = Vec::new();
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
            let provider = Provider {
                id: ids.next(rng),
                org_id,
                name: if self.kind.doctors {
                    format!("Dr. {first} {last}")
                } else {
                    format!("{first} {last}")
                },
                email: Some(email),
                specialty: Some(pick(rng, self.kind.specialties)),
                active,
                created_at: org_created
                    + secs(rng, (self.first_booking - org_created).num_seconds()),
            };
            plans.push(ProviderPlan {
                id: provider.id,
                until_day,
            });
            out.push(&mut providers, provider)?;
        }
        out.flush(&mut providers)?;
        Ok(plans)
    }

    /// Contacts, in chunks; only their ids stay in memory.
    fn contacts<E: FnMut(Batch) -> bool>(
        &self,
        rng: &mut ChaCha8Rng,
        ids: &mut IdClock,
        org_id: Uuid,
        org_created: DateTime<Utc>,
        hours: &Hours,
        out: &mut Out<E>,
    ) -> Result<Vec<Uuid>, Stopped> {
        let n_contacts =
            self.providers as usize * self.params.profile.contacts_per_provider as usize;
        let mut contact_ids = Vec::with_capacity(n_contacts);
        let mut contacts = Vec::new();
        let created_span = (self.first_booking - org_created).num_seconds();
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
            let phone = (rng.random::<f64>() < 0.95).then(|| phone(rng, hours.tz.name()));
            let contact = Contact {
                id: ids.next(rng),
                org_id,
                first_name: first,
                last_name: last,
                email,
                phone,
                created_at: org_created + secs(rng, created_span),
            };
            contact_ids.push(contact.id);
            out.push(&mut contacts, contact)?;
        }
        out.flush(&mut contacts)?;
        Ok(contact_ids)
    }

    /// Appointments: day by day, provider by provider, walking the slot grid.
    #[allow(clippy::too_many_arguments)]
    fn appointments<E: FnMut(Batch) -> bool>(
        &self,
        rng: &mut ChaCha8Rng,
        ids: &mut IdClock,
        org_id: Uuid,
        hours: &Hours,
        plans: &[ProviderPlan],
        contact_ids: &[Uuid],
        out: &mut Out<E>,
    ) -> Result<(), Stopped> {
        let p = self.params.profile;
        let anchor = self.anchor;
        let (tz, slot_minutes) = (hours.tz, hours.slot_minutes);
        let slots_per_day = hours.open_minutes / slot_minutes;
        let mean_len = p.duration_slots.mean(|k| *k as f64);
        let past_days = p.past_days as i64;
        let future_days = (p.future_days.min(hours.horizon)) as i64;
        let lead_max_min = p.lead_days_max as i64 * 1440;
        let mut appts: Vec<Appointment> = Vec::new();
        // a contact's bookings on the current day, in minutes from opening
        let mut busy: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        for day in -past_days..future_days {
            let date = self.params.anchor + Duration::days(day);
            let dow = date.weekday().number_from_monday() as i16;
            if !hours.business_days.contains(&dow) {
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
            for plan in plans {
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
                    let local = date.and_time(hours.opens_at) + Duration::minutes(start_min as i64);
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
                    let appointment = Appointment {
                        id: ids.next(rng),
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
                    out.push(&mut appts, appointment)?;
                }
            }
        }
        out.flush(&mut appts)
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
