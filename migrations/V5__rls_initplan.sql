-- Row-level security rewritten so the claim is read once per statement: the call is
-- wrapped in a scalar subquery, which PostgreSQL evaluates as an InitPlan and compares
-- as a parameter (an index condition on org_id), instead of once per row. Policies are
-- scoped TO authenticated, so other roles do not evaluate them at all (anon sees nothing).
-- ALTER POLICY keeps each policy in place: there is no moment without one.

ALTER POLICY orgs_tenant ON orgs TO authenticated
    USING (id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (id = (SELECT (auth.jwt() ->> 'org_id')::uuid));

ALTER POLICY org_settings_tenant ON org_settings TO authenticated
    USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid));

ALTER POLICY members_tenant ON members TO authenticated
    USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid));

ALTER POLICY providers_tenant ON providers TO authenticated
    USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid));

ALTER POLICY contacts_tenant ON contacts TO authenticated
    USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid));

ALTER POLICY appointments_tenant ON appointments TO authenticated
    USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid));
