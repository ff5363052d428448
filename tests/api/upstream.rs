//! Signing in through an upstream OpenID provider: a second Lanyard (its own
//! database) is the upstream of the app under test, and a mock OP shapes the
//! id_tokens each rule of OIDC Core §3.1.3.7 and RFC 9207 must refuse.

use lanyard::admin::upstreams::UpstreamSettings;
use openidconnect::TokenResponse;
use serde_json::Value;

use crate::support::{
    ClientSpec, Federation, MOCK_CLIENT, MockOp, TestApp, allow, answer_link, auth_url, connect_upstream,
    crate_authorize, crate_client, crate_redeem, create_api, create_client, create_user, federation, jwt_claims,
    lanyard, location, mock_op, query_param,
};

const ORDERS: &str = "https://orders.example";

fn linking() -> UpstreamSettings {
    UpstreamSettings {
        link_by_verified_email: Some(true),
        ..Default::default()
    }
}

/// The user row of `username` at `app`: (sub, email, email_verified, name, has a password).
async fn account(app: &TestApp, username: &str) -> Option<(uuid::Uuid, Option<String>, bool, Option<String>, bool)> {
    sqlx::query_as("SELECT id, email, email_verified, name, password_hash IS NOT NULL FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

/// A connected to B with `settings`, ada at B, and a first-party relying party at A.
async fn ada_at_b(settings: UpstreamSettings) -> (Federation, crate::support::TestClient, uuid::Uuid) {
    let fed = federation(settings).await;
    let at_b = create_user(&fed.b, "ada").await;
    let rp = create_client(&fed.a, ClientSpec::default()).await;
    (fed, rp, at_b)
}

/// Signs in at A through B with a fresh authorization request of `rp`: the tokens.
async fn tokens_through_b(fed: &Federation, rp: &crate::support::TestClient, username: &str) -> Value {
    let auth = auth_url(&fed.a, rp, "openid profile email", &[]);
    let res = fed.sign_in_through_b(&auth.url, username).await;
    let to = location(&res);
    assert!(to.starts_with(&rp.redirect_uri), "back at the relying party: {to}");
    let code = query_param(&to, "code").expect("a code");
    fed.a.redeem(rp, &code, &auth.verifier).await
}

#[tokio::test]
async fn signing_in_through_an_upstream_lanyard_makes_an_account_and_a_federated_id_token_that_exchanges() {
    let fed = federation(UpstreamSettings::default()).await;
    create_user(&fed.b, "ada").await;
    let rp = create_client(&fed.a, ClientSpec::exchanging()).await;
    create_api(&fed.a, ORDERS, &["read"], None, &[]).await;
    allow(&fed.a, &rp.id, ORDERS, &["read"]).await;
    let client = crate_client(&fed.a, &rp).await;
    let (url, verifier, _, nonce) = crate_authorize(&client, &["profile", "email"]);

    let res = fed.sign_in_through_b(url.as_str(), "ada").await;

    let code = query_param(&location(&res), "code").expect("a code for the relying party");
    let tokens = crate_redeem(&client, code, verifier).await;
    let id_token = tokens.id_token().expect("an id_token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the relying party verifies A's id_token");
    assert_eq!(claims.issuer().as_str(), fed.a.address, "A stays the issuer");
    let raw = jwt_claims(&id_token.to_string());
    assert_eq!(raw["amr"], serde_json::json!(["fed"]), "RFC 8176 fed");
    assert_eq!(raw["acr"], "password", "the lowest level: no acr mapped");
    let (sub, email, verified, name, has_password) = account(&fed.a, "ada").await.expect("an account named ada");
    assert_eq!(claims.subject().as_str(), sub.to_string());
    assert_eq!(sub.get_version_num(), 4, "a random sub of its own");
    assert_eq!(email.as_deref(), Some("ada@example.com"));
    assert!(
        !verified,
        "the admin does not trust the upstream's email_verified (no --link-by-verified-email)"
    );
    assert_eq!(name.as_deref(), Some("ada Example"), "the claims mapped");
    assert!(!has_password, "a person from an upstream has no password");
    let exchanged = fed
        .a
        .assert_exchanges(&rp, &id_token.to_string(), &[("resource", ORDERS), ("scope", "read")])
        .await;
    assert_eq!(
        jwt_claims(exchanged["access_token"].as_str().unwrap())["sub"],
        sub.to_string()
    );
}

#[tokio::test]
async fn a_second_sign_in_through_the_upstream_reuses_the_link() {
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    let first = tokens_through_b(&fed, &rp, "ada").await;
    let again = fed.in_new_browser();

    let second = tokens_through_b(&again, &rp, "ada").await;

    let sub = |t: &Value| jwt_claims(t["id_token"].as_str().unwrap())["sub"].clone();
    assert_eq!(sub(&first), sub(&second), "the same account");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&fed.a.pool)
        .await
        .unwrap();
    assert_eq!(users, 1, "no second account");
}

/// A connected to B with linking, ada at B, and ada's own account
/// `ada-at-a` at A holding her address (verified); a relying party at A.
async fn ada_with_an_account_at_a() -> (Federation, crate::support::TestClient, uuid::Uuid) {
    let fed = federation(linking()).await;
    create_user(&fed.b, "ada").await;
    let existing = create_user(&fed.a, "ada-at-a").await;
    sqlx::query("UPDATE users SET email = 'ada@example.com', email_verified = true WHERE id = $1")
        .bind(existing)
        .execute(&fed.a.pool)
        .await
        .unwrap();
    let rp = create_client(&fed.a, ClientSpec::default()).await;
    (fed, rp, existing)
}

/// A's links: (user, upstream, subject).
async fn links(app: &TestApp) -> Vec<(uuid::Uuid, String, String)> {
    sqlx::query_as("SELECT user_id, upstream_id, subject FROM upstream_links ORDER BY created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Through B at A with a fresh request of `rp`: the page offering a link to ada-at-a.
async fn offered(fed: &Federation, rp: &crate::support::TestClient) -> (String, crate::support::AuthUrl) {
    let auth = auth_url(&fed.a, rp, "openid", &[]);
    let page = fed.sign_in_through_b(&auth.url, "ada").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("An account with this address exists (ada-at-a)") && html.contains("Sign in to connect"),
        "{html}"
    );
    (html, auth)
}

#[tokio::test]
async fn the_old_one_click_confirmation_no_longer_links() {
    let (fed, rp, _) = ada_with_an_account_at_a().await;
    let (html, _) = offered(&fed, &rp).await;

    let res = answer_link(&fed.a, &html, "link").await;

    assert_eq!(res.status(), 400, "no such answer any more");
    assert!(links(&fed.a).await.is_empty(), "no link");
    assert!(fed.a.get("/account").await.status() != 200, "and not signed in");
}

#[tokio::test]
async fn a_link_to_an_existing_account_is_made_only_after_signing_in_to_it() {
    let (fed, rp, existing) = ada_with_an_account_at_a().await;
    let (html, auth) = offered(&fed, &rp).await;

    let page = answer_link(&fed.a, &html, "signin").await;

    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Sign in to ada-at-a to connect b."), "{page}");
    assert!(links(&fed.a).await.is_empty(), "no link before the sign-in");
    let res = fed.a.sign_in_on(&page, "ada-at-a", crate::support::PASSWORD).await;
    let res = fed.follow(&fed.a.url(&location(&res))).await;
    let code = query_param(&location(&res), "code").expect("the request resumed: a code");
    let tokens = fed.a.redeem(&rp, &code, &auth.verifier).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        existing.to_string()
    );
    let made = links(&fed.a).await;
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].0, made[0].1.as_str()), (existing, "b"), "linked to ada-at-a");
    fed.a.audit_written().await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE kind = 'sign_in' AND outcome = 'linked' AND user_id = $1",
    )
    .bind(existing)
    .fetch_one(&fed.a.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1, "audited");
    let again = fed.in_new_browser();
    let tokens = tokens_through_b(&again, &rp, "ada").await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        existing.to_string(),
        "the next sign-in through B uses the link"
    );
}

