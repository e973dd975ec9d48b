//! The lab's template cache on real PostgreSQL: a second build with the same inputs is a
//! clone of the first (same rows), an edited migration or another seed misses, caching
//! off leaves no template behind, and migrating on is cached too.

mod common;

use std::path::PathBuf;

use dbkit::lab::{cache, CachePolicy, CacheUse, Lab};
use dbkit::migrate::MigrationSet;
use dbkit::seed::{Profile, SeedOptions};

fn small_seed(seed: u64) -> SeedOptions {
    let profile = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed_small.yaml");
    SeedOptions {
        orgs: 2,
        seed,
        profile: Profile::from_file(&profile).expect("the small profile loads"),
        anchor_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
        ..SeedOptions::default()
    }
}

/// Run a lab future on this test's thread (the seed engine's future is not `Send`).
fn run<T>(fut: impl std::future::Future<Output = anyhow::Result<T>>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
        .unwrap_or_else(|e| panic!("{}", dbkit::error::one_line(&e)))
}

/// The tests of this file take turns (under nextest, by the test group `template-cache`
/// of .config/nextest.toml): one of them asserts that no template appears.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn booking() -> MigrationSet {
    MigrationSet::embedded().expect("the embedded migrations load")
}

/// Row count and a checksum of the appointments of the lab's database.
fn appointments(lab: &Lab) -> (i64, String) {
    let rows = common::sql(
        lab.url(),
        "SELECT count(*), md5(string_agg(id::text || scheduled_at::text, ',' ORDER BY id)) FROM appointments",
    );
    (rows[0].get(0), rows[0].get(1))
}

fn template_names() -> Vec<String> {
    common::block_on(async { cache::list(&common::server_url()).await })
        .expect("templates list")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[test]
fn the_same_inputs_clone_the_template_and_hold_the_same_rows() {
    let _turn = turn();
    let server = common::server_url();
    let (first, second) = run(async move {
        let seed = small_seed(7001);
        let (a, built_a) = Lab::seeded_at_with(
            &server,
            "labtest",
            booking(),
            3,
            Some(&seed),
            CachePolicy::On,
        )
        .await?;
        let (b, built_b) = Lab::seeded_at_with(
            &server,
            "labtest",
            booking(),
            3,
            Some(&seed),
            CachePolicy::On,
        )
        .await?;
        Ok(((a, built_a), (b, built_b)))
    });
    let (a, built_a) = first;
    let (b, built_b) = second;
    let CacheUse::Stored(name) = &built_a.cache else {
        panic!("the first build stores a template: {:?}", built_a.cache)
    };
    assert_eq!(built_b.cache, CacheUse::Hit(name.clone()));
    assert!(built_b.seed.is_none(), "a hit does not seed");
    assert_eq!(b.version().map(|v| v.get()), Some(3));
    let rows = appointments(&a);
    assert!(rows.0 > 0, "seeded");
    assert_eq!(
        appointments(&b),
        rows,
        "a hit holds the same rows as the build"
    );
    assert!(template_names().contains(name));
    run(async move {
        a.finish(false).await?;
        b.finish(false).await?;
        Ok(())
    });
}

#[test]
fn an_edited_migration_or_another_seed_misses_the_cache() {
    let _turn = turn();
    let server = common::server_url();
    let uses = run(async move {
        let seed = small_seed(7002);
        let mut uses = Vec::new();
        let (lab, built) = Lab::seeded_at_with(
            &server,
            "labtest",
            booking(),
            2,
            Some(&seed),
            CachePolicy::On,
        )
        .await?;
        uses.push(built.cache);
        lab.finish(false).await?;
        // The same migrations with V2 edited (a comment is enough: the SQL differs).
        let mut edited = booking();
        let v2 = edited
            .migrations
            .iter_mut()
            .find(|m| m.version == 2)
            .unwrap();
        v2.sql.push_str("\n-- edited\n");
        let (lab, built) =
            Lab::seeded_at_with(&server, "labtest", edited, 2, Some(&seed), CachePolicy::On)
                .await?;
        uses.push(built.cache);
        lab.finish(false).await?;
        let (lab, built) = Lab::seeded_at_with(
            &server,
            "labtest",
            booking(),
            2,
            Some(&small_seed(7003)),
            CachePolicy::On,
        )
        .await?;
        uses.push(built.cache);
        lab.finish(false).await?;
        Ok(uses)
    });
    let names: Vec<&String> = uses
        .iter()
        .map(|u| match u {
            CacheUse::Stored(name) => name,
            other => panic!("every build misses and stores: {uses:?} ({other:?})"),
        })
        .collect();
    assert_ne!(names[0], names[1], "an edited migration has another key");
    assert_ne!(names[0], names[2], "another seed has another key");
}

#[test]
fn caching_off_leaves_no_template_behind() {
    let _turn = turn();
    let server = common::server_url();
    let before = template_names();
    let built = run(async move {
        let seed = small_seed(7004);
        let (lab, built) = Lab::seeded_at_with(
            &server,
            "labtest",
            booking(),
            3,
            Some(&seed),
            CachePolicy::Off,
        )
        .await?;
        let mut lab = lab;
        let on = lab.migrate_on(None).await?;
        lab.finish(false).await?;
        Ok((built.cache, on))
    });
    assert_eq!(built, (CacheUse::Off, CacheUse::Off));
    assert_eq!(template_names(), before, "no template was made");
}

#[test]
fn migrating_on_is_cached_too() {
    let _turn = turn();
    let server = common::server_url();
    let (first, second, version) = run(async move {
        let seed = small_seed(7005);
        let mut uses = Vec::new();
        let mut version = None;
        for _ in 0..2 {
            let (mut lab, _) = Lab::seeded_at_with(
                &server,
                "labtest",
                booking(),
                3,
                Some(&seed),
                CachePolicy::On,
            )
            .await?;
            uses.push(lab.migrate_on(None).await?);
            version = lab.version();
            let head = common::sql(
                lab.url(),
                "SELECT count(*) FROM pg_constraint WHERE contype = 'x'",
            );
            assert_eq!(
                head[0].get::<_, i64>(0),
                1,
                "the head's exclusion constraint is there"
            );
            lab.finish(false).await?;
        }
        Ok((uses.remove(0), uses.remove(0), version))
    });
    let CacheUse::Stored(name) = first else {
        panic!("the first migration on is stored: {first:?}")
    };
    assert_eq!(second, CacheUse::Hit(name));
    assert_eq!(version.map(|v| v.get()), Some(6));
}

const SMALL_PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seed_small.yaml"
);

