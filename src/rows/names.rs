//! Word lists the generators draw plausible names from, and the slugs and phone
//! numbers made from them. ASCII only, so e-mail addresses can be derived from names
//! directly.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// A kind of business: how its orgs are named and what its providers do.
pub struct Kind {
    pub suffixes: &'static [&'static str],
    pub specialties: &'static [&'static str],
    /// Providers are addressed as "Dr. ...".
    pub doctors: bool,
}

pub const KINDS: &[Kind] = &[
    Kind {
        suffixes: &["Dental", "Dental Care", "Family Dentistry", "Smiles"],
        specialties: &[
            "General dentist",
            "Dental hygienist",
            "Orthodontist",
            "Endodontist",
        ],
        doctors: true,
    },
    Kind {
        suffixes: &["Physiotherapy", "Physio", "Sports Rehab"],
        specialties: &["Physiotherapist", "Sports therapist", "Massage therapist"],
        doctors: false,
    },
    Kind {
        suffixes: &["Hair Studio", "Salon", "Barbers"],
        specialties: &["Stylist", "Senior stylist", "Colorist", "Barber"],
        doctors: false,
    },
    Kind {
        suffixes: &["Medical Clinic", "Family Practice", "Health Centre"],
        specialties: &["General practitioner", "Nurse practitioner", "Pediatrician"],
        doctors: true,
    },
    Kind {
        suffixes: &["Veterinary Clinic", "Animal Hospital", "Vets"],
        specialties: &["Veterinarian", "Veterinary nurse"],
        doctors: true,
    },
    Kind {
        suffixes: &["Day Spa", "Wellness", "Massage"],
        specialties: &["Massage therapist", "Esthetician", "Acupuncturist"],
        doctors: false,
    },
];

pub const PLACES: &[&str] = &[
    "Maple",
    "Riverside",
    "Oak Park",
    "Harbor",
    "Lakeview",
    "Downtown",
    "Northside",
    "Elm Street",
    "Cedar",
    "Willow",
    "Summit",
    "Bayside",
    "Hillcrest",
    "Parkside",
    "Westgate",
    "Brookfield",
    "Meadowbrook",
    "Kingsway",
    "Union Square",
    "Granite",
    "Silver Lake",
    "Eastwood",
    "Highland",
    "Old Town",
    "Fairview",
    "Southbank",
    "Greenwich",
    "Ashford",
    "Beacon",
    "Clearwater",
];

pub const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Michelle",
    "Joshua",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Stephanie",
    "George",
    "Rebecca",
    "Oliver",
    "Amelia",
    "Noah",
    "Olivia",
    "Liam",
    "Isla",
    "Lucas",
    "Emma",
    "Leon",
    "Mia",
    "Hugo",
    "Chloe",
    "Mateo",
    "Lucia",
    "Aiden",
    "Zoe",
    "Arjun",
    "Priya",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Omar",
    "Fatima",
    "Kwame",
    "Amara",
    "Diego",
    "Sofia",
    "Luca",
    "Giulia",
    "Lars",
    "Ingrid",
    "Mateus",
    "Ana",
    "Tariq",
    "Leila",
];

pub const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Patel",
    "Shah",
    "Chen",
    "Wang",
    "Kim",
    "Park",
    "Tanaka",
    "Sato",
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Dubois",
    "Moreau",
    "Rossi",
    "Russo",
    "Silva",
    "Santos",
    "Okafor",
    "Mensah",
    "Haddad",
    "Khan",
    "Ali",
    "Murphy",
    "Kelly",
    "OBrien",
    "Walsh",
    "Evans",
    "Hughes",
    "Campbell",
    "Stewart",
    "Novak",
    "Kowalski",
    "Johansson",
    "Larsen",
    "Jensen",
    "Bakker",
    "Visser",
];

pub const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "aol.com",
    "fastmail.com",
];

pub const NOTES: &[&str] = &[
    "First visit",
    "Follow-up from last visit",
    "Prefers afternoon appointments",
    "Requested a reminder by SMS",
    "Insurance details to confirm at check-in",
    "Bring previous records",
    "Rescheduled from last week",
    "Called to confirm",
    "Allergic to latex",
    "Needs step-free access",
    "Paid deposit online",
    "Running a few minutes late",
    "Booked by phone assistant; wants the same provider as before",
    "Interpreter requested",
    "New patient referral",
];

/// Nouns for names of things (projects, services, products, labels).
pub const NOUNS: &[&str] = &[
    "Atlas", "Beacon", "Harbor", "Summit", "Orbit", "Canvas", "Ledger", "Compass", "Signal",
    "Meadow", "Pioneer", "Horizon", "Anchor", "Falcon", "Granite", "Willow", "Cedar", "Lantern",
    "Quartz", "Ember", "Nova", "Prairie", "Juniper", "Sparrow", "Tandem", "Mosaic", "Vertex",
    "Harvest", "Aurora", "Keystone",
];

pub const ADJECTIVES: &[&str] = &[
    "Quick",
    "Bright",
    "Quiet",
    "Bold",
    "Gentle",
    "Classic",
    "Modern",
    "Deluxe",
    "Express",
    "Premium",
    "Basic",
    "Annual",
    "Weekly",
    "Morning",
    "Evening",
    "Seasonal",
    "Standard",
    "Advanced",
    "Essential",
    "Signature",
];

/// Words for sentences, titles and tags.
pub const WORDS: &[&str] = &[
    "review",
    "update",
    "plan",
    "schedule",
    "follow",
    "team",
    "client",
    "budget",
    "draft",
    "final",
    "report",
    "meeting",
    "design",
    "launch",
    "check",
    "notes",
    "priority",
    "support",
    "request",
    "order",
    "invoice",
    "feedback",
    "project",
    "task",
    "release",
    "summary",
    "weekly",
    "call",
    "email",
    "document",
    "issue",
    "fix",
    "new",
    "migration",
    "onboarding",
    "training",
    "quarter",
    "goal",
    "idea",
    "research",
];

pub const CITIES: &[(&str, &str, &str)] = &[
    ("New York", "United States", "US"),
    ("Chicago", "United States", "US"),
    ("Austin", "United States", "US"),
    ("Seattle", "United States", "US"),
    ("Toronto", "Canada", "CA"),
    ("London", "United Kingdom", "GB"),
    ("Manchester", "United Kingdom", "GB"),
    ("Berlin", "Germany", "DE"),
    ("Munich", "Germany", "DE"),
    ("Paris", "France", "FR"),
    ("Madrid", "Spain", "ES"),
    ("Amsterdam", "Netherlands", "NL"),
    ("Stockholm", "Sweden", "SE"),
    ("Sydney", "Australia", "AU"),
    ("Auckland", "New Zealand", "NZ"),
];

pub const STREETS: &[&str] = &[
    "Main St",
    "High Street",
    "Oak Avenue",
    "Park Road",
    "Station Road",
    "Church Lane",
    "Maple Drive",
    "Elm Street",
    "Mill Road",
    "King Street",
];

/// An org name as a URL slug: lower-case ASCII words joined by `-`.
pub fn slugify(name: &str) -> String {
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
pub fn phone(rng: &mut ChaCha8Rng, tz: &str) -> String {
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
