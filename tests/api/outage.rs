//! A database outage under load (README "Running in production", "Database
//! outages"): tokens keep coming from the in-memory catalog, requests that
//! need PostgreSQL get a quick 503 with `Retry-After`, and after the restart
//! nothing is lost or doubled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    ClientSpec, ID_TOKEN_TYPE, TestApp, allow, create_api, create_client, create_service, create_user, eventually,
    own_cluster,
};

const ORDERS: &str = "https://orders.example";

/// What the load saw: tokens issued, and any other answer.
#[derive(Default)]
struct Load {
    issued: AtomicU64,
    other: AtomicU64,
    stop: AtomicBool,
}

/// `client_credentials` requests back to back on 4 connections until stopped.
fn start_load(app: &TestApp, svc: &crate::support::TestClient) -> (Arc<Load>, Vec<tokio::task::JoinHandle<()>>) {
    let load = Arc::new(Load::default());
    let tasks = (0..4)
        .map(|_| {
            let (load, url, svc) = (load.clone(), app.url("/token"), svc.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !load.stop.load(Ordering::Relaxed) {
                    let res = http
                        .post(&url)
                        .basic_auth(&svc.id, svc.secret.as_deref())
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 200 => load.issued.fetch_add(1, Ordering::Relaxed),
                        _ => load.other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    (load, tasks)
}

/// A request that needs the database answers 503 `temporarily_unavailable`
/// with `Retry-After` and a JSON body, within a few seconds.
async fn assert_quick_503(res: reqwest::Response, started: Instant, what: &str) {
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{what}: answered within a short timeout"
    );
    assert_eq!(res.status(), 503, "{what}");
    assert!(res.headers().contains_key("retry-after"), "{what}: Retry-After");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{what}");
}

#[tokio::test]
async fn a_database_outage_under_load_is_ridden_out_and_nothing_is_lost_or_doubled() {
    let (cluster, db) = own_cluster().await;
    let app = TestApp::builder().on(db).spawn().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let svc = create_service(&app, "svc").await;
    create_api(&app, ORDERS, &["read"], None, &[]).await;
    allow(&app, "svc", ORDERS, &["read"]).await;
    // A code issued before the outage, redeemed after it.
    let (code, auth) = app.code_for(&rp, "openid", "ada").await;

    let (load, tasks) = start_load(&app, &svc);
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop().await;
    let down = Instant::now();
    let issued_when_down = load.issued.load(Ordering::Relaxed);

    assert_eq!(
        app.get("/readyz").await.status(),
        503,
        "not ready while the database is down"
    );
    assert_eq!(app.get("/.well-known/openid-configuration").await.status(), 200);
    assert_eq!(app.get("/jwks").await.status(), 200);
    let started = Instant::now();
    let res = app.try_redeem(&rp, &code, &auth.verifier).await;
    assert_quick_503(res, started, "redeeming a code").await;
    let remaining = Duration::from_secs(10).saturating_sub(down.elapsed());
    tokio::time::sleep(remaining).await;
    let issued_while_down = load.issued.load(Ordering::Relaxed) - issued_when_down;
    assert!(issued_while_down > 0, "client_credentials kept issuing from memory");
    cluster.start().await;

    let back = eventually(Duration::from_secs(20), || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert!(back, "ready again within seconds of the restart");
    load.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        load.other.load(Ordering::Relaxed),
        0,
        "every client_credentials request got a token"
    );

    // The code issued before the outage redeems once, and only once.
    assert_eq!(app.try_redeem(&rp, &code, &auth.verifier).await.status(), 200);
    assert_eq!(app.try_redeem(&rp, &code, &auth.verifier).await.status(), 400);

    // Every token issued (before, during and after the outage) is counted exactly once.
    let issued = load.issued.load(Ordering::Relaxed) as i64;
    let counted = || async {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT sum(count)::bigint FROM token_counters WHERE client_id = 'svc' AND grant_type = 'client_credentials'",
        )
        .fetch_one(&app.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
    };
    let all_counted = eventually(Duration::from_secs(20), || async { counted().await == issued }).await;
    assert!(all_counted, "counted {} of {issued} tokens", counted().await);
}

#[tokio::test]
async fn buffered_audit_events_survive_an_outage_and_a_full_buffer_answers_503() {
    let (cluster, db) = own_cluster().await;
    let app = TestApp::builder().on(db).config(|c| c.audit_buffer = 3).spawn().await;
    create_user(&app, "ada").await;
    let rp = create_client(
        &app,
        ClientSpec {
            grants: &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            ..Default::default()
        },
    )
    .await;
    create_api(&app, ORDERS, &["read"], None, &[]).await;
    allow(&app, &rp.id, ORDERS, &["read"]).await;
    app.audit_written().await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'token_exchange'")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    cluster.stop().await;
    // A subject token that does not verify is denied without the database,
    // and the denial is an audit event: three fit in the buffer.
    let exchange = || {
        app.token(
            &rp,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", "not.a.token"),
                ("subject_token_type", ID_TOKEN_TYPE),
                ("resource", ORDERS),
            ],
        )
    };
    for _ in 0..3 {
        let res = exchange().await;
        assert_eq!(res.status(), 400, "denied and audited in memory");
    }
    let started = Instant::now();
    assert_quick_503(exchange().await, started, "an exchange once the audit buffer is full").await;

    cluster.start().await;
    let arrived = eventually(Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_events WHERE kind = 'token_exchange'")
            .fetch_one(&app.pool)
            .await
            .is_ok_and(|n| n == before + 3)
    })
    .await;
    assert!(arrived, "the three buffered denials were written, once each");
    // Room again: the next denial is answered as such.
    assert_eq!(exchange().await.status(), 400);
}
