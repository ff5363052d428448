//! Two-step sign-in in a real browser (headless Chromium): setting up an
//! authenticator from its QR page, the recovery codes, the second step after
//! a password, and a session stepped up for a client asking `acr_values=mfa`.
//! Screenshots: `target/screenshots/two-step-*.png`.

use chrono::TimeDelta;
use fantoccini::{Client, Locator};
use lanyard::clock::Clock as _;
use totp_rs::{Builder, Secret};

use crate::browser::{authorize_url, browser, click, fill, register_client, relying_party, screenshot, wait_for_url};
use crate::support::{PASSWORD, TestApp, create_user, query_param, spawn_app};

async fn sign_in(b: &Client, app: &TestApp) {
    b.goto(&app.url("/signin")).await.unwrap();
    fill(b, "#username", "ada").await;
    fill(b, "#password", PASSWORD).await;
    click(b, "button[type=submit]").await;
}

fn code(app: &TestApp, secret: &[u8]) -> String {
    let totp = Builder::new()
        .with_secret(Secret::from(secret.to_vec()))
        .build()
        .unwrap();
    totp.generate(app.clock.now().timestamp() as u64).to_string()
}

#[tokio::test]
async fn a_person_sets_up_an_authenticator_signs_in_with_it_and_steps_up_in_a_real_browser() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let b = browser().await;
    sign_in(&b, &app).await;
    b.wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
        .unwrap();

    b.goto(&app.url("/account/two-step")).await.unwrap();
    let shown = b
        .find(Locator::Css("#totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = Secret::try_from_base32(shown.replace(' ', ""))
        .unwrap()
        .as_bytes()
        .to_vec();
    assert!(
        b.find(Locator::Css("figure.qr svg")).await.is_ok(),
        "the QR code is drawn"
    );
    screenshot(&b, "two-step-01-setup").await;
    fill(&b, "#code", &code(&app, &secret)).await;
    click(&b, "button[type=submit]").await;
    b.wait().for_element(Locator::Css("#recovery-codes")).await.unwrap();
    let codes = b.find_all(Locator::Css("#recovery-codes code")).await.unwrap();
    assert_eq!(codes.len(), 10);
    screenshot(&b, "two-step-02-recovery-codes").await;
    b.goto(&app.url("/account#factors")).await.unwrap();
    let state = b
        .find(Locator::Css("#two-step-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.contains("10 unused recovery codes"), "{state}");
    screenshot(&b, "two-step-03-account").await;

    // Another browser: the password, then the second step.
    let other = browser().await;
    sign_in(&other, &app).await;
    other
        .wait()
        .for_element(Locator::Css("form[action='/signin/step']"))
        .await
        .unwrap();
    fill(&other, "#code", "000000").await;
    click(&other, "button[type=submit]").await;
    other.wait().for_element(Locator::Css("#step-error")).await.unwrap();
    screenshot(&other, "two-step-04-second-step-wrong-code").await;
    app.clock.advance(TimeDelta::seconds(30));
    fill(&other, "#code", &code(&app, &secret)).await;
    click(&other, "button[type=submit]").await;
    other
        .wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
        .unwrap();
    screenshot(&other, "two-step-05-signed-in").await;

    // The first browser's session was a password sign-in: a client asking
    // for `mfa` gets it stepped up, not signed in again.
    let rp = relying_party().await;
    let client_id = register_client(&app, &rp).await;
    let auth = authorize_url(
        &app,
        &client_id,
        &rp,
        &[("scope", "openid"), ("state", "s"), ("acr_values", "mfa")],
    );
    b.goto(auth.as_str()).await.unwrap();
    b.wait()
        .for_element(Locator::Css("form[action='/signin/step']"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains("Confirm it is you"));
    screenshot(&b, "two-step-06-step-up").await;
    app.clock.advance(TimeDelta::seconds(30));
    fill(&b, "#code", &code(&app, &secret)).await;
    click(&b, "button[type=submit]").await;
    // The consent page comes next (a third-party client), then the client.
    b.wait().for_element(Locator::Css("button[value=allow]")).await.unwrap();
    click(&b, "button[value=allow]").await;
    let landed = wait_for_url(&b, &format!("{rp}/callback")).await;
    assert!(query_param(landed.as_str(), "code").is_some(), "{landed}");
    b.close().await.unwrap();
    other.close().await.unwrap();
}
