//! RP-initiated logout.

use crate::support::{
    ClientSpec, TestApp, TestClient, auth_url, create_client, create_user, hidden_field, location, query_param,
    spawn_app,
};

async fn signed_in() -> (TestApp, TestClient, String) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid", "ada").await;
    (app, client, tokens["id_token"].as_str().unwrap().to_owned())
}

async fn signed_in_still(app: &TestApp, client: &TestClient) -> bool {
    let auth = auth_url(app, client, "openid", &[("prompt", "none")]);
    let res = app.visit(&auth.url).await;
    query_param(&location(&res), "code").is_some()
}

fn logout_url(app: &TestApp, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

#[tokio::test]
async fn a_get_with_a_hint_for_this_session_signs_out_and_returns_with_state() {
    let (app, client, id_token) = signed_in().await;
    let bye = "https://rp.example/bye";
    let res = app
        .visit(&logout_url(
            &app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", bye),
                ("state", "s t"),
            ],
        ))
        .await;
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "https://rp.example/bye?state=s+t");
    assert!(
        !signed_in_still(&app, &client).await,
        "prompt=none afterwards is login_required"
    );
}

#[tokio::test]
async fn without_a_matching_hint_logout_asks_for_confirmation_with_csrf() {
    let (app, client, _) = signed_in().await;
    let res = app.visit(&logout_url(&app, &[("client_id", &client.id)])).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign out?") && html.contains("rp app"));
    assert!(signed_in_still(&app, &client).await, "nothing ended yet");
    let forged = app
        .submit(
            "/logout",
            &[("confirm", "yes"), ("csrf", "nope"), ("client_id", &client.id)],
        )
        .await;
    assert_eq!(forged.status(), 400);
    assert!(signed_in_still(&app, &client).await);
    let csrf = hidden_field(&html, "csrf").unwrap();
    let res = app
        .submit(
            "/logout",
            &[("confirm", "yes"), ("csrf", &csrf), ("client_id", &client.id)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("signed out"));
    assert!(!signed_in_still(&app, &client).await);
}

#[tokio::test]
async fn an_rp_post_without_the_cookie_never_ends_a_session_unconfirmed() {
    let (app, client, id_token) = signed_in().await;
    // A cross-site POST arrives without the SameSite=Lax cookie; same-site, it confirms.
    let res = app.submit("/logout", &[("id_token_hint", &id_token)]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Sign out?"));
    assert!(signed_in_still(&app, &client).await);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_gets_the_error_page() {
    let (app, client, id_token) = signed_in().await;
    for uri in ["https://evil.example/", "https://rp.example/bye/"] {
        let res = app
            .visit(&logout_url(
                &app,
                &[("id_token_hint", &id_token), ("post_logout_redirect_uri", uri)],
            ))
            .await;
        assert_eq!(res.status(), 400, "{uri}");
        assert!(res.headers().get("location").is_none());
    }
    assert!(signed_in_still(&app, &client).await);
}

#[tokio::test]
async fn a_hint_that_does_not_verify_is_treated_as_absent() {
    let (app, client, id_token) = signed_in().await;
    let forged = format!("{}AAAA", &id_token[..id_token.len() - 4]);
    // Without a verified hint there is no client to accept the redirect URI for.
    let res = app
        .visit(&logout_url(
            &app,
            &[
                ("id_token_hint", &forged),
                ("post_logout_redirect_uri", "https://rp.example/bye"),
            ],
        ))
        .await;
    assert_eq!(res.status(), 400);
    // And it does not skip the confirmation either.
    let res = app.visit(&logout_url(&app, &[("id_token_hint", &forged)])).await;
    assert!(res.text().await.unwrap().contains("Sign out?"));
    assert!(signed_in_still(&app, &client).await);
}

#[tokio::test]
async fn an_expired_hint_still_identifies_the_session() {
    let (app, client, id_token) = signed_in().await;
    app.clock.advance(chrono::TimeDelta::seconds(1000));
    let res = app
        .visit(&logout_url(
            &app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://rp.example/bye"),
            ],
        ))
        .await;
    assert_eq!(res.status(), 302);
    assert!(!signed_in_still(&app, &client).await);
}

/// Like at /authorize, an oversized `state` is never echoed: the error page
/// answers, and the session is left alone.
#[tokio::test]
async fn an_oversized_state_gets_the_error_page_and_signs_nobody_out() {
    let (app, client, id_token) = signed_in().await;
    let huge = "s".repeat(2049);
    let url = logout_url(
        &app,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", &huge),
        ],
    );
    let res = app.visit(&url).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(signed_in_still(&app, &client).await);
}