#[tokio::test]
async fn linking_an_account_with_two_steps_needs_its_second_step() {
    let (fed, rp, existing) = ada_with_an_account_at_a().await;
    let own = fed.a.with_browser(crate::support::new_browser());
    crate::two_step::sign_in(&own, "ada-at-a").await;
    let authenticator = crate::two_step::set_up_authenticator(&own).await;
    let (html, auth) = offered(&fed, &rp).await;
    let page = answer_link(&fed.a, &html, "signin").await.text().await.unwrap();

    let step = fed.a.sign_in_on(&page, "ada-at-a", crate::support::PASSWORD).await;

    assert_eq!(step.status(), 200, "the second step is asked");
    assert!(links(&fed.a).await.is_empty(), "no link with the password alone");
    let step = step.text().await.unwrap();
    let res = crate::two_step::second_step(&fed.a, &step, &authenticator.next_code(&fed.a)).await;
    assert_eq!(res.status(), 303);
    let res = fed.follow(&fed.a.url(&location(&res))).await;
    let code = query_param(&location(&res), "code").expect("a code");
    fed.a.redeem(&rp, &code, &auth.verifier).await;
    let made = links(&fed.a).await;
    assert_eq!(
        made.iter().map(|l| l.0).collect::<Vec<_>>(),
        [existing],
        "linked after the second step"
    );
}

#[tokio::test]
async fn a_sign_in_as_another_account_makes_no_link() {
    let (fed, rp, _) = ada_with_an_account_at_a().await;
    create_user(&fed.a, "mallory").await;
    let (html, _) = offered(&fed, &rp).await;
    let page = answer_link(&fed.a, &html, "signin").await.text().await.unwrap();

    let res = fed.a.sign_in_on(&page, "mallory", crate::support::PASSWORD).await;

    assert_eq!(res.status(), 303, "mallory signs in as herself");
    assert!(links(&fed.a).await.is_empty(), "but nothing is linked");
    fed.a.audit_written().await;
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE kind = 'sign_in' AND outcome = 'failed' AND reason LIKE '%another account%'",
    )
    .fetch_one(&fed.a.pool)
    .await
    .unwrap();
    assert_eq!(refused, 1, "audited");
    let page = fed.a.get("/signin").await.text().await.unwrap();
    fed.a
        .submit(
            "/logout",
            &[("csrf", &crate::support::hidden_field(&page, "csrf").unwrap())],
        )
        .await;
    let page = fed.a.get("/signin").await.text().await.unwrap();
    fed.a.sign_in_on(&page, "ada-at-a", crate::support::PASSWORD).await;
    assert!(
        links(&fed.a).await.is_empty(),
        "the pending link was taken once: a later sign-in links nothing"
    );
}

#[tokio::test]
async fn a_pending_link_used_in_another_browser_fails() {
    let (fed, rp, _) = ada_with_an_account_at_a().await;
    let (html, _) = offered(&fed, &rp).await;
    let other = fed.in_new_browser();
    let (other_html, _) = offered(&other, &rp).await;
    let token = crate::support::hidden_field(&html, "token").unwrap();
    let csrf = crate::support::hidden_field(&other_html, "csrf").unwrap();

    let res = other
        .a
        .submit(
            "/signin/upstream-link",
            &[("csrf", &csrf), ("token", &token), ("decision", "signin")],
        )
        .await;

    assert_eq!(res.status(), 400, "the first browser's pending link");
    let res = answer_link(&fed.a, &html, "signin").await;
    assert_eq!(res.status(), 200, "positive control: in its own browser");
}

/// Through B at A: signed in to a separate account (no link offered to `existing`).
async fn assert_separate_account(fed: &Federation, rp: &crate::support::TestClient, existing: uuid::Uuid) {
    let tokens = tokens_through_b(fed, rp, "ada").await;
    let sub = jwt_claims(tokens["id_token"].as_str().unwrap())["sub"].clone();
    assert_ne!(sub, existing.to_string(), "a separate account, no offer");
}

#[tokio::test]
async fn an_admin_account_is_not_offered_a_link() {
    let (fed, rp, existing) = ada_with_an_account_at_a().await;
    sqlx::query("UPDATE users SET is_admin = true WHERE id = $1")
        .bind(existing)
        .execute(&fed.a.pool)
        .await
        .unwrap();

    assert_separate_account(&fed, &rp, existing).await;
}

#[tokio::test]
async fn an_account_with_a_link_to_the_upstream_is_not_offered_another() {
    let (fed, rp, existing) = ada_with_an_account_at_a().await;
    sqlx::query("INSERT INTO upstream_links (upstream_id, issuer, subject, user_id, created_at) VALUES ('b', $1, 'someone-else', $2, now())")
        .bind(&fed.b.address)
        .bind(existing)
        .execute(&fed.a.pool)
        .await
        .unwrap();

    assert_separate_account(&fed, &rp, existing).await;
}

#[tokio::test]
async fn connecting_an_upstream_from_the_account_page_links_it() {
    let (fed, _, existing) = ada_with_an_account_at_a().await;
    crate::two_step::sign_in(&fed.a, "ada-at-a").await;
    let page = fed.a.get("/account").await.text().await.unwrap();
    assert!(page.contains("Connect b"), "{page}");

    let res = fed.follow(&fed.a.url("/signin/upstream/b?connect=1")).await;
    let html = res.text().await.unwrap();
    let b = fed.b.with_browser(fed.a.client.clone());
    let res = b.sign_in_on(&html, "ada", crate::support::PASSWORD).await;
    let back = url::Url::parse(&b.address).unwrap().join(&location(&res)).unwrap();
    let res = fed.follow(back.as_str()).await;

    assert_eq!(res.status(), 200, "back on the account page");
    let made = links(&fed.a).await;
    assert_eq!(
        made.iter().map(|l| l.0).collect::<Vec<_>>(),
        [existing],
        "connected to the signed-in account"
    );
    let page = res.text().await.unwrap();
    assert!(!page.contains("Connect b"), "connected: no more offer");
    let again = fed.follow(&fed.a.url("/signin/upstream/b?connect=1")).await;
    assert_eq!(again.status(), 409, "a second link to the same upstream is refused");
}

