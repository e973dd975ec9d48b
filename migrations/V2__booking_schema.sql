-- The booking schema as the phase-6 load test measured it: primary and foreign keys
-- only, no secondary indexes. Every tenant row carries org_id.

CREATE TABLE orgs (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL,
    slug        text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-org scheduling rules: the timezone, opening hours and slot grid that bookings follow.
CREATE TABLE org_settings (
    org_id               uuid        PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    timezone             text        NOT NULL DEFAULT 'UTC',
    opens_at             time        NOT NULL DEFAULT '09:00',
    closes_at            time        NOT NULL DEFAULT '17:00',
    business_days        smallint[]  NOT NULL DEFAULT '{1,2,3,4,5}',
    slot_minutes         integer     NOT NULL DEFAULT 30 CHECK (slot_minutes BETWEEN 5 AND 240),
    booking_horizon_days integer     NOT NULL DEFAULT 60 CHECK (booking_horizon_days > 0),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (closes_at > opens_at)
);

-- Which auth user (JWT `sub`) belongs to which org.
CREATE TABLE members (
    org_id      uuid        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL,
    role        text        NOT NULL DEFAULT 'staff' CHECK (role IN ('owner', 'admin', 'staff')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE providers (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    email       text,
    specialty   text,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    first_name  text        NOT NULL,
    last_name   text        NOT NULL,
    email       text,
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE appointments (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider_id  uuid        NOT NULL REFERENCES providers (id),
    contact_id   uuid        NOT NULL REFERENCES contacts (id),
    scheduled_at timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'booked'
                 CHECK (status IN ('booked', 'confirmed', 'completed', 'cancelled', 'no_show')),
    source       text        NOT NULL DEFAULT 'web' CHECK (source IN ('voice', 'web', 'phone')),
    notes        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > scheduled_at)
);

-- As on Supabase: the API roles get table privileges; row-level security decides rows.
GRANT SELECT, INSERT, UPDATE, DELETE
    ON orgs, org_settings, members, providers, contacts, appointments
    TO anon, authenticated, service_role;
