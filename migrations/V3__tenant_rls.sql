-- Row-level security on every tenant table, written the way most projects first write
-- it: the claim is read through auth.jwt() inside the comparison, so a scan evaluates
-- it for every row, and the policies apply to every role (no TO clause).
-- V5 rewrites them; this file stays as the history the load test ran against.

ALTER TABLE orgs         ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE members      ENABLE ROW LEVEL SECURITY;
ALTER TABLE providers    ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts     ENABLE ROW LEVEL SECURITY;
ALTER TABLE appointments ENABLE ROW LEVEL SECURITY;

CREATE POLICY orgs_tenant ON orgs
    USING (id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (id = (auth.jwt() ->> 'org_id')::uuid);

CREATE POLICY org_settings_tenant ON org_settings
    USING (org_id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid);

CREATE POLICY members_tenant ON members
    USING (org_id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid);

CREATE POLICY providers_tenant ON providers
    USING (org_id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid);

CREATE POLICY contacts_tenant ON contacts
    USING (org_id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid);

CREATE POLICY appointments_tenant ON appointments
    USING (org_id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid);