#[tokio::test]
async fn without_email_verified_no_link_is_offered_and_a_new_account_is_made() {
    let fed = federation(linking()).await;
    let input = lanyard::admin::users::NewUserInput {
        username: "carol".into(),
        password: crate::support::PASSWORD.into(),
        is_admin: false,
        claims: lanyard::model::StandardClaims {
            email: Some("carol@example.com".into()),
            email_verified: false,
            ..Default::default()
        },
    };
    lanyard::admin::users::create(&fed.b.pool, &fed.b.clock, input)
        .await
        .unwrap();
    let existing = create_user(&fed.a, "carol").await;
    let rp = create_client(&fed.a, ClientSpec::default()).await;

    let tokens = tokens_through_b(&fed, &rp, "carol").await;

    let sub = jwt_claims(tokens["id_token"].as_str().unwrap())["sub"].clone();
    assert_ne!(sub, existing.to_string(), "not linked to the existing carol");
    let (_, email, verified, _, _) = sqlx::query_as::<_, (uuid::Uuid, Option<String>, bool, Option<String>, bool)>(
        "SELECT id, email, email_verified, name, password_hash IS NOT NULL FROM users WHERE id::text = $1",
    )
    .bind(sub.as_str().unwrap())
    .fetch_one(&fed.a.pool)
    .await
    .unwrap();
    assert_eq!(email.as_deref(), Some("carol@example.com"));
    assert!(!verified, "unverified upstream, unverified here");
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_through_the_upstream() {
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    tokens_through_b(&fed, &rp, "ada").await;
    let (sub, ..) = account(&fed.a, "ada").await.unwrap();
    sqlx::query("UPDATE users SET disabled_at = now() WHERE id = $1")
        .bind(sub)
        .execute(&fed.a.pool)
        .await
        .unwrap();
    let again = fed.in_new_browser();

    let res = again
        .sign_in_through_b(&auth_url(&fed.a, &rp, "openid", &[]).url, "ada")
        .await;

    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn upstream_create_json_prints_the_redirect_uri_to_register() {
    let a = crate::support::spawn_app().await;

    let run = lanyard(&[
        "upstream",
        "create",
        "corp",
        "--issuer",
        "https://login.corp.example/realms/staff",
        "--client-id",
        "lanyard",
        "--client-secret-stdin",
        "--name",
        "Corp SSO",
        "--link-by-verified-email",
        "--json",
    ])
    .env("LANYARD_ISSUER", "https://id.example.com")
    .stdin("s3cret-value\n")
    .run_on(&a.db)
    .await;

    run.assert_ok();
    let out = run.json();
    assert_eq!(
        out["redirect_uri"],
        "https://id.example.com/signin/upstream/corp/callback"
    );
    assert_eq!(out["link_by_verified_email"], true);
    assert!(!run.stdout.contains("s3cret-value"), "the secret is never shown");
    let sealed: String = sqlx::query_scalar("SELECT sealed_secret FROM upstreams WHERE id = 'corp'")
        .fetch_one(&a.pool)
        .await
        .unwrap();
    assert!(!sealed.contains("s3cret"), "sealed at rest");
    let listed = lanyard(&["upstream", "list", "--json"]).run_on(&a.db).await;
    assert_eq!(listed.json()[0]["name"], "Corp SSO");
    lanyard(&["upstream", "update", "corp", "--enabled=false", "--json"])
        .run_on(&a.db)
        .await
        .assert_ok();
    let deleted = lanyard(&["upstream", "delete", "corp"]).run_on(&a.db).await;
    deleted.assert_ok();
    lanyard(&["upstream", "show", "corp"])
        .run_on(&a.db)
        .await
        .assert_refused("no upstream `corp`");
}

// ---- the rules on the upstream's answer, with a mock OP ----

/// A connected to the mock OP as `mock`.
async fn with_mock() -> (TestApp, MockOp) {
    let a = crate::support::spawn_app().await;
    let op = mock_op().await;
    connect_upstream(&a, "mock", &op.issuer, MOCK_CLIENT, UpstreamSettings::default()).await;
    (a, op)
}

/// One sign-in at the mock: the id_token it answers is `good_claims` changed
/// by `defect` (claims, kid, the `iss` of the response); returns the
/// callback's status.
async fn attempt(a: &TestApp, op: &MockOp, defect: impl FnOnce(&mut Value, &mut String, &mut Option<String>)) -> u16 {
    sign_in_at_mock(&a.with_browser(crate::support::new_browser()), op, defect).await
}

/// `attempt` in `a`'s own browser (which keeps the session it may get).
pub(crate) async fn sign_in_at_mock(
    a: &TestApp,
    op: &MockOp,
    defect: impl FnOnce(&mut Value, &mut String, &mut Option<String>),
) -> u16 {
    let answer = |mut claims: Value| {
        let (mut kid, mut iss) = ("k1".to_owned(), Some(op.issuer.clone()));
        defect(&mut claims, &mut kid, &mut iss);
        (op.sign(&claims, &kid), iss)
    };
    through_mock(a, op, "/signin/upstream/mock", "mock", answer)
        .await
        .status()
        .as_u16()
}

/// Starts a sign-in at A's `start` path, has the mock answer the id_token
/// `answer` makes of the good claims for its nonce (and the response's
/// `iss`), and visits upstream `callback_id`'s callback: its response.
async fn through_mock(
    a: &TestApp,
    op: &MockOp,
    start: &str,
    callback_id: &str,
    answer: impl FnOnce(Value) -> (String, Option<String>),
) -> reqwest::Response {
    let res = a.visit(start).await;
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(to.starts_with(&format!("{}/authorize?", op.issuer)), "{to}");
    assert_eq!(query_param(&to, "code_challenge_method").as_deref(), Some("S256"));
    let (state, nonce) = (query_param(&to, "state").unwrap(), query_param(&to, "nonce").unwrap());
    let (id_token, iss) = answer(op.good_claims(&nonce, a.clock.now().timestamp()));
    op.will_answer(id_token);
    let mut callback = url::Url::parse(&a.url(&format!("/signin/upstream/{callback_id}/callback"))).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("code", "c0de")
        .append_pair("state", &state);
    if let Some(iss) = iss {
        callback.query_pairs_mut().append_pair("iss", &iss);
    }
    a.visit(callback.as_str()).await
}

/// The positive control, then the defect: refused with a page, and audited.
async fn assert_refused(defect: impl FnOnce(&mut Value, &mut String, &mut Option<String>), reason: &str) {
    let (a, op) = with_mock().await;
    assert_eq!(
        attempt(&a, &op, |_, _, _| {}).await,
        303,
        "positive control: the good answer signs in"
    );
    assert_eq!(attempt(&a, &op, defect).await, 400, "refused with a page");
    a.audit_written().await;
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM audit_events WHERE kind = 'sign_in' AND outcome = 'failed'")
            .fetch_all(&a.pool)
            .await
            .unwrap();
    assert!(
        reasons.iter().any(|r| r.contains(reason)),
        "audited with `{reason}`: {reasons:?}"
    );
}

use lanyard::clock::Clock as _;

#[tokio::test]
async fn an_upstream_id_token_with_another_nonce_is_refused() {
    assert_refused(|c, _, _| c["nonce"] = "another".into(), "nonce").await;
}

#[tokio::test]
async fn an_upstream_id_token_for_another_audience_is_refused() {
    assert_refused(|c, _, _| c["aud"] = "someone-else".into(), "audience").await;
}

#[tokio::test]
async fn an_upstream_id_token_from_another_issuer_is_refused() {
    assert_refused(|c, _, _| c["iss"] = "https://evil.example".into(), "issuer").await;
}

#[tokio::test]
async fn an_upstream_id_token_signed_with_an_unknown_key_is_refused() {
    assert_refused(|_, kid, _| *kid = "k-unknown".into(), "Signature verification").await;
}

#[tokio::test]
async fn a_key_the_upstream_publishes_later_is_fetched_on_its_unknown_kid_at_most_once_a_minute() {
    let (a, op) = with_mock().await;
    assert_eq!(
        attempt(&a, &op, |_, _, _| {}).await,
        303,
        "positive control: k1, fetched at discovery"
    );
    op.publish_key("k2");
    assert_eq!(
        attempt(&a, &op, |_, kid, _| *kid = "k2".into()).await,
        400,
        "the keys were fetched less than a minute ago: not again"
    );
    a.clock.advance(chrono::TimeDelta::seconds(61));

    let status = attempt(&a, &op, |_, kid, _| *kid = "k2".into()).await;

    assert_eq!(status, 303, "an unknown kid fetches the keys again");
}

#[tokio::test]
async fn an_expired_upstream_id_token_is_refused() {
    assert_refused(|c, _, _| c["exp"] = (c["iat"].as_i64().unwrap() - 10).into(), "expired").await;
}

#[tokio::test]
async fn an_upstream_id_token_whose_azp_is_another_client_is_refused() {
    assert_refused(|c, _, _| c["azp"] = "someone-else".into(), "azp").await;
}

#[tokio::test]
async fn an_authorization_response_without_iss_is_refused_when_the_upstream_announces_it() {
    assert_refused(|_, _, iss| *iss = None, "RFC 9207").await;
}

#[tokio::test]
async fn an_authorization_response_with_another_iss_is_refused() {
    assert_refused(|_, _, iss| *iss = Some("https://evil.example".into()), "RFC 9207").await;
}

#[tokio::test]
async fn a_callback_in_another_browser_or_a_second_time_is_refused() {
    let (a, op) = with_mock().await;
    let res = a.visit("/signin/upstream/mock").await;
    let to = location(&res);
    let (state, nonce) = (query_param(&to, "state").unwrap(), query_param(&to, "nonce").unwrap());
    op.will_answer(op.sign(&op.good_claims(&nonce, a.clock.now().timestamp()), "k1"));
    let callback = format!("/signin/upstream/mock/callback?code=c&state={state}&iss={}", op.issuer);
    let other = a.with_browser(crate::support::new_browser());
    assert_eq!(other.visit(&callback).await.status(), 400, "another browser");
    assert_eq!(
        a.visit(&callback).await.status(),
        303,
        "positive control: this browser's"
    );
    assert_eq!(a.visit(&callback).await.status(), 400, "taken once");
}

// ---- the account page ----

#[tokio::test]
async fn unlinking_the_only_way_in_is_refused_until_the_person_sets_a_password() {
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    tokens_through_b(&fed, &rp, "ada").await;
    let subject: String = sqlx::query_scalar("SELECT subject FROM upstream_links")
        .fetch_one(&fed.a.pool)
        .await
        .unwrap();
    let page = fed.a.get("/account").await.text().await.unwrap();
    assert!(
        page.contains("Sign-in with other providers") && page.contains("id=\"no-password\""),
        "{page}"
    );
    let csrf = crate::support::hidden_field(&page, "csrf").unwrap();
    let unlink = [("csrf", csrf.as_str()), ("upstream", "b"), ("subject", &subject)];

    let refused = fed.a.submit("/account/upstreams/unlink", &unlink).await;

    assert_eq!(refused.status(), 400, "the only way in");
    assert!(refused.text().await.unwrap().contains("only way to sign in"));
    let set = fed
        .a
        .submit(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("new_password", "a new passphrase"),
                ("new_password_again", "a new passphrase"),
            ],
        )
        .await;
    assert_eq!(set.status(), 303, "a first password, no current one asked");
    let unlinked = fed.a.submit("/account/upstreams/unlink", &unlink).await;
    assert_eq!(
        unlinked.status(),
        303,
        "positive control: with a password, unlinking is allowed"
    );
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM upstream_links")
        .fetch_one(&fed.a.pool)
        .await
        .unwrap();
    assert_eq!(links, 0);
}

#[tokio::test]
async fn a_person_from_an_upstream_never_signs_in_with_a_password() {
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    tokens_through_b(&fed, &rp, "ada").await;
    let other = fed.a.with_browser(crate::support::new_browser());
    let page = other.get("/signin").await.text().await.unwrap();

    let res = other.sign_in_on(&page, "ada", "").await;

    assert_eq!(res.status(), 400, "an empty password is refused as ever");
    let page = other.get("/signin").await.text().await.unwrap();
    let res = other.sign_in_on(&page, "ada", crate::support::PASSWORD).await;
    assert_eq!(res.status(), 401, "as an unknown user");
}

// ---- the admin page ----

#[tokio::test]
async fn an_admin_connects_an_upstream_on_the_admin_page_and_it_shows_on_the_sign_in_page() {
    let app = crate::admin::admin_app().await;
    let html = app.visit("/admin/upstreams").await.text().await.unwrap();
    let csrf = crate::support::hidden_field(&html, "csrf").unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("id", "corp"),
        ("name", "Corp <SSO>"),
        ("issuer", "https://login.corp.example"),
        ("client_id", "lanyard"),
        ("client_secret", "page-s3cret"),
        ("acr", "urn:corp:mfa=mfa"),
    ];

    let res = app.submit("/admin/upstreams", &form).await;

    assert_eq!(location(&res), "/admin/upstreams/corp?done=created");
    let page = app.visit("/admin/upstreams/corp").await.text().await.unwrap();
    assert!(
        page.contains(&app.url("/signin/upstream/corp/callback")),
        "the redirect URI to register"
    );
    assert!(
        page.contains("Corp &lt;SSO&gt;") && !page.contains("page-s3cret"),
        "escaped; no secret"
    );
    let other = app.with_browser(crate::support::new_browser());
    let signin = other.visit("/signin").await.text().await.unwrap();
    assert!(signin.contains("Continue with Corp &lt;SSO&gt;"), "{signin}");
    let disable = [
        ("csrf", csrf.as_str()),
        ("name", "Corp SSO"),
        ("issuer", "https://login.corp.example"),
        ("client_id", "lanyard"),
    ];
    let res = app.submit("/admin/upstreams/corp", &disable).await;
    assert_eq!(location(&res), "/admin/upstreams/corp?done=saved");
    let signin = other.visit("/signin").await.text().await.unwrap();
    assert!(!signin.contains("Continue with"), "a disabled upstream is not offered");
    let res = app.submit("/admin/upstreams/corp/delete", &[("csrf", &csrf)]).await;
    assert_eq!(location(&res), "/admin/upstreams?done=deleted");
}

