//! Signing keys: first start, rotation, revocation, ageing out, sealing at rest.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use lanyard::clock::MockClock;
use lanyard::crypto::MasterKey;
use lanyard::keys;
use serde_json::Value;

use crate::support::{
    TestApp, TestDb, create_service, empty_db, eventually, fetch_json, fresh_db, lanyard, master_key,
    serve_until_listening, spawn_app,
};

/// `keys list --json`, as (alg, state) → kids.
async fn states(db: &TestDb) -> HashMap<(String, String), Vec<String>> {
    let run = lanyard(&["keys", "list", "--json"]).db(db).run().await;
    run.assert_ok();
    let mut map: HashMap<(String, String), Vec<String>> = HashMap::new();
    for key in run.json().as_array().unwrap() {
        let k = (
            key["alg"].as_str().unwrap().to_owned(),
            key["state"].as_str().unwrap().to_owned(),
        );
        map.entry(k).or_default().push(key["kid"].as_str().unwrap().to_owned());
    }
    map
}

fn kid(map: &HashMap<(String, String), Vec<String>>, alg: &str, state: &str) -> Option<String> {
    map.get(&(alg.to_owned(), state.to_owned()))
        .and_then(|v| v.first().cloned())
}

fn count(map: &HashMap<(String, String), Vec<String>>, alg: &str, state: &str) -> usize {
    map.get(&(alg.to_owned(), state.to_owned())).map_or(0, Vec::len)
}

#[tokio::test]
async fn first_start_creates_one_active_and_one_next_key_per_algorithm() {
    let db = empty_db().await;
    lanyard(&["migrate"]).run_on(&db).await.assert_ok();
    let _app = TestApp::builder().on(db).spawn().await;
    let map = states(&_app.db).await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(count(&map, alg, "active"), 1, "{alg}");
        assert_eq!(count(&map, alg, "next"), 1, "{alg}");
    }
    assert_eq!(map.values().map(Vec::len).sum::<usize>(), 6);
}

#[tokio::test]
async fn rotate_promotes_next_retires_active_and_publishes_a_new_next() {
    let db = fresh_db().await;
    let before = states(&db).await;
    let run = lanyard(&["keys", "rotate", "--force", "--json"]).run_on(&db).await;
    run.assert_ok();
    assert_eq!(
        run.json()["changes"].as_array().unwrap().len(),
        9,
        "3 moves of 3 algorithms"
    );
    let after = states(&db).await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(
            kid(&after, alg, "active"),
            kid(&before, alg, "next"),
            "{alg}: next became active"
        );
        assert_eq!(
            kid(&after, alg, "retired"),
            kid(&before, alg, "active"),
            "{alg}: active retired"
        );
        let new_next = kid(&after, alg, "next").unwrap();
        assert!(
            !before.values().flatten().any(|k| *k == new_next),
            "{alg}: a new next key"
        );
    }
}

/// Makes every `next` key look published `ago` before now.
async fn next_keys_published(db: &TestDb, ago: TimeDelta) {
    let pool = lanyard::store::connect(&db.url, 1).await.unwrap();
    sqlx::query("UPDATE signing_keys SET created_at = $1 WHERE state = 'next'")
        .bind(Utc::now() - ago)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// A `next` key published for less than twice the JWKS cache lifetime may
/// not be in every relying party's cached JWKS yet: rotating now would sign
/// with a `kid` they do not know. Refused, and nothing changes, unless forced.
#[tokio::test]
async fn rotate_refuses_a_next_key_not_yet_in_every_cached_jwks_unless_forced() {
    let db = fresh_db().await;
    next_keys_published(&db, TimeDelta::minutes(3)).await;
    let before = states(&db).await;
    let run = lanyard(&["keys", "rotate"]).run_on(&db).await;
    run.assert_refused("--force");
    assert!(run.stderr.contains("600 s"), "{}", run.stderr);
    assert_eq!(states(&db).await, before, "nothing changed");
    next_keys_published(&db, TimeDelta::minutes(11)).await;
    lanyard(&["keys", "rotate"]).run_on(&db).await.assert_ok();
    assert_ne!(states(&db).await, before);
}

#[tokio::test]
async fn rotate_on_a_database_without_keys_creates_them() {
    let db = empty_db().await;
    lanyard(&["migrate"]).run_on(&db).await.assert_ok();
    let run = lanyard(&["keys", "rotate"]).run_on(&db).await;
    run.assert_ok();
    assert!(run.stdout.contains("created (active)"), "{}", run.stdout);
    let map = states(&db).await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!((count(&map, alg, "active"), count(&map, alg, "next")), (1, 1), "{alg}");
    }
}

