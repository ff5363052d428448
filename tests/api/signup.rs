//! Self-registration, invitations and email verification (README
//! "Self-registration, invitations and email verification"): one test per
//! rule, each with its positive control.

use std::time::Duration;

use lanyard::config::SignupMode;
use lanyard::mail::worker::deliver_due;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};

use crate::support::*;

/// A good password under the default rules (15 characters or more, not
/// common, no context word).
const GOOD: &str = "a tidy violet stapler";

/// An app whose self-registration is `mode`, sending mail through `sink`
/// (if any); its worker waits an hour, so the test runs each pass itself.
async fn app_in(mode: SignupMode, sink: Option<&SmtpSink>) -> TestApp {
    let url = sink.map(SmtpSink::url);
    TestApp::builder()
        .config(move |c| {
            c.signup = mode;
            c.trusted_proxies = vec![lanyard::config::Cidr::parse("127.0.0.1").unwrap()];
            if let Some(url) = url {
                c.smtp_url = lanyard::config::SmtpUrl::parse(&url).unwrap();
            }
            c.mail_every = Duration::from_secs(3600);
        })
        .spawn()
        .await
}

/// Sends what waits in the outbox.
async fn deliver(app: &TestApp) {
    deliver_due(&app.provider.outbox())
        .await
        .expect("a pass over the outbox");
}

/// The registration form a page shows, filled in.
struct Form {
    username: String,
    email: String,
    password: String,
    again: String,
    /// From this client address (`X-Forwarded-For`, a trusted proxy).
    from: &'static str,
}

impl Form {
    fn new(username: &str, email: &str, password: &str) -> Self {
        Self {
            username: username.into(),
            email: email.into(),
            password: password.into(),
            again: password.into(),
            from: "198.51.100.1",
        }
    }
}

/// Opens the registration page at `path` (with its query) and posts `form` on it.
async fn register_at(app: &TestApp, path: &str, form: &Form) -> reqwest::Response {
    let page = app.visit(path).await;
    assert_eq!(page.status(), 200, "the registration page opens: {path}");
    let html = page.text().await.unwrap();
    let field = |name| hidden_field(&html, name).unwrap_or_default();
    let body = [
        ("csrf", field("csrf")),
        ("request", field("request")),
        ("invite", field("invite")),
        ("username", form.username.clone()),
        ("email", form.email.clone()),
        ("password", form.password.clone()),
        ("password_again", form.again.clone()),
    ];
    app.client
        .post(app.url("/signin/register"))
        .header("X-Forwarded-For", form.from)
        .form(&body)
        .send()
        .await
        .unwrap()
}

async fn register(app: &TestApp, form: &Form) -> reqwest::Response {
    register_at(app, "/signin/register", form).await
}

