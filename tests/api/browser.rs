//! Real-browser journeys: headless Chromium driven through chromedriver
//! (fantoccini). Screenshots of each page land in `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::support::{PASSWORD, TestApp, create_user, pkce_pair, query_param, spawn_app};

/// One chromedriver per test run; it stops when the test process ends, and
/// the browser profiles under its directory go with it.
static DRIVER: OnceCell<(String, PathBuf)> = OnceCell::const_new();

async fn driver() -> &'static (String, PathBuf) {
    DRIVER
        .get_or_init(|| async {
            let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
                .expect("chromedriver is installed (apt-get install chromium chromium-driver; .ci/test does it)");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let profiles = std::env::temp_dir().join(format!("lanyard-chromium-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&profiles).unwrap();
            // A watchdog ends chromedriver (and its browsers) with this process.
            let script = format!(
                "setsid '{binary}' --port={port} >/dev/null 2>&1 & d=$!; while [ -d /proc/{pid} ]; do sleep 1; done; kill -- -$d; sleep 1; rm -rf '{dir}'",
                pid = std::process::id(),
                dir = profiles.display()
            );
            tokio::process::Command::new("/bin/sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let url = format!("http://127.0.0.1:{port}");
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return (url, profiles);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("chromedriver did not start on port {port}");
        })
        .await
}

/// A fresh headless Chromium (its own profile, so its own cookies).
pub async fn browser() -> Client {
    let (driver_url, profiles) = driver().await;
    let profile = profiles.join(uuid::Uuid::new_v4().simple().to_string());
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1000,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a browser session")
}

pub async fn screenshot(browser: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// A tiny relying party: the pages a client would show after the redirect.
pub async fn relying_party() -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let page = |title: &'static str| {
        move || async move {
            HttpResponse::Ok()
                .content_type("text/html")
                .body(format!("<!doctype html><title>{title}</title><h1>{title}</h1>"))
        }
    };
    let server = HttpServer::new(move || {
        App::new()
            .route("/callback", web::get().to(page("Demo RP: signed in")))
            .route("/bye", web::get().to(page("Demo RP: signed out")))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    tokio::spawn(server.run());
    address
}

pub async fn fill(browser: &Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

pub async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// Waits (up to 10 s) until the browser is at a URL starting with `prefix`.
pub async fn wait_for_url(browser: &Client, prefix: &str) -> url::Url {
    for _ in 0..100 {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(prefix) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.current_url().await.unwrap()
}

/// An authorization request of the registered client to the relying
/// party `rp`, with PKCE, and `extra` parameters (`scope`, `state`, …).
pub fn authorize_url(app: &TestApp, client_id: &str, rp: &str, extra: &[(&str, &str)]) -> url::Url {
    let (_, challenge) = pkce_pair();
    let mut auth = url::Url::parse(&app.url("/authorize")).unwrap();
    auth.query_pairs_mut()
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", &format!("{rp}/callback")),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .extend_pairs(extra);
    auth
}

pub async fn register_client(app: &TestApp, rp: &str) -> String {
    let input = lanyard::admin::clients::NewClientInput {
        client_id: "browser-rp".into(),
        name: Some("Browser RP".into()),
        redirect_uris: vec![format!("{rp}/callback")],
        post_logout_redirect_uris: vec![format!("{rp}/bye")],
        scopes: vec!["openid".into(), "email".into()],
        ..Default::default()
    };
    let id = lanyard::admin::clients::create(&app.pool, &lanyard::clock::SystemClock, &mut rand::rng(), input)
        .await
        .unwrap()
        .client_id;
    app.settle().await;
    id
}

#[tokio::test]
async fn a_person_signs_in_consents_lands_on_the_client_and_signs_out_in_a_real_browser() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = relying_party().await;
    let client_id = register_client(&app, &rp).await;
    let auth = authorize_url(
        &app,
        &client_id,
        &rp,
        &[("scope", "openid email"), ("state", "browser-state")],
    );
    let b = browser().await;

    b.goto(auth.as_str()).await.unwrap();
    b.wait().for_element(Locator::Css("#username")).await.unwrap();
    screenshot(&b, "01-sign-in").await;
    assert!(
        b.source().await.unwrap().contains("Browser RP"),
        "the page names the client"
    );
    fill(&b, "#username", "ada").await;
    fill(&b, "#password", "wrong").await;
    click(&b, "button[type=submit]").await;
    b.wait().for_element(Locator::Css("#signin-error")).await.unwrap();
    screenshot(&b, "02-sign-in-error").await;
    fill(&b, "#password", PASSWORD).await;
    click(&b, "button[type=submit]").await;

    b.wait().for_element(Locator::Css("button[value=allow]")).await.unwrap();
    screenshot(&b, "03-consent").await;
    assert!(b.source().await.unwrap().contains("see your email address"));
    click(&b, "button[value=allow]").await;

    let landed = wait_for_url(&b, &format!("{rp}/callback")).await;
    screenshot(&b, "04-client-callback").await;
    assert!(landed.as_str().starts_with(&format!("{rp}/callback?")), "{landed}");
    assert!(query_param(landed.as_str(), "code").is_some());
    assert_eq!(query_param(landed.as_str(), "state").as_deref(), Some("browser-state"));
    assert_eq!(
        query_param(landed.as_str(), "iss").as_deref(),
        Some(app.address.as_str())
    );

    let mut logout = url::Url::parse(&app.url("/logout")).unwrap();
    logout.query_pairs_mut().extend_pairs([
        ("client_id", client_id.as_str()),
        ("post_logout_redirect_uri", &format!("{rp}/bye")),
        ("state", "bye-state"),
    ]);
    b.goto(logout.as_str()).await.unwrap();
    b.wait().for_element(Locator::Css("button[value=yes]")).await.unwrap();
    screenshot(&b, "05-sign-out-confirm").await;
    click(&b, "button[value=yes]").await;
    let after = wait_for_url(&b, &format!("{rp}/bye")).await;
    screenshot(&b, "06-signed-out").await;
    assert_eq!(after.as_str(), format!("{rp}/bye?state=bye-state"));
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE ended_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, 0, "the session ended");
    b.close().await.unwrap();
}
