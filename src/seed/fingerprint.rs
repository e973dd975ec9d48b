//! The seed fingerprint: SHA-256 over a canonical encoding of every row (table tag,
//! then each field, texts with their length), in generation order. Each row type says
//! how it is encoded (`Fingerprinted`); equal inputs give equal fingerprints, however
//! the rows are chunked or loaded.

use chrono::{DateTime, Timelike, Utc};
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

impl Fingerprinted for Org {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(&self.id);
        fp.text(&self.name);
        fp.text(&self.slug);
        fp.ts(&self.created_at);
    }
}

impl Fingerprinted for OrgSettings {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(&self.org_id);
        fp.text(self.timezone);
        fp.int(self.opens_at.num_seconds_from_midnight() as i64);
        fp.int(self.closes_at.num_seconds_from_midnight() as i64);
        for d in &self.business_days {
            fp.int(*d as i64);
        }
        fp.int(self.slot_minutes as i64);
        fp.int(self.booking_horizon_days as i64);
        fp.ts(&self.updated_at);
    }
}

impl Fingerprinted for Member {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(&self.org_id);
        fp.uuid(&self.user_id);
        fp.text(self.role);
        fp.ts(&self.created_at);
    }
}

impl Fingerprinted for Provider {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(&self.id);
        fp.uuid(&self.org_id);
        fp.text(&self.name);
        fp.opt(self.email.as_deref());
        fp.opt(self.specialty);
        fp.int(self.active as i64);
        fp.ts(&self.created_at);
    }
}

impl Fingerprinted for Contact {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(&self.id);
        fp.uuid(&self.org_id);
        fp.text(self.first_name);
        fp.text(self.last_name);
        fp.opt(self.email.as_deref());
        fp.opt(self.phone.as_deref());
        fp.ts(&self.created_at);
    }
}

impl Fingerprinted for Appointment {
    fn feed(&self, fp: &mut Fingerprint) {
        fp.uuid(&self.id);
        fp.uuid(&self.org_id);
        fp.uuid(&self.provider_id);
        fp.uuid(&self.contact_id);
        fp.ts(&self.scheduled_at);
        fp.ts(&self.ends_at);
        fp.text(self.status);
        fp.text(self.source);
        fp.opt(self.notes);
        fp.ts(&self.created_at);
        fp.ts(&self.updated_at);
    }
}