#[tokio::test]
async fn an_upstream_change_on_the_admin_page_needs_a_recent_sign_in() {
    let app = crate::admin::admin_app().await;
    let html = app.visit("/admin/upstreams").await.text().await.unwrap();
    let csrf = crate::support::hidden_field(&html, "csrf").unwrap();
    app.clock.advance(chrono::TimeDelta::minutes(16));
    let form = [
        ("csrf", csrf.as_str()),
        ("id", "corp"),
        ("issuer", "https://login.corp.example"),
        ("client_id", "x"),
        ("client_secret", "y"),
    ];

    let res = app.submit("/admin/upstreams", &form).await;

    assert!(location(&res).starts_with("/signin?reauth=1"), "asked to sign in again");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM upstreams")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

// ---- the upstream as a process of its own ----

#[tokio::test]
async fn a_lanyard_serve_process_with_its_own_database_is_an_upstream() {
    let a = crate::support::spawn_app().await;
    let b_db = crate::support::fresh_db().await;
    let b_pool = lanyard::store::connect(&b_db.url, 2).await.unwrap();
    crate::support::create_user_on(&b_pool, "ada").await;
    let (cid, secret) = crate::support::register_at(&b_pool, &a.address, "b").await;
    // Its issuer must be its address: a free port first (on `localhost`, so
    // that A and B keep their cookies apart).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://localhost:{port}");
    let serve = lanyard(&["serve"])
        .db(&b_db)
        .env("LANYARD_BIND", &format!("127.0.0.1:{port}"))
        .env("LANYARD_ISSUER", &issuer);
    let (_b, _) = crate::support::serve_listening(serve).await;
    connect_upstream(&a, "b", &issuer, (&cid, &secret), UpstreamSettings::default()).await;
    let rp = create_client(&a, ClientSpec::default()).await;
    let auth = auth_url(&a, &rp, "openid email", &[]);
    let page = crate::support::follow(&a.client, &auth.url).await.text().await.unwrap();
    let href = crate::support::upstream_href(&page).expect("Continue with b");
    let b_page = crate::support::follow(&a.client, &a.url(&href))
        .await
        .text()
        .await
        .unwrap();

    let b_app = TestApp {
        address: issuer.clone(),
        ..a.with_browser(a.client.clone())
    };
    let res = b_app.sign_in_on(&b_page, "ada", crate::support::PASSWORD).await;
    let back = url::Url::parse(&issuer).unwrap().join(&location(&res)).unwrap();
    let res = crate::support::follow(&a.client, back.as_str()).await;

    let code = query_param(&location(&res), "code").expect("back at the relying party with a code");
    let tokens = a.redeem(&rp, &code, &auth.verifier).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], a.address.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["fed"]));
    assert_eq!(claims["email"], "ada@example.com");
}

