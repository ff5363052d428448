//! The sign-in throttle against an attacker: attempts are counted before the
//! password is checked, a browser that signed in before keeps its own budget
//! (device cookies, OWASP "Slow down online guessing attacks with device
//! cookies"), and one normalisation of usernames serves storing, looking up and
//! throttling.

use crate::support::{PASSWORD, TestApp, create_user, new_browser, spawn_app};

/// A browser of its own on the app, its sign-in page loaded.
async fn browser(app: &TestApp) -> (TestApp, String) {
    let b = app.with_browser(new_browser());
    let page = b.visit("/signin").await.text().await.unwrap();
    (b, page)
}

async fn attempt(b: &TestApp, page: &str, username: &str, password: &str) -> u16 {
    b.sign_in_on(page, username, password).await.status().as_u16()
}

/// The device cookie a response sets, if any.
fn device_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lanyard_device="))
}

#[tokio::test]
async fn a_sign_in_sets_a_long_lived_httponly_device_cookie() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let (b, page) = browser(&app).await;
    let res = b.sign_in_on(&page, "ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let cookie = device_cookie(&res).expect("a device cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let max_age: i64 = cookie
        .split("; ")
        .find_map(|p| p.strip_prefix("Max-Age="))
        .expect("Max-Age")
        .parse()
        .unwrap();
    assert!(max_age >= 30 * 24 * 3600, "{cookie}");
    let (failed_browser, page) = browser(&app).await;
    let res = failed_browser.sign_in_on(&page, "ada", "wrong").await;
    assert!(device_cookie(&res).is_none(), "only a sign-in earns one");
}

#[tokio::test]
async fn a_browser_that_signed_in_before_is_not_locked_out_by_an_attacker() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let (ada, page) = browser(&app).await;
    assert_eq!(attempt(&ada, &page, "ada", PASSWORD).await, 303);
    let (attacker, attack_page) = browser(&app).await;
    for _ in 0..5 {
        assert_eq!(attempt(&attacker, &attack_page, "ada", "guess").await, 401);
    }
    assert_eq!(
        attempt(&attacker, &attack_page, "ada", PASSWORD).await,
        429,
        "the attacker is stopped"
    );
    let page = ada.visit("/signin?reauth=1").await.text().await.unwrap();
    assert_eq!(attempt(&ada, &page, "ada", PASSWORD).await, 303, "ada's browser is not");
}

#[tokio::test]
async fn a_device_cookie_has_a_limit_of_its_own_that_does_not_lock_the_account() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let (ada, page) = browser(&app).await;
    assert_eq!(attempt(&ada, &page, "ada", PASSWORD).await, 303);
    for _ in 0..5 {
        assert_eq!(attempt(&ada, &page, "ada", "typo").await, 401);
    }
    assert_eq!(attempt(&ada, &page, "ada", PASSWORD).await, 429, "that device waits");
    let (elsewhere, page) = browser(&app).await;
    assert_eq!(
        attempt(&elsewhere, &page, "ada", PASSWORD).await,
        303,
        "the device's failures are not the account's"
    );
}

#[tokio::test]
async fn a_forged_or_foreign_device_cookie_counts_as_none() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    create_user(&app, "bob").await;
    let (bob, page) = browser(&app).await;
    let res = bob.sign_in_on(&page, "bob", PASSWORD).await;
    let bobs = device_cookie(&res).unwrap();
    let value = cookie_value(&bobs);
    let mut forged = value.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let (ada, page) = browser(&app).await;
    let res = ada.sign_in_on(&page, "ada", PASSWORD).await;
    let adas = cookie_value(&device_cookie(&res).unwrap());
    // Lock ada's account from a stranger's browser.
    let (attacker, attack_page) = browser(&app).await;
    for _ in 0..5 {
        attempt(&attacker, &attack_page, "ada", "guess").await;
    }
    for cookie in [value, forged] {
        assert_eq!(
            attempt_with_device_cookie(&app, "ada", &cookie).await,
            429,
            "bob's cookie, or a forged one, does not vouch for ada"
        );
    }
    assert_eq!(
        attempt_with_device_cookie(&app, "ada", &adas).await,
        303,
        "ada's own does"
    );
}

fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

/// A sign-in from a browser holding only this device cookie (and its CSRF cookie).
async fn attempt_with_device_cookie(app: &TestApp, username: &str, device: &str) -> u16 {
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain.get(app.url("/signin")).send().await.unwrap();
    let csrf_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("lanyard_csrf="))
        .unwrap();
    let page = res.text().await.unwrap();
    let form = [
        ("csrf", crate::support::hidden_field(&page, "csrf").unwrap()),
        ("username", username.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    plain
        .post(app.url("/signin"))
        .header("Cookie", format!("{csrf_cookie}; lanyard_device={device}"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_username_is_one_account_whatever_its_unicode_form() {
    let app = spawn_app().await;
    create_user(&app, "Straẞe").await;
    create_user(&app, "ada").await;
    // NFKC folds full-width letters; lower case folds ẞ to ß.
    for (typed, expected) in [("ＡＤＡ", 303), ("STRAßE", 303), ("straße", 303)] {
        let (b, page) = browser(&app).await;
        assert_eq!(attempt(&b, &page, typed, PASSWORD).await, expected, "{typed}");
    }
    let dup = lanyard::admin::users::create(
        &app.pool,
        &lanyard::clock::SystemClock,
        lanyard::admin::users::NewUserInput {
            username: "ａｄａ".into(),
            password: "x".into(),
            is_admin: false,
            claims: Default::default(),
        },
    )
    .await;
    assert!(matches!(dup, Err(lanyard::admin::AdminError::Conflict(_))), "{dup:?}");
    // The throttle counts the forms as one account.
    let (attacker, page) = browser(&app).await;
    for typed in ["ADA", "ａｄａ", "Ada", "ＡＤＡ", "ada"] {
        assert_eq!(attempt(&attacker, &page, typed, "guess").await, 401, "{typed}");
    }
    assert_eq!(attempt(&attacker, &page, "ａＤａ", PASSWORD).await, 429);
}

/// Found in review: the throttle's key held the whole username, and one of
/// some kilobytes broke PostgreSQL's index limit (a 500). Any username is
/// counted and answered like a wrong password.
#[tokio::test]
async fn a_huge_username_is_an_unknown_user_not_an_error() {
    let app = spawn_app().await;
    let (b, page) = browser(&app).await;
    // Random, so PostgreSQL cannot compress it under its index limit.
    let huge: String = (0..600).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    assert_eq!(attempt(&b, &page, &huge, "guess").await, 401);
}

/// Found in review: two usernames from before the key existed that fold to
/// one key (`ada`, `ＡＤＡ`) stopped the migration, and with it start-up.
/// The first keeps the key; the later is left without one and named.
#[tokio::test]
async fn usernames_from_before_the_key_that_fold_together_do_not_stop_start_up() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    create_user(&app, "grace").await;
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, created_at, updated_at)
         SELECT gen_random_uuid(), 'ＡＤＡ', password_hash, now(), now() FROM users WHERE username = 'ada'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE users SET username_key = NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let unkeyed = lanyard::store::migrate(&app.pool)
        .await
        .expect("the migration goes through");
    assert_eq!(unkeyed, vec!["ＡＤＡ".to_owned()]);
    let (b, page) = browser(&app).await;
    assert_eq!(
        attempt(&b, &page, "grace", PASSWORD).await,
        303,
        "the others are keyed again"
    );
}
