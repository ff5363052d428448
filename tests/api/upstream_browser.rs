//! Signing in through an upstream provider in a real browser (headless
//! Chromium): A's sign-in page, "Continue with", the upstream Lanyard's
//! sign-in page, back at A's consent page, then the relying party — and the
//! account page's other providers. Screenshots under
//! `target/screenshots/upstream-*.png`.

use lanyard::admin::upstreams::UpstreamSettings;

use crate::admin_browser::wait_for;
use crate::browser::{authorize_url, browser, click, fill, register_client, relying_party, screenshot, wait_for_url};
use crate::support::{PASSWORD, create_user, federation, query_param};

#[tokio::test]
async fn a_person_signs_in_through_an_upstream_lanyard_in_a_real_browser() {
    let settings = UpstreamSettings {
        name: Some("Example Corp".into()),
        ..Default::default()
    };
    let fed = federation(settings).await;
    create_user(&fed.b, "ada").await;
    let rp = relying_party().await;
    let client_id = register_client(&fed.a, &rp).await;
    let b = browser().await;

    let auth = authorize_url(&fed.a, &client_id, &rp, &[("scope", "openid email"), ("state", "s1")]);
    b.goto(auth.as_str()).await.unwrap();
    wait_for(&b, "a.upstream").await;
    assert!(b.source().await.unwrap().contains("Continue with Example Corp"));
    screenshot(&b, "upstream-01-signin-page").await;

    click(&b, "a.upstream").await;
    wait_for_url(&b, &fed.b.address).await;
    wait_for(&b, "#username").await;
    screenshot(&b, "upstream-02-upstream-signin").await;
    fill(&b, "#username", "ada").await;
    fill(&b, "#password", PASSWORD).await;
    click(&b, "form[action=\"/signin\"] button[type=submit]").await;

    wait_for_url(&b, &fed.a.address).await;
    wait_for(&b, "form[action=\"/consent\"]").await;
    screenshot(&b, "upstream-03-consent-at-a").await;
    click(&b, "button[value=allow]").await;
    let landed = wait_for_url(&b, &format!("{rp}/callback")).await;
    assert!(query_param(landed.as_str(), "code").is_some(), "{landed}");
    assert_eq!(
        query_param(landed.as_str(), "iss").as_deref(),
        Some(fed.a.address.as_str()),
        "A is the issuer"
    );
    screenshot(&b, "upstream-04-back-at-the-relying-party").await;

    b.goto(&fed.a.url("/account")).await.unwrap();
    wait_for(&b, "#upstreams").await;
    b.execute("document.getElementById('password').scrollIntoView()", vec![])
        .await
        .unwrap();
    let html = b.source().await.unwrap();
    assert!(
        html.contains("Example Corp") && html.contains("Set a password"),
        "{html}"
    );
    screenshot(&b, "upstream-05-account-page").await;
    b.execute("document.getElementById('upstreams').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&b, "upstream-06-account-other-providers").await;
    b.close().await.unwrap();
}