async fn user_count(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A user's email and whether it is verified.
async fn email_of(app: &TestApp, username: &str) -> (Option<String>, bool) {
    sqlx::query_as("SELECT email, email_verified FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// An invitation made as an administrator would; returns its token.
async fn invitation(app: &TestApp, email: &str, admin: bool) -> String {
    let actor = lanyard::admin::Actor::new(&app.provider, "test");
    let input = lanyard::admin::invitations::InviteInput {
        email: email.into(),
        is_admin: admin,
    };
    let made = lanyard::admin::invitations::invite_by(&actor, input)
        .await
        .expect("invited");
    query_param(&made.invitation_url, "invite").expect("a token in the link")
}

/// The messages the sink got for `to`.
fn mail_to(sink: &SmtpSink, to: &str) -> Vec<SunkMail> {
    sink.messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t == to))
        .collect()
}

/// Opens a verification link and presses its button; returns the answer.
async fn verify(app: &TestApp, link: &str) -> reqwest::Response {
    let page = app.visit(link).await;
    assert_eq!(page.status(), 200, "the link opens the confirm page");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Verify my address"),
        "a button, nothing spent yet: {html}"
    );
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("token", hidden_field(&html, "token").unwrap()),
    ];
    app.client
        .post(app.url("/signin/verify-email"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Whether the sign-in page links to the registration page.
async fn offers_registration(app: &TestApp) -> bool {
    app.get("/signin")
        .await
        .text()
        .await
        .unwrap()
        .contains("Create an account")
}

/// Audit events of `kind` with `outcome` and `reason`, once the buffer is written.
async fn events(app: &TestApp, kind: &str, outcome: &str, reason: &str) -> i64 {
    app.audit_written().await;
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = $1 AND outcome = $2 AND reason = $3")
        .bind(kind)
        .bind(outcome)
        .bind(reason)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// ada (and the other `users`) exist, ada signed in with `app`'s browser.
async fn ada_signed_in(app: &TestApp, others: &[&str]) {
    create_user(app, "ada").await;
    for name in others {
        create_user(app, name).await;
    }
    let html = app.get("/signin").await.text().await.unwrap();
    assert_eq!(app.sign_in_on(&html, "ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn registration_is_refused_when_signup_is_off() {
    // Positive control: with `open` the page opens and the sign-in page links to it.
    let open = app_in(SignupMode::Open, None).await;
    assert_eq!(open.get("/signin/register").await.status(), 200);
    assert!(offers_registration(&open).await);

    // Act
    let app = app_in(SignupMode::Off, None).await;
    let page = app.get("/signin/register").await;
    let post = app
        .submit(
            "/signin/register",
            &[("username", "eve"), ("password", GOOD), ("password_again", GOOD)],
        )
        .await;

    // Assert
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("Registration is closed"));
    assert_eq!(post.status(), 404);
    assert_eq!(user_count(&app, "eve").await, 0);
    assert!(!offers_registration(&app).await);
}

#[tokio::test]
async fn in_invite_mode_registration_needs_a_valid_unused_invitation() {
    // Arrange
    let app = app_in(SignupMode::Invite, None).await;
    let token = invitation(&app, "grace@example.com", false).await;
    assert!(
        !offers_registration(&app).await,
        "only `open` is linked from the sign-in page"
    );

    // Act and assert: no invitation, or a made-up one, is refused
    assert_eq!(app.get("/signin/register").await.status(), 403);
    assert_eq!(app.get("/signin/register?invite=made-up").await.status(), 400);
    let path = format!("/signin/register?invite={token}");
    let page = app.get(&path).await.text().await.unwrap();
    assert!(
        page.contains("grace@example.com"),
        "the invited address is fixed in the form"
    );
    let res = register_at(&app, &path, &Form::new("grace", "someone-else@example.com", GOOD)).await;
    assert_eq!(res.status(), 200, "the invitation works");
    assert!(res.text().await.unwrap().contains("Welcome, grace"));
    assert_eq!(
        email_of(&app, "grace").await,
        (Some("grace@example.com".into()), false),
        "the invited address, not the one typed; not mailed, so not verified"
    );

    // A second use of the same invitation fails
    let again = app.with_browser(new_browser());
    assert_eq!(again.get(&path).await.status(), 400);
    let form = [
        ("invite", token.as_str()),
        ("username", "mallory"),
        ("password", GOOD),
        ("password_again", GOOD),
    ];
    assert_eq!(again.submit("/signin/register", &form).await.status(), 400);
    assert_eq!(user_count(&app, "mallory").await, 0);
}

#[tokio::test]
async fn open_registration_signs_in_and_continues_the_authorization_request_to_the_client() {
    // Arrange: a relying party (the openidconnect crate) sends the browser to sign in
    let app = app_in(SignupMode::Open, None).await;
    let registered = create_client(&app, ClientSpec::default()).await;
    let http = oidc_http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let signin = app.visit(url.as_str()).await.text().await.unwrap();
    let link = signin
        .split("href=\"")
        .find(|s| s.starts_with("/signin/register?request="))
        .and_then(|s| s.split('"').next())
        .expect("the sign-in page links to registration, carrying the request")
        .replace("&amp;", "&");

    // Act: register, then continue
    let res = register_at(&app, &link, &Form::new("newcomer", "", GOOD)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let target = html
        .split("id=\"continue\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(target.starts_with("/authorize?"), "{target}");
    let back = app.visit(&target).await;

    // Assert: back at the client with a code for the new account
    let to = location(&back);
    assert!(to.starts_with(&registered.redirect_uri), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some(state.secret().as_str()));
    let tokens = rp
        .exchange_code(AuthorizationCode::new(query_param(&to, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &nonce)
        .unwrap();
    let sub: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE username = 'newcomer'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(claims.subject().as_str(), sub.to_string());
    assert_eq!(sub.get_version_num(), 4, "a random sub");
}

#[tokio::test]
async fn without_a_request_registration_lands_on_the_account_page() {
    let app = app_in(SignupMode::Open, None).await;
    let html = register(&app, &Form::new("solo", "", GOOD)).await.text().await.unwrap();
    assert!(html.contains("href=\"/account\""), "{html}");
    let account = app.get("/account").await;
    assert_eq!(account.status(), 200, "signed in");
    assert!(account.text().await.unwrap().contains("solo"));
}

#[tokio::test]
async fn a_common_password_is_refused() {
    // Arrange
    let app = app_in(SignupMode::Open, None).await;
    let common = "1234567890QWERTYUIOP";
    assert!(common.len() >= 15, "long enough: only the list refuses it");

    // Act
    let res = register(&app, &Form::new("alan", "", common)).await;

    // Assert
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("list of common passwords"));
    assert_eq!(user_count(&app, "alan").await, 0);
    let control = register(&app, &Form::new("alan", "", GOOD)).await;
    assert_eq!(control.status(), 200, "positive control");
}

#[tokio::test]
async fn a_password_with_the_username_is_refused() {
    let app = app_in(SignupMode::Open, None).await;
    let res = register(&app, &Form::new("hopper", "", "my name is hopper, hello")).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("must not contain your username"));
    assert_eq!(user_count(&app, "hopper").await, 0);
}

#[tokio::test]
async fn a_too_short_password_is_refused() {
    // Arrange
    let app = app_in(SignupMode::Open, None).await;

    // Act
    let res = register(&app, &Form::new("ken", "", "Xq7!vB2#kL9@z")).await;

    // Assert
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("at least 15 characters"), "{html}");
    assert!(html.contains("value=\"ken\""), "the form again, with what was typed");
    assert_eq!(user_count(&app, "ken").await, 0);
    let mut differ = Form::new("ken", "", GOOD);
    differ.again = format!("{GOOD}!");
    assert_eq!(register(&app, &differ).await.status(), 400, "typed twice alike");
    assert_eq!(
        register(&app, &Form::new("ken", "", GOOD)).await.status(),
        200,
        "positive control"
    );
}

#[tokio::test]
async fn registrations_are_throttled_per_client_address() {
    // Arrange
    let app = app_in(SignupMode::Open, None).await;
    let budget = lanyard::protocol::signup::ADDRESS_BUDGET;

    // Act: the budget spent from one address (on refused forms, which count too)
    for i in 0..budget {
        let res = register(&app, &Form::new(&format!("u{i}"), "", "too short")).await;
        assert_eq!(res.status(), 400, "attempt {i}");
    }
    let over = register(&app, &Form::new("late", "", GOOD)).await;

    // Assert
    assert_eq!(over.status(), 429);
    assert_eq!(user_count(&app, "late").await, 0);
    let mut elsewhere = Form::new("late", "", GOOD);
    elsewhere.from = "198.51.100.2";
    assert_eq!(
        register(&app, &elsewhere).await.status(),
        200,
        "another address has its own budget"
    );
    assert_eq!(events(&app, "signup", "refused", "throttled").await, 1, "audited");
}

#[tokio::test]
async fn the_verification_link_from_the_mail_verifies_the_address_once() {
    // Arrange: a new account, its address waiting
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Open, Some(&sink)).await;
    let client = create_client(&app, ClientSpec::default()).await;
    let res = register(&app, &Form::new("lin", "lin@example.com", GOOD)).await;
    assert!(res.text().await.unwrap().contains("Check your mail"));
    assert_eq!(email_of(&app, "lin").await, (None, false), "nothing verified yet");
    deliver(&app).await;
    let mail = mail_to(&sink, "lin@example.com");
    assert_eq!(mail.len(), 1);
    let link = mail[0].link().expect("a link");
    assert!(link.contains("/signin/verify-email?token="), "{link}");

    // Act
    let first = verify(&app, &link).await;
    let second = app
        .client
        .post(app.url("/signin/verify-email"))
        .form(&[("token", query_param(&link, "token").unwrap())])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("is verified"));
    assert_eq!(email_of(&app, "lin").await, (Some("lin@example.com".into()), true));
    assert_eq!(second.status(), 400, "a second use fails");
    assert_eq!(app.visit(&link).await.status(), 400, "the link is spent");
    let tokens = app.tokens(&client, "openid email", "lin").await;
    let userinfo: serde_json::Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], "lin@example.com");
    assert_eq!(userinfo["email_verified"], true, "the claim follows the column");
}

#[tokio::test]
async fn an_already_known_email_gets_the_same_answer_and_no_second_account() {
    // Arrange: alice has the address; a fresh registration is the control
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Open, Some(&sink)).await;
    create_user(&app, "alice").await;
    let fresh = register(&app, &Form::new("fresh", "fresh@example.com", GOOD)).await;
    let fresh = (fresh.status(), fresh.text().await.unwrap());

    // Act
    let known = app.with_browser(new_browser());
    let res = register(&known, &Form::new("mallory", "alice@example.com", GOOD)).await;
    let known = (res.status(), res.text().await.unwrap());
    deliver(&app).await;

    // Assert: the same answer, word for word but the names
    assert_eq!(known.0, fresh.0);
    assert_eq!(
        known
            .1
            .replace("mallory", "NAME")
            .replace("alice@example.com", "ADDRESS"),
        fresh.1.replace("fresh@example.com", "ADDRESS").replace("fresh", "NAME"),
    );
    let holders: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(email) = 'alice@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(holders, 1, "no second account with the address");
    assert_eq!(
        email_of(&app, "alice").await,
        (Some("alice@example.com".into()), true),
        "unchanged"
    );
    assert_eq!(email_of(&app, "mallory").await, (None, false));
    let to_alice = mail_to(&sink, "alice@example.com");
    assert_eq!(to_alice.len(), 1, "the owner is told");
    assert!(!to_alice[0].data.contains("verify-email"), "and gets no link");
    assert!(to_alice[0].data.contains("another account"));
    let to_fresh = mail_to(&sink, "fresh@example.com");
    assert!(
        to_fresh[0].data.contains("/signin/verify-email?token="),
        "control: a link"
    );
}

