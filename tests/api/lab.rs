//! The token lab explains genuine, expired, forged and revoked tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::admin::admin_app;
use crate::support::{ClientSpec, TestApp, create_client, create_service, create_user, hidden_field, jwt_claims};

pub async fn explain(app: &TestApp, token: &str) -> String {
    let page = app.visit("/admin/lab").await.text().await.unwrap();
    let res = app
        .submit(
            "/admin/lab",
            &[("csrf", &hidden_field(&page, "csrf").unwrap()), ("token", token)],
        )
        .await;
    assert_eq!(res.status(), 200);
    res.text()
        .await
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
}

async fn setup() -> (TestApp, Value) {
    let app = admin_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let tokens = app
        .with_browser(crate::support::new_browser())
        .tokens(&rp, "openid offline_access", "ada")
        .await;
    (app, tokens)
}

#[tokio::test]
async fn a_valid_id_token_is_explained_as_proof_of_sign_in_not_an_access_token() {
    let (app, tokens) = setup().await;
    let html = explain(&app, tokens["id_token"].as_str().unwrap()).await;
    assert!(html.contains("Valid: a genuine, unexpired Lanyard id_token."), "{html}");
    assert!(html.contains("never an access token") && html.contains("User: ada"));
}

#[tokio::test]
async fn a_valid_access_token_names_its_one_audience_and_scopes() {
    let (app, tokens) = setup().await;
    let html = explain(&app, tokens["access_token"].as_str().unwrap()).await;
    assert!(
        html.contains("Valid: a genuine, unexpired Lanyard access token."),
        "{html}"
    );
    assert!(html.contains("UserInfo endpoint") && html.contains("Scopes: openid offline_access."));
    assert!(html.contains("is live"), "its grant");
}

#[tokio::test]
async fn an_expired_token_says_when() {
    let (app, tokens) = setup().await;
    app.clock.advance(TimeDelta::seconds(901));
    let html = explain(&app, tokens["access_token"].as_str().unwrap()).await;
    assert!(
        html.contains("A genuine Lanyard token, but expired.") && html.contains("Expired at"),
        "{html}"
    );
}

#[tokio::test]
async fn forged_tokens_say_exactly_why() {
    let (app, tokens) = setup().await;
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    let jwks = app.get_json("/jwks").await;
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "RS256")
        .unwrap()
        .clone();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "at+jwt"})), b64(&claims));
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa["kid"]})),
        b64(&claims)
    );
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(rsa.to_string().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let hs256 = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let unknown = format!(
        "{}.{}.AAAA",
        b64(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "nobody"})),
        b64(&claims)
    );
    for (token, why) in [(none, "alg `none`"), (hs256, "alg `HS256`"), (unknown, "unknown kid")] {
        let html = explain(&app, &token).await;
        assert!(html.contains("Does not verify") && html.contains(why), "{why}: {html}");
    }
    assert!(explain(&app, "not a token").await.contains("Not a JWT"));
}

