//! Where booking requests come from: the tenants of the seeded database (members,
//! providers, contacts, the org's future slot grid in its timezone and business hours)
//! and a sampler that draws requests with realistic skew — an org is picked with a
//! weight equal to its appointment count, so large tenants get most of the traffic —
//! and sends a share of requests to a few "hot" slots per org so they collide.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::RngExt;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::error::hinted;

/// Contacts loaded per org (a deterministic sample: the lowest ids).
const CONTACTS_PER_ORG: i64 = 2000;
/// Hot (provider, slot) pairs per org that colliding requests aim at.
pub const HOT_SLOTS_PER_ORG: usize = 3;

/// One org as the bench needs it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub org_id: Uuid,
    /// Relative traffic: the org's appointment count (its provider count when it has none).
    pub weight: u64,
    pub members: Vec<Uuid>,
    pub providers: Vec<Uuid>,
    pub contacts: Vec<Uuid>,
    /// Start instants of the future slots (tomorrow .. booking horizon), in business hours.
    pub slots: Vec<DateTime<Utc>>,
    pub slot_minutes: i32,
}

/// One booking request: who asks (claims), for what.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingRequest {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub provider_id: Uuid,
    pub contact_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Aimed at a hot slot on purpose.
    pub colliding: bool,
}

impl BookingRequest {
    /// `request.jwt.claims` as PostgREST sets it for this member.
    /// Written directly (uuids need no JSON escaping): one allocation per request
    /// instead of a `serde_json` map, on the hot path of every transaction.
    pub fn claims(&self) -> String {
        format!(
            r#"{{"sub":"{}","role":"authenticated","org_id":"{}"}}"#,
            self.user_id, self.org_id
        )
    }
}

/// The tenants plus how to draw from them.
#[derive(Debug, Clone)]
pub struct Workload {
    tenants: Vec<Tenant>,
    pick_org: WeightedIndex<u64>,
    collide_ratio: f64,
    /// With `partitioned`: per share, its (tenant, provider) pairs and how to pick one.
    shares: Vec<Share>,
}

/// The providers one client books for when the workload is partitioned.
#[derive(Debug, Clone)]
struct Share {
    providers: Vec<(usize, usize)>,
    pick: WeightedIndex<u64>,
}

impl Workload {
    /// `tenants` must be non-empty and each must have a member, a provider, a contact
    /// and a slot (`load` guarantees this).
    pub fn new(tenants: Vec<Tenant>, collide_ratio: f64) -> Result<Workload> {
        let pick_org = WeightedIndex::new(tenants.iter().map(|t| t.weight.max(1)))
            .context("no org to book for")?;
        Ok(Workload {
            tenants,
            pick_org,
            collide_ratio: collide_ratio.clamp(0.0, 1.0),
            shares: Vec::new(),
        })
    }

    /// Give each of `clients` clients providers of its own (client i books providers
    /// i, i + n, … in load order; n is at most the provider count), and aim nothing at
    /// hot slots: no two transactions ever race for one provider's calendar, so no
    /// overlap is created even without the V6 constraint (`dbkit rehearse` must not
    /// break the constraint it is about to add).
    pub fn partitioned(mut self, clients: usize) -> Workload {
        let all: Vec<(usize, usize)> = self
            .tenants
            .iter()
            .enumerate()
            .flat_map(|(t, tenant)| (0..tenant.providers.len()).map(move |p| (t, p)))
            .collect();
        let n = clients.clamp(1, all.len().max(1));
        self.collide_ratio = 0.0;
        self.shares = (0..n)
            .filter_map(|share| {
                let providers: Vec<(usize, usize)> =
                    all.iter().copied().skip(share).step_by(n).collect();
                // An org's traffic is shared by its providers.
                let weights = providers.iter().map(|&(t, _)| {
                    let tenant = &self.tenants[t];
                    (tenant.weight.max(1) * 1000 / tenant.providers.len().max(1) as u64).max(1)
                });
                let pick = WeightedIndex::new(weights).ok()?;
                Some(Share { providers, pick })
            })
            .collect();
        self
    }