#[tokio::test]
async fn an_error_from_the_upstream_is_a_page_naming_it() {
    let (a, op) = with_mock().await;
    let res = a.visit("/signin/upstream/mock").await;
    let state = query_param(&location(&res), "state").unwrap();
    let mut callback = url::Url::parse(&a.url("/signin/upstream/mock/callback")).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "<script>nope</script>")
        .append_pair("state", &state)
        .append_pair("iss", &op.issuer);

    let res = a.visit(callback.as_str()).await;

    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("access_denied") && !page.contains("<script>nope"),
        "{page}"
    );
    assert_eq!(
        a.visit("/signin/upstream/nobody").await.status(),
        404,
        "an unknown upstream"
    );
}

#[tokio::test]
async fn sign_ins_started_at_upstreams_are_limited_per_address() {
    let (a, _op) = with_mock().await;
    assert_eq!(a.visit("/signin/upstream/mock").await.status(), 303, "positive control");
    sqlx::query("UPDATE login_throttle SET attempts = $1 WHERE key = 'upstream-ip:127.0.0.1'")
        .bind(lanyard::protocol::upstream::STARTS_PER_ADDRESS)
        .execute(&a.pool)
        .await
        .unwrap();

    let res = a.visit("/signin/upstream/mock").await;

    assert_eq!(res.status(), 429, "one more than the limit");
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_upstream_id_token_signed_with_hmac_of_the_client_secret_is_refused() {
    let (a, op) = with_mock().await;
    assert_eq!(attempt(&a, &op, |_, _, _| {}).await, 303, "positive control");
    let res = a.visit("/signin/upstream/mock").await;
    let to = location(&res);
    let (state, nonce) = (query_param(&to, "state").unwrap(), query_param(&to, "nonce").unwrap());
    let claims = op.good_claims(&nonce, a.clock.now().timestamp());
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("JWT");
    let signer = josekit::jws::HS256.signer_from_bytes(MOCK_CLIENT.1.as_bytes()).unwrap();
    op.will_answer(josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap());
    let mut callback = url::Url::parse(&a.url("/signin/upstream/mock/callback")).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("code", "c")
        .append_pair("state", &state)
        .append_pair("iss", &op.issuer);

    let res = a.visit(callback.as_str()).await;

    assert_eq!(
        res.status(),
        400,
        "only the upstream's asymmetric keys sign its id_tokens"
    );
}

#[tokio::test]
async fn a_persons_only_passkey_is_kept_once_they_have_no_password_nor_link() {
    use lanyard::protocol::factors::passkeys::manage::{self, Removal};
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    tokens_through_b(&fed, &rp, "ada").await;
    let (sub, ..) = account(&fed.a, "ada").await.unwrap();
    let add_passkey = || async {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, backup_eligible, backup_state, created_at)
             VALUES ($1, $2, $3, '{}', 'Laptop', false, false, now())",
        )
        .bind(id)
        .bind(sub)
        .bind(id.as_bytes().to_vec())
        .execute(&fed.a.pool)
        .await
        .unwrap();
        id
    };
    let first = add_passkey().await;
    assert_eq!(
        manage::remove(&fed.a.provider, sub, first).await.unwrap(),
        Removal::Removed,
        "positive control: the link to b is a way in"
    );
    let only = add_passkey().await;
    sqlx::query("DELETE FROM upstream_links")
        .execute(&fed.a.pool)
        .await
        .unwrap();

    let removal = manage::remove(&fed.a.provider, sub, only).await.unwrap();

    assert_eq!(removal, Removal::OnlyWayIn);
    assert_eq!(count_passkeys(&fed.a, sub).await, 1, "kept");
}

