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

/// An app without self-registration that mails to a sink, ada signed in.
async fn ada_with_mail() -> (SmtpSink, TestApp) {
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Off, Some(&sink)).await;
    ada_signed_in(&app, &[]).await;
    (sink, app)
}

/// Asks on ada's account page for `email` and returns the link mailed to it.
async fn link_asked_for(app: &TestApp, sink: &SmtpSink, email: &str) -> String {
    ask_email_change(app, email).await;
    deliver(app).await;
    mail_to(sink, email)
        .last()
        .and_then(SunkMail::link)
        .expect("a link to the address")
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
    let (sink, app) = ada_with_mail().await;
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
async fn an_invitation_does_not_verify_the_address_its_registration_mails_a_link() {
    // Arrange: an invitation, mailed (the administrator saw its link too)
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Invite, Some(&sink)).await;
    invitation(&app, "mae@example.com", false).await;
    deliver(&app).await;
    let link = mail_to(&sink, "mae@example.com")[0]
        .link()
        .expect("the invitation is mailed");
    assert!(link.contains("/signin/register?invite="), "{link}");

    // Act
    let res = register_at(&app, &link, &Form::new("mae", "", GOOD)).await;

    // Assert: nothing verified until the registration's own link is used
    assert_eq!(res.status(), 200);
    assert!(
        res.text().await.unwrap().contains("Check your mail"),
        "a link to verify"
    );
    assert_eq!(email_of(&app, "mae").await, (None, false));
    deliver(&app).await;
    let mail = mail_to(&sink, "mae@example.com");
    assert_eq!(mail.len(), 2, "the invitation, then the verification link");
    let verification = mail[1].link().expect("a verification link");
    assert!(verification.contains("/signin/verify-email?token="), "{verification}");
    assert_eq!(verify(&app, &verification).await.status(), 200);
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

/// The account page's email section, with `address` written ADDRESS (and its CSRF token CSRF).
async fn email_section(app: &TestApp, address: &str) -> String {
    let html = app.get("/account").await.text().await.unwrap();
    let start = html.find("<section id=\"email\"").expect("the email section");
    let end = start + html[start..].find("</section>").expect("its end");
    let section = html[start..end].replace(address, "ADDRESS");
    match hidden_field(&section, "csrf") {
        Some(csrf) => section.replace(&csrf, "CSRF"),
        None => section,
    }
}

#[tokio::test]
async fn the_account_page_looks_the_same_after_asking_for_a_taken_address() {
    // Arrange: ada and bob signed in, each in their own browser; carol has an address
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Off, Some(&sink)).await;
    ada_signed_in(&app, &["bob", "carol"]).await;
    let bob = app.with_browser(new_browser());
    let html = bob.get("/signin").await.text().await.unwrap();
    assert_eq!(bob.sign_in_on(&html, "bob", PASSWORD).await.status(), 303);

    // Act: ada asks for carol's address, bob for a free one
    ask_email_change(&app, "carol@example.com").await;
    ask_email_change(&bob, "bob@new.example").await;

    // Assert: the same page but the names
    let taken = email_section(&app, "carol@example.com").await.replace("ada", "NAME");
    let free = email_section(&bob, "bob@new.example").await.replace("bob", "NAME");
    assert!(free.contains("Waiting for you to open the link"), "control: {free}");
    assert_eq!(taken, free);
    deliver(&app).await;
    assert!(
        !mail_to(&sink, "carol@example.com")[0].data.contains("verify-email"),
        "carol gets a notice"
    );
}

#[tokio::test]
async fn email_change_requests_are_capped_per_account() {
    use lanyard::protocol::account::email::ACCOUNT_BUDGET;
    // Arrange: ada has asked as often as she may
    let (sink, app) = ada_with_mail().await;
    for i in 0..ACCOUNT_BUDGET {
        let res = ask_email_change(&app, &format!("ada{i}@new.example")).await;
        assert_eq!(location(&res), "/account?done=email", "within the budget");
    }

    // Act
    let res = ask_email_change(&app, "one-more@new.example").await;

    // Assert
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Too many"));
    deliver(&app).await;
    assert!(mail_to(&sink, "one-more@new.example").is_empty(), "nothing mailed");
}

