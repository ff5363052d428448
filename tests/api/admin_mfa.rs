//! `LANYARD_ADMIN_REQUIRE_MFA`: administrators sign in with a second factor
//! for the admin pages and for user tokens of the admin API; an admin (or
//! `lanyard user mfa --reset`) removes a person's second factors, audited.

use serde_json::Value;

use crate::support::{
    ClientSpec, TestApp, allow, auth_url, create_client, create_user, hidden_field, lanyard, location, query_param,
};
use crate::two_step::{second_step, set_up_authenticator, sign_in};

async fn app_requiring_mfa() -> TestApp {
    TestApp::builder().config(|c| c.admin_require_mfa = true).spawn().await
}

async fn create_admin(app: &TestApp, username: &str) -> uuid::Uuid {
    let sub = create_user(app, username).await;
    lanyard::admin::users::set_admin(&app.pool, sub, true).await.unwrap();
    sub
}

#[tokio::test]
async fn an_admin_page_asks_an_admin_signed_in_with_a_password_for_the_second_step() {
    let app = app_requiring_mfa().await;
    create_admin(&app, "root").await;
    sign_in(&app, "root").await;
    let res = app.visit("/admin/clients").await;
    assert_eq!(res.status(), 403, "no second factor yet");
    assert!(res.text().await.unwrap().contains("/account/two-step"));
    let authenticator = set_up_authenticator(&app).await;
    let res = app.visit("/admin/clients").await;
    assert_eq!(location(&res), "/signin/step?return_to=%2Fadmin%2Fclients");
    let html = app.visit(&location(&res)).await.text().await.unwrap();
    let res = second_step(&app, &html, &authenticator.next_code(&app)).await;
    assert_eq!(location(&res), "/admin/clients");
    assert_eq!(app.visit("/admin/clients").await.status(), 200);
}

#[tokio::test]
async fn a_password_only_admin_token_is_refused_by_the_admin_api_with_a_step_up_challenge() {
    // A token got from a node that asks no second factor of admins, used at
    // one that does (the same issuer and database).
    let lenient = crate::support::spawn_app().await;
    let root = create_admin(&lenient, "root").await;
    create_admin(&lenient, "other-admin").await;
    let rp = create_client(&lenient, ClientSpec::exchanging()).await;
    allow(&lenient, "rp", &lenient.url("/admin"), &["admin"]).await;
    let auth = auth_url(&lenient, &rp, "openid admin", &[("resource", &lenient.url("/admin"))]);
    let to = location(&lenient.authorize(&auth.url, "root").await);
    let tokens = lenient
        .redeem(&rp, &query_param(&to, "code").unwrap(), &auth.verifier)
        .await;
    let token = tokens["access_token"].as_str().unwrap();
    let issuer = lenient.config.issuer.clone();
    let strict = TestApp::builder()
        .on(lenient.db.clone())
        .config(move |c| {
            c.issuer = issuer;
            c.admin_require_mfa = true;
        })
        .spawn()
        .await;
    let res = strict
        .client
        .get(strict.url("/admin/api/v1/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "RFC 9470 §3: {challenge}"
    );
    assert!(
        challenge.contains(r#"acr_values="mfa phishing-resistant""#),
        "{challenge}"
    );
    // Someone who is no administrator is not invited to step up: 403.
    lanyard::admin::users::set_admin(&lenient.pool, root, false)
        .await
        .unwrap();
    let res = strict
        .client
        .get(strict.url("/admin/api/v1/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "not an administrator: no step-up offered");
    lanyard::admin::users::set_admin(&lenient.pool, root, true)
        .await
        .unwrap();
    let ok = lenient
        .client
        .get(lenient.url("/admin/api/v1/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "positive control: the lenient node takes it");
    // At /token, the strict node refuses the admin API to a password sign-in.
    let res = strict
        .exchange(
            &rp,
            tokens["id_token"].as_str().unwrap(),
            &[("resource", &lenient.url("/admin"))],
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_user_authentication", "{body}");
}

#[tokio::test]
async fn an_admin_resets_a_persons_second_factors_audited() {
    let app = crate::support::spawn_app().await;
    let ada = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    set_up_authenticator(&app).await;
    let shown = lanyard(&["user", "mfa", "ada", "--json"]).db(&app.db).run().await;
    shown.assert_ok();
    assert_eq!(
        (
            shown.json()["totp"].clone(),
            shown.json()["recovery_codes_left"].clone()
        ),
        (Value::Bool(true), 10.into())
    );
    // The admin page resets them (a recent sign-in, a CSRF token).
    let admin = app.with_browser(crate::support::new_browser());
    create_admin(&admin, "root").await;
    sign_in(&admin, "root").await;
    let page = admin.visit(&format!("/admin/users/{ada}")).await.text().await.unwrap();
    assert!(page.contains("An authenticator app since"));
    let csrf = hidden_field(&page, "csrf").unwrap();
    let res = admin
        .submit(&format!("/admin/users/{ada}/factors"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    let shown = lanyard(&["user", "mfa", "ada", "--json"]).db(&app.db).run().await;
    assert_eq!(shown.json()["totp"], false, "removed");
    let other = app.with_browser(crate::support::new_browser());
    assert_eq!(
        sign_in(&other, "ada").await.status(),
        303,
        "the password alone signs in again"
    );
    app.audit_written().await;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'admin' AND reason = 'user: factors'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, 1, "audited");
}

#[tokio::test]
async fn lanyard_user_mfa_reset_removes_a_persons_second_factors() {
    let app = crate::support::spawn_app().await;
    create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    set_up_authenticator(&app).await;
    let run = lanyard(&["user", "mfa", "ada", "--reset"]).db(&app.db).run().await;
    run.assert_ok();
    assert!(run.stdout.contains("removed an authenticator app"), "{}", run.stdout);
    let rows: i64 =
        sqlx::query_scalar("SELECT (SELECT count(*) FROM user_totp) + (SELECT count(*) FROM recovery_codes)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows, 0);
    lanyard(&["user", "mfa", "nobody"])
        .db(&app.db)
        .run()
        .await
        .assert_refused("nobody");
}