/// Posts the account page's email form from `app`'s browser.
async fn ask_email_change(app: &TestApp, email: &str) -> reqwest::Response {
    let html = app.get("/account").await.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf").expect("the account page's csrf");
    app.submit("/account/email", &[("csrf", &csrf), ("email", email)]).await
}

#[tokio::test]
async fn changing_the_email_on_the_account_page_takes_effect_only_through_the_mailed_link() {
    // Arrange: ada signed in
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Off, Some(&sink)).await;
    ada_signed_in(&app, &[]).await;
    let no_csrf = app.submit("/account/email", &[("email", "ada@new.example")]).await;
    assert_eq!(no_csrf.status(), 400, "the form needs its CSRF token");

    // Act
    let res = ask_email_change(&app, "ada@new.example").await;

    // Assert: nothing changes until the link is used
    assert_eq!(location(&res), "/account?done=email");
    assert_eq!(email_of(&app, "ada").await, (Some("ada@example.com".into()), true));
    assert!(
        app.get("/account")
            .await
            .text()
            .await
            .unwrap()
            .contains("ada@new.example"),
        "shown as waiting"
    );
    deliver(&app).await;
    let link = mail_to(&sink, "ada@new.example")[0]
        .link()
        .expect("a link to the new address");
    assert!(
        mail_to(&sink, "ada@example.com").is_empty(),
        "the old address hears only of a change made"
    );
    assert_eq!(verify(&app, &link).await.status(), 200);
    assert_eq!(email_of(&app, "ada").await, (Some("ada@new.example".into()), true));
    deliver(&app).await;
    let old = mail_to(&sink, "ada@example.com");
    assert_eq!(old.len(), 1, "the old address gets a notice");
    assert!(old[0].data.contains("ada@new.example"));
    assert_eq!(events(&app, "account", "ok", "email change asked").await, 1, "audited");
    assert_eq!(events(&app, "account", "ok", "email verified").await, 1, "audited");
}