#[tokio::test]
async fn revoking_a_key_unpublishes_it_at_once_and_replaces_an_active_one() {
    let app = spawn_app().await;
    let before = states(&app.db).await;
    let active = kid(&before, "RS256", "active").unwrap();
    lanyard(&["keys", "revoke", &active]).run_on(&app.db).await.assert_ok();
    let after = states(&app.db).await;
    assert_eq!(kid(&after, "RS256", "revoked"), Some(active.clone()));
    assert_eq!(
        kid(&after, "RS256", "active"),
        kid(&before, "RS256", "next"),
        "next took over"
    );
    assert_eq!(count(&after, "RS256", "next"), 1, "a new next key");
    let gone = eventually(Duration::from_secs(10), || async {
        let jwks = app.get_json("/jwks").await;
        !jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == active.as_str())
    })
    .await;
    assert!(gone, "the revoked key left the JWKS");
}

#[tokio::test]
async fn revoke_refuses_an_unknown_or_already_revoked_kid() {
    let db = fresh_db().await;
    lanyard(&["keys", "revoke", "no-such-kid"])
        .run_on(&db)
        .await
        .assert_refused("no-such-kid");
    let next = kid(&states(&db).await, "ES256", "next").unwrap();
    lanyard(&["keys", "revoke", &next]).run_on(&db).await.assert_ok();
    lanyard(&["keys", "revoke", &next])
        .run_on(&db)
        .await
        .assert_refused("already revoked");
}

#[tokio::test]
async fn retired_keys_stay_published_until_tokens_and_caches_expire_then_are_deleted_after_30_days() {
    let app = spawn_app().await;
    lanyard(&["keys", "rotate", "--force"])
        .run_on(&app.db)
        .await
        .assert_ok();
    let lifetimes = app.config.lifetimes;
    // Longest token (900 s) + JWKS cache (300 s).
    let publish_for = TimeDelta::seconds(900 + 300);
    let clock = MockClock::new(Utc::now() + publish_for - TimeDelta::seconds(60));
    assert!(
        keys::maintain(&app.pool, &clock, &lifetimes).await.unwrap().is_empty(),
        "too early"
    );
    clock.advance(TimeDelta::seconds(120));
    let changes = keys::maintain(&app.pool, &clock, &lifetimes).await.unwrap();
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .all(|c| c.from == Some("retired") && c.to == Some("retained"))
    );
    let map = states(&app.db).await;
    assert_eq!(count(&map, "RS256", "retained"), 1);
    clock.advance(TimeDelta::days(30));
    let changes = keys::maintain(&app.pool, &clock, &lifetimes).await.unwrap();
    assert!(
        changes.len() == 3 && changes.iter().all(|c| c.to.is_none()),
        "{changes:?}"
    );
    assert_eq!(count(&states(&app.db).await, "RS256", "retained"), 0);
}

