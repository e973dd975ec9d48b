//! The rows seed makes, one struct per tenant table, the six tables in load order, and
//! the chunks (`Batch`) the generator hands to a loader.

use chrono::{DateTime, NaiveTime, Utc};
use uuid::Uuid;

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

/// A row of one of the six tables: which table, and how a chunk of them travels.
pub trait Row: Sized {
    const TABLE: Table;
    fn batch(rows: Vec<Self>) -> Batch;
}

macro_rules! rows_of {
    ($($row:ident => $variant:ident),* $(,)?) => {
        $(impl Row for $row {
            const TABLE: Table = Table::$variant;
            fn batch(rows: Vec<Self>) -> Batch {
                Batch::$variant(rows)
            }
        })*
    };
}

rows_of! {
    Org => Orgs,
    OrgSettings => OrgSettings,
    Member => Members,
    Provider => Providers,
    Contact => Contacts,
    Appointment => Appointments,
}
