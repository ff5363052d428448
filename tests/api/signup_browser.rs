//! Self-registration in a real browser (headless Chromium): from a relying
//! party's sign-in request to a new account, back at the client, then the
//! mailed link verifies the address — screenshots under
//! `target/screenshots/signup-*.png`.

use std::time::Duration;

use lanyard::config::SignupMode;

use crate::admin_browser::wait_for;
use crate::browser::{authorize_url, browser, click, fill, register_client, relying_party, screenshot, wait_for_url};
use crate::support::{SmtpSink, TestApp};

#[tokio::test]
async fn a_person_registers_continues_to_the_client_and_verifies_the_address_in_a_real_browser() {
    // Arrange: open registration, mail through a sink, a relying party
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::builder()
        .config(move |c| {
            c.signup = SignupMode::Open;
            c.smtp_url = lanyard::config::SmtpUrl::parse(&url).unwrap();
            c.mail_every = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    let rp = relying_party().await;
    let client_id = register_client(&app, &rp).await;
    let auth = authorize_url(&app, &client_id, &rp, &[("scope", "openid email"), ("state", "s1")]);
    let b = browser().await;

    // The sign-in page offers to create an account.
    b.goto(auth.as_str()).await.unwrap();
    wait_for(&b, "#register-link").await;
    screenshot(&b, "signup-01-sign-in").await;
    click(&b, "#register-link").await;
    wait_for(&b, "#password_again").await;
    assert!(
        b.source().await.unwrap().contains("Browser RP"),
        "the request is carried"
    );

    // A password from the common list is refused, with the rule.
    fill(&b, "#username", "lin").await;
    fill(&b, "#email", "lin@example.com").await;
    fill(&b, "#password", "1234567890qwertyuiop").await;
    fill(&b, "#password_again", "1234567890qwertyuiop").await;
    click(&b, "button[type=submit]").await;
    wait_for(&b, "#register-error").await;
    assert!(b.source().await.unwrap().contains("common passwords"));
    screenshot(&b, "signup-02-common-password-refused").await;

    // A good one creates the account: check your mail, then on to the client.
    let email = b.find(fantoccini::Locator::Css("#email")).await.unwrap();
    email.clear().await.unwrap();
    email.send_keys("lin@example.com").await.unwrap();
    fill(&b, "#password", "a tidy violet stapler").await;
    fill(&b, "#password_again", "a tidy violet stapler").await;
    click(&b, "button[type=submit]").await;
    wait_for(&b, "#check-mail").await;
    screenshot(&b, "signup-03-check-your-mail").await;
    click(&b, "#continue").await;
    // A third-party client: the consent page, as after any sign-in.
    wait_for(&b, "button[value=allow]").await;
    click(&b, "button[value=allow]").await;
    let landed = wait_for_url(&b, &format!("{rp}/callback")).await;
    assert!(landed.as_str().starts_with(&format!("{rp}/callback")), "{landed}");
    assert!(landed.query_pairs().any(|(k, _)| k == "code"));

    // The mailed link verifies the address: a button first, then done.
    lanyard::mail::worker::deliver_due(&app.provider.outbox())
        .await
        .unwrap();
    let mail = sink.messages();
    let link = mail
        .iter()
        .find(|m| m.to == ["lin@example.com"])
        .and_then(|m| m.link())
        .expect("a verification link");
    b.goto(&link).await.unwrap();
    wait_for(&b, "#verify").await;
    screenshot(&b, "signup-04-verify-email").await;
    click(&b, "#verify").await;
    wait_for(&b, "#verified").await;
    screenshot(&b, "signup-05-email-verified").await;
    b.goto(&app.url("/account")).await.unwrap();
    wait_for(&b, "#email-current").await;
    let html = b.source().await.unwrap();
    assert!(
        html.contains("lin@example.com") && html.contains(">verified<"),
        "{html}"
    );
    let verified: bool = sqlx::query_scalar("SELECT email_verified FROM users WHERE username = 'lin'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(verified);
    b.close().await.unwrap();
}