#[tokio::test]
async fn an_api_with_a_longer_token_lifetime_keeps_retired_keys_published_longer() {
    let app = spawn_app().await;
    lanyard(&[
        "api",
        "create",
        "https://slow.example",
        "--scope",
        "read",
        "--access-token-ttl",
        "3600",
    ])
    .run_on(&app.db)
    .await
    .assert_ok();
    lanyard(&["keys", "rotate", "--force"])
        .run_on(&app.db)
        .await
        .assert_ok();
    let clock = MockClock::new(Utc::now() + TimeDelta::seconds(2000));
    assert!(
        keys::maintain(&app.pool, &clock, &app.config.lifetimes)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(TimeDelta::seconds(2000));
    assert_eq!(
        keys::maintain(&app.pool, &clock, &app.config.lifetimes)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn private_keys_are_sealed_with_the_master_key_and_dropped_after_retirement() {
    let app = spawn_app().await;
    lanyard(&["keys", "rotate", "--force"])
        .run_on(&app.db)
        .await
        .assert_ok();
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT kid, state, private_key_jwe FROM signing_keys")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    for (kid, state, sealed) in rows {
        match state.as_str() {
            "active" | "next" => {
                let sealed = sealed.expect("a sealed private key");
                let parts: Vec<&str> = sealed.split('.').collect();
                assert_eq!(parts.len(), 5, "a compact JWE");
                let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
                assert_eq!(
                    (header["alg"].as_str(), header["enc"].as_str()),
                    (Some("dir"), Some("A256GCM"))
                );
                assert_eq!(header["kid"], kid.as_str());
                assert!(master_key().open(&kid, &sealed).is_ok());
                assert!(MasterKey::from_bytes([1; 32]).open(&kid, &sealed).is_err());
            }
            _ => assert!(sealed.is_none(), "{state} key {kid} keeps no private key"),
        }
    }
}

#[tokio::test]
async fn serve_with_a_master_key_that_does_not_open_the_keys_exits_2_and_keeps_them() {
    let db = fresh_db().await;
    let before = states(&db).await;
    let run = lanyard(&["serve"])
        .db(&db)
        .env("LANYARD_MASTER_KEY", &MasterKey::from_bytes([7; 32]).encode())
        .env("LANYARD_BIND", "127.0.0.1:0")
        .run()
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("LANYARD_MASTER_KEY"), "{run:?}");
    assert_eq!(states(&db).await, before, "no key was made or changed");
}

#[tokio::test]
async fn keys_rotate_with_a_wrong_master_key_exits_2() {
    let db = fresh_db().await;
    let run = lanyard(&["keys", "rotate"])
        .db(&db)
        .env("LANYARD_MASTER_KEY", &MasterKey::from_bytes([7; 32]).encode())
        .run()
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_refused("LANYARD_MASTER_KEY");
}

#[tokio::test]
async fn two_processes_starting_at_once_make_one_active_key_per_algorithm() {
    let db = empty_db().await;
    lanyard(&["migrate"]).run_on(&db).await.assert_ok();
    let (mut a, mut b) = tokio::join!(serve_until_listening(&db), serve_until_listening(&db));
    let map = states(&db).await;
    a.kill().await.ok();
    b.kill().await.ok();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(
            (count(&map, alg, "active"), count(&map, alg, "next")),
            (1, 1),
            "{alg}: {map:?}"
        );
    }
    assert_eq!(map.values().map(Vec::len).sum::<usize>(), 6);
}

/// Runs what the refresher runs on its beat: the rotation schedule, ageing
/// out, then the reload of the node's key ring.
async fn run_key_schedule(app: &crate::support::TestApp, every: TimeDelta) {
    keys::rotate_due(&app.pool, &app.clock, &master_key(), every)
        .await
        .unwrap();
    keys::maintain(&app.pool, &app.clock, &app.config.lifetimes)
        .await
        .unwrap();
    app.provider.keys.reload(&app.pool).await.unwrap();
}

