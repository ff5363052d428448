//! Housekeeping: every table with a lifetime shrinks once its rows expire,
//! in bounded batches, on one node at a time.

use chrono::TimeDelta;
use lanyard::maintenance::{Housekeeping, housekeep};

use crate::support::{
    ClientSpec, PASSWORD, TestApp, TestClient, allow, count_rows, create_api, create_client, create_service,
    create_user, hidden_field, new_browser, spawn_app,
};

const TABLES: [&str; 6] = [
    "authorization_codes",
    "sessions",
    "refresh_tokens",
    "grants",
    "login_throttle",
    "revoked_access_tokens",
];

/// Runs housekeeping now, waiting while another run holds its lock (the
/// app's own, every minute, may be running at that moment).
async fn housekeep_now(app: &TestApp, limits: &Housekeeping) -> lanyard::maintenance::Pruned {
    for _ in 0..100 {
        if let Some(pruned) = housekeep(&app.provider, limits).await.unwrap() {
            return pruned;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("housekeeping never got its lock");
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(count_rows(&app.db, t).await);
    }
    out
}

/// A first-party client that exchanges id_tokens for the orders API (`read`).
async fn exchanging_client(app: &TestApp) -> TestClient {
    let client = create_client(app, ClientSpec::exchanging()).await;
    create_api(app, "https://orders.example", &["read"], None, &[]).await;
    allow(app, &client.id, "https://orders.example", &["read"]).await;
    client
}

/// ada signs in with `browser` (offline_access) and the client exchanges her id_token.
async fn offline_sign_in_and_exchange(browser: &TestApp, client: &TestClient) {
    let tokens = browser.tokens(client, "openid offline_access", "ada").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let res = browser
        .exchange(client, id_token, &[("resource", "https://orders.example")])
        .await;
    assert_eq!(res.status(), 200);
}

/// Sign-ins, code flows with refresh tokens, an exchange, failed sign-ins and
/// a revoked service token: a row in every table with a lifetime.
async fn busy_day(app: &TestApp) {
    let client = exchanging_client(app).await;
    for _ in 0..3 {
        offline_sign_in_and_exchange(&app.with_browser(new_browser()), &client).await;
    }
    let stranger = app.with_browser(new_browser());
    let page = stranger.visit("/signin").await.text().await.unwrap();
    assert_eq!(stranger.sign_in_on(&page, "ada", "wrong").await.status(), 401);
    let svc = create_service(app, "svc").await;
    allow(app, "svc", "https://orders.example", &["read"]).await;
    let res = app.token(&svc, &[("grant_type", "client_credentials")]).await;
    let token: serde_json::Value = res.json().await.unwrap();
    let res = app
        .post_as(&svc, "/revoke", &[("token", token["access_token"].as_str().unwrap())])
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn housekeeping_deletes_what_has_expired_in_bounded_batches_on_one_node_at_a_time() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    busy_day(&app).await;
    let before = counts(&app).await;
    assert!(before.iter().all(|n| *n > 0), "{TABLES:?} {before:?}");
    let unbounded = Housekeeping {
        batch: 1000,
        max_batches: 100,
    };
    // Nothing has expired yet: nothing goes.
    housekeep_now(&app, &unbounded).await;
    assert_eq!(counts(&app).await, before);

    // A hundred days later: past every lifetime (sessions 12 h, refresh
    // tokens 90 d, throttle windows 15 min, service tokens 15 min).
    app.clock.advance(TimeDelta::days(100));
    let live = app.with_browser(new_browser());
    let page = live.visit("/signin").await.text().await.unwrap();
    assert_eq!(live.sign_in_on(&page, "ada", PASSWORD).await.status(), 303);
    assert!(hidden_field(&page, "csrf").is_some());

    // While another node holds the housekeeping lock, this one skips.
    let mut other_node = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lanyard::maintenance::HOUSEKEEPING_LOCK)
        .execute(&mut other_node)
        .await
        .unwrap();
    assert!(
        housekeep(&app.provider, &unbounded).await.unwrap().is_none(),
        "another node runs it"
    );
    // Released explicitly: a closed connection's lock goes only once its
    // backend has exited, which may be a moment later.
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lanyard::maintenance::HOUSEKEEPING_LOCK)
        .execute(&mut other_node)
        .await
        .unwrap();
    sqlx::Connection::close(other_node).await.unwrap();

    // Bounded: one batch of two rows per table per run.
    let small = Housekeeping {
        batch: 2,
        max_batches: 1,
    };
    let first = housekeep_now(&app, &small).await;
    assert!(first.values().all(|n| *n <= 2), "{first:?}");
    assert!(first.values().sum::<u64>() > 0, "{first:?}");
    while housekeep_now(&app, &small).await.values().sum::<u64>() > 0 {}
    let after = counts(&app).await;
    let by_table: Vec<(&str, i64, i64)> = TABLES
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(t, (b, a))| (*t, *b, *a))
        .collect();
    assert_eq!(
        count_rows(&app.db, "sessions").await,
        1,
        "only the live session stays: {by_table:?}"
    );
    for (table, b, a) in &by_table {
        assert!(a < b, "{table} shrinks: {by_table:?}");
    }
    for table in [
        "authorization_codes",
        "refresh_tokens",
        "grants",
        "revoked_access_tokens",
    ] {
        assert_eq!(count_rows(&app.db, table).await, 0, "{table}: {by_table:?}");
    }
    // The live sign-in's address row (its window still open) stays.
    let now = lanyard::clock::Clock::now(&app.clock);
    let stale: i64 = sqlx::query_scalar("SELECT count(*) FROM login_throttle WHERE window_started_at < $1")
        .bind(now - lanyard::protocol::signin::THROTTLE_WINDOW)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stale, 0, "{by_table:?}");
}

