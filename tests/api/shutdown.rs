//! Graceful shutdown: SIGTERM stops accepting, finishes in-flight requests,
//! writes the buffered audit events and token counts, and exits 0.

use std::time::Duration;

use crate::support::{count_rows, create_user_on, fresh_db, lanyard, new_browser, serve_listening, sign_in_form};

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_writes_buffered_events_and_counts_and_exits_0() {
    let db = fresh_db().await;
    let pool = lanyard::store::connect(&db.url, 1).await.unwrap();
    let clock = lanyard::clock::SystemClock;
    create_user_on(&pool, "ada").await;
    let web = lanyard::admin::clients::NewClientInput {
        client_id: "web".into(),
        redirect_uris: vec!["https://web.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        first_party: true,
        ..Default::default()
    };
    lanyard::admin::clients::create(&pool, &clock, &mut rand::rng(), web)
        .await
        .unwrap();
    let svc = lanyard::admin::clients::NewClientInput {
        client_id: "svc".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec![],
        ..Default::default()
    };
    let secret = lanyard::admin::clients::create(&pool, &clock, &mut rand::rng(), svc)
        .await
        .unwrap()
        .client_secret
        .unwrap();
    let api = lanyard::admin::apis::NewApiInput {
        audience: "https://orders.example".into(),
        name: None,
        scopes: vec!["read".into()],
        access_token_ttl: None,
        alg: None,
        resource_servers: vec![],
        ..Default::default()
    };
    lanyard::admin::apis::create(&pool, &clock, api).await.unwrap();
    lanyard::admin::clients::allow(&pool, &clock, "svc", "https://orders.example", &["read".into()])
        .await
        .unwrap();

    let cmd = lanyard(&["serve"])
        .db(&db)
        .env("LANYARD_BIND", "127.0.0.1:0")
        .env("LANYARD_ISSUER", "http://localhost:9");
    let (mut child, address) = serve_listening(cmd).await;
    let base = format!("http://{address}");
    let http = new_browser();
    for _ in 0..3 {
        let res = http
            .post(format!("{base}/token"))
            .basic_auth("svc", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // A sign-in in flight when SIGTERM arrives: after three failed attempts
    // the account's next attempt is held for 800 ms (the throttle's delay)
    // before its argon2id verification, so it is surely still running.
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    );
    let form = sign_in_form(&http, &authorize, "ada").await;
    for _ in 0..3 {
        let mut wrong = form.clone();
        wrong[3].1 = "wrong password".into();
        let res = http.post(format!("{base}/signin")).form(&wrong).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
    let sign_in = tokio::spawn(http.post(format!("{base}/signin")).form(&form).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());

    let res = sign_in.await.unwrap().expect("the in-flight sign-in is answered");
    assert_eq!(res.status(), 303, "the in-flight sign-in completes");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("lanyard stops within 20 s")
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit 0");
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "no longer accepting"
    );
    let counted: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(count), 0)::bigint FROM token_counters WHERE client_id = 'svc'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(counted, 3, "the counts in memory were written");
    let sign_ins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'sign_in' AND outcome = 'ok'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sign_ins, 1, "the buffered sign-in event was written");
    assert_eq!(count_rows(&db, "sessions").await, 1);
}