async fn count_passkeys(app: &TestApp, sub: uuid::Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM passkeys WHERE user_id = $1")
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_admin_user_page_says_where_a_person_from_an_upstream_signs_in() {
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    tokens_through_b(&fed, &rp, "ada").await;
    let (sub, ..) = account(&fed.a, "ada").await.unwrap();
    let input = lanyard::admin::users::NewUserInput {
        username: "root".into(),
        password: crate::support::PASSWORD.into(),
        is_admin: true,
        claims: Default::default(),
    };
    lanyard::admin::users::create(&fed.a.pool, &fed.a.clock, input)
        .await
        .unwrap();
    let admin = fed.a.with_browser(crate::support::new_browser());
    let page = admin.visit("/signin?return_to=/admin").await.text().await.unwrap();
    admin.sign_in_on(&page, "root", crate::support::PASSWORD).await;

    let page = admin.visit(&format!("/admin/users/{sub}")).await.text().await.unwrap();

    assert!(page.contains("id=\"no-password\""), "{page}");
    assert!(page.contains("Signs in through: <code>b</code>"), "{page}");
}

#[tokio::test]
async fn an_existing_account_is_not_linked_unless_the_upstream_allows_it() {
    let fed = federation(UpstreamSettings::default()).await;
    create_user(&fed.b, "ada").await;
    let existing = create_user(&fed.a, "ada").await;
    let rp = create_client(&fed.a, ClientSpec::default()).await;

    let tokens = tokens_through_b(&fed, &rp, "ada").await;

    let sub = jwt_claims(tokens["id_token"].as_str().unwrap())["sub"].clone();
    assert_ne!(
        sub,
        existing.to_string(),
        "a new account, though the verified emails match"
    );
    let username: String = sqlx::query_scalar("SELECT username FROM users WHERE id::text = $1")
        .bind(sub.as_str().unwrap())
        .fetch_one(&fed.a.pool)
        .await
        .unwrap();
    assert!(username.starts_with("ada-"), "a free username: {username}");
}

#[tokio::test]
async fn an_address_another_account_has_verified_stays_unverified_on_the_account_from_upstream() {
    // A trusted upstream (its email_verified is copied), and an admin holding
    // the address verified: admins are never offered a link, so a new
    // account is made — with the address, but not verified.
    let (fed, rp, existing) = ada_with_an_account_at_a().await;
    sqlx::query("UPDATE users SET is_admin = true WHERE id = $1")
        .bind(existing)
        .execute(&fed.a.pool)
        .await
        .unwrap();

    let tokens = tokens_through_b(&fed, &rp, "ada").await;

    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_ne!(claims["sub"], existing.to_string(), "a new account");
    let verified: Vec<(String, bool)> =
        sqlx::query_as("SELECT id::text, email_verified FROM users WHERE lower(email) = 'ada@example.com' ORDER BY 1")
            .fetch_all(&fed.a.pool)
            .await
            .unwrap();
    let holders: Vec<&String> = verified.iter().filter(|(_, v)| *v).map(|(id, _)| id).collect();
    assert_eq!(
        holders,
        [&existing.to_string()],
        "one verified holder: the account that had it"
    );
    assert_eq!(verified.len(), 2, "the new account keeps the address, unverified");
}

#[tokio::test]
async fn an_address_the_upstream_verified_is_taken_from_an_account_holding_it_unverified() {
    let fed = federation(linking()).await;
    create_user(&fed.b, "ada").await;
    let squatter = create_user(&fed.a, "mallory").await;
    sqlx::query("UPDATE users SET email = 'ada@example.com', email_verified = false WHERE id = $1")
        .bind(squatter)
        .execute(&fed.a.pool)
        .await
        .unwrap();
    let rp = create_client(&fed.a, ClientSpec::default()).await;

    let tokens = tokens_through_b(&fed, &rp, "ada").await;

    let sub = jwt_claims(tokens["id_token"].as_str().unwrap())["sub"].clone();
    let holders: Vec<(String, bool)> =
        sqlx::query_as("SELECT id::text, email_verified FROM users WHERE lower(email) = 'ada@example.com'")
            .fetch_all(&fed.a.pool)
            .await
            .unwrap();
    assert_eq!(
        holders,
        [(sub.as_str().unwrap().to_owned(), true)],
        "verified, and only there"
    );
}

#[tokio::test]
async fn an_upstream_acr_raises_the_level_only_when_the_admin_maps_it() {
    let a = crate::support::spawn_app().await;
    let op = mock_op().await;
    let mapped = UpstreamSettings {
        acr: Some(vec!["urn:corp:strong=mfa".into()]),
        ..Default::default()
    };
    connect_upstream(&a, "mock", &op.issuer, MOCK_CLIENT, mapped).await;
    let rp = create_client(&a, ClientSpec::default()).await;
    let level_for = |acr: &'static str| {
        let (a, op, rp) = (&a, &op, &rp);
        async move {
            let browser = a.with_browser(crate::support::new_browser());
            let signed_in = sign_in_at_mock(&browser, op, |c, _, _| c["acr"] = acr.into()).await;
            assert_eq!(signed_in, 303);
            let tokens = browser.tokens(rp, "openid", "-").await;
            let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
            (claims["acr"].clone(), claims["amr"].clone())
        }
    };

    let (strong, weak) = (level_for("urn:corp:strong").await, level_for("urn:corp:other").await);

    assert_eq!(
        strong,
        (serde_json::json!("mfa"), serde_json::json!(["fed", "mfa"])),
        "mapped"
    );
    assert_eq!(
        weak,
        (serde_json::json!("password"), serde_json::json!(["fed"])),
        "not mapped: the lowest"
    );
}

#[tokio::test]
async fn claims_are_copied_again_at_each_sign_in_only_when_the_upstream_refreshes_them() {
    for refresh in [false, true] {
        let settings = UpstreamSettings {
            refresh_claims: Some(refresh),
            ..Default::default()
        };
        let (fed, rp, at_b) = ada_at_b(settings).await;
        tokens_through_b(&fed, &rp, "ada").await;
        sqlx::query("UPDATE users SET name = 'Ada Lovelace' WHERE id = $1")
            .bind(at_b)
            .execute(&fed.b.pool)
            .await
            .unwrap();
        let again = fed.in_new_browser();

        tokens_through_b(&again, &rp, "ada").await;

        let (_, _, _, name, _) = account(&fed.a, "ada").await.unwrap();
        let expected = if refresh { "Ada Lovelace" } else { "ada Example" };
        assert_eq!(name.as_deref(), Some(expected), "refresh_claims = {refresh}");
    }
}

// ---- the review's rules ----

