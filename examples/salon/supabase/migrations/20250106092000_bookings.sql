-- Bookings: a client books a service with a member of staff for a time span. A member
-- of staff cannot be in two non-cancelled bookings at once: the exclusion constraint
-- holds where a check in the application would race.
create extension if not exists btree_gist with schema extensions;

create table public.bookings (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references public.organizations (id) on delete cascade,
    staff_id uuid not null references public.staff (id) on delete cascade,
    client_id uuid not null references public.clients (id) on delete cascade,
    service_id uuid not null references public.services (id),
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    status text not null default 'pending'
        check (status in ('pending', 'confirmed', 'completed', 'cancelled', 'no_show')),
    price_cents integer not null check (price_cents >= 0),
    notes text,
    created_at timestamptz not null default now(),
    check (ends_at > starts_at),
    constraint bookings_no_staff_overlap exclude using gist (
        staff_id with =,
        tstzrange(starts_at, ends_at) with &&
    ) where (status <> 'cancelled')
);

create index bookings_client_id_idx on public.bookings (client_id);
create index bookings_service_id_idx on public.bookings (service_id);
