//! OpenID Connect Back-Channel Logout 1.0: every way a session ends sends a
//! logout token to the clients of that session (and no other), the token
//! follows §2.4, delivery follows §2.5 (a form POST, 200 or 204, no
//! redirect followed), failures are retried and then given up (audited), two
//! nodes never send one token twice, and the queue keeps its limit.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::TimeDelta;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, RS256};
use lanyard::clock::Clock as _;
use lanyard::protocol::backchannel_logout::{Pass, deliver_due};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    ClientSpec, LogoutReceiver, PASSWORD, TestApp, TestClient, auth_url, crate_authorize, crate_client, crate_redeem,
    create_client, create_user, hidden_field, jwt_claims, jwt_header, location, new_browser, query_param,
};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// An app whose logout worker waits an hour (the tests run passes
/// themselves), and a receiver.
async fn bcl_app() -> (TestApp, LogoutReceiver) {
    let app = TestApp::builder()
        .config(|c| c.logout_every = Duration::from_secs(3600))
        .spawn()
        .await;
    (app, LogoutReceiver::start().await)
}

/// A first-party client whose back-channel logout URI is the receiver's.
async fn rp(app: &TestApp, rx: &LogoutReceiver, id: &str) -> TestClient {
    create_client(
        app,
        ClientSpec {
            id,
            backchannel_logout_uri: Some(rx.uri(id)),
            ..Default::default()
        },
    )
    .await
}

/// One pass of the logout worker.
async fn deliver(app: &TestApp) -> Pass {
    deliver_due(&app.provider).await.expect("a pass over the logout outbox")
}

/// ada signs in to `client` on `browser`; her id_token.
async fn id_token_of(browser: &TestApp, client: &TestClient) -> String {
    let tokens = browser.tokens(client, "openid", "ada").await;
    tokens["id_token"].as_str().expect("an id_token").to_owned()
}

fn sid_of(id_token: &str) -> String {
    jwt_claims(id_token)["sid"]
        .as_str()
        .expect("an id_token names its session")
        .to_owned()
}

/// ada signed in twice: in the app's browser (session A: `rp1`, `rp2` and
/// `plain`, which registered no logout URI) and in another browser
/// (session B: `rp1` only).
struct Scene {
    app: TestApp,
    other: TestApp,
    rx: LogoutReceiver,
    sub: Uuid,
    id_token_a: String,
    sid_a: String,
    sid_b: String,
}

async fn scene() -> Scene {
    let (app, rx) = bcl_app().await;
    let sub = create_user(&app, "ada").await;
    let (rp1, rp2) = (rp(&app, &rx, "rp1").await, rp(&app, &rx, "rp2").await);
    let plain = create_client(
        &app,
        ClientSpec {
            id: "plain",
            ..Default::default()
        },
    )
    .await;
    let id_token_a = id_token_of(&app, &rp1).await;
    app.tokens(&rp2, "openid", "ada").await;
    app.tokens(&plain, "openid", "ada").await;
    app.clock.advance(TimeDelta::seconds(1));
    let other = app.with_browser(new_browser());
    let id_token_b = id_token_of(&other, &rp1).await;
    let (sid_a, sid_b) = (sid_of(&id_token_a), sid_of(&id_token_b));
    assert_ne!(sid_a, sid_b, "two sessions");
    assert_eq!(
        deliver(&app).await,
        Pass::default(),
        "nothing is sent while the sessions live"
    );
    Scene {
        app,
        other,
        rx,
        sub,
        id_token_a,
        sid_a,
        sid_b,
    }
}