#[tokio::test]
async fn mail_to_one_address_is_capped_whoever_asks() {
    use lanyard::protocol::email_verification::RECIPIENT_BUDGET;
    // Arrange
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Open, Some(&sink)).await;

    // Act: more registrations than the budget give one victim's address
    let mut pages = Vec::new();
    for i in 0..=RECIPIENT_BUDGET {
        let browser = app.with_browser(new_browser());
        let res = register(&browser, &Form::new(&format!("reg{i}"), "victim@example.com", GOOD)).await;
        pages.push((
            res.status(),
            res.text().await.unwrap().replace(&format!("reg{i}"), "NAME"),
        ));
    }
    deliver(&app).await;

    // Assert: the same answer each time, and at most the budget in the mailbox
    assert!(pages.iter().all(|p| *p == pages[0]), "the same answer");
    assert!(pages[0].1.contains("Check your mail"));
    assert_eq!(mail_to(&sink, "victim@example.com").len(), RECIPIENT_BUDGET as usize);
    register(&app, &Form::new("other", "other@example.com", GOOD)).await;
    deliver(&app).await;
    assert_eq!(
        mail_to(&sink, "other@example.com").len(),
        1,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn a_newer_email_request_voids_the_older_link() {
    // Arrange: ada asked for a mistyped address, then for the right one
    let (sink, app) = ada_with_mail().await;
    let first = link_asked_for(&app, &sink, "ada@typo.example").await;

    // Act
    let second = link_asked_for(&app, &sink, "ada@new.example").await;

    // Assert
    assert_eq!(app.visit(&first).await.status(), 400, "the older link is void");
    let page = app.visit(&second).await.text().await.unwrap();
    assert!(
        page.contains("<strong>ada</strong>"),
        "the confirm page names the account: {page}"
    );
    assert_eq!(verify(&app, &second).await.status(), 200);
    assert_eq!(email_of(&app, "ada").await, (Some("ada@new.example".into()), true));
}

/// Gives `username` the address `email`, not verified (as `user update --email` would).
async fn set_unverified_email(app: &TestApp, username: &str, email: &str) {
    sqlx::query("UPDATE users SET email = $2, email_verified = false WHERE username = $1")
        .bind(username)
        .bind(email)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unverified_address_does_not_block_its_real_owner() {
    // Arrange: mallory holds owner@example.com, never verified
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Open, Some(&sink)).await;
    create_user(&app, "mallory").await;
    set_unverified_email(&app, "mallory", "owner@example.com").await;

    // Act: the owner registers with it and opens the link
    register(&app, &Form::new("owner", "owner@example.com", GOOD)).await;
    deliver(&app).await;
    let mail = mail_to(&sink, "owner@example.com");
    assert_eq!(mail.len(), 1, "no notice to an unverified holder");
    let link = mail[0].link().expect("a link, not a notice");
    assert_eq!(verify(&app, &link).await.status(), 200);

    // Assert: the owner has it; the squatter no longer
    assert_eq!(email_of(&app, "owner").await, (Some("owner@example.com".into()), true));
    assert_eq!(email_of(&app, "mallory").await, (None, false));
    assert_eq!(
        events(&app, "account", "ok", "email removed: verified by another account").await,
        1,
        "audited"
    );
}

/// Asks for a password reset link for `who`, as the forgot form does.
async fn ask_reset(app: &TestApp, who: &str) {
    let html = app.get("/signin/forgot").await.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf").expect("a csrf field");
    let res = app.submit("/signin/forgot", &[("csrf", &csrf), ("who", who)]).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
}

#[tokio::test]
async fn password_reset_mails_only_verified_addresses() {
    // Arrange: ada's address is not verified; bob's is
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Off, Some(&sink)).await;
    create_user(&app, "ada").await;
    create_user(&app, "bob").await;
    set_unverified_email(&app, "ada", "ada@example.com").await;

    // Act
    ask_reset(&app, "ada").await;
    ask_reset(&app, "ada@example.com").await;
    ask_reset(&app, "bob").await;
    deliver(&app).await;

    // Assert
    assert!(
        mail_to(&sink, "ada@example.com").is_empty(),
        "nothing to an unverified address"
    );
    assert_eq!(
        mail_to(&sink, "bob@example.com").len(),
        1,
        "control: a verified one gets its link"
    );
}