    /// Draw one request for client `client`: from its own providers when partitioned.
    pub fn sample_for<R: rand::Rng + ?Sized>(&self, client: usize, rng: &mut R) -> BookingRequest {
        if self.shares.is_empty() {
            return self.sample(rng);
        }
        let share = &self.shares[client % self.shares.len()];
        let (t, p) = share.providers[share.pick.sample(rng)];
        self.request(
            &self.tenants[t],
            p,
            rng.random_range(0..self.tenants[t].slots.len()),
            false,
            rng,
        )
    }

    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// Draw one request.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> BookingRequest {
        let tenant = &self.tenants[self.pick_org.sample(rng)];
        let colliding = self.collide_ratio > 0.0 && rng.random_bool(self.collide_ratio);
        let (provider, slot) = if colliding {
            hot_slot(tenant, rng.random_range(0..HOT_SLOTS_PER_ORG))
        } else {
            (
                rng.random_range(0..tenant.providers.len()),
                rng.random_range(0..tenant.slots.len()),
            )
        };
        self.request(tenant, provider, slot, colliding, rng)
    }

    fn request<R: rand::Rng + ?Sized>(
        &self,
        tenant: &Tenant,
        provider: usize,
        slot: usize,
        colliding: bool,
        rng: &mut R,
    ) -> BookingRequest {
        let starts_at = tenant.slots[slot];
        BookingRequest {
            org_id: tenant.org_id,
            user_id: tenant.members[rng.random_range(0..tenant.members.len())],
            provider_id: tenant.providers[provider],
            contact_id: tenant.contacts[rng.random_range(0..tenant.contacts.len())],
            starts_at,
            ends_at: starts_at + ChronoDuration::minutes(i64::from(tenant.slot_minutes)),
            colliding,
        }
    }
}

/// The i-th hot (provider index, slot index) of a tenant: spread over the first
/// providers and over the slot grid, the same for every client so requests collide.
pub fn hot_slot(tenant: &Tenant, i: usize) -> (usize, usize) {
    let provider = i % tenant.providers.len();
    let slot = (tenant.slots.len() / (HOT_SLOTS_PER_ORG + 1)) * (i + 1) % tenant.slots.len();
    (provider, slot)
}

/// Read the tenants from the database (as the connecting role, which must see every
/// org: a superuser, the table owner or a BYPASSRLS role).
pub async fn load(client: &Client) -> Result<Vec<Tenant>> {
    let rows = client
        .query(LOAD_TENANTS, &[&CONTACTS_PER_ORG])
        .await
        .context("reading orgs, members, providers, contacts and slots for the bench")?;
    let mut tenants = Vec::new();
    for row in rows {
        let tenant = Tenant {
            org_id: row.get("org_id"),
            weight: row.get::<_, i64>("weight").max(0) as u64,
            members: row.get("members"),
            providers: row.get("providers"),
            contacts: row.get("contacts"),
            slots: row.get("slots"),
            slot_minutes: row.get("slot_minutes"),
        };
        if tenant.members.is_empty()
            || tenant.providers.is_empty()
            || tenant.contacts.is_empty()
            || tenant.slots.is_empty()
        {
            continue;
        }
        tenants.push(tenant);
    }
    if tenants.is_empty() {
        return Err(hinted(
            "no org has members, active providers, contacts and future slots to book",
            "seed the database first: dbkit seed --orgs 5",
        ));
    }
    Ok(tenants)
}

/// Per org: weight, members, active providers, a contact sample and the future slot
/// grid (tomorrow in the org's timezone up to its booking horizon, business days only,
/// slot starts from opening time while a whole slot fits before closing).
const LOAD_TENANTS: &str = r#"
WITH weights AS (
    SELECT org_id, count(*) AS n FROM appointments GROUP BY org_id
)
SELECT o.id AS org_id,
       coalesce(w.n, (SELECT count(*) FROM providers p WHERE p.org_id = o.id)) AS weight,
       s.slot_minutes,
       ARRAY(SELECT m.user_id FROM members m WHERE m.org_id = o.id ORDER BY m.user_id) AS members,
       ARRAY(SELECT p.id FROM providers p WHERE p.org_id = o.id AND p.active ORDER BY p.id) AS providers,
       ARRAY(SELECT c.id FROM contacts c WHERE c.org_id = o.id ORDER BY c.id LIMIT $1) AS contacts,
       ARRAY(
           SELECT ((d::date + s.opens_at + make_interval(mins => k * s.slot_minutes))::timestamp
                   AT TIME ZONE s.timezone)
           FROM generate_series((now() AT TIME ZONE s.timezone)::date + 1,
                                (now() AT TIME ZONE s.timezone)::date + s.booking_horizon_days,
                                interval '1 day') d
           CROSS JOIN generate_series(
                0, (extract(epoch FROM s.closes_at - s.opens_at) / 60 / s.slot_minutes)::int - 1) k
           WHERE extract(isodow FROM d)::smallint = ANY (s.business_days)
           ORDER BY 1
       ) AS slots
