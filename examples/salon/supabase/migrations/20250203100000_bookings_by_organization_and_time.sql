-- dbkit:no-transaction
-- An organization's calendar (its bookings in a time window) read every bookings row
-- of the organization through a sequential scan; this index serves it. Built without
-- blocking writes to bookings.
create index concurrently if not exists bookings_organization_id_starts_at_idx
    on public.bookings (organization_id, starts_at);
