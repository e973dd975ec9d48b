-- Tenants and who belongs to them. A salon (an organization) has members: auth users
-- with a role. Every other table carries organization_id and is readable only by
-- the organization's members (see the row-level security migration).
create type public.member_role as enum ('owner', 'admin', 'member');

create table public.organizations (
    id uuid primary key default gen_random_uuid(),
    name text not null check (char_length(name) between 2 and 80),
    slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    time_zone text not null default 'Europe/London',
    created_at timestamptz not null default now()
);

create table public.organization_members (
    organization_id uuid not null references public.organizations (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    role public.member_role not null default 'member',
    created_at timestamptz not null default now(),
    primary key (organization_id, user_id)
);

create index organization_members_user_id_idx on public.organization_members (user_id);

-- The one membership test every policy calls: SECURITY DEFINER so it reads
-- organization_members without that table's own policy, with a fixed search_path.
create function public.is_org_member(org uuid) returns boolean
    language sql
    stable
    security definer
    set search_path = ''
as $$
    select exists (
        select 1
          from public.organization_members m
         where m.organization_id = org
           and m.user_id = (select auth.uid())
    )
$$;

revoke execute on function public.is_org_member(uuid) from public, anon;
grant execute on function public.is_org_member(uuid) to authenticated;
