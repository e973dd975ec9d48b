-- The double-booking guard: no two non-cancelled appointments of one provider may
-- overlap in time. The conflict check in the booking handler stays (it gives a
-- friendly answer), but only a constraint holds under concurrency: two requests can
-- both pass the check before either inserts. btree_gist lets the equality columns
-- share the GiST index with the time range. (Exclusion constraints cannot be added
-- NOT VALID; the index is built under the table lock, which takes seconds at a
-- million rows — dbkit's lock_timeout keeps it from queueing behind live traffic.)

CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE appointments
    ADD CONSTRAINT appointments_no_provider_overlap
    EXCLUDE USING gist (
        org_id WITH =,
        provider_id WITH =,
        tstzrange(scheduled_at, ends_at) WITH &&
    )
    WHERE (status <> 'cancelled');
