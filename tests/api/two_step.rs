//! Two-step sign-in with an authenticator app (TOTP, RFC 6238): setting it
//! up from one's account, the second step after the password, codes
//! accepted once, guesses throttled, recovery codes, and stepping a session
//! up when a request needs more (RFC 9470, OIDC Core §3.1.2.1).

use chrono::TimeDelta;
use lanyard::clock::Clock as _;
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

use crate::support::{
    ClientSpec, PASSWORD, TestApp, TestClient, allow, auth_url, create_api, create_client, create_user, hidden_field,
    jwt_claims, lanyard, location, new_browser, query_param, spawn_app,
};

const API: &str = "https://payments.example";

/// A person's authenticator app, as the test holds it.
pub struct Authenticator {
    secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

impl Authenticator {
    /// The code the app shows at the app's current time.
    pub fn code(&self, app: &TestApp) -> String {
        let totp = Builder::new()
            .with_secret(Secret::from(self.secret.clone()))
            .build()
            .expect("an RFC 6238 authenticator");
        totp.generate(app.clock.now().timestamp() as u64).to_string()
    }

    /// The code of the next time step (the clock moves on 30 s): a code not
    /// used yet.
    pub fn next_code(&self, app: &TestApp) -> String {
        app.clock.advance(TimeDelta::seconds(30));
        self.code(app)
    }
}

/// Signs the app's browser in with a password (on the sign-in page alone).
pub async fn sign_in(app: &TestApp, username: &str) -> reqwest::Response {
    let html = app.visit("/signin").await.text().await.unwrap();
    app.sign_in_on(&html, username, PASSWORD).await
}

/// Sets up an authenticator for the person signed in on the app's browser.
pub async fn set_up_authenticator(app: &TestApp) -> Authenticator {
    let html = app.visit("/account/two-step").await.text().await.unwrap();
    let secret = secret_on(&html);
    let authenticator = Authenticator {
        secret,
        recovery_codes: Vec::new(),
    };
    let res = confirm(app, &html, &authenticator.code(app)).await;
    assert_eq!(res.status(), 200);
    let codes = recovery_codes_on(&res.text().await.unwrap());
    Authenticator {
        recovery_codes: codes,
        ..authenticator
    }
}

fn secret_on(html: &str) -> Vec<u8> {
    let start = html.find("id=\"totp-secret\">").expect("the secret in text") + "id=\"totp-secret\">".len();
    let end = html[start..].find('<').unwrap() + start;
    let base32: String = html[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    Secret::try_from_base32(base32).expect("base32").as_bytes().to_vec()
}

fn recovery_codes_on(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_owned())
        .collect()
}

async fn confirm(app: &TestApp, setup_html: &str, code: &str) -> reqwest::Response {
    let form = [
        ("csrf", hidden_field(setup_html, "csrf").unwrap()),
        ("sealed", hidden_field(setup_html, "sealed").unwrap()),
        ("code", code.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.submit("/account/two-step", &form).await
}

/// Submits the second-step page `html` with `code`.
pub async fn second_step(app: &TestApp, html: &str, code: &str) -> reqwest::Response {
    assert!(html.contains("action=\"/signin/step\""), "the second-step page: {html}");
    let field = |name| hidden_field(html, name).unwrap_or_default();
    let form = [
        ("csrf", field("csrf")),
        ("request", field("request")),
        ("return_to", field("return_to")),
        ("mode", field("mode")),
        ("code", code.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.submit("/signin/step", &form).await
}

/// A new browser on the app, signed in with a password and a code from
/// `authenticator` (a multi-factor session).
pub async fn signed_in_with_code(app: &TestApp, username: &str, authenticator: &Authenticator) -> TestApp {
    let browser = app.with_browser(new_browser());
    let html = sign_in(&browser, username).await.text().await.unwrap();
    let res = second_step(&browser, &html, &authenticator.next_code(app)).await;
    assert_eq!(res.status(), 303, "signed in with the second step");
    browser
}

/// Ada with an authenticator, signed in (with her password only) on the app's browser.
async fn ada_with_authenticator() -> (TestApp, Authenticator) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    assert_eq!(sign_in(&app, "ada").await.status(), 303);
    let authenticator = set_up_authenticator(&app).await;
    (app, authenticator)
}

/// Another browser on the same app, which signs in with the password and
/// gets the second-step page.
async fn password_on_new_browser(app: &TestApp) -> (TestApp, String) {
    let other = app.with_browser(new_browser());
    let res = sign_in(&other, "ada").await;
    assert_eq!(res.status(), 200, "no redirect: a second step is due");
    let signed_in = res
        .cookies()
        .any(|c| c.name() == "lanyard_session" && !c.value().is_empty());
    assert!(!signed_in, "no session before the second step");
    let html = res.text().await.unwrap();
    (other, html)
}

fn session_cookie_set(res: &reqwest::Response) -> bool {
    res.cookies()
        .any(|c| c.name() == "lanyard_session" && !c.value().is_empty())
}

#[tokio::test]
async fn an_authenticator_is_set_up_with_a_code_and_gives_ten_recovery_codes() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    let html = app.visit("/account/two-step").await.text().await.unwrap();
    assert!(html.contains("<svg "), "a QR code drawn on the server");
    let secret = secret_on(&html);
    assert_eq!(secret.len(), 20, "160 bits (RFC 4226 §4)");
    let wrong = confirm(&app, &html, "000000").await;
    assert_eq!(wrong.status(), 400);
    let again = wrong.text().await.unwrap();
    assert_eq!(secret_on(&again), secret, "the same secret, to try again");
    let authenticator = Authenticator {
        secret,
        recovery_codes: Vec::new(),
    };
    let res = confirm(&app, &again, &authenticator.code(&app)).await;
    assert_eq!(res.status(), 200);
    let codes = recovery_codes_on(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10,
        "distinct"
    );
    let stored: String = sqlx::query_scalar("SELECT sealed_secret FROM user_totp")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let base32 = Secret::from(authenticator.secret.clone()).to_base32();
    assert!(!stored.contains(&base32), "the secret is sealed at rest");
    let hashed: i64 = sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE length(code_hash) = 32")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(hashed, 10, "recovery codes stored as 32-byte digests");
    let plain = lanyard::crypto::secret::sha256(&codes[0].replace('-', ""));
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE code_hash = $1")
        .bind(plain.to_vec())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        found, 0,
        "keyed by the master key: a copy of the database alone cannot test guesses"
    );
}

#[tokio::test]
async fn after_setup_a_password_alone_does_not_sign_in() {
    let (app, authenticator) = ada_with_authenticator().await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    let (other, _) = password_on_new_browser(&app).await;
    let auth = auth_url(&other, &rp, "openid", &[]);
    let html = other.visit(&auth.url).await.text().await.unwrap();
    let res = other.sign_in_on(&html, "ada", PASSWORD).await;
    let step = res.text().await.unwrap();
    let res = second_step(&other, &step, &authenticator.next_code(&app)).await;
    assert_eq!(res.status(), 303);
    assert!(session_cookie_set(&res));
    let to = location(&other.visit(&location(&res)).await);
    let code = query_param(&to, "code").expect("a code once the second step is done");
    let tokens = other.redeem(&rp, &code, &auth.verifier).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd", "otp", "mfa"]), json!("mfa")),
        "RFC 8176 methods and the level they reach"
    );
}

#[tokio::test]
async fn a_code_is_accepted_once() {
    let (app, authenticator) = ada_with_authenticator().await;
    let code = authenticator.next_code(&app);
    let (first, html) = password_on_new_browser(&app).await;
    assert_eq!(second_step(&first, &html, &code).await.status(), 303);
    let (second, html) = password_on_new_browser(&app).await;
    let res = second_step(&second, &html, &code).await;
    assert_eq!(res.status(), 401, "RFC 6238 §5.2: the same code again is refused");
    assert!(!session_cookie_set(&res));
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let (app, authenticator) = ada_with_authenticator().await;
    let (other, html) = password_on_new_browser(&app).await;
    for _ in 0..5 {
        assert_eq!(second_step(&other, &html, "000000").await.status(), 401);
    }
    let res = second_step(&other, &html, &authenticator.next_code(&app)).await;
    assert_eq!(
        res.status(),
        429,
        "the sixth guess in the window is refused, right or not"
    );
    assert!(res.headers().contains_key("retry-after"));
    app.clock.advance(TimeDelta::minutes(16));
    let (later, html) = password_on_new_browser(&app).await;
    let res = second_step(&later, &html, &authenticator.code(&app)).await;
    assert_eq!(res.status(), 303, "a new window");
}

#[tokio::test]
async fn each_recovery_code_signs_in_once() {
    let (app, authenticator) = ada_with_authenticator().await;
    let code = &authenticator.recovery_codes[3];
    let (first, html) = password_on_new_browser(&app).await;
    assert_eq!(second_step(&first, &html, &code.to_lowercase()).await.status(), 303);
    let (second, html) = password_on_new_browser(&app).await;
    assert_eq!(second_step(&second, &html, code).await.status(), 401, "spent");
    let res = second_step(&second, &html, &authenticator.recovery_codes[4]).await;
    assert_eq!(res.status(), 303, "another one still works");
}

#[tokio::test]
async fn a_pending_sign_in_completes_once_and_only_in_its_browser_flow() {
    let (app, authenticator) = ada_with_authenticator().await;
    let victim = app.with_browser(new_browser());
    let res = sign_in(&victim, "ada").await;
    let pending = res
        .cookies()
        .find(|c| c.name() == "lanyard_pending")
        .map(|c| format!("lanyard_pending={}", c.value()))
        .expect("a pending cookie");
    let html = res.text().await.unwrap();
    assert_eq!(
        second_step(&victim, &html, &authenticator.next_code(&app))
            .await
            .status(),
        303
    );
    // A copy of the pending cookie, after the sign-in completed.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&pending, &app.url("/").parse().unwrap());
    let copy = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .build()
        .unwrap();
    let attacker = app.with_browser(copy);
    let page = attacker.visit("/signin/step").await.text().await.unwrap();
    let res = second_step(&attacker, &page, &authenticator.next_code(&app)).await;
    assert_eq!(res.status(), 400, "spent: the sign-in completed once");
    assert!(!session_cookie_set(&res));
}

#[tokio::test]
async fn a_password_change_voids_a_pending_sign_in() {
    let (app, authenticator) = ada_with_authenticator().await;
    let (other, html) = password_on_new_browser(&app).await;
    lanyard(&["user", "update", "ada", "--password-stdin"])
        .db(&app.db)
        .stdin("a-whole-new-password-2026\n")
        .run()
        .await
        .assert_ok();
    let res = second_step(&other, &html, &authenticator.next_code(&app)).await;
    assert_eq!(res.status(), 400, "the sign-in under way is void");
    assert!(!session_cookie_set(&res));
}

#[tokio::test]
async fn a_sign_in_waits_five_minutes_at_most_for_its_second_step() {
    let (app, authenticator) = ada_with_authenticator().await;
    let (other, html) = password_on_new_browser(&app).await;
    app.clock.advance(TimeDelta::minutes(6));
    let res = second_step(&other, &html, &authenticator.code(&app)).await;
    assert_eq!(res.status(), 400);
    assert!(!session_cookie_set(&res));
    assert!(res.text().await.unwrap().contains("took too long"));
}

async fn min_acr(app: &TestApp, level: &str) {
    lanyard(&["api", "update", API, "--min-acr", level])
        .db(&app.db)
        .run()
        .await
        .assert_ok();
    app.settle().await;
}

async fn rp_with_api(app: &TestApp) -> TestClient {
    let rp = create_client(app, ClientSpec::exchanging()).await;
    create_api(app, API, &["pay"], None, &["rp"]).await;
    allow(app, "rp", API, &["pay"]).await;
    rp
}

#[tokio::test]
async fn a_session_below_an_apis_level_is_stepped_up_not_signed_in_again() {
    let (app, authenticator) = ada_with_authenticator().await;
    let rp = rp_with_api(&app).await;
    min_acr(&app, "mfa").await;
    let sid_before = jwt_claims(app.tokens(&rp, "openid", "ada").await["id_token"].as_str().unwrap())["sid"].clone();
    let auth = auth_url(&app, &rp, "openid", &[("resource", API)]);
    let html = app.visit(&auth.url).await.text().await.unwrap();
    assert!(!html.contains("name=\"password\""), "no password asked again");
    assert!(html.contains("Confirm it is you"), "{html}");
    let res = second_step(&app, &html, &authenticator.next_code(&app)).await;
    assert_eq!(res.status(), 303);
    let to = location(&app.visit(&location(&res)).await);
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code after the step-up: {to}"));
    let tokens = app.redeem(&rp, &code, &auth.verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(jwt_claims(id_token)["sid"], sid_before, "the same session, stepped up");
    assert_eq!(jwt_claims(id_token)["acr"], "mfa");
    let res = app.exchange(&rp, id_token, &[("resource", API)]).await;
    assert_eq!(res.status(), 200, "the API's level is reached");
    let exchanged: Value = res.json().await.unwrap();
    assert_eq!(jwt_claims(exchanged["access_token"].as_str().unwrap())["acr"], "mfa");
}

#[tokio::test]
async fn acr_values_ask_a_person_with_a_second_factor_for_it() {
    let (app, authenticator) = ada_with_authenticator().await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    // Without interaction, a wish is not asked for: the token says the level reached.
    let quiet = auth_url(&app, &rp, "openid", &[("acr_values", "mfa"), ("prompt", "none")]);
    let to = location(&app.visit(&quiet.url).await);
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code: {to}"));
    let tokens = app.redeem(&rp, &code, &quiet.verifier).await;
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["acr"], "password");
    // What must be reached, without interaction, is login_required.
    let essential = r#"{"id_token":{"acr":{"essential":true,"values":["mfa"]}}}"#;
    let must = auth_url(&app, &rp, "openid", &[("claims", essential), ("prompt", "none")]);
    let to = location(&app.visit(&must.url).await);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("login_required"),
        "OIDC Core §3.1.2.6: {to}"
    );
    let auth = auth_url(&app, &rp, "openid", &[("acr_values", "mfa")]);
    let html = app.visit(&auth.url).await.text().await.unwrap();
    let res = second_step(&app, &html, &authenticator.next_code(&app)).await;
    let to = location(&app.visit(&location(&res)).await);
    let tokens = app
        .redeem(&rp, &query_param(&to, "code").unwrap(), &auth.verifier)
        .await;
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["acr"], "mfa");
}

