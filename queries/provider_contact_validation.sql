-- Booking handler, step 1: the provider and the contact named in the request must
-- belong to the caller's org, and the provider must be active.
SELECT
    (SELECT p.active FROM providers p WHERE p.id = $2 AND p.org_id = $1) AS provider_active,
    EXISTS (SELECT 1 FROM contacts c WHERE c.id = $3 AND c.org_id = $1) AS contact_exists
