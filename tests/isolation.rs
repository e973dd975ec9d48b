//! The tenant-isolation gate end to end (issue 10): leak/fix pairs written as V7s on
//! the shipped schema (`tests/fixtures/isolation/pairs/NN_name.{leak,fix}.sql`), each
//! leak failing `dbkit check --base 6` with an error naming the object, each fix
//! passing with no error; and a team-accounts starter of the kind public Supabase
//! projects use (`account_id`, a membership table, a SECURITY DEFINER helper),
//! inferred without configuration, its planted holes caught.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/isolation")
}

/// A project directory: `migrations/` with the given files (name, text).
fn project(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    for (name, text) in files {
        std::fs::write(migrations.join(name), text).unwrap();
    }
    dir
}

fn shipped_plus(v7: &str) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = std::fs::read_dir(common::repo_migrations())
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.push(("V7__change.sql".into(), v7.into()));
    project(&files)
}

struct Run {
    code: i32,
    stdout: String,
    findings: Vec<Value>,
}

impl Run {
    fn errors(&self) -> Vec<&Value> {
        self.findings
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect()
    }

    fn has_error(&self, rule: &str, object: &str) -> bool {
        self.errors()
            .iter()
            .any(|f| f["rule"] == rule && f["object"] == object)
    }
}

fn check(dir: &Path, extra: &[&str]) -> Run {
    let output = common::dbkit_in(dir)
        .args(["--database-url", &common::fresh_db().url_string(), "check"])
        .args(["--migrations", "migrations", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let code = output.status.code().unwrap();
    assert_ne!(code, 2, "tool error: {stderr}");
    let findings = serde_json::from_str::<Value>(&stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}\n{stderr}"))["findings"]
        .as_array()
        .unwrap()
        .clone();
    Run {
        code,
        stdout,
        findings,
    }
}

fn pair_file(name: &str, side: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("pairs/{name}.{side}.sql"))).unwrap()
}

/// The leak fails with an error of each (rule, object), at the V7 for tenant leaks;
/// the fix passes without any error.
fn pair(name: &str, expected: &[(&str, &str)]) {
    let leak = check(
        shipped_plus(&pair_file(name, "leak")).path(),
        &["--base", "6"],
    );
    assert_eq!(leak.code, 1, "{name} leak: {}", leak.stdout);
    for (rule, object) in expected {
        assert!(
            leak.has_error(rule, object),
            "{name}: no {rule} error on {object}: {}",
            leak.stdout
        );
    }
    for f in leak
        .errors()
        .iter()
        .filter(|f| f["rule"] == "tenant-leak" || f["rule"] == "security-definer-leak")
    {
        assert!(
            f["file"].as_str().unwrap_or("").ends_with("V7__change.sql"),
            "{name}: leak not placed at the V7: {f}"
        );
    }
    let fix = check(
        shipped_plus(&pair_file(name, "fix")).path(),
        &["--base", "6"],
    );
    assert!(fix.errors().is_empty(), "{name} fix: {}", fix.stdout);
    assert_eq!(fix.code, 0, "{name} fix: {}", fix.stdout);
}

#[test]
fn view_without_security_invoker() {
    pair(
        "01_view",
        &[
            ("view-bypasses-rls", "appointments_v"),
            ("tenant-leak", "appointments_v"),
        ],
    );
}

#[test]
fn security_definer_function_for_anon() {
    pair(
        "02_definer_function",
        &[("security-definer-leak", "all_appointments()")],
    );
}

#[test]
fn anon_write_policies() {
    pair(
        "03_anon_writes",
        &[
            ("tenant-leak", "appointments"),
            (
                "policy-always-true",
                "appointments.appointments_anon_insert",
            ),
        ],
    );
}

#[test]
fn update_with_check_true_moves_rows_to_another_tenant() {
    pair(
        "04_update_moves_rows",
        &[
            ("tenant-leak", "appointments"),
            ("policy-always-true", "appointments.appointments_update"),
        ],
    );
    let run = check(
        shipped_plus(&pair_file("04_update_moves_rows", "leak")).path(),
        &["--base", "6"],
    );
    assert!(
        run.errors().iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("without a filter moved")
            && f["message"]
                .as_str()
                .unwrap()
                .contains("appointments_update")),
        "{}",
        run.stdout
    );
}