impl Scene {
    /// Runs the worker and returns what arrived: (client, sid) pairs.
    async fn delivered(&self) -> BTreeSet<(String, String)> {
        deliver(&self.app).await;
        self.rx
            .received()
            .iter()
            .map(|r| {
                let client = r.path.trim_start_matches("/bcl/").to_owned();
                let sid = jwt_claims(r.logout_token().expect("a logout_token"))["sid"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                (client, sid)
            })
            .collect()
    }

    async fn disable_ada(&self) {
        lanyard::admin::users::set_disabled(&self.app.pool, &self.app.clock, self.sub, true)
            .await
            .unwrap();
    }

    async fn admin_ends_session_a(&self) {
        let a = session_id(&self.app, &self.sid_a).await;
        lanyard::admin::users::end_session(&self.app.pool, &self.app.clock, a)
            .await
            .unwrap();
    }

    fn only_session_a(&self) -> BTreeSet<(String, String)> {
        [("rp1", &self.sid_a), ("rp2", &self.sid_a)]
            .into_iter()
            .map(|(c, s)| (c.to_owned(), s.clone()))
            .collect()
    }

    fn both_sessions(&self) -> BTreeSet<(String, String)> {
        let mut all = self.only_session_a();
        all.insert(("rp1".into(), self.sid_b.clone()));
        all
    }
}

/// POSTs an account form of `browser` with its page's CSRF token.
async fn account_change(browser: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = browser.visit("/account").await.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf").expect("the account page");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.submit(path, &form).await
}

async fn session_id(app: &TestApp, sid: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM sessions WHERE sid = $1")
        .bind(sid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// `/metrics` counts these logout deliveries by outcome.
async fn assert_counted(app: &TestApp, counts: &[(&str, u32)]) {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for (outcome, n) in counts {
        let line = format!("lanyard_logout_deliveries_total{{outcome=\"{outcome}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

/// Verifies a JWT's signature with the key of `/jwks` its `kid` names.
async fn verify_with_jwks(app: &TestApp, jwt: &str) -> Value {
    let header = jwt_header(jwt);
    let jwks = app.get_json("/jwks").await;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published");
    let jwk = Jwk::from_bytes(serde_json::to_vec(key).unwrap()).unwrap();
    let verified = match header["alg"].as_str().unwrap() {
        "RS256" => josekit::jws::deserialize_compact(jwt, &RS256.verifier_from_jwk(&jwk).unwrap()),
        "ES256" => josekit::jws::deserialize_compact(jwt, &ES256.verifier_from_jwk(&jwk).unwrap()),
        "EdDSA" => josekit::jws::deserialize_compact(jwt, &EdDSA.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) = verified.expect("the signature verifies with the published key");
    serde_json::from_slice(&payload).unwrap()
}

// ---- which sessions, which clients ----

#[tokio::test]
async fn rp_initiated_logout_sends_a_logout_token_to_each_client_of_that_session_only() {
    let s = scene().await;
    let mut url = url::Url::parse(&s.app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &s.id_token_a)
        .append_pair("post_logout_redirect_uri", "https://rp1.example/bye");
    let res = s.app.visit(url.as_str()).await;
    assert_eq!(location(&res), "https://rp1.example/bye", "signed out");
    assert_eq!(s.delivered().await, s.only_session_a(), "not `plain`, not session B");
}

#[tokio::test]
async fn ending_one_session_on_the_account_page_sends_its_logout_only() {
    let s = scene().await;
    let b = session_id(&s.app, &s.sid_b).await;
    let res = account_change(&s.app, "/account/sessions/end", &[("session", &b.to_string())]).await;
    assert_eq!(location(&res), "/account?done=session");
    let expected: BTreeSet<_> = [("rp1".to_owned(), s.sid_b.clone())].into_iter().collect();
    assert_eq!(s.delivered().await, expected);
}

#[tokio::test]
async fn signing_out_everywhere_else_sends_the_other_sessions_logouts() {
    let s = scene().await;
    let res = account_change(&s.other, "/account/sessions/end-others", &[]).await;
    assert_eq!(location(&res), "/account?done=others");
    assert_eq!(s.delivered().await, s.only_session_a(), "session B stays");
}

#[tokio::test]
async fn a_password_change_on_the_account_page_sends_the_other_sessions_logouts() {
    let s = scene().await;
    let new = "a new secret phrase";
    let form = [
        ("current_password", PASSWORD),
        ("new_password", new),
        ("new_password_again", new),
    ];
    let res = account_change(&s.other, "/account/password", &form).await;
    assert_eq!(location(&res), "/account?done=password");
    assert_eq!(s.delivered().await, s.only_session_a());
}

#[tokio::test]
async fn an_admin_ending_a_session_sends_its_logout() {
    let s = scene().await;
    s.admin_ends_session_a().await;
    assert_eq!(s.delivered().await, s.only_session_a());
}

#[tokio::test]
async fn disabling_a_user_sends_the_logouts_of_all_their_sessions() {
    let s = scene().await;
    s.disable_ada().await;
    assert_eq!(s.delivered().await, s.both_sessions());
}

#[tokio::test]
async fn an_admin_password_reset_sends_the_logouts_of_all_their_sessions() {
    let s = scene().await;
    lanyard::admin::users::reset_password(&s.app.pool, &s.app.clock, s.sub, "another long phrase".into())
        .await
        .unwrap();
    assert_eq!(s.delivered().await, s.both_sessions());
}

#[tokio::test]
async fn deleting_a_user_sends_the_logouts_of_all_their_sessions() {
    let s = scene().await;
    lanyard::admin::users::delete(&s.app.pool, &s.app.clock, s.sub)
        .await
        .unwrap();
    assert_eq!(s.delivered().await, s.both_sessions(), "sent although the user is gone");
}

#[tokio::test]
async fn signing_in_as_someone_else_in_the_same_browser_sends_the_old_sessions_logouts() {
    let s = scene().await;
    create_user(&s.app, "bob").await;
    let bobs = create_client(
        &s.app,
        ClientSpec {
            id: "bobs",
            ..Default::default()
        },
    )
    .await;
    let again = auth_url(&s.app, &bobs, "openid", &[("prompt", "login")]);
    let res = s.app.authorize(&again.url, "bob").await;
    assert!(query_param(&location(&res), "code").is_some(), "bob signed in");
    assert_eq!(s.delivered().await, s.only_session_a());
}

#[tokio::test]
async fn a_session_ended_twice_sends_its_logout_once() {
    let s = scene().await;
    s.admin_ends_session_a().await;
    s.admin_ends_session_a().await;
    assert_eq!(s.delivered().await, s.only_session_a());
    assert_eq!(s.rx.received().len(), 2, "one per client");
}

#[tokio::test]
async fn a_code_redeemed_after_its_session_ended_still_gets_the_logout() {
    let (app, rx) = bcl_app().await;
    let sub = create_user(&app, "ada").await;
    let client = rp(&app, &rx, "rp1").await;
    let (code, auth) = app.code_for(&client, "openid", "ada").await;
    lanyard::admin::users::end_session(&app.pool, &app.clock, only_session(&app, sub).await)
        .await
        .unwrap();
    deliver(&app).await;
    assert!(rx.received().is_empty(), "no tokens yet, no logout");
    let id_token = app.redeem(&client, &code, &auth.verifier).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    deliver(&app).await;
    let tokens = rx.tokens_for("rp1");
    assert_eq!(tokens.len(), 1, "the client that got tokens is told");
    assert_eq!(jwt_claims(&tokens[0])["sid"], sid_of(&id_token));
}

#[tokio::test]
async fn a_code_redeemed_while_its_session_ends_gets_the_logout_once() {
    let (app, rx) = bcl_app().await;
    let sub = create_user(&app, "ada").await;
    let client = rp(&app, &rx, "rp1").await;
    let mut expected = 0;
    for _ in 0..8 {
        let browser = app.with_browser(new_browser());
        let (code, auth) = browser.code_for(&client, "openid", "ada").await;
        let session = only_session(&app, sub).await;
        let (redeemed, ended) = tokio::join!(
            browser.try_redeem(&client, &code, &auth.verifier),
            lanyard::admin::users::end_session(&app.pool, &app.clock, session)
        );
        ended.unwrap();
        expected += usize::from(redeemed.status() == 200);
        deliver(&app).await;
        assert_eq!(
            rx.received().len(),
            expected,
            "each client that got tokens is told, once"
        );
    }
}

/// The session of `sub` that has not ended (there is one).
async fn only_session(app: &TestApp, sub: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL")
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

// ---- the logout token (§2.4) and its delivery (§2.5) ----

#[tokio::test]
async fn the_logout_token_carries_the_claims_of_the_spec_and_verifies_with_the_jwks() {
    let (app, rx) = bcl_app().await;
    let sub = create_user(&app, "ada").await;
    let client = create_client(
        &app,
        ClientSpec {
            id: "rp1",
            alg: "ES256",
            backchannel_logout_uri: Some(rx.uri("rp1")),
            ..Default::default()
        },
    )
    .await;
    let id_token = id_token_of(&app, &client).await;
    assert!(jwt_claims(&id_token)["nonce"].is_string(), "the sign-in had a nonce");
    lanyard::admin::users::set_disabled(&app.pool, &app.clock, sub, true)
        .await
        .unwrap();
    let sent_at = app.clock.now().timestamp();
    deliver(&app).await;

    let received = rx.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        (r.method.as_str(), r.content_type.as_str()),
        ("POST", "application/x-www-form-urlencoded")
    );
    let token = r.logout_token().unwrap();
    let header = jwt_header(token);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("logout+jwt"), Some("ES256"))
    );
    let claims = verify_with_jwks(&app, token).await;
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], "rp1");
    assert_eq!(claims["iat"], sent_at);
    assert_eq!(claims["exp"], sent_at + 120, "short-lived");
    assert!(Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok(), "a jti");
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert_eq!(
        claims["sid"].as_str(),
        Some(sid_of(&id_token).as_str()),
        "the id_token's sid"
    );
    assert_eq!(claims["sub"], sub.to_string());
    assert!(claims.get("nonce").is_none(), "never a nonce (§2.4)");
}

#[tokio::test]
async fn a_client_that_requires_sessions_gets_the_sid() {
    let (app, rx) = bcl_app().await;
    create_user(&app, "ada").await;
    let client = create_client(
        &app,
        ClientSpec {
            id: "rp1",
            backchannel_logout_uri: Some(rx.uri("rp1")),
            backchannel_logout_session_required: true,
            ..Default::default()
        },
    )
    .await;
    let id_token = id_token_of(&app, &client).await;
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &id_token);
    app.visit(url.as_str()).await;
    deliver(&app).await;
    let tokens = rx.tokens_for("rp1");
    assert_eq!(tokens.len(), 1);
    assert_eq!(jwt_claims(&tokens[0])["sid"].as_str(), Some(sid_of(&id_token).as_str()));
}

#[tokio::test]
async fn a_logout_token_is_no_id_token_and_no_access_token() {
    let s = scene().await;
    s.admin_ends_session_a().await;
    deliver(&s.app).await;
    let token = s.rx.tokens_for("rp1").remove(0);
    assert_eq!(s.app.userinfo(&token).await.status(), 401, "not an access token");
    let expect = s.app.provider.expect();
    assert!(
        s.app
            .provider
            .keys
            .verify_as::<lanyard::model::claims::IdTokenClaims>(&token, &expect)
            .is_err(),
        "not an id_token"
    );
    assert!(
        s.app
            .provider
            .keys
            .verify_as::<lanyard::model::claims::LogoutTokenClaims>(&token, &expect)
            .is_ok(),
        "positive control: a logout token"
    );
}

#[tokio::test]
async fn every_attempt_is_minted_when_sent_with_a_fresh_jti() {
    let s = scene().await;
    s.rx.fail_next(2);
    s.admin_ends_session_a().await;
    assert_eq!(deliver(&s.app).await.failed, 2);
    s.app.clock.advance(TimeDelta::seconds(31));
    assert_eq!(deliver(&s.app).await.sent, 2);
    let tokens = s.rx.tokens_for("rp1");
    let (first, retry) = (jwt_claims(&tokens[0]), jwt_claims(&tokens[1]));
    assert_ne!(first["jti"], retry["jti"], "a fresh jti");
    assert_eq!(
        retry["iat"].as_i64().unwrap() - first["iat"].as_i64().unwrap(),
        31,
        "minted when sent"
    );
}

/// What one pass makes of ada's three deliveries (she is disabled) when
/// the receiver answers `status`, and how many requests it got.
async fn pass_answered(status: u16) -> (Pass, usize) {
    let s = scene().await;
    s.rx.answer(status);
    s.disable_ada().await;
    (deliver(&s.app).await, s.rx.received().len())
}

#[tokio::test]
async fn a_204_answer_counts_as_delivered() {
    let sent = Pass {
        sent: 3,
        ..Pass::default()
    };
    assert_eq!(pass_answered(204).await, (sent, 3));
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_counts_as_a_failure() {
    let failed = Pass {
        failed: 3,
        ..Pass::default()
    };
    assert_eq!(
        pass_answered(302).await,
        (failed, 3),
        "nothing went to the redirect's target"
    );
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_then_given_up_and_audited() {
    let s = scene().await;
    s.rx.fail_next(usize::MAX);
    s.admin_ends_session_a().await;
    assert_eq!(deliver(&s.app).await.failed, 2, "first attempts");
    s.app.clock.advance(TimeDelta::seconds(29));
    assert_eq!(deliver(&s.app).await, Pass::default(), "not due before 30 s");
    s.app.clock.advance(TimeDelta::seconds(2));
    assert_eq!(deliver(&s.app).await.failed, 2, "second attempts");
    s.app.clock.advance(TimeDelta::seconds(59));
    assert_eq!(deliver(&s.app).await, Pass::default(), "then 60 s");
    s.app.clock.advance(TimeDelta::seconds(2));
    assert_eq!(deliver(&s.app).await.failed, 2, "third attempts");
    s.app.clock.advance(TimeDelta::hours(24));
    assert_eq!(deliver(&s.app).await.gave_up, 2, "a day later: given up");
    s.app.clock.advance(TimeDelta::hours(2));
    assert_eq!(deliver(&s.app).await, Pass::default(), "never again");

    s.app.audit_written().await;
    let audited: Vec<(String, Option<String>, Value)> = sqlx::query_as(
        "SELECT outcome, client_id, details FROM audit_events WHERE kind = 'backchannel_logout' ORDER BY occurred_at",
    )
    .fetch_all(&s.app.pool)
    .await
    .unwrap();
    let gave_up: Vec<_> = audited.iter().filter(|(o, _, _)| o == "gave_up").collect();
    assert_eq!(gave_up.len(), 2, "{audited:?}");
    assert!(
        gave_up
            .iter()
            .all(|(_, _, d)| d["sid"] == s.sid_a.as_str() && d["attempts"] == 4)
    );
    let clients: BTreeSet<_> = gave_up.iter().filter_map(|(_, c, _)| c.clone()).collect();
    assert_eq!(clients, ["rp1".to_owned(), "rp2".to_owned()].into_iter().collect());
    assert_counted(&s.app, &[("gave_up", 2), ("failed", 6)]).await;
}

#[tokio::test]
async fn deliveries_are_audited_and_counted_in_metrics() {
    let s = scene().await;
    s.disable_ada().await;
    deliver(&s.app).await;
    s.app.audit_written().await;
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE kind = 'backchannel_logout' AND outcome = 'sent' AND client_id IS NOT NULL",
    )
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert_eq!(sent, 3);
    assert_counted(&s.app, &[("sent", 3)]).await;
}

#[tokio::test]
async fn a_client_that_lost_its_logout_uri_is_given_up_at_once() {
    let s = scene().await;
    s.admin_ends_session_a().await;
    sqlx::query("UPDATE clients SET backchannel_logout_uri = NULL WHERE client_id = 'rp2'")
        .execute(&s.app.pool)
        .await
        .unwrap();
    s.app.settle().await;
    assert_eq!(
        deliver(&s.app).await,
        Pass {
            sent: 1,
            gave_up: 1,
            ..Pass::default()
        }
    );
}

// ---- across nodes, and the queue's limit ----

#[tokio::test]
async fn two_nodes_never_send_the_same_logout_token_twice() {
    let (app, rx) = bcl_app().await;
    let sub = create_user(&app, "ada").await;
    let client = rp(&app, &rx, "rp1").await;
    let sessions = 25; // more than one pass of one node claims
    for _ in 0..sessions {
        app.with_browser(new_browser()).tokens(&client, "openid", "ada").await;
    }
    let issuer = app.config.issuer.clone();
    let second = TestApp::builder()
        .on(app.db.clone())
        .config(move |c| {
            c.issuer = issuer;
            c.logout_every = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    lanyard::admin::users::set_disabled(&app.pool, &app.clock, sub, true)
        .await
        .unwrap();
    let mut sent = 0;
    for _ in 0..10 {
        let (one, two) = tokio::join!(deliver(&app), deliver(&second));
        sent += one.sent + two.sent;
    }
    let sids: BTreeSet<String> = rx.tokens_for("rp1").iter().map(|t| sid_of(t)).collect();
    assert_eq!((sent, rx.received().len(), sids.len()), (sessions, sessions, sessions));
}

#[tokio::test]
async fn past_its_limit_the_queue_gives_up_the_oldest_and_audits_it() {
    let rx = LogoutReceiver::start().await;
    let app = TestApp::builder()
        .config(|c| {
            c.logout_every = Duration::from_secs(3600);
            c.logout_queue_limit = 2;
        })
        .spawn()
        .await;
    create_user(&app, "ada").await;
    let client = rp(&app, &rx, "rp1").await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        let browser = app.with_browser(new_browser());
        let id_token = id_token_of(&browser, &client).await;
        let sid = sid_of(&id_token);
        let id = session_id(&app, &sid).await;
        lanyard::admin::users::end_session(&app.pool, &app.clock, id)
            .await
            .unwrap();
        app.clock.advance(TimeDelta::seconds(1));
        sids.push(sid);
    }
    assert_eq!(
        deliver(&app).await,
        Pass {
            sent: 2,
            dropped: 1,
            ..Pass::default()
        }
    );
    let sent: BTreeSet<String> = rx.tokens_for("rp1").iter().map(|t| sid_of(t)).collect();
    assert_eq!(sent, sids[1..].iter().cloned().collect(), "the oldest was dropped");
    app.audit_written().await;
    let details: Value = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE kind = 'backchannel_logout' AND outcome = 'dropped'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(details, json!({ "count": 1, "clients": { "rp1": 1 } }));
}

#[tokio::test]
async fn the_worker_delivers_by_itself_on_every_node() {
    let app = TestApp::builder()
        .config(|c| c.logout_every = Duration::from_millis(100))
        .spawn()
        .await;
    let rx = LogoutReceiver::start().await;
    let sub = create_user(&app, "ada").await;
    let client = rp(&app, &rx, "rp1").await;
    app.tokens(&client, "openid", "ada").await;
    lanyard::admin::users::set_disabled(&app.pool, &app.clock, sub, true)
        .await
        .unwrap();
    assert!(rx.wait_for(1).await, "delivered without a call");
}

// ---- the relying party of the openidconnect crate ----

#[tokio::test]
async fn the_openidconnect_relying_party_gets_a_back_channel_logout_when_the_person_signs_out_elsewhere() {
    let (app, rx) = bcl_app().await;
    let sub = create_user(&app, "ada").await;
    let registered = rp(&app, &rx, "shop").await;
    let client = crate_client(&app, &registered).await;
    let (url, verifier, _, nonce) = crate_authorize(&client, &["profile"]);
    let code = query_param(&location(&app.authorize(url.as_str(), "ada").await), "code").unwrap();
    let tokens = crate_redeem(&client, code, verifier).await;
    use openidconnect::TokenResponse as _;
    let id_token = tokens.id_token().expect("an id_token");
    id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the crate verifies it");
    let sid = sid_of(&id_token.to_string());

    // Elsewhere: ada signs in on another browser and signs out everywhere else.
    let elsewhere = app.with_browser(new_browser());
    let page = elsewhere
        .visit("/signin?return_to=/account")
        .await
        .text()
        .await
        .unwrap();
    elsewhere.sign_in_on(&page, "ada", PASSWORD).await;
    account_change(&elsewhere, "/account/sessions/end-others", &[]).await;
    deliver(&app).await;

    let tokens = rx.tokens_for("shop");
    assert_eq!(tokens.len(), 1);
    let claims = verify_with_jwks(&app, &tokens[0]).await;
    assert_eq!(
        (claims["sid"].as_str(), claims["sub"].as_str(), claims["aud"].as_str()),
        (Some(sid.as_str()), Some(sub.to_string().as_str()), Some("shop"))
    );
    assert_eq!(claims["events"], json!({ EVENT: {} }));
}

// ---- discovery and registration ----

#[tokio::test]
async fn discovery_says_back_channel_logout_with_sessions_is_supported() {
    let (app, _) = bcl_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn a_logout_uri_must_be_https_or_loopback_http_without_a_fragment() {
    let (app, _) = bcl_app().await;
    let input = |id: &str, uri: &str| lanyard::admin::clients::NewClientInput {
        client_id: id.into(),
        redirect_uris: vec!["https://rp.example/cb".into()],
        backchannel_logout_uri: Some(uri.into()),
        ..Default::default()
    };
    let create = |i| async { lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), i).await };
    assert!(
        create(input("ok", "https://rp.example/bcl")).await.is_ok(),
        "positive control"
    );
    for (id, bad) in [
        ("plain-http", "http://rp.example/bcl"),
        ("fragment", "https://rp.example/bcl#x"),
        ("relative", "/bcl"),
    ] {
        let refused = create(input(id, bad)).await.expect_err(bad);
        assert!(
            refused.to_string().contains("backchannel-logout-uri"),
            "{bad}: {refused}"
        );
    }
    let no_uri = lanyard::admin::clients::NewClientInput {
        client_id: "no-uri".into(),
        redirect_uris: vec!["https://rp.example/cb".into()],
        backchannel_logout_session_required: true,
        ..Default::default()
    };
    assert!(create(no_uri).await.is_err(), "session_required needs a URI");
}

#[tokio::test]
async fn the_cli_sets_and_clears_a_clients_back_channel_logout_uri() {
    let (app, _) = bcl_app().await;
    let stored = || async {
        sqlx::query_as::<_, (Option<String>, bool)>(
            "SELECT backchannel_logout_uri, backchannel_logout_session_required FROM clients WHERE client_id = 'rp1'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    crate::support::lanyard(&[
        "client",
        "create",
        "rp1",
        "--redirect-uri",
        "https://rp.example/cb",
        "--backchannel-logout-uri",
        "https://rp.example/bcl",
        "--backchannel-logout-session-required",
        "--json",
    ])
    .run_on(&app.db)
    .await
    .assert_ok();
    assert_eq!(stored().await, (Some("https://rp.example/bcl".into()), true));
    crate::support::lanyard(&["client", "update", "rp1", "--name", "RP one"])
        .run_on(&app.db)
        .await
        .assert_ok();
    assert_eq!(
        stored().await,
        (Some("https://rp.example/bcl".into()), true),
        "kept when not named"
    );
    crate::support::lanyard(&[
        "client",
        "update",
        "rp1",
        "--backchannel-logout-uri",
        "",
        "--backchannel-logout-session-required=false",
    ])
    .run_on(&app.db)
    .await
    .assert_ok();
    assert_eq!(stored().await, (None, false), "cleared");
    crate::support::lanyard(&[
        "client",
        "update",
        "rp1",
        "--backchannel-logout-uri",
        "http://rp.example/bcl",
    ])
    .run_on(&app.db)
    .await
    .assert_refused("backchannel-logout-uri");
}

#[tokio::test]
async fn housekeeping_deletes_finished_deliveries_once_their_retention_passes() {
    let s = scene().await;
    s.disable_ada().await;
    deliver(&s.app).await;
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM logout_outbox")
            .fetch_one(&s.app.pool)
            .await
            .unwrap()
    };
    let limits = lanyard::maintenance::Housekeeping::default();
    lanyard::maintenance::housekeep(&s.app.provider, &limits).await.unwrap();
    assert_eq!(rows().await, 3, "kept within the retention");
    s.app
        .clock
        .advance(s.app.config.lifetimes.expired_retention + TimeDelta::seconds(1));
    let done = crate::support::eventually(Duration::from_secs(5), || async {
        lanyard::maintenance::housekeep(&s.app.provider, &limits)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(done, "housekeeping ran");
    assert_eq!(rows().await, 0);
}

#[tokio::test]
async fn the_token_lab_recognises_a_logout_token_and_its_delivery() {
    let s = scene().await;
    let admin = s.app.with_browser(new_browser());
    crate::admin::sign_in_admin(&admin, "/admin").await;
    s.admin_ends_session_a().await;
    deliver(&s.app).await;
    let token = s.rx.tokens_for("rp1").remove(0);
    let html = crate::lab::explain(&admin, &token).await;
    assert!(
        html.contains("Valid: a genuine, unexpired Lanyard logout token."),
        "{html}"
    );
    assert!(html.contains("A logout token (typ logout+jwt"), "{html}");
    assert!(html.contains("Delivered to rp1 at"), "{html}");
}

#[tokio::test]
async fn the_audit_log_page_shows_deliveries_with_their_client_and_outcome() {
    let s = scene().await;
    let admin = s.app.with_browser(new_browser());
    crate::admin::sign_in_admin(&admin, "/admin").await;
    s.admin_ends_session_a().await;
    deliver(&s.app).await;
    s.app.audit_written().await;
    let html = admin
        .visit("/admin/audit?kind=backchannel_logout")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<option value="backchannel_logout" selected>"#),
        "a kind to filter by"
    );
    for client in ["rp1", "rp2"] {
        let row = format!("<td>backchannel_logout</td><td>sent</td><td></td><td>{client}</td>");
        assert!(html.contains(&row), "{row} in {html}");
    }
}

#[tokio::test]
async fn a_receiver_refusing_with_400_is_given_up_at_once() {
    // §2.8: 400 means the request was invalid or the logout failed: the same
    // token would fail again.
    let s = scene().await;
    s.rx.answer(400);
    s.admin_ends_session_a().await;

    let pass = deliver(&s.app).await;

    assert_eq!((pass.gave_up, pass.failed), (2, 0), "{pass:?}");
    s.app.clock.advance(TimeDelta::hours(1));
    assert_eq!(deliver(&s.app).await, Pass::default(), "never tried again");
}

#[tokio::test]
async fn a_backlog_for_one_client_does_not_hold_back_the_others() {
    let s = scene().await;
    // 25 older deliveries wait for rp1 (more than one pass claims).
    let an_hour_ago = s.app.clock.now() - TimeDelta::hours(1);
    for n in 0..25 {
        sqlx::query(
            "INSERT INTO logout_outbox (id, client_id, sub, sid, created_at, next_attempt_at) VALUES ($1, 'rp1', $2, $3, $4, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(s.sub.to_string())
        .bind(format!("old-session-{n}"))
        .bind(an_hour_ago)
        .execute(&s.app.pool)
        .await
        .unwrap();
    }
    s.admin_ends_session_a().await;

    deliver(&s.app).await;

    assert_eq!(s.rx.tokens_for("rp2").len(), 1, "rp2's logout went in the first pass");
}

#[tokio::test]
async fn an_outcome_is_not_written_over_a_delivery_given_up_meanwhile() {
    use lanyard::store::outbox::{self, Attempt, Queue};
    let s = scene().await;
    s.admin_ends_session_a().await;
    let now = s.app.clock.now();
    let mut conn = s.app.pool.acquire().await.unwrap();
    let claimed: Vec<lanyard::store::logout_outbox::LogoutRow> =
        outbox::claim_due(&mut conn, Queue::Logout, now, TimeDelta::minutes(5), 1)
            .await
            .unwrap();
    let row = &claimed[0];
    // Meanwhile the queue was full and the row was given up.
    sqlx::query("UPDATE logout_outbox SET failed_at = $2, last_error = 'the queue was full' WHERE id = $1")
        .bind(row.id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .unwrap();

    let this = Attempt {
        id: row.id,
        attempts: row.attempts,
    };
    let retried = outbox::mark_failed(&mut conn, Queue::Logout, this, "503", Some(now), now)
        .await
        .unwrap();
    let sent = outbox::mark_sent(&mut conn, Queue::Logout, this, now).await.unwrap();

    assert_eq!((retried, sent), (false, false));
    let (sent_at, failed): (Option<chrono::DateTime<chrono::Utc>>, bool) =
        sqlx::query_as("SELECT sent_at, failed_at IS NOT NULL FROM logout_outbox WHERE id = $1")
            .bind(row.id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!((sent_at, failed), (None, true), "still given up, never sent");
}

#[tokio::test]
async fn a_delivery_reads_the_client_from_the_database_not_a_stale_catalog() {
    let (app, rx) = bcl_app().await;
    create_user(&app, "ada").await;
    // A node whose catalog was read before the client existed, and never again.
    let catalog = lanyard::catalog::Catalog::load(&app.pool).await.unwrap();
    let stale = lanyard::protocol::Provider::new(
        app.provider.config.clone(),
        app.pool.clone(),
        app.provider.keys.clone(),
        std::sync::Arc::new(catalog),
        app.provider.clock.clone(),
        lanyard::protocol::DerivedKeys::from_master(&crate::support::master_key()),
    )
    .unwrap();
    let client = rp(&app, &rx, "rp1").await;
    let id_token = id_token_of(&app, &client).await;
    let session = session_id(&app, &sid_of(&id_token)).await;
    lanyard::admin::users::end_session(&app.pool, &app.clock, session)
        .await
        .unwrap();
    let pass = deliver_due(&stale).await.unwrap();
    assert_eq!(
        pass,
        Pass {
            sent: 1,
            ..Pass::default()
        },
        "the stale node still finds the client"
    );
    assert_eq!(rx.tokens_for("rp1").len(), 1);
}

#[tokio::test]
async fn a_loopback_http_logout_uri_needs_an_http_issuer() {
    let (app, _) = bcl_app().await;
    let create = |id: &'static str, uri: &'static str| {
        crate::support::lanyard(&[
            "client",
            "create",
            id,
            "--redirect-uri",
            "https://rp.example/cb",
            "--backchannel-logout-uri",
            uri,
        ])
    };
    // Under `lanyard dev` (an http issuer): a receiver on this machine.
    create("dev", "http://127.0.0.1:9/bcl")
        .env("LANYARD_ISSUER", "http://localhost:8080")
        .run_on(&app.db)
        .await
        .assert_ok();
    // A deployment (an https issuer): https only.
    create("prod", "http://127.0.0.1:9/bcl")
        .env("LANYARD_ISSUER", "https://id.example.test")
        .run_on(&app.db)
        .await
        .assert_refused("https");
    create("prod", "https://rp.example/bcl")
        .env("LANYARD_ISSUER", "https://id.example.test")
        .run_on(&app.db)
        .await
        .assert_ok();
}