#[tokio::test]
async fn an_email_change_to_an_address_another_account_has_changes_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Off, Some(&sink)).await;
    ada_signed_in(&app, &["bob"]).await;
    let res = ask_email_change(&app, "bob@example.com").await;
    assert_eq!(location(&res), "/account?done=email", "the same answer");
    deliver(&app).await;
    let to_bob = mail_to(&sink, "bob@example.com");
    assert_eq!(to_bob.len(), 1);
    assert!(!to_bob[0].data.contains("verify-email"), "a notice, no link");
    assert_eq!(email_of(&app, "ada").await, (Some("ada@example.com".into()), true));
}

#[tokio::test]
async fn user_invite_prints_one_json_document_and_its_link_registers_an_admin() {
    // Arrange
    let db = fresh_db().await;
    let app = TestApp::builder()
        .on(db.clone())
        .config(|c| c.signup = SignupMode::Invite)
        .spawn()
        .await;

    // Act
    let run = lanyard(&["user", "invite", "root@example.com", "--admin", "--json"])
        .env("LANYARD_SIGNUP", "invite")
        .run_on(&db)
        .await;

    // Assert
    run.assert_ok();
    let doc = run.json();
    assert_eq!(doc["email"], "root@example.com");
    assert_eq!(doc["admin"], true);
    assert_eq!(
        doc["mailed"], false,
        "no LANYARD_SMTP_URL: the link is for the admin to hand over"
    );
    assert!(doc["expires_at"].is_string());
    let url = doc["invitation_url"].as_str().unwrap();
    assert!(url.contains("/signin/register?invite="), "{url}");
    let token = query_param(url, "invite").unwrap();
    let res = register_at(
        &app,
        &format!("/signin/register?invite={token}"),
        &Form::new("root", "", GOOD),
    )
    .await;
    assert_eq!(res.status(), 200);
    let admin: bool = sqlx::query_scalar("SELECT is_admin FROM users WHERE username = 'root'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(admin, "--admin makes the account an admin");
    lanyard(&["user", "invite", "x@example.com", "--json"])
        .env("LANYARD_SIGNUP", "off")
        .run_on(&db)
        .await
        .assert_refused("LANYARD_SIGNUP");
}

#[tokio::test]
async fn a_mailed_invitation_verifies_the_address() {
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Invite, Some(&sink)).await;
    invitation(&app, "mae@example.com", false).await;
    deliver(&app).await;
    let link = mail_to(&sink, "mae@example.com")[0]
        .link()
        .expect("the invitation is mailed");
    assert!(link.contains("/signin/register?invite="), "{link}");
    let res = register_at(&app, &link, &Form::new("mae", "", GOOD)).await;
    assert_eq!(res.status(), 200);
    assert!(
        !res.text().await.unwrap().contains("Check your mail"),
        "nothing more to verify"
    );
    assert_eq!(email_of(&app, "mae").await, (Some("mae@example.com".into()), true));
}