#[tokio::test]
async fn a_revoked_token_says_its_grant_is_revoked() {
    let (app, tokens) = setup().await;
    sqlx::query("UPDATE grants SET revoked_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    let html = explain(&app, tokens["access_token"].as_str().unwrap()).await;
    assert!(html.contains("is revoked"), "{html}");
}

#[tokio::test]
async fn the_lab_is_for_admins_and_keeps_nothing() {
    let (app, tokens) = setup().await;
    app.audit_written().await;
    let before = crate::support::count_rows(&app.db, "audit_events").await;
    explain(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(
        crate::support::count_rows(&app.db, "audit_events").await,
        before,
        "nothing recorded"
    );
    let stranger = app.with_browser(crate::support::new_browser());
    assert_eq!(stranger.visit("/admin/lab").await.status(), 302);
}

/// Evaluates a dry run on the page; returns (outcome line, page).
async fn dry_run(app: &TestApp, form: &[(&str, &str)]) -> (String, String) {
    let page = app.visit("/admin/dry-run").await.text().await.unwrap();
    let mut fields = vec![("csrf", hidden_field(&page, "csrf").unwrap())];
    fields.extend(form.iter().map(|(k, v)| (*k, v.to_string())));
    let html = app
        .client
        .post(app.url("/admin/dry-run"))
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("id=\"outcome\">").expect("an outcome") + "id=\"outcome\">".len();
    let outcome = html[start..].split('<').next().unwrap().to_owned();
    (outcome, html)
}

#[tokio::test]
async fn the_dry_run_agrees_with_the_real_exchange_and_mints_nothing() {
    let app = admin_app().await;
    create_user(&app, "ada").await;
    let grants = &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"];
    let rp = create_client(
        &app,
        ClientSpec {
            grants,
            ..Default::default()
        },
    )
    .await;
    crate::support::create_api(&app, "https://orders.example", &["read", "write"], None, &[]).await;
    crate::support::allow(&app, &rp.id, "https://orders.example", &["read"]).await;
    let id_token = app
        .with_browser(crate::support::new_browser())
        .tokens(&rp, "openid", "ada")
        .await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.audit_written().await;
    let before = (
        crate::support::count_rows(&app.db, "grants").await,
        crate::support::count_rows(&app.db, "audit_events").await,
    );

    // Allowed, from the id_token and from "ada just signed in".
    let (allowed, html) = dry_run(
        &app,
        &[
            ("client_id", "rp"),
            ("resource", "https://orders.example"),
            ("id_token", &id_token),
        ],
    )
    .await;
    assert!(allowed.starts_with("allowed"), "{allowed}");
    assert!(html.contains("read") && html.contains("https://orders.example"));
    let (by_user, _) = dry_run(
        &app,
        &[
            ("client_id", "rp"),
            ("resource", "https://orders.example"),
            ("username", "ada"),
        ],
    )
    .await;
    assert!(by_user.starts_with("allowed"), "{by_user}");
    // Denied: write is not allowed to this client.
    let (denied, _) = dry_run(
        &app,
        &[
            ("client_id", "rp"),
            ("resource", "https://orders.example"),
            ("scope", "write"),
            ("id_token", &id_token),
        ],
    )
    .await;
    assert!(denied.starts_with("invalid_scope"), "{denied}");
    assert_eq!(
        (
            crate::support::count_rows(&app.db, "grants").await,
            crate::support::count_rows(&app.db, "audit_events").await
        ),
        before,
        "nothing minted or audited"
    );

    // The real exchange answers the same.
    let real = app
        .exchange(&rp, &id_token, &[("resource", "https://orders.example")])
        .await;
    assert_eq!(real.json::<Value>().await.unwrap()["scope"], "read");
    let real = app
        .exchange(
            &rp,
            &id_token,
            &[("resource", "https://orders.example"), ("scope", "write")],
        )
        .await;
    assert_eq!(crate::support::error_of(real).await.1, "invalid_scope");
}

#[tokio::test]
async fn the_dashboard_counts_tokens_from_the_counters_and_exchanges_from_the_audit() {
    let app = admin_app().await;
    let service = create_service(&app, "svc").await;
    crate::support::create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    crate::support::allow(&app, "svc", "https://orders.example", &["read"]).await;
    for _ in 0..3 {
        assert_eq!(
            app.token(&service, &[("grant_type", "client_credentials")])
                .await
                .status(),
            200
        );
    }
    let html = app.visit("/admin").await.text().await.unwrap();
    assert!(
        html.contains("<strong id=\"count-clients\">1</strong>")
            && html.contains("<strong id=\"count-apis\">2</strong>"),
        "{html}"
    );
    assert!(html.contains("<span id=\"issued\">3</span>"), "three tokens counted");
    assert!(
        html.contains("<svg") && html.contains("3 client_credentials"),
        "the chart"
    );
    assert!(!html.contains("<script>"), "no inline script");
    let counted: i64 = sqlx::query_scalar("SELECT sum(count)::bigint FROM token_counters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(counted, 3, "from the counters table, written in a batch");
}

#[tokio::test]
async fn the_lab_and_the_dry_run_show_a_bound_grants_key() {
    let app = admin_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    crate::support::create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    crate::support::allow(&app, &rp.id, "https://orders.example", &["read"]).await;
    let key = crate::dpop::Key::new();
    let rp_app = app.with_browser(crate::support::new_browser());
    let tokens = crate::dpop_grants::bound_tokens(&rp_app, &rp, &key).await;
    let jkt = key.thumbprint();

    let html = explain(&app, tokens["id_token"].as_str().unwrap()).await;
    assert!(html.contains(&format!("bound to the DPoP key {jkt}")), "{html}");
    assert!(html.contains("without one /token answers invalid_dpop_proof"));
    let html = explain(&app, tokens["access_token"].as_str().unwrap()).await;
    assert!(html.contains(&format!("Bound to the DPoP key {jkt}")), "{html}");
    assert!(html.contains("As a Bearer token it is refused"));

    let (outcome, html) = dry_run(
        &app,
        &[
            ("client_id", "rp"),
            ("resource", "https://orders.example"),
            ("id_token", tokens["id_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert!(outcome.contains(&format!("bound to the DPoP key {jkt}")), "{outcome}");
    assert!(html.contains(&jkt) && html.contains("cnf"), "the claims show cnf.jkt");

    // An API that requires DPoP: the dry run says no bearer token is issued.
    sqlx::query("UPDATE apis SET require_dpop = true WHERE audience = 'https://orders.example'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    let (outcome, _) = dry_run(
        &app,
        &[
            ("client_id", "rp"),
            ("resource", "https://orders.example"),
            ("username", "ada"),
        ],
    )
    .await;
    assert!(outcome.contains("only DPoP-bound"), "{outcome}");
}

#[tokio::test]
async fn the_dry_run_refuses_a_sign_in_below_the_apis_level_as_token_would() {
    let app = admin_app().await;
    create_user(&app, "ada").await;
    create_client(&app, ClientSpec::exchanging()).await;
    crate::support::create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    crate::support::allow(&app, "rp", "https://orders.example", &["read"]).await;
    let form = [
        ("client_id", "rp"),
        ("resource", "https://orders.example"),
        ("username", "ada"),
    ];
    let (allowed, html) = dry_run(&app, &form).await;
    assert!(allowed.starts_with("allowed"), "positive control: {allowed}");
    assert!(html.contains("password"), "the preview says the level: acr");
    sqlx::query("UPDATE apis SET min_acr = 'mfa' WHERE audience = 'https://orders.example'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    let (refused, _) = dry_run(&app, &form).await;
    assert!(refused.starts_with("insufficient_user_authentication"), "{refused}");
}