#[tokio::test]
async fn an_invitation_is_refused_once_its_address_has_an_account() {
    // Arrange: an invitation; then someone else's account verifies the address
    let app = app_in(SignupMode::Invite, None).await;
    let token = invitation(&app, "kim@example.com", false).await;
    let path = format!("/signin/register?invite={token}");
    assert_eq!(app.get(&path).await.status(), 200, "control: it works");
    create_user(&app, "kim").await;

    // Act
    let page = app.get(&path).await;

    // Assert
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("This invitation is not valid"));
}

#[tokio::test]
async fn using_one_invitation_spends_the_others_for_the_address() {
    // Arrange: two invitations to one address
    let app = app_in(SignupMode::Invite, None).await;
    let first = invitation(&app, "two@example.com", false).await;
    let second = invitation(&app, "two@example.com", false).await;
    let other = invitation(&app, "else@example.com", false).await;

    // Act
    let path = format!("/signin/register?invite={first}");
    let res = register_at(&app, &path, &Form::new("two", "", GOOD)).await;

    // Assert
    assert_eq!(res.status(), 200);
    let again = app.get(&format!("/signin/register?invite={second}")).await;
    assert_eq!(again.status(), 400, "the other invitation for the address is spent");
    let control = app.get(&format!("/signin/register?invite={other}")).await;
    assert_eq!(control.status(), 200, "another address's invitation still works");
}

#[tokio::test]
async fn invitations_are_listed_without_their_link_and_withdrawn_from_the_cli() {
    // Arrange
    let db = fresh_db().await;
    let app = TestApp::builder()
        .on(db.clone())
        .config(|c| c.signup = SignupMode::Invite)
        .spawn()
        .await;
    let token = invitation(&app, "wes@example.com", true).await;
    let cli = |args: &[&str]| lanyard(args).env("LANYARD_SIGNUP", "invite");

    // Act
    let listed = cli(&["user", "invitations", "--json"]).run_on(&db).await;

    // Assert: listed, never with its token
    listed.assert_ok();
    assert!(!listed.stdout.contains(&token), "no token: {}", listed.stdout);
    let list = listed.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["email"], "wes@example.com");
    assert_eq!(list[0]["admin"], true);
    assert!(list[0]["expires_at"].is_string());
    let id = list[0]["id"].as_str().expect("an id").to_owned();
    cli(&["user", "uninvite", &id]).run_on(&db).await.assert_ok();
    let page = app.get(&format!("/signin/register?invite={token}")).await;
    assert_eq!(page.status(), 400, "withdrawn");
    let after = cli(&["user", "invitations", "--json"]).run_on(&db).await;
    assert_eq!(after.json(), serde_json::json!([]));
    cli(&["user", "uninvite", &id])
        .run_on(&db)
        .await
        .assert_refused("no pending invitation");
}

