-- What a salon books: its staff, the services it offers and its clients.
create table public.staff (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references public.organizations (id) on delete cascade,
    display_name text not null,
    email text check (email ~* '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    active boolean not null default true,
    created_at timestamptz not null default now()
);

create index staff_organization_id_idx on public.staff (organization_id);

create table public.services (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references public.organizations (id) on delete cascade,
    name text not null,
    duration_minutes integer not null check (duration_minutes between 5 and 480),
    price_cents integer not null check (price_cents >= 0),
    created_at timestamptz not null default now(),
    unique (organization_id, name)
);

create table public.clients (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references public.organizations (id) on delete cascade,
    full_name text not null,
    email text,
    phone text,
    notes text,
    created_at timestamptz not null default now()
);

create index clients_organization_id_idx on public.clients (organization_id);