#[test]
fn cancelled_rows_of_other_tenants_visible() {
    pair("05_cancelled_visible", &[("tenant-leak", "appointments")]);
}

#[test]
fn past_rows_of_other_tenants_visible() {
    pair("06_past_visible", &[("tenant-leak", "appointments")]);
}

#[test]
fn tenant_read_from_user_metadata() {
    pair(
        "07_user_metadata",
        &[(
            "rls-references-user-metadata",
            "appointments.appointments_tenant",
        )],
    );
}

#[test]
fn not_null_jsonb_table_is_filled_and_self_comparison_caught() {
    pair("08_self_comparison", &[("tenant-leak", "documents")]);
}

#[test]
fn tenant_id_table_with_rls_off() {
    pair(
        "09_tenant_id_rls_off",
        &[("rls-disabled", "tickets"), ("tenant-leak", "tickets")],
    );
}

#[test]
fn membership_table_open_to_everyone() {
    pair(
        "10_membership_open",
        &[
            ("tenant-leak", "members"),
            ("policy-always-true", "members.members_directory"),
        ],
    );
}

#[test]
fn insert_policy_checking_only_the_creator() {
    pair(
        "11_creator_only_insert",
        &[
            (
                "policy-ignores-tenant-key",
                "contacts.contacts_creator_insert",
            ),
            ("tenant-leak", "contacts"),
        ],
    );
}

#[test]
fn role_assignment_without_caller_check() {
    pair(
        "12_assign_role",
        &[("security-definer-leak", "assign_user_role()")],
    );
}

#[test]
fn security_definer_delete_executable_by_anon() {
    pair(
        "13_anon_purge",
        &[("security-definer-leak", "purge_org_appointments()")],
    );
}

#[test]
fn child_table_through_a_foreign_key() {
    pair(
        "14_child_table",
        &[
            ("tenant-leak", "appointment_notes"),
            (
                "policy-always-true",
                "appointment_notes.appointment_notes_via_appointment",
            ),
        ],
    );
}

#[test]
fn a_table_that_cannot_be_filled_is_the_proof_s_failure_naming_the_constraint() {
    pair("15_unfillable", &[("proof-failed", "vouchers")]);
    let run = check(
        shipped_plus(&pair_file("15_unfillable", "leak")).path(),
        &["--base", "6"],
    );
    let failed = run
        .errors()
        .into_iter()
        .find(|f| f["rule"] == "proof-failed")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("vouchers_code_format"),
        "{failed}"
    );
}