/// The failed sign-in events' reasons at `app`.
async fn failures(app: &TestApp) -> Vec<String> {
    app.audit_written().await;
    sqlx::query_scalar("SELECT reason FROM audit_events WHERE kind = 'sign_in' AND outcome = 'failed'")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upstream_id_token_with_alg_none_is_refused() {
    let (a, op) = with_mock().await;

    let res = through_mock(&a, &op, "/signin/upstream/mock", "mock", |claims| {
        (op.unsigned(&claims), Some(op.issuer.clone()))
    })
    .await;

    assert_eq!(res.status(), 400);
    assert!(failures(&a).await.iter().any(|r| r.contains("id_token")), "audited");
}

#[tokio::test]
async fn an_upstream_id_token_issued_in_the_future_is_refused() {
    assert_refused(
        |c, _, _| c["iat"] = (c["iat"].as_i64().unwrap() + 3600).into(),
        "iat is in the future",
    )
    .await;
}

#[tokio::test]
async fn a_state_used_at_another_upstreams_callback_is_refused() {
    let (a, op) = with_mock().await;
    connect_upstream(&a, "other", &op.issuer, MOCK_CLIENT, UpstreamSettings::default()).await;
    let res = a.visit("/signin/upstream/mock").await;
    let to = location(&res);
    let (state, nonce) = (query_param(&to, "state").unwrap(), query_param(&to, "nonce").unwrap());
    op.will_answer(op.sign(&op.good_claims(&nonce, a.clock.now().timestamp()), "k1"));
    let callback = |id: &str| format!("/signin/upstream/{id}/callback?code=c&state={state}&iss={}", op.issuer);

    let res = a.visit(&callback("other")).await;

    assert_eq!(res.status(), 400, "mock's state at other's callback");
    assert_eq!(
        a.visit(&callback("mock")).await.status(),
        303,
        "positive control: at its own"
    );
}

#[tokio::test]
async fn after_an_issuer_change_the_same_sub_makes_a_new_account() {
    let (a, op) = with_mock().await;
    assert_eq!(attempt(&a, &op, |_, _, _| {}).await, 303);
    let first: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM upstream_links")
        .fetch_one(&a.pool)
        .await
        .unwrap();
    let moved = mock_op().await;
    let ctx = lanyard::admin::upstreams::ctx(&a.provider);
    let change = UpstreamSettings {
        issuer: Some(moved.issuer.clone()),
        ..Default::default()
    };
    let view = lanyard::admin::upstreams::update(&ctx, "mock", change).await.unwrap();
    assert_eq!(
        view.former_issuer_links, 1,
        "the admin is told one link no longer applies"
    );
    a.settle().await;

    assert_eq!(
        attempt(&a, &moved, |_, _, _| {}).await,
        303,
        "the same sub at the new issuer"
    );

    let users: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT user_id FROM upstream_links WHERE issuer = $1")
        .bind(&moved.issuer)
        .fetch_all(&a.pool)
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_ne!(users[0], first, "a new account, not the old issuer's");
}

#[tokio::test]
async fn an_email_the_admin_does_not_trust_is_stored_unverified() {
    for trusted in [false, true] {
        let a = crate::support::spawn_app().await;
        let op = mock_op().await;
        let settings = UpstreamSettings {
            link_by_verified_email: Some(trusted),
            ..Default::default()
        };
        connect_upstream(&a, "mock", &op.issuer, MOCK_CLIENT, settings).await;

        assert_eq!(attempt(&a, &op, |_, _, _| {}).await, 303);

        let verified: bool = sqlx::query_scalar("SELECT email_verified FROM users WHERE email = 'mock@example.com'")
            .fetch_one(&a.pool)
            .await
            .unwrap();
        assert_eq!(verified, trusted, "email_verified copied only when trusted");
    }
}

#[tokio::test]
async fn prompt_login_and_max_age_are_passed_upstream_and_auth_time_must_satisfy_them() {
    let (a, op) = with_mock().await;
    let rp = create_client(&a, ClientSpec::default()).await;
    let auth = auth_url(&a, &rp, "openid", &[("prompt", "login"), ("max_age", "60")]);
    let request = url::Url::parse(&auth.url).unwrap().query().unwrap().to_owned();
    let mut start = url::form_urlencoded::Serializer::new(String::from("/signin/upstream/mock?"));
    start.append_pair("request", &request);
    let start = start.finish();
    let now = a.clock.now().timestamp();
    let sent = a.visit(&start).await;
    let to = location(&sent);
    assert_eq!(query_param(&to, "prompt").as_deref(), Some("login"));
    assert_eq!(query_param(&to, "max_age").as_deref(), Some("60"));

    let without = through_mock(&a, &op, &start, "mock", |c| {
        (op.sign(&c, "k1"), Some(op.issuer.clone()))
    })
    .await;
    let too_old = through_mock(&a, &op, &start, "mock", |mut c| {
        c["auth_time"] = (now - 600).into();
        (op.sign(&c, "k1"), Some(op.issuer.clone()))
    })
    .await;
    let fresh = through_mock(&a, &op, &start, "mock", |mut c| {
        c["auth_time"] = (now - 10).into();
        (op.sign(&c, "k1"), Some(op.issuer.clone()))
    })
    .await;

    assert_eq!(without.status(), 400, "max_age sent: auth_time required");
    assert_eq!(too_old.status(), 400, "auth_time older than max_age");
    assert_eq!(fresh.status(), 303, "positive control");
    let auth_time: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT auth_time FROM sessions")
        .fetch_one(&a.pool)
        .await
        .unwrap();
    assert_eq!(
        auth_time.timestamp(),
        now - 10,
        "the session's auth_time is the upstream's"
    );
    let reasons = failures(&a).await;
    assert!(
        reasons.iter().any(|r| r.contains("auth_time is missing")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_sign_in_page_asking_again_sends_prompt_login_upstream() {
    let (a, op) = with_mock().await;
    let page = a
        .visit("/signin?reauth=1&return_to=/account")
        .await
        .text()
        .await
        .unwrap();
    let href = crate::support::upstream_href(&page).expect("a Continue with link");

    let res = a.visit(&href).await;

    assert_eq!(query_param(&location(&res), "prompt").as_deref(), Some("login"));
    let plain = a.visit("/signin/upstream/mock").await;
    assert_eq!(query_param(&location(&plain), "prompt"), None, "positive control");
    drop(op);
}

#[tokio::test]
async fn discovery_endpoints_must_use_https() {
    let a = crate::support::spawn_app().await;
    let op = crate::support::mock_op_with(|m| m["token_endpoint"] = "http://tokens.example/token".into()).await;
    connect_upstream(&a, "mock", &op.issuer, MOCK_CLIENT, UpstreamSettings::default()).await;

    let res = a.visit("/signin/upstream/mock").await;

    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("must use https"));
    assert!(
        failures(&a).await.iter().any(|r| r.contains("token_endpoint")),
        "audited"
    );
}

#[tokio::test]
async fn an_unknown_or_malformed_upstream_id_is_a_404_without_audit() {
    let (a, _op) = with_mock().await;

    let malformed = a.visit("/signin/upstream/NOT%20AN%20ID").await;
    let unknown = a.visit("/signin/upstream/nobody").await;
    let callback = a.visit("/signin/upstream/NOT%20AN%20ID/callback?state=x&code=y").await;

    assert_eq!(
        (
            malformed.status().as_u16(),
            unknown.status().as_u16(),
            callback.status().as_u16()
        ),
        (404, 404, 404)
    );
    assert!(failures(&a).await.is_empty(), "nothing audited");
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM login_throttle WHERE key LIKE 'upstream-ip:%'")
        .fetch_one(&a.pool)
        .await
        .unwrap();
    assert_eq!(counted, 0, "an unknown or malformed id is not counted");
}

#[tokio::test]
async fn a_callback_without_the_binding_cookie_or_with_an_unknown_state_is_not_audited() {
    let (a, op) = with_mock().await;
    let stranger = a.with_browser(crate::support::new_browser());

    let no_cookie = stranger.visit("/signin/upstream/mock/callback?state=x&code=y").await;
    a.visit("/signin/upstream/mock").await;
    let unknown_state = a
        .visit(&format!(
            "/signin/upstream/mock/callback?state=x&code=y&iss={}",
            op.issuer
        ))
        .await;

    assert_eq!(
        (no_cookie.status().as_u16(), unknown_state.status().as_u16()),
        (400, 400)
    );
    assert!(failures(&a).await.is_empty(), "nothing audited");
    assert_refused(|c, _, _| c["nonce"] = "another".into(), "nonce").await;
}

#[tokio::test]
async fn derived_usernames_are_plain_ascii_and_never_reserved() {
    let (a, op) = with_mock().await;
    for (preferred, email) in [
        ("admin", "root@example.com"),
        ("ädmin", "a@b@example.com"),
        ("Ada.L", "x@example.com"),
    ] {
        let browser = a.with_browser(crate::support::new_browser());
        let sub = format!("sub-{preferred}");
        let signed_in = sign_in_at_mock(&browser, &op, |c, _, _| {
            c["sub"] = sub.clone().into();
            c["preferred_username"] = preferred.into();
            c["email"] = email.into();
        })
        .await;
        assert_eq!(signed_in, 303);
    }

    let names: Vec<String> = sqlx::query_scalar("SELECT username FROM users ORDER BY created_at")
        .fetch_all(&a.pool)
        .await
        .unwrap();
    assert!(names[0].starts_with("mock-"), "admin and root are reserved: {names:?}");
    assert_eq!(
        names[1], "a",
        "no ä: the email's local part, up to its first @: {names:?}"
    );
    assert_eq!(names[2], "ada.l", "lower-cased");
}

/// An account at `app` whose only way in is a link to upstream `id`
/// (no password, no passkey): its id.
async fn only_through(app: &TestApp, id: &str, username: &str) -> uuid::Uuid {
    let user = create_user(app, username).await;
    sqlx::query("UPDATE users SET password_hash = NULL WHERE id = $1")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO upstream_links (upstream_id, issuer, subject, user_id, created_at)
         SELECT id, issuer, $2, $3, now() FROM upstreams WHERE id = $1",
    )
    .bind(id)
    .bind(format!("sub-of-{username}"))
    .bind(user)
    .execute(&app.pool)
    .await
    .unwrap();
    user
}

#[tokio::test]
async fn the_cli_refuses_to_delete_or_disable_the_only_way_in_without_force() {
    let (a, _op) = with_mock().await;
    only_through(&a, "mock", "fed-only").await;

    let delete = lanyard(&["upstream", "delete", "mock"]).run_on(&a.db).await;
    let disable = lanyard(&["upstream", "update", "mock", "--enabled=false"])
        .run_on(&a.db)
        .await;

    delete.assert_refused("only way in for 1 account");
    disable.assert_refused("only way in for 1 account");
    lanyard(&["upstream", "update", "mock", "--enabled=false", "--force"])
        .run_on(&a.db)
        .await
        .assert_ok();
    lanyard(&["upstream", "delete", "mock", "--force"])
        .run_on(&a.db)
        .await
        .assert_ok();
}

#[tokio::test]
async fn the_admin_page_asks_again_before_deleting_the_only_way_in() {
    let app = crate::admin::admin_app().await;
    let op = mock_op().await;
    connect_upstream(&app, "mock", &op.issuer, MOCK_CLIENT, UpstreamSettings::default()).await;
    only_through(&app, "mock", "fed-only").await;
    let html = app.visit("/admin/upstreams/mock").await.text().await.unwrap();
    let csrf = crate::support::hidden_field(&html, "csrf").unwrap();

    let res = app.submit("/admin/upstreams/mock/delete", &[("csrf", &csrf)]).await;

    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("only way in for 1 account") && page.contains("id=\"force-delete\""),
        "{page}"
    );
    let res = app
        .submit("/admin/upstreams/mock/delete", &[("csrf", &csrf), ("force", "on")])
        .await;
    assert_eq!(location(&res), "/admin/upstreams?done=deleted", "asked twice: done");
}

#[tokio::test]
async fn unlinking_counts_only_links_to_enabled_upstreams() {
    let (fed, rp, _) = ada_at_b(UpstreamSettings::default()).await;
    tokens_through_b(&fed, &rp, "ada").await;
    let op = mock_op().await;
    connect_upstream(&fed.a, "old", &op.issuer, MOCK_CLIENT, UpstreamSettings::default()).await;
    let (user, subject): (uuid::Uuid, String) = sqlx::query_as("SELECT user_id, subject FROM upstream_links")
        .fetch_one(&fed.a.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO upstream_links (upstream_id, issuer, subject, user_id, created_at) VALUES ('old', $1, 'x', $2, now())")
        .bind(&op.issuer)
        .bind(user)
        .execute(&fed.a.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE upstreams SET enabled = false WHERE id = 'old'")
        .execute(&fed.a.pool)
        .await
        .unwrap();
    let page = fed.a.get("/account").await.text().await.unwrap();
    let csrf = crate::support::hidden_field(&page, "csrf").unwrap();

    let refused = fed
        .a
        .submit(
            "/account/upstreams/unlink",
            &[("csrf", &csrf), ("upstream", "b"), ("subject", &subject)],
        )
        .await;

    assert_eq!(refused.status(), 400, "a link to a disabled upstream is no way in");
    sqlx::query("UPDATE upstreams SET enabled = true WHERE id = 'old'")
        .execute(&fed.a.pool)
        .await
        .unwrap();
    let unlinked = fed
        .a
        .submit(
            "/account/upstreams/unlink",
            &[("csrf", &csrf), ("upstream", "b"), ("subject", &subject)],
        )
        .await;
    assert_eq!(unlinked.status(), 303, "positive control: enabled, it is one");
}

#[tokio::test]
async fn starts_from_one_ipv6_64_are_counted_together() {
    let a = TestApp::builder()
        .config(|c| c.trusted_proxies = vec![lanyard::config::Cidr::parse("127.0.0.1").unwrap()])
        .spawn()
        .await;
    let op = mock_op().await;
    connect_upstream(&a, "mock", &op.issuer, MOCK_CLIENT, UpstreamSettings::default()).await;

    for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"] {
        let res = a
            .client
            .get(a.url("/signin/upstream/mock"))
            .header("X-Forwarded-For", ip)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }

    let counts: Vec<(String, i32)> =
        sqlx::query_as("SELECT key, attempts FROM login_throttle WHERE key LIKE 'upstream-ip:%' ORDER BY key")
            .fetch_all(&a.pool)
            .await
            .unwrap();
    assert_eq!(
        counts,
        [
            ("upstream-ip:2001:db8:1:2::/64".to_owned(), 2),
            ("upstream-ip:2001:db8:1:3::/64".to_owned(), 1)
        ]
    );
}