/// A rotated refresh token is kept only to recognise its reuse, for
/// `LANYARD_EXPIRED_RETENTION`; a grant without offline_access goes once its
/// session is over and its last token expired.
#[tokio::test]
async fn rotated_refresh_tokens_and_grants_of_sessions_that_are_over_go_after_the_retention() {
    let app = TestApp::builder()
        .config(|c| {
            c.lifetimes.session = TimeDelta::seconds(600);
            c.lifetimes.session_idle = TimeDelta::seconds(600);
            c.lifetimes.expired_retention = TimeDelta::seconds(60);
        })
        .spawn()
        .await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let offline = app.tokens(&client, "openid offline_access", "ada").await;
    let online = app.with_browser(new_browser()).tokens(&client, "openid", "ada").await;
    assert!(online["refresh_token"].is_string());
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", offline["refresh_token"].as_str().unwrap()),
    ];
    let refreshed: serde_json::Value = app.token(&client, &form).await.json().await.unwrap();
    let live = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let limits = Housekeeping {
        batch: 1000,
        max_batches: 100,
    };
    // The sessions end (600 s); 61 s after that, past the retention and the
    // UserInfo token's 900 s: the rotated token and the online grant go.
    app.clock.advance(TimeDelta::seconds(600 + 900 + 61));
    housekeep_now(&app, &limits).await;
    assert_eq!(count_rows(&app.db, "grants").await, 1, "the offline grant stays");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        (count_rows(&app.db, "refresh_tokens").await, rows),
        (1, 1),
        "only the live refresh token"
    );
    let res = app
        .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", &live)])
        .await;
    assert_eq!(res.status(), 200, "the offline grant still refreshes");
}

/// An exchange's grant issues one token: once that has expired, the grant
/// goes, whatever it rested on (an offline grant lives for months).
#[tokio::test]
async fn an_exchange_grant_goes_once_its_one_token_has_expired() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = exchanging_client(&app).await;
    offline_sign_in_and_exchange(&app, &client).await;
    let limits = Housekeeping {
        batch: 1000,
        max_batches: 100,
    };
    app.clock.advance(TimeDelta::seconds(899));
    housekeep_now(&app, &limits).await;
    assert_eq!(count_rows(&app.db, "grants").await, 2, "its token is still valid");
    app.clock.advance(TimeDelta::seconds(2));
    housekeep_now(&app, &limits).await;
    assert_eq!(count_rows(&app.db, "grants").await, 1, "only the offline grant stays");
}
