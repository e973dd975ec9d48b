-- Row-level security: a signed-in user sees and changes the rows of the organizations
-- they are a member of, through is_org_member(); anon sees nothing.
alter table public.organizations enable row level security;
alter table public.organization_members enable row level security;
alter table public.staff enable row level security;
alter table public.services enable row level security;
alter table public.clients enable row level security;
alter table public.bookings enable row level security;

create policy "members read their organizations" on public.organizations
    for select to authenticated
    using (public.is_org_member(id));

create policy "members read their organization's members" on public.organization_members
    for select to authenticated
    using (public.is_org_member(organization_id));

create policy "members manage staff" on public.staff
    for all to authenticated
    using (public.is_org_member(organization_id))
    with check (public.is_org_member(organization_id));

create policy "members manage services" on public.services
    for all to authenticated
    using (public.is_org_member(organization_id))
    with check (public.is_org_member(organization_id));

create policy "members manage clients" on public.clients
    for all to authenticated
    using (public.is_org_member(organization_id))
    with check (public.is_org_member(organization_id));

create policy "members manage bookings" on public.bookings
    for all to authenticated
    using (public.is_org_member(organization_id))
    with check (public.is_org_member(organization_id));