/// The account page's CSRF token, for its forms.
async fn account_csrf(app: &TestApp) -> String {
    let page = app.visit("/account").await.text().await.unwrap();
    hidden_field(&page, "csrf").expect("the account page's forms")
}

#[tokio::test]
async fn removing_the_authenticator_needs_a_csrf_token_a_recent_sign_in_and_the_second_step() {
    let (app, authenticator) = ada_with_authenticator().await;
    let res = app.submit("/account/two-step/remove", &[("csrf", "forged")]).await;
    assert_eq!(res.status(), 400, "CSRF");
    let csrf = account_csrf(&app).await;
    // This session signed in with the password alone (before the setup).
    let res = app.submit("/account/two-step/remove", &[("csrf", &csrf)]).await;
    assert_eq!(
        location(&res),
        "/signin/step?return_to=%2Faccount",
        "the second step first"
    );
    let html = app.visit(&location(&res)).await.text().await.unwrap();
    assert_eq!(
        second_step(&app, &html, &authenticator.next_code(&app)).await.status(),
        303
    );
    app.clock.advance(TimeDelta::minutes(16));
    let csrf = account_csrf(&app).await;
    let res = app.submit("/account/two-step/remove", &[("csrf", &csrf)]).await;
    assert!(location(&res).starts_with("/signin?reauth=1"), "a recent sign-in first");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM user_totp")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "nothing removed yet");
    let html = app.visit(&location(&res)).await.text().await.unwrap();
    let res = app.sign_in_on(&html, "ada", PASSWORD).await;
    let step = res.text().await.unwrap();
    assert_eq!(
        second_step(&app, &step, &authenticator.next_code(&app)).await.status(),
        303
    );
    let csrf = account_csrf(&app).await;
    let res = app.submit("/account/two-step/remove", &[("csrf", &csrf)]).await;
    assert_eq!(location(&res), "/account?done=two-step-removed");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM user_totp")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "removed");
}