/// `explain --before 3` on the test cluster as JSON (a URL target: caching only with
/// `--cache`).
fn explain_before(target: &common::TestDb, cache: bool) -> serde_json::Value {
    let mut cmd = common::dbkit();
    cmd.args(["--database-url", &target.url_string()])
        .args(["explain", "--before", "3", "--orgs", "2", "--seed", "7100"])
        .args([
            "--profile",
            SMALL_PROFILE,
            "--format",
            "json",
            "--runs",
            "1",
        ]);
    if cache {
        cmd.arg("--cache");
    }
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("explain prints JSON")
}

/// The findings of every run, as `query/org/phase/role/rule` lines, sorted. Without
/// `rls-overhead`: it compares the timings of two runs, which differ run to run at
/// this size; every other rule judges plan shape and buffers.
fn findings_of(report: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|run| {
            run["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["rule"] != "rls-overhead")
                .map(move |f| {
                    format!(
                        "{}/{}/{}/{}/{}",
                        run["query"], run["org"], run["phase"], run["role"], f["rule"]
                    )
                })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn without_cache_a_remote_target_keeps_no_template() {
    let _turn = turn();
    let before = template_names();
    let target = common::fresh_db();
    explain_before(&target, false);
    assert_eq!(
        template_names(),
        before,
        "no --cache: nothing left on the server"
    );
}

#[test]
fn a_cache_hit_gives_the_same_findings_as_the_miss_and_prune_drops_it() {
    let _turn = turn();
    let target = common::fresh_db();
    let miss = explain_before(&target, true);
    let hit = explain_before(&target, true);
    let notes = |r: &serde_json::Value| r["notes"].to_string();
    assert!(
        notes(&miss).contains("stored dbkit_cache_"),
        "{}",
        notes(&miss)
    );
    assert!(
        notes(&hit).contains("reused dbkit_cache_"),
        "{}",
        notes(&hit)
    );
    assert_eq!(
        findings_of(&hit),
        findings_of(&miss),
        "a hit and a miss agree"
    );
    assert!(!template_names().is_empty());
    let out = common::dbkit()
        .args(["--database-url", &target.url_string()])
        .args(["db", "prune-cache", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let pruned: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(
        !pruned["dropped"].as_array().unwrap().is_empty(),
        "{pruned}"
    );
    assert!(
        template_names().is_empty(),
        "prune-cache drops every template"
    );
}
