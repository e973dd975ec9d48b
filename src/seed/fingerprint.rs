//! The seed fingerprint: SHA-256 over a canonical encoding of every row (table tag,
//! then each field, texts with their length), in generation order. Each row type says
//! how it is encoded (`Fingerprinted`); equal inputs give equal fingerprints, however
//! the rows are chunked or loaded.

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::rows::{Appointment, Contact, Member, Org, OrgSettings, Provider, Row};

#[derive(Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    /// Add one row: its table's tag, then its fields.
    pub fn row<R: Row + Fingerprinted>(&mut self, row: &R) {
        self.0.update([R::TABLE as u8]);
        row.feed(self);
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
    /// The hex digest.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// How a row type is encoded into the fingerprint (field order is part of the format).
pub trait Fingerprinted {
    fn feed(&self, fp: &mut Fingerprint);
}

/// How one field's value is encoded.
trait Field {
    fn feed(&self, fp: &mut Fingerprint);
}

impl Field for Uuid {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(self);
    }
}

impl Field for &str {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.text(self);
    }
}

impl Field for String {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.text(self);
    }
}

impl Field for Option<&str> {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.opt(*self);
    }
}

impl Field for Option<String> {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.opt(self.as_deref());
    }
}

impl Field for DateTime<Utc> {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.ts(self);
    }
}

/// Seconds since midnight.
impl Field for NaiveTime {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.int(self.num_seconds_from_midnight() as i64);
    }
}

impl Field for i32 {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.int(*self as i64);
    }
}

impl Field for bool {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.int(*self as i64);
    }
}

/// Each day, without a length (the row's next field is a fixed-size value).
impl Field for Vec<i16> {
    fn feed(&self, fp: &mut Fingerprint) {
        for d in self {
            fp.int(*d as i64);
        }
    }
}

/// `impl Fingerprinted` feeding the listed fields in order.
macro_rules! fingerprinted {
    ($($row:ty => [$($field:ident),+ $(,)?];)+) => {
        $(impl Fingerprinted for $row {
            fn feed(&self, fp: &mut Fingerprint) {
                $(Field::feed(&self.$field, fp);)+
            }
        })+
    };
}

fingerprinted! {
    Org => [id, name, slug, created_at];
    OrgSettings => [
        org_id, timezone, opens_at, closes_at, business_days, slot_minutes,
        booking_horizon_days, updated_at,
    ];
    Member => [org_id, user_id, role, created_at];
    Provider => [id, org_id, name, email, specialty, active, created_at];
    Contact => [id, org_id, first_name, last_name, email, phone, created_at];
    Appointment => [
        id, org_id, provider_id, contact_id, scheduled_at, ends_at, status, source, notes,
        created_at, updated_at,
    ];
}