#[tokio::test]
async fn the_admin_page_invites_someone_and_shows_the_link_once() {
    // Arrange: an admin signed in, invite mode
    let app = app_in(SignupMode::Invite, None).await;
    crate::admin::sign_in_admin(&app, "/admin/users").await;
    let html = app.get("/admin/users").await.text().await.unwrap();
    assert!(html.contains("Invite someone"));
    let csrf = hidden_field(&html, "csrf").unwrap();
    let missing = app.submit("/admin/invitations", &[("email", "kay@example.com")]).await;
    assert_eq!(missing.status(), 400, "the form needs its CSRF token");

    // Act
    let res = app
        .submit("/admin/invitations", &[("csrf", &csrf), ("email", "kay@example.com")])
        .await;

    // Assert
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let link = html
        .split("id=\"invitation-url\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the link is shown")
        .replace("&amp;", "&")
        .replace("&#x2F;", "/");
    assert!(link.contains("/signin/register?invite="), "{link}");
    assert!(
        !app.get("/admin/users").await.text().await.unwrap().contains(&link),
        "shown once"
    );
    let refused = app
        .submit(
            "/admin/invitations",
            &[("csrf", &csrf), ("email", "root-not-an-address")],
        )
        .await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("invite-error"));
    assert_eq!(events(&app, "admin", "ok", "invited someone").await, 1, "audited");
}