FROM orgs o
JOIN org_settings s ON s.org_id = o.id
LEFT JOIN weights w ON w.org_id = o.id
ORDER BY o.id
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn tenant(n: u8, weight: u64) -> Tenant {
        let id = |k: u8| Uuid::from_bytes([n, k, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let t0 = DateTime::parse_from_rfc3339("2030-01-07T09:00:00Z")
            .unwrap()
            .to_utc();
        Tenant {
            org_id: id(0),
            weight,
            members: vec![id(1)],
            providers: vec![id(2), id(3)],
            contacts: vec![id(4)],
            slots: (0..16)
                .map(|i| t0 + ChronoDuration::minutes(30 * i))
                .collect(),
            slot_minutes: 30,
        }
    }

    #[test]
    fn large_orgs_get_more_traffic() {
        let w = Workload::new(vec![tenant(1, 900), tenant(2, 100)], 0.0).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let big = (0..10_000)
            .filter(|_| w.sample(&mut rng).org_id == w.tenants()[0].org_id)
            .count();
        assert!((8_700..9_300).contains(&big), "{big}");
    }

    #[test]
    fn a_partitioned_workload_gives_each_client_its_own_providers() {
        let w = Workload::new(vec![tenant(1, 900), tenant(2, 100)], 0.5)
            .unwrap()
            .partitioned(3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut owner = std::collections::HashMap::new();
        for i in 0..3_000 {
            let client = i % 3;
            let r = w.sample_for(client, &mut rng);
            assert!(!r.colliding, "no hot slots when partitioned");
            assert_eq!(*owner.entry(r.provider_id).or_insert(client), client);
        }
        assert_eq!(owner.len(), 4, "every provider gets traffic");
        // More clients than providers: shares wrap, still one share per provider.
        let w = Workload::new(vec![tenant(1, 1)], 0.0)
            .unwrap()
            .partitioned(5);
        assert_eq!(w.shares.len(), 2);
    }

    #[test]
    fn requests_sit_on_the_slot_grid() {
        let w = Workload::new(vec![tenant(1, 1)], 0.0).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let r = w.sample(&mut rng);
            assert!(w.tenants()[0].slots.contains(&r.starts_at));
            assert_eq!((r.ends_at - r.starts_at).num_minutes(), 30);
            assert!(!r.colliding);
        }
    }

    #[test]
    fn colliding_requests_reuse_a_few_hot_slots() {
        let w = Workload::new(vec![tenant(1, 1)], 1.0).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..200 {
            let r = w.sample(&mut rng);
            assert!(r.colliding);
            distinct.insert((r.provider_id, r.starts_at));
        }
        assert!(distinct.len() <= HOT_SLOTS_PER_ORG, "{distinct:?}");
    }

    #[test]
    fn same_seed_same_requests() {
        let w = Workload::new(vec![tenant(1, 3), tenant(2, 1)], 0.2).unwrap();
        let draw = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..50).map(|_| w.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }

    #[test]
    fn claims_are_postgrest_shaped() {
        let w = Workload::new(vec![tenant(1, 1)], 0.0).unwrap();
        let r = w.sample(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
        let v: serde_json::Value = serde_json::from_str(&r.claims()).unwrap();
        assert_eq!(v["role"], "authenticated");
        assert_eq!(v["sub"], r.user_id.to_string());
        assert_eq!(v["org_id"], r.org_id.to_string());
    }
}