#[tokio::test]
async fn setting_up_an_authenticator_ends_the_persons_other_sessions() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let elsewhere = app.with_browser(new_browser());
    assert_eq!(sign_in(&elsewhere, "ada").await.status(), 303);
    assert_eq!(sign_in(&app, "ada").await.status(), 303);
    set_up_authenticator(&app).await;
    let res = elsewhere.visit("/account").await;
    assert!(
        location(&res).starts_with("/signin?"),
        "the other browser is signed out"
    );
    assert_eq!(app.visit("/account").await.status(), 200, "this one stays");
}

#[tokio::test]
async fn the_account_page_shows_two_step_sign_in_and_renews_recovery_codes() {
    let (app, authenticator) = ada_with_authenticator().await;
    let page = app.visit("/account").await.text().await.unwrap();
    assert!(page.contains("Two-step sign-in is <strong>on</strong>"), "{page}");
    assert!(page.contains("<strong>10 unused recovery codes</strong>"));
    let res = app
        .submit("/account/recovery-codes", &[("csrf", &account_csrf(&app).await)])
        .await;
    assert_eq!(
        location(&res),
        "/signin/step?return_to=%2Faccount",
        "a password session proves the factor first"
    );
    let html = app.visit(&location(&res)).await.text().await.unwrap();
    second_step(&app, &html, &authenticator.next_code(&app)).await;
    let res = app
        .submit("/account/recovery-codes", &[("csrf", &account_csrf(&app).await)])
        .await;
    assert_eq!(res.status(), 200);
    let fresh = recovery_codes_on(&res.text().await.unwrap());
    assert_eq!(fresh.len(), 10);
    let (other, html) = password_on_new_browser(&app).await;
    assert_eq!(
        second_step(&other, &html, &authenticator.recovery_codes[0])
            .await
            .status(),
        401,
        "the old codes stopped working"
    );
    assert_eq!(second_step(&other, &html, &fresh[0]).await.status(), 303);
}

#[tokio::test]
async fn after_a_hundred_wrong_codes_in_a_row_codes_are_refused_and_a_recovery_code_still_signs_in() {
    let (app, authenticator) = ada_with_authenticator().await;
    // Ninety-nine wrong codes already counted (five per window would take days).
    sqlx::query("UPDATE user_totp SET failures = 99")
        .execute(&app.pool)
        .await
        .unwrap();
    let (other, html) = password_on_new_browser(&app).await;
    assert_eq!(
        second_step(&other, &html, "000000").await.status(),
        403,
        "the hundredth locks codes"
    );
    let res = second_step(&other, &html, &authenticator.next_code(&app)).await;
    assert_eq!(res.status(), 403, "the right code is refused now");
    assert!(res.text().await.unwrap().contains("recovery code"));
    let res = second_step(&other, &html, &authenticator.recovery_codes[0]).await;
    assert_eq!(res.status(), 303, "a recovery code still signs in");
}

#[tokio::test]
async fn a_code_is_read_with_the_space_apps_show() {
    let (app, authenticator) = ada_with_authenticator().await;
    let (other, html) = password_on_new_browser(&app).await;
    let code = authenticator.next_code(&app);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    assert_eq!(second_step(&other, &html, &spaced).await.status(), 303);
}