#[tokio::test]
async fn one_invitation_used_twice_at_once_makes_one_account() {
    // Arrange: two browsers holding the same invitation's filled-in form
    let app = app_in(SignupMode::Invite, None).await;
    let token = invitation(&app, "twin@example.com", false).await;
    let path = format!("/signin/register?invite={token}");
    let mut posts = Vec::new();
    for name in ["twin1", "twin2"] {
        let browser = app.with_browser(new_browser());
        let html = browser.get(&path).await.text().await.unwrap();
        let form = vec![
            ("csrf", hidden_field(&html, "csrf").unwrap()),
            ("invite", token.clone()),
            ("username", name.to_owned()),
            ("password", GOOD.to_owned()),
            ("password_again", GOOD.to_owned()),
        ];
        posts.push((browser, form));
    }

    // Act: both at once
    let (a, b) = tokio::join!(
        posts[0]
            .0
            .client
            .post(posts[0].0.url("/signin/register"))
            .form(&posts[0].1)
            .send(),
        posts[1]
            .0
            .client
            .post(posts[1].0.url("/signin/register"))
            .form(&posts[1].1)
            .send(),
    );

    // Assert
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "one wins, the other finds it spent");
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username IN ('twin1', 'twin2')")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn housekeeping_prunes_expired_invitations_and_verification_links() {
    // Arrange: an invitation (7 days) and a verification link (24 hours)
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Open, Some(&sink)).await;
    invitation(&app, "later@example.com", false).await;
    register(&app, &Form::new("lin", "lin@example.com", GOOD)).await;
    let limits = lanyard::maintenance::Housekeeping::default();
    let rows = |table: &'static str| count_rows(&app.db, table);
    let run = || async {
        for _ in 0..100 {
            if lanyard::maintenance::housekeep(&app.provider, &limits)
                .await
                .unwrap()
                .is_some()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("housekeeping never got its lock");
    };

    // Act and assert: kept while usable (and the retention after), then gone
    app.clock.advance(chrono::TimeDelta::days(2));
    run().await;
    assert_eq!((rows("invitations").await, rows("email_verifications").await), (1, 1));
    app.clock.advance(chrono::TimeDelta::days(7));
    run().await;
    assert_eq!((rows("invitations").await, rows("email_verifications").await), (0, 0));
}