#[tokio::test]
async fn the_admin_page_lists_pending_invitations_and_withdraws_one() {
    // Arrange: an admin signed in, one invitation pending
    let app = app_in(SignupMode::Invite, None).await;
    let token = invitation(&app, "lee@example.com", false).await;
    crate::admin::sign_in_admin(&app, "/admin/users").await;
    let html = app.get("/admin/users").await.text().await.unwrap();
    assert!(html.contains("lee@example.com") && html.contains("Withdraw"), "listed");
    assert!(!html.contains(&token), "never its link");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let id = html
        .split("name=\"invitation\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the withdraw form names the invitation")
        .to_owned();
    let missing = app.submit("/admin/invitations/withdraw", &[("invitation", &id)]).await;
    assert_eq!(missing.status(), 400, "the form needs its CSRF token");

    // Act
    let res = app
        .submit("/admin/invitations/withdraw", &[("csrf", &csrf), ("invitation", &id)])
        .await;

    // Assert
    assert_eq!(res.status(), 303);
    let page = app.get(&format!("/signin/register?invite={token}")).await;
    assert_eq!(page.status(), 400, "withdrawn");
    assert!(
        !app.get("/admin/users")
            .await
            .text()
            .await
            .unwrap()
            .contains("lee@example.com")
    );
    assert_eq!(
        events(&app, "admin", "ok", "withdrew an invitation").await,
        1,
        "audited"
    );
}

#[tokio::test]
async fn a_username_that_looks_like_an_address_is_refused_at_registration() {
    let app = app_in(SignupMode::Open, None).await;
    let res = register(&app, &Form::new("ada@example.com", "", GOOD)).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("@"));
    assert_eq!(user_count(&app, "ada@example.com").await, 0);
    let control = register(&app, &Form::new("ada.lovelace", "", GOOD)).await;
    assert_eq!(control.status(), 200);
}

#[tokio::test]
async fn a_reset_asked_with_an_address_goes_to_that_address_owner_only() {
    // Arrange: ada owns ada@example.com; an account is named after her address
    let sink = SmtpSink::start().await;
    let app = app_in(SignupMode::Off, Some(&sink)).await;
    create_user(&app, "ada").await;
    create_user(&app, "ada@example.com").await;

    // Act
    ask_reset(&app, "ada@example.com").await;
    deliver(&app).await;

    // Assert
    let to_ada = mail_to(&sink, "ada@example.com");
    assert_eq!(to_ada.len(), 1, "the address's owner gets the link");
    assert!(to_ada[0].data.contains("account `ada`"), "ada's own account");
    assert!(
        mail_to(&sink, "ada@example.com@example.com").is_empty(),
        "not the look-alike account"
    );
}

#[tokio::test]
async fn confirming_a_new_address_voids_pending_reset_links() {
    // Arrange: a reset link went to ada's old address
    let (sink, app) = ada_with_mail().await;
    ask_reset(&app, "ada").await;
    deliver(&app).await;
    let reset = mail_to(&sink, "ada@example.com")[0].link().expect("a reset link");
    assert_eq!(app.visit(&reset).await.status(), 200, "control: it works");

    // Act: ada moves to a new address
    let link = link_asked_for(&app, &sink, "ada@new.example").await;
    assert_eq!(verify(&app, &link).await.status(), 200);

    // Assert
    assert_eq!(
        app.visit(&reset).await.status(),
        400,
        "the old address's reset link is void"
    );
}

#[tokio::test]
async fn user_update_with_a_new_email_clears_its_verification() {
    // Arrange: ada's address is verified
    let db = fresh_db().await;
    let app = TestApp::builder().on(db.clone()).spawn().await;
    create_user(&app, "ada").await;

    // Act
    let update = ["user", "update", "ada", "--email", "ada@new.example"];
    lanyard(&update).run_on(&db).await.assert_ok();

    // Assert
    assert_eq!(email_of(&app, "ada").await, (Some("ada@new.example".into()), false));
    let verified = [
        "user",
        "update",
        "ada",
        "--email",
        "ada@other.example",
        "--email-verified",
    ];
    lanyard(&verified).run_on(&db).await.assert_ok();
    assert_eq!(
        email_of(&app, "ada").await,
        (Some("ada@other.example".into()), true),
        "unless the flag says it is verified"
    );
}