/// Cross-column CHECKs (`ends_at > starts_at`, a status that needs a closing time): the
/// fixture's rows come from the shared generator and satisfy them, so the table is
/// probed — its open policy is a leak, not an untested table.
#[test]
fn a_table_with_cross_column_checks_is_filled_and_probed() {
    let v7 = "CREATE TABLE shifts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('planned', 'done')),
    closed_at timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (status <> 'done' OR closed_at IS NOT NULL)
);
CREATE INDEX shifts_org_id_idx ON shifts (org_id);
ALTER TABLE shifts ENABLE ROW LEVEL SECURITY;
CREATE POLICY shifts_read ON shifts FOR SELECT TO authenticated USING (true);
GRANT SELECT ON shifts TO authenticated;
";
    let run = check(shipped_plus(v7).path(), &["--base", "6"]);
    assert!(run.has_error("tenant-leak", "shifts"), "{}", run.stdout);
    assert!(
        !run.findings
            .iter()
            .any(|f| f["rule"] == "isolation-untested" && f["object"] == "shifts"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_reachable_table_without_tenancy_is_untested_until_configured() {
    let v7 = "CREATE TABLE audit_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text NOT NULL);
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_events_read ON audit_events FOR SELECT TO authenticated USING (false);
GRANT SELECT ON audit_events TO authenticated;
";
    let dir = shipped_plus(v7);
    let run = check(dir.path(), &[]);
    assert!(
        run.has_error("isolation-untested", "audit_events"),
        "{}",
        run.stdout
    );
    let message = run
        .errors()
        .into_iter()
        .find(|f| f["rule"] == "isolation-untested")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("tenancy.tables.audit_events"), "{message}");
    std::fs::write(
        dir.path().join("dbkit.yaml"),
        "tenancy:\n  tables:\n    audit_events: { public: true }\n",
    )
    .unwrap();
    let run = check(dir.path(), &[]);
    assert!(run.errors().is_empty(), "{}", run.stdout);
}

fn explain_tenancy(dir: &Path, format: &str) -> std::process::Output {
    common::dbkit_in(dir)
        .args(["--database-url", &common::fresh_db().url_string(), "check"])
        .args([
            "--migrations",
            "migrations",
            "--explain-tenancy",
            "--format",
            format,
        ])
        .output()
        .unwrap()
}

fn starter(with_planted: bool) -> tempfile::TempDir {
    let dir = fixtures().join("starter");
    let mut files: Vec<(String, String)> = ["V1__auth.sql", "V2__accounts.sql", "V3__policies.sql"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect();
    if with_planted {
        files.push((
            "V4__planted.sql".into(),
            std::fs::read_to_string(dir.join("planted.sql")).unwrap(),
        ));
    }
    project(&files)
}

#[test]
fn starter_schema_is_inferred_without_configuration() {
    let dir = starter(false);
    let output = explain_tenancy(dir.path(), "json");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let model: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(model["tenant_table"]["table"], "accounts", "{stdout}");
    assert_eq!(
        model["membership"]["table"], "accounts_memberships",
        "{stdout}"
    );
    assert_eq!(model["membership"]["user_column"], "user_id", "{stdout}");
    assert!(
        model["derivations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "helper" && d["function"] == "has_role_on_account"),
        "{stdout}"
    );
    let kind = |table: &str| {
        model["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(kind("tasks")["kind"], "keyed", "{stdout}");
    assert_eq!(kind("tasks")["key"], "account_id", "{stdout}");
    assert_eq!(kind("task_comments")["kind"], "child", "{stdout}");
    assert_eq!(kind("task_comments")["via"][0], "task_id", "{stdout}");
    assert_eq!(kind("profiles")["kind"], "per_user", "{stdout}");
    assert_eq!(model["untenanted"], Value::Array(vec![]), "{stdout}");

    let run = check(dir.path(), &[]);
    assert!(run.errors().is_empty(), "{}", run.stdout);
    assert_eq!(run.code, 0);
}

#[test]
fn starter_schema_planted_holes_are_caught() {
    let run = check(starter(true).path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    for (rule, object) in [
        ("tenant-leak", "accounts_memberships"),
        (
            "policy-always-true",
            "accounts_memberships.accounts_memberships_directory",
        ),
        ("policy-ignores-tenant-key", "tasks.tasks_quick_add"),
        ("tenant-leak", "tasks"),
        ("security-definer-leak", "assign_account_role()"),
        ("security-definer-leak", "delete_profile_named()"),
    ] {
        assert!(
            run.has_error(rule, object),
            "no {rule} on {object}: {}",
            run.stdout
        );
    }
}

#[test]
fn explain_tenancy_on_the_shipped_schema_in_every_format() {
    let dir = shipped_plus("SELECT 1;\n");
    for format in ["table", "markdown"] {
        let output = explain_tenancy(dir.path(), format);
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "{stdout}");
        assert!(
            stdout.contains("tenant table: orgs (key id, uuid)"),
            "{stdout}"
        );
        assert!(stdout.contains("JWT claim `org_id`"), "{stdout}");
        assert!(stdout.contains("appointments"), "{stdout}");
    }
}

#[test]
fn membership_insert_with_an_or_branch_lets_anyone_join() {
    pair(
        "16_membership_or_branch",
        &[("membership-self-insert", "members")],
    );
}

/// A Supabase-layout project (the platform provides `storage`) of one migration.
fn supabase_project(sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("supabase/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("20240101000000_storage.sql"), sql).unwrap();
    dir
}

#[test]
fn storage_bucket_without_an_owner_or_folder_condition() {
    let check_storage = |side: &str| {
        let dir = supabase_project(&pair_file("17_storage_bucket_open", side));
        let output = common::dbkit_in(dir.path())
            .args(["--database-url", &common::fresh_db().url_string(), "check"])
            .args(["--migrations", "supabase/migrations", "--format", "json"])
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let v: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
        (
            output.status.code().unwrap(),
            v["findings"].as_array().unwrap().clone(),
            stdout,
        )
    };
    let (code, findings, stdout) = check_storage("leak");
    assert_eq!(code, 1, "{stdout}");
    for object in [
        "storage.objects.invoices read",
        "storage.objects.invoices delete",
    ] {
        assert!(
            findings.iter().any(|f| f["rule"] == "storage-bucket-open"
                && f["object"] == object
                && f["severity"] == "error"
                && f["file"].as_str().unwrap_or("").ends_with("_storage.sql")),
            "no storage-bucket-open error on {object}: {stdout}"
        );
    }
    let (code, findings, stdout) = check_storage("fix");
    assert!(
        !findings.iter().any(|f| f["severity"] == "error"),
        "{stdout}"
    );
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn foreign_table_in_an_exposed_schema() {
    pair(
        "18_foreign_table",
        &[("foreign-table-exposed", "billing_customers")],
    );
}

#[test]
fn secrets_readable_by_everyone_without_a_tenancy() {
    pair(
        "19_sensitive_columns",
        &[("sensitive-columns-exposed", "integrations")],
    );
}

/// The starter with one more migration (file name, fixture file).
fn starter_plus(v4: &str) -> tempfile::TempDir {
    let dir = fixtures().join("starter");
    let mut files: Vec<(String, String)> = ["V1__auth.sql", "V2__accounts.sql", "V3__policies.sql"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect();
    files.push((
        "V4__change.sql".into(),
        std::fs::read_to_string(dir.join(v4)).unwrap(),
    ));
    project(&files)
}

#[test]
fn security_definer_function_returning_any_user_s_email_is_called_and_caught() {
    let run = check(starter_plus("definer_email.sql").path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let leak = run
        .errors()
        .into_iter()
        .find(|f| f["rule"] == "security-definer-leak" && f["object"] == "user_email()")
        .unwrap_or_else(|| panic!("no security-definer-leak: {}", run.stdout))
        .clone();
    let message = leak["message"].as_str().unwrap();
    assert!(
        message.contains("returned tenant B's data") && message.contains("as anon"),
        "{message}"
    );
    assert!(
        leak["file"].as_str().unwrap().ends_with("V4__change.sql"),
        "{leak}"
    );
    let fixed = check(starter_plus("definer_email_fixed.sql").path(), &[]);
    assert!(fixed.errors().is_empty(), "{}", fixed.stdout);
}

#[test]
fn a_caller_checking_helper_anon_may_execute_is_no_error() {
    let run = check(starter_plus("member_helper.sql").path(), &[]);
    assert!(run.errors().is_empty(), "{}", run.stdout);
    let helper = run
        .findings
        .iter()
        .find(|f| f["object"] == "is_account_member()")
        .unwrap_or_else(|| panic!("no finding on the helper: {}", run.stdout));
    assert_eq!(helper["rule"], "security-definer-exposed");
    assert_eq!(helper["severity"], "warning");
    assert!(
        helper["message"]
            .as_str()
            .unwrap()
            .contains("returned and changed nothing of B's"),
        "{helper}"
    );
}

#[test]
fn rows_triggers_fill_from_the_caller_are_made_as_a_member() {
    // A NOT NULL column a trigger fills with auth.uid(), and a user's personal account
    // beside the team account with a membership in each: the fixture fills them all.
    let run = check(starter_plus("caller_filled.sql").path(), &[]);
    assert!(run.errors().is_empty(), "{}", run.stdout);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let tried = v["ran"]["proof"]["tried"].as_array().unwrap();
    for table in ["invitations", "accounts_memberships", "profiles"] {
        assert!(
            tried.iter().any(|t| t["object"] == table),
            "{table} not probed: {}",
            run.stdout
        );
    }
}

#[test]
fn per_user_rows_every_user_reads_on_purpose_are_a_warning() {
    // Owner writes, shared reads (a chat, public profiles): warnings; a private table
    // whose read policy lets everyone through an OR branch stays an error.
    let auth = std::fs::read_to_string(fixtures().join("starter/V1__auth.sql")).unwrap();
    let dir = project(&[
        ("V1__auth.sql".into(), auth),
        ("V2__chat.sql".into(), quiet("shared_reads")),
    ]);
    let run = check(dir.path(), &[]);
    let leaks = |severity: &str| -> Vec<String> {
        let mut objects: Vec<String> = run
            .findings
            .iter()
            .filter(|f| f["rule"] == "tenant-leak" && f["severity"] == severity)
            .map(|f| f["object"].as_str().unwrap().to_string())
            .collect();
        objects.sort();
        objects.dedup();
        objects
    };
    assert_eq!(leaks("error"), vec!["drafts"], "{}", run.stdout);
    assert_eq!(
        leaks("warning"),
        vec!["messages", "profiles"],
        "{}",
        run.stdout
    );
    assert!(
        run.findings
            .iter()
            .filter(|f| f["rule"] == "tenant-leak" && f["severity"] == "warning")
            .all(|f| f["message"]
                .as_str()
                .unwrap()
                .contains("readable on purpose")),
        "{}",
        run.stdout
    );
}

fn quiet(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("quiet/{name}.sql"))).unwrap()
}

#[test]
fn writes_are_read_back_not_counted() {
    // A trigger keeping rows in their tenant, rows a trigger made for tenant A, an
    // author column beside the tenant key: none is a leak.
    let run = check(shipped_plus(&quiet("read_back")).path(), &["--base", "6"]);
    assert!(run.errors().is_empty(), "{}", run.stdout);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let graded = run
        .findings
        .iter()
        .find(|f| f["rule"] == "policy-always-true")
        .unwrap_or_else(|| panic!("no policy-always-true: {}", run.stdout));
    assert_eq!(graded["severity"], "warning", "{graded}");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let proof = &v["ran"]["proof"];
    assert!(
        proof["requests"]["authenticated"]["UPDATE"]
            .as_u64()
            .unwrap()
            > 0,
        "{proof}"
    );
}

#[test]
fn intended_openings_are_warnings_and_service_role_tables_need_nothing() {
    let run = check(shipped_plus(&quiet("intended")).path(), &["--base", "6"]);
    assert!(run.errors().is_empty(), "{}", run.stdout);
    let warned = |rule: &str, object: &str| {
        run.findings
            .iter()
            .any(|f| f["rule"] == rule && f["object"] == object && f["severity"] == "warning")
    };
    assert!(
        warned("policy-always-true", "orgs.orgs_create"),
        "{}",
        run.stdout
    );
    assert!(
        warned("policy-always-true", "waitlist.waitlist_join"),
        "{}",
        run.stdout
    );
    assert!(warned("tenant-leak", "waitlist"), "{}", run.stdout);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let skipped = v["ran"]["proof"]["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["object"] == "billing_events"
            && s["why"].as_str().unwrap().contains("service role only")),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_tenancy_gives_evidence_and_confidence_and_ignores_mfa_claims() {
    let v7 = "CREATE POLICY appointments_mfa ON appointments AS RESTRICTIVE TO authenticated
    USING ((SELECT auth.jwt() ->> 'aal') = 'aal2');
";
    let dir = shipped_plus(v7);
    let output = explain_tenancy(dir.path(), "json");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let model: Value = serde_json::from_str(&stdout).unwrap();
    let claims: Vec<&Value> = model["derivations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "claim")
        .collect();
    assert_eq!(claims.len(), 1, "{stdout}");
    assert_eq!(claims[0]["claim"], "org_id", "{stdout}");
    let appointments = model["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "appointments")
        .unwrap();
    assert_eq!(appointments["confidence"], "high", "{stdout}");
    assert!(
        appointments["evidence"]
            .as_str()
            .unwrap()
            .contains("appointments_tenant"),
        "{stdout}"
    );
}

#[test]
fn the_proof_s_own_failure_is_dbkit_s_error_with_its_cause() {
    // A NOT NULL column of a composite type: dbkit has no value to make for it.
    let v7 = "CREATE TYPE money_amount AS (amount numeric, currency text);
CREATE TABLE invoices (
    id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id),
    total  money_amount NOT NULL
);
CREATE INDEX invoices_org_id_idx ON invoices (org_id);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY invoices_tenant ON invoices TO authenticated
    USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))
    WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid));
";
    let run = check(shipped_plus(v7).path(), &["--base", "6"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let failed = run
        .errors()
        .into_iter()
        .find(|f| f["rule"] == "proof-failed")
        .unwrap_or_else(|| panic!("no proof-failed: {}", run.stdout))
        .clone();
    assert_eq!(failed["object"], "invoices");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("no value dbkit can make for invoices.total"),
        "{failed}"
    );
    assert!(
        !run.errors()
            .iter()
            .any(|f| f["rule"] == "isolation-untested"),
        "{}",
        run.stdout
    );
}
