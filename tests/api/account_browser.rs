//! The account page in a real browser (headless Chromium, no script needed):
//! sign in, edit the profile, change the password, end another session,
//! withdraw an application — screenshots under
//! `target/screenshots/account-*.png`.

use fantoccini::{Client, Locator};

use crate::admin_browser::wait_for;
use crate::browser::{browser, click, fill, screenshot, wait_for_url};
use crate::support::{
    ClientSpec, PASSWORD, TestApp, allow, auth_url, create_api, create_client, create_user, location, new_browser,
    query_param, spawn_app,
};

const NEW_PASSWORD: &str = "a much longer passphrase";

/// Submits the account form posting to `action`, and waits for the page to
/// come back saying `done`.
async fn submit(b: &Client, app: &TestApp, action: &str, done: &str) {
    click(b, &format!("form[action=\"{action}\"] button[type=submit]")).await;
    let expected = app.url(&format!("/account?done={done}"));
    let landed = wait_for_url(b, &expected).await;
    assert_eq!(landed.as_str(), expected, "{}", b.source().await.unwrap_or_default());
    wait_for(b, ".notice").await;
}

/// Scrolls a section into view for its screenshot (the page itself needs no script).
async fn show(b: &Client, section: &str) {
    let script = format!("document.getElementById('{section}').scrollIntoView()");
    b.execute(&script, vec![]).await.unwrap();
}

/// ada signs in with another (non-browser) client and connects a third-party
/// application there: a second session and a consent to show on the page.
async fn ada_elsewhere(app: &TestApp, password: &str) -> TestApp {
    let other = app.with_browser(new_browser());
    let html = other.visit("/signin").await.text().await.unwrap();
    assert_eq!(other.sign_in_on(&html, "ada", password).await.status(), 303);
    other
}

#[tokio::test]
async fn a_person_manages_their_account_in_a_real_browser() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    let spec = ClientSpec {
        id: "planner",
        first_party: false,
        ..Default::default()
    };
    let planner = create_client(&app, spec).await;
    allow(&app, &planner.id, "https://orders.example", &["read"]).await;
    let elsewhere = ada_elsewhere(&app, PASSWORD).await;
    let auth = auth_url(
        &app,
        &planner,
        "openid profile offline_access read",
        &[("resource", "https://orders.example")],
    );
    let res = elsewhere.authorize(&auth.url, "ada").await;
    assert!(
        query_param(&location(&res), "code").is_some(),
        "ada connected the planner"
    );
    let b = browser().await;

    // Sign in, and land on the account page.
    b.goto(&app.url("/account")).await.unwrap();
    wait_for(&b, "#username").await;
    fill(&b, "#username", "ada").await;
    fill(&b, "#password", PASSWORD).await;
    click(&b, "button[type=submit]").await;
    wait_for(&b, "#profile").await;
    let html = b.source().await.unwrap();
    assert!(html.contains("this browser") && html.contains("planner app"), "{html}");
    screenshot(&b, "account-01-overview").await;

    // Edit the profile.
    let name = b.find(Locator::Css("#claim-name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Ada King").await.unwrap();
    fill(&b, "#claim-website", "https://ada.example").await;
    submit(&b, &app, "/account/profile", "profile").await;
    assert!(b.source().await.unwrap().contains("value=\"Ada King\""));
    screenshot(&b, "account-02-profile-saved").await;

    // A wrong website is refused with a message beside the form.
    let website = b.find(Locator::Css("#claim-website")).await.unwrap();
    website.clear().await.unwrap();
    website.send_keys("not a url").await.unwrap();
    b.execute("document.querySelector('#claim-website').type = 'text'", vec![])
        .await
        .unwrap();
    click(&b, "form[action=\"/account/profile\"] button[type=submit]").await;
    wait_for(&b, "#profile-error").await;
    screenshot(&b, "account-03-profile-refused").await;

    // Change the password: the other session ends, this one stays.
    b.goto(&app.url("/account")).await.unwrap();
    wait_for(&b, "#current_password").await;
    fill(&b, "#current_password", PASSWORD).await;
    fill(&b, "#new_password", NEW_PASSWORD).await;
    fill(&b, "#new_password_again", NEW_PASSWORD).await;
    submit(&b, &app, "/account/password", "password").await;
    assert_eq!(elsewhere.visit("/account").await.status(), 302, "signed out elsewhere");
    screenshot(&b, "account-04-password-changed").await;

    // Sign in elsewhere again, then end that session from here.
    let elsewhere = ada_elsewhere(&app, NEW_PASSWORD).await;
    b.refresh().await.unwrap();
    wait_for(&b, "form[action=\"/account/sessions/end\"]").await;
    show(&b, "sessions").await;
    screenshot(&b, "account-05-two-sessions").await;
    submit(&b, &app, "/account/sessions/end", "session").await;
    assert_eq!(elsewhere.visit("/account").await.status(), 302, "that session ended");
    show(&b, "sessions").await;
    screenshot(&b, "account-06-session-ended").await;

    // Withdraw the planner's access.
    show(&b, "apps").await;
    screenshot(&b, "account-07-connected-app").await;
    submit(&b, &app, "/account/apps/withdraw", "app").await;
    assert!(!b.source().await.unwrap().contains("planner app"));
    show(&b, "apps").await;
    screenshot(&b, "account-08-app-withdrawn").await;
    b.close().await.unwrap();
}
