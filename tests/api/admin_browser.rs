//! Admin journeys in a real browser (one Chromium for the run's admin
//! journeys), each saving screenshots under `target/screenshots/admin-*.png`.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::browser::{browser, click, fill, relying_party, screenshot, wait_for_url};
use crate::support::{PASSWORD, TestClient, create_api, create_user, pkce_pair, query_param, spawn_app};

async fn text_of(b: &Client) -> String {
    b.source().await.unwrap()
}

/// Waits for an element; on failure the panic shows where the browser is and
/// what it shows, so a failed journey explains itself.
pub async fn wait_for(b: &Client, css: &str) {
    if let Err(e) = b
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
    {
        let url = b.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let page = b.source().await.unwrap_or_default();
        let text: String = page.chars().take(3000).collect();
        panic!("no `{css}` after 20 s ({e}) at {url}:\n{text}");
    }
}

async fn submit_first(b: &Client, form_action: &str) {
    click(
        b,
        &format!("form[method=post][action=\"{form_action}\"] button[type=submit]"),
    )
    .await;
}

fn authorize_url(app: &crate::support::TestApp, client_id: &str, redirect_uri: &str) -> String {
    let (_, challenge) = pkce_pair();
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    url.to_string()
}

#[tokio::test]
async fn an_admin_manages_lanyard_in_a_real_browser() {
    let app = spawn_app().await;
    let root = lanyard::admin::users::NewUserInput {
        username: "root".into(),
        password: PASSWORD.into(),
        is_admin: true,
        claims: Default::default(),
    };
    lanyard::admin::users::create(&app.pool, &lanyard::clock::SystemClock, root)
        .await
        .unwrap();
    let ada = create_user(&app, "ada").await;
    create_api(&app, "https://orders.example", &["read", "write"], None, &[]).await;
    let rp = relying_party().await;
    let b = browser().await;

    // Sign in to the admin page.
    b.goto(&app.url("/admin")).await.unwrap();
    wait_for(&b, "#username").await;
    fill(&b, "#username", "root").await;
    fill(&b, "#password", PASSWORD).await;
    click(&b, "button[type=submit]").await;
    wait_for(&b, ".tiles").await;
    screenshot(&b, "admin-01-overview").await;

    // Create a client and see its secret once.
    b.goto(&app.url("/admin/clients")).await.unwrap();
    fill(&b, "#client_id", "shop").await;
    fill(&b, "#name", "Shop").await;
    fill(&b, "#redirect_uris", &format!("{rp}/callback")).await;
    click(&b, "input[value=\"urn:ietf:params:oauth:grant-type:token-exchange\"]").await;
    click(&b, "input[name=first_party]").await;
    submit_first(&b, "/admin/clients").await;
    wait_for(&b, "#client-secret").await;
    screenshot(&b, "admin-02-client-secret-once").await;
    let secret = b
        .find(Locator::Css("#client-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(secret.len(), 43);
    b.goto(&app.url("/admin/clients")).await.unwrap();
    assert!(!text_of(&b).await.contains(&secret), "the secret is never shown again");

    // That client completes a code flow (the admin is signed in already).
    b.goto(&authorize_url(&app, "shop", &format!("{rp}/callback")))
        .await
        .unwrap();
    let landed = wait_for_url(&b, &format!("{rp}/callback")).await;
    let code = query_param(landed.as_str(), "code").expect("a code for the new client");
    screenshot(&b, "admin-03-new-client-signed-in").await;
    let shop = TestClient {
        id: "shop".into(),
        secret: Some(secret),
        redirect_uri: format!("{rp}/callback"),
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", shop.redirect_uri.as_str()),
    ];
    let res = app.token(&shop, &form).await;
    assert_eq!(
        res.status(),
        400,
        "authenticated with the new secret (the verifier was not kept)"
    );

    // Allow the client an API scope, and the exchange succeeds.
    b.goto(&app.url("/admin/clients/shop")).await.unwrap();
    let orders = "form:has(input[value=\"https://orders.example\"])";
    click(&b, &format!("{orders} input[value=read]")).await;
    click(&b, &format!("{orders} button[type=submit]")).await;
    wait_for(&b, ".notice").await;
    screenshot(&b, "admin-04-client-api-access").await;
    let other = app.with_browser(crate::support::new_browser());
    let auth = crate::support::auth_url(&other, &shop, "openid", &[]);
    let res = other.authorize(&auth.url, "ada").await;
    let code = query_param(&crate::support::location(&res), "code").unwrap();
    let tokens = other.redeem(&shop, &code, &auth.verifier).await;
    let exchanged: Value = app
        .exchange(
            &shop,
            tokens["id_token"].as_str().unwrap(),
            &[("resource", "https://orders.example")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(exchanged["scope"], "read");

    // Edit the redirect URI and see the old one refused.
    b.goto(&app.url("/admin/clients/shop")).await.unwrap();
    let uris = b.find(Locator::Css("#redirect_uris")).await.unwrap();
    uris.clear().await.unwrap();
    uris.send_keys(&format!("{rp}/callback2")).await.unwrap();
    submit_first(&b, "/admin/clients/shop").await;
    wait_for(&b, ".notice").await;
    b.goto(&authorize_url(&app, "shop", &format!("{rp}/callback")))
        .await
        .unwrap();
    assert!(text_of(&b).await.contains("not registered for this application"));
    screenshot(&b, "admin-05-old-redirect-refused").await;

    // Rotate keys: the next keys were just published, so the page explains
    // and asks again; rotating anyway changes the JWKS.
    sqlx::query("UPDATE signing_keys SET created_at = now() WHERE state = 'next'")
        .execute(&app.pool)
        .await
        .unwrap();
    let before = app.get_json("/jwks").await["keys"].as_array().unwrap().len();
    b.goto(&app.url("/admin/keys")).await.unwrap();
    submit_first(&b, "/admin/keys/rotate").await;
    wait_for(&b, "input[name=force]").await;
    assert!(text_of(&b).await.contains("Not rotated"));
    screenshot(&b, "admin-06-keys-rotate-too-soon").await;
    submit_first(&b, "/admin/keys/rotate").await;
    wait_for(&b, ".notice").await;
    screenshot(&b, "admin-06-keys-rotated").await;
    assert_eq!(
        app.get_json("/jwks").await["keys"].as_array().unwrap().len(),
        before + 3
    );

    // Disable a user and see her sign-in refused.
    b.goto(&app.url(&format!("/admin/users/{ada}"))).await.unwrap();
    submit_first(&b, &format!("/admin/users/{ada}/disable")).await;
    // admin.js asks before a destructive change.
    b.accept_alert().await.unwrap();
    wait_for(&b, ".notice").await;
    screenshot(&b, "admin-07-user-disabled").await;
    let her = browser().await;
    her.goto(&app.url("/signin")).await.unwrap();
    her.wait().for_element(Locator::Css("#username")).await.unwrap();
    fill(&her, "#username", "ada").await;
    fill(&her, "#password", PASSWORD).await;
    click(&her, "button[type=submit]").await;
    her.wait().for_element(Locator::Css("#signin-error")).await.unwrap();
    assert!(text_of(&her).await.contains("disabled"));
    screenshot(&her, "admin-08-disabled-user-refused").await;
    her.close().await.unwrap();

    // Filter the audit log.
    b.goto(&app.url("/admin/audit")).await.unwrap();
    b.find(Locator::Css("#kind"))
        .await
        .unwrap()
        .select_by_value("admin")
        .await
        .unwrap();
    click(&b, "form[action=\"/admin/audit\"] button[type=submit]").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let html = text_of(&b).await;
    assert!(
        html.contains("created a client")
            && html.contains("rotated the signing keys")
            && !html.contains("<td>sign_in</td>")
    );
    screenshot(&b, "admin-09-audit-filtered").await;

    // The token lab explains ada's id_token; the dry run; the dashboard.
    b.goto(&app.url("/admin/lab")).await.unwrap();
    fill(&b, "#token", tokens["id_token"].as_str().unwrap()).await;
    submit_first(&b, "/admin/lab").await;
    wait_for(&b, "#verdict").await;
    assert!(
        text_of(&b)
            .await
            .contains("Valid: a genuine, unexpired Lanyard id_token.")
    );
    screenshot(&b, "admin-10-token-lab").await;
    b.goto(&app.url("/admin/dry-run")).await.unwrap();
    fill(&b, "#client_id", "shop").await;
    fill(&b, "#resource", "https://orders.example").await;
    fill(&b, "#scope", "write").await;
    // ada is disabled by now: evaluate as if root had just signed in to shop.
    fill(&b, "#username", "root").await;
    submit_first(&b, "/admin/dry-run").await;
    wait_for(&b, "#outcome").await;
    assert!(
        text_of(&b).await.contains("invalid_scope"),
        "write is not allowed to shop"
    );
    screenshot(&b, "admin-11-dry-run-denied").await;
    b.goto(&app.url("/admin")).await.unwrap();
    wait_for(&b, "svg.chart").await;
    screenshot(&b, "admin-12-dashboard").await;
    b.close().await.unwrap();
}