#[tokio::test]
async fn two_scheduled_rotations_keep_every_token_verifiable_against_the_jwks_until_it_expires() {
    use crate::support::{allow, create_api};
    use lanyard::clock::Clock;
    let app = spawn_app().await;
    let service = create_service(&app, "svc").await;
    let algs = ["ES256", "EdDSA", "RS256"];
    for alg in algs {
        let audience = format!("https://{}.example", alg.to_lowercase());
        create_api(&app, &audience, &["read"], Some(alg), &[]).await;
        allow(&app, "svc", &audience, &["read"]).await;
    }
    let every = TimeDelta::days(app.config.key_rotation_days.into());
    let start = app.clock.now();
    let jwks = || async { fetch_json(&app.url("/jwks")).await["keys"].as_array().unwrap().clone() };
    let mut first_published: HashMap<String, chrono::DateTime<Utc>> = HashMap::new();
    for key in jwks().await {
        first_published.insert(key["kid"].as_str().unwrap().to_owned(), start);
    }
    let first_signers: Vec<String> = {
        let map = states(&app.db).await;
        algs.iter().map(|a| kid(&map, a, "active").unwrap()).collect()
    };

    // Around each due date: before, the rotation itself, tokens in flight across
    // it, and long after (the retired key has aged out of the JWKS).
    let minutes = |m: i64| TimeDelta::minutes(m);
    let mut steps = Vec::new();
    for cycle in 1..=2 {
        let due = every * cycle;
        for offset in [-minutes(24 * 60), -minutes(10), -minutes(5), TimeDelta::zero()] {
            steps.push(due + offset);
        }
        for m in [5, 10, 15, 20, 25, 120, 24 * 60] {
            steps.push(due + minutes(m));
        }
    }
    let mut in_flight: Vec<(String, String, i64)> = Vec::new(); // (alg, token, exp)
    let mut signers: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for step in steps {
        app.clock.advance(start + step - app.clock.now());
        run_key_schedule(&app, every).await;
        let now = app.clock.now();
        let published = jwks().await;
        for key in &published {
            first_published
                .entry(key["kid"].as_str().unwrap().to_owned())
                .or_insert(now);
        }
        in_flight.retain(|(_, _, exp)| *exp > now.timestamp());
        for (alg, token, _) in &in_flight {
            let kid = crate::support::jwt_header(token)["kid"].as_str().unwrap().to_owned();
            let jwk = published
                .iter()
                .find(|k| k["kid"] == kid.as_str())
                .unwrap_or_else(|| panic!("{alg} key {kid} of a token in flight is unpublished at {step}"));
            let verifier = lanyard::crypto::jwt::Verifier::from_jwk(alg.parse().unwrap(), jwk).unwrap();
            assert!(verifier.verify(token).is_ok(), "a token in flight verifies at {step}");
        }
        for alg in algs {
            let audience = format!("https://{}.example", alg.to_lowercase());
            let res = app
                .token(
                    &service,
                    &[("grant_type", "client_credentials"), ("resource", &audience)],
                )
                .await;
            assert_eq!(res.status(), 200);
            let token = res.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
            let kid = crate::support::jwt_header(&token)["kid"].as_str().unwrap().to_owned();
            let known_for = now - first_published[&kid];
            assert!(
                first_published[&kid] == start || known_for >= TimeDelta::seconds(2 * keys::JWKS_MAX_AGE_SECS),
                "{alg} key {kid} signs only after being published twice the JWKS cache lifetime (it was {known_for})"
            );
            let exp = crate::support::jwt_claims(&token)["exp"].as_i64().unwrap();
            signers.entry(alg.to_owned()).or_default().insert(kid);
            in_flight.push((alg.to_owned(), token, exp));
        }
    }
    for alg in algs {
        assert_eq!(signers[alg].len(), 3, "{alg}: the first key and two rotations signed");
    }
    let published: Vec<String> = jwks()
        .await
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    for old in &first_signers {
        assert!(!published.contains(old), "the first keys have aged out of the JWKS");
    }
    let map = states(&app.db).await;
    for alg in algs {
        assert_eq!(count(&map, alg, "active"), 1, "{alg}: one active key");
        assert_eq!(count(&map, alg, "next"), 1, "{alg}: one next key");
    }
}

#[tokio::test]
async fn only_one_node_rotates_when_several_run_the_schedule_at_once() {
    let app = spawn_app().await;
    let every = TimeDelta::days(app.config.key_rotation_days.into());
    let clock = MockClock::new(Utc::now() + every + TimeDelta::hours(1));
    let master = master_key();
    let run = || keys::rotate_due(&app.pool, &clock, &master, every);
    let (a, b, c, d) = tokio::join!(run(), run(), run(), run());
    let rotated: usize = [a, b, c, d].iter().map(|c| c.as_ref().unwrap().len()).sum();
    assert_eq!(
        rotated, 9,
        "one run retired, promoted and created for each of 3 algorithms"
    );
    let map = states(&app.db).await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(count(&map, alg, "active"), 1, "{alg}");
        assert_eq!(count(&map, alg, "retired"), 1, "{alg}");
        assert_eq!(count(&map, alg, "next"), 1, "{alg}");
    }
}
