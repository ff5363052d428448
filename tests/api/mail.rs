//! Mail through the outbox (delivered over SMTP, retried, sent once across
//! nodes) and password reset by email (README "Email and password reset").

use std::time::Duration;

use chrono::TimeDelta;
use lanyard::mail::worker::{Pass, deliver_due};
use lanyard::store::mail_outbox::{self, NewMail};

use crate::support::*;

/// An app that sends through `sink`; its worker waits an hour, so the test
/// runs each pass itself.
async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::builder()
        .config(move |c| {
            c.smtp_url = lanyard::config::SmtpUrl::parse(&url).unwrap();
            c.mail_every = Duration::from_secs(3600);
        })
        .spawn()
        .await
}

async fn queue(app: &TestApp, recipient: &str) -> uuid::Uuid {
    let mail = NewMail {
        recipient,
        subject: "Hello",
        body: "A test message.\n",
    };
    let mut conn = app.pool.acquire().await.unwrap();
    mail_outbox::insert(&mut conn, &mail, app.provider.now()).await.unwrap()
}

async fn pass(app: &TestApp) -> Pass {
    deliver_due(&app.provider.outbox())
        .await
        .expect("a pass over the outbox")
}

#[tokio::test]
async fn a_queued_message_is_delivered_through_smtp_and_counted() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let id = queue(&app, "alice@example.com").await;

    // Act
    let done = pass(&app).await;

    // Assert
    assert_eq!(done, Pass { sent: 1, failed: 0 });
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, vec!["alice@example.com".to_owned()]);
    assert!(messages[0].data.contains("Subject: Hello"), "{}", messages[0].data);
    assert!(messages[0].data.contains("From: Lanyard <lanyard@localhost>"));
    let sent: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT sent_at FROM mail_outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(sent.is_some());
    assert_eq!(pass(&app).await, Pass::default(), "a sent message is not sent again");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("lanyard_mail_total{outcome=\"sent\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_refused_message_is_retried_later_and_then_delivered() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    sink.set_failing(true);
    let id = queue(&app, "alice@example.com").await;

    // Act: the server refuses; a pass at once finds nothing due
    let first = pass(&app).await;
    let at_once = pass(&app).await;
    sink.set_failing(false);
    app.clock.advance(TimeDelta::seconds(31));
    let later = pass(&app).await;

    // Assert
    assert_eq!(first, Pass { sent: 0, failed: 1 });
    assert_eq!(at_once, Pass::default(), "the retry waits for its backoff");
    assert_eq!(later, Pass { sent: 1, failed: 0 });
    assert_eq!(sink.messages().len(), 1);
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM mail_outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(error, None);
}

#[tokio::test]
async fn two_nodes_never_send_one_message_twice() {
    // Arrange: two nodes on one database, both sending through the sink
    let sink = SmtpSink::start().await;
    let a = app_with_mail(&sink).await;
    let url = sink.url();
    let b = TestApp::builder()
        .on(a.db.clone())
        .config(move |c| {
            c.smtp_url = lanyard::config::SmtpUrl::parse(&url).unwrap();
            c.mail_every = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    b.clock.advance(TimeDelta::seconds(1));
    for i in 0..30 {
        queue(&a, &format!("person{i}@example.com")).await;
    }

    // Act: both nodes pass over the outbox at once, until nothing is left
    for _ in 0..3 {
        let (x, y) = tokio::join!(pass(&a), pass(&b));
        if x.sent + y.sent == 0 {
            break;
        }
    }

    // Assert: every message once
    let mut recipients: Vec<String> = sink.messages().into_iter().flat_map(|m| m.to).collect();
    recipients.sort();
    let before = recipients.len();
    recipients.dedup();
    assert_eq!(before, 30, "30 messages sent");
    assert_eq!(recipients.len(), 30, "none twice");
}

/// Asks for a reset link for `who` (from `ip`), as a browser does.
async fn ask_for_link(app: &TestApp, who: &str, ip: Option<&str>) -> reqwest::Response {
    let page = app.get("/signin/forgot").await;
    assert_eq!(page.status(), 200);
    let csrf = hidden_field(&page.text().await.unwrap(), "csrf").expect("a csrf field");
    let mut req = app
        .client
        .post(app.url("/signin/forgot"))
        .form(&[("csrf", csrf.as_str()), ("who", who)]);
    if let Some(ip) = ip {
        req = req.header("X-Forwarded-For", ip);
    }
    req.send().await.expect("request")
}

/// Opens a reset link: its form, filled in with a new password.
async fn reset_form(app: &TestApp, link: &str, password: &str) -> [(&'static str, String); 4] {
    let page = app.visit(link).await;
    assert_eq!(page.status(), 200, "the link opens the form");
    let html = page.text().await.unwrap();
    [
        ("csrf", hidden_field(&html, "csrf").expect("csrf")),
        ("token", hidden_field(&html, "token").expect("token")),
        ("password", password.to_owned()),
        ("password_again", password.to_owned()),
    ]
}

/// Posts a filled-in reset form.
async fn post_reset(app: &TestApp, form: &[(&str, String)]) -> reqwest::Response {
    app.client
        .post(app.url("/signin/reset"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Opens a reset link and posts a new password on its form.
async fn reset_with(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    post_reset(app, &reset_form(app, link, password).await).await
}

async fn signs_in(app: &TestApp, username: &str, password: &str) -> bool {
    let browser = app.with_browser(new_browser());
    let html = browser.get("/signin").await.text().await.unwrap();
    browser.sign_in_on(&html, username, password).await.status() == 303
}

#[tokio::test]
async fn the_link_from_the_mail_resets_the_password_once_and_ends_every_session() {
    // Arrange: alice is signed in somewhere
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let alice = create_user(&app, "alice").await;
    assert!(signs_in(&app, "alice", PASSWORD).await);
    assert!(
        app.get("/signin")
            .await
            .text()
            .await
            .unwrap()
            .contains("/signin/forgot")
    );

    // Act: ask for a link, receive it, use it
    assert_eq!(ask_for_link(&app, "alice", None).await.status(), 200);
    assert_eq!(pass(&app).await.sent, 1);
    let mail = sink.messages().pop().expect("a message");
    let link = mail.link().expect("a link in the message");
    let done = reset_with(&app, &link, "a new and long passphrase").await;

    // Assert
    assert_eq!(mail.to, vec!["alice@example.com".to_owned()]);
    assert!(
        link.starts_with(&format!("{}/signin/reset?token=", app.address)),
        "{link}"
    );
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("reset-done"));
    assert!(!signs_in(&app, "alice", PASSWORD).await, "the old password is refused");
    assert!(signs_in(&app, "alice", "a new and long passphrase").await);
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND created_at < (SELECT max(created_at) FROM sessions WHERE user_id = $1)",
    )
    .bind(alice)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(open, 0, "the session from before the reset ended");
    let again = app.visit(&link).await;
    assert_eq!(again.status(), 400, "a second use fails");
    assert!(again.text().await.unwrap().contains("This link is not valid"));
}

#[tokio::test]
async fn a_spent_link_posted_again_fails_with_a_clear_page() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    create_user(&app, "alice").await;
    ask_for_link(&app, "alice@example.com", None).await;
    pass(&app).await;
    let link = sink.messages().pop().and_then(|m| m.link()).expect("a link");
    let form = reset_form(&app, &link, "first new password").await;

    // Act: the same form, twice
    let first = post_reset(&app, &form).await;
    let second = post_reset(&app, &form).await;

    // Assert
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 400);
    assert!(second.text().await.unwrap().contains("This link is not valid"));
}

#[tokio::test]
async fn an_unknown_name_gets_the_same_answer_as_a_known_one() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    create_user(&app, "alice").await;

    // Act
    let known = ask_for_link(&app, "alice", None).await;
    let (known_status, known_body) = (known.status(), known.text().await.unwrap());
    let unknown = ask_for_link(&app, "nobody@example.com", None).await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
    pass(&app).await;

    // Assert
    assert_eq!(known_status, 200);
    assert_eq!(known_status, unknown_status);
    assert_eq!(known_body, unknown_body);
    assert!(known_body.contains("If an account matches"));
    assert_eq!(sink.messages().len(), 1, "only the known account got mail");
}

#[tokio::test]
async fn the_forgot_form_is_throttled_per_client_address() {
    // Arrange: addresses from X-Forwarded-For
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::builder()
        .config(move |c| {
            c.smtp_url = lanyard::config::SmtpUrl::parse(&url).unwrap();
            c.mail_every = Duration::from_secs(3600);
            c.trusted_proxies = vec![lanyard::config::Cidr::parse("127.0.0.1").unwrap()];
        })
        .spawn()
        .await;

    // Act
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            ask_for_link(&app, "nobody", Some("203.0.113.7"))
                .await
                .status()
                .as_u16(),
        );
    }
    let other = ask_for_link(&app, "nobody", Some("203.0.113.8")).await.status();

    // Assert
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(other, 200, "another address has its own budget");
}

#[tokio::test]
async fn without_mail_the_reset_pages_say_it_is_unavailable() {
    // Arrange: no LANYARD_SMTP_URL, not under `lanyard dev`
    let app = spawn_app().await;

    // Act
    let forgot = app.get("/signin/forgot").await;
    let signin = app.get("/signin").await.text().await.unwrap();

    // Assert
    assert_eq!(forgot.status(), 404);
    assert!(forgot.text().await.unwrap().contains("not available"));
    assert!(!signin.contains("/signin/forgot"), "no link to a feature that is off");
}

#[tokio::test]
async fn without_smtp_under_dev_each_message_is_written_to_a_file() {
    // Arrange: no SMTP URL, a mail directory (what `lanyard dev` sets)
    let dir = std::env::temp_dir().join(format!("lanyard-mail-{}", uuid::Uuid::new_v4()));
    let mail_dir = dir.clone();
    let app = TestApp::builder()
        .config(move |c| {
            c.mail_dir = Some(mail_dir);
            c.mail_every = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    create_user(&app, "alice").await;

    // Act
    assert_eq!(ask_for_link(&app, "alice", None).await.status(), 200);
    let done = pass(&app).await;

    // Assert: one .eml file holding the whole link
    assert_eq!(done.sent, 1);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("To: alice@example.com"), "{text}");
    let link = format!("{}/signin/reset?token=", app.address);
    let at = text.find(&link).expect("the link");
    let token: String = text[at + link.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(token.len(), 43, "the token is whole (no line break inside the link)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn housekeeping_deletes_sent_mail_and_expired_links_once_their_retention_passes() {
    // Arrange: a sent message and a mailed link
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    create_user(&app, "alice").await;
    ask_for_link(&app, "alice", None).await;
    assert_eq!(pass(&app).await.sent, 1);
    let rows = |table: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let limits = lanyard::maintenance::Housekeeping::default();
    lanyard::maintenance::housekeep(&app.provider, &limits).await.unwrap();
    let kept = (rows("mail_outbox").await, rows("password_resets").await);

    // Act: past the link's life and the retention
    app.clock
        .advance(TimeDelta::minutes(30) + app.config.lifetimes.expired_retention + TimeDelta::seconds(1));
    let mut pruned = None;
    for _ in 0..100 {
        pruned = lanyard::maintenance::housekeep(&app.provider, &limits).await.unwrap();
        if pruned.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert
    assert_eq!(kept, (1, 1), "kept within the retention");
    assert!(pruned.is_some(), "housekeeping ran");
    assert_eq!((rows("mail_outbox").await, rows("password_resets").await), (0, 0));
}

#[tokio::test]
async fn a_message_that_fails_for_a_day_is_given_up_and_audited() {
    // Arrange: a server that refuses everything
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    sink.set_failing(true);
    let id = queue(&app, "alice@example.com").await;
    assert_eq!(pass(&app).await.failed, 1);

    // Act: a day later it still fails
    app.clock.advance(TimeDelta::hours(24));
    let last = pass(&app).await;
    app.clock.advance(TimeDelta::hours(2));
    let after = pass(&app).await;

    // Assert: given up, audited, counted, never tried again
    assert_eq!(last, Pass { sent: 0, failed: 1 });
    assert_eq!(after, Pass::default());
    let failed: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT failed_at FROM mail_outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(failed.is_some());
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'mail' AND outcome = 'failure'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("lanyard_mail_total{outcome=\"gave_up\"} 1"),
        "{metrics}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn one_link_posted_twice_at_once_resets_once() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    create_user(&app, "alice").await;
    ask_for_link(&app, "alice", None).await;
    pass(&app).await;
    let link = sink.messages().pop().and_then(|m| m.link()).expect("a link");
    let form = reset_form(&app, &link, "raced new password").await;

    // Act: the same form, twice at the same moment
    let (a, b) = tokio::join!(post_reset(&app, &form), post_reset(&app, &form));

    // Assert
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn a_queued_message_survives_a_database_restart_and_is_then_delivered() {
    let sink = SmtpSink::start().await;
    let (cluster, db) = own_cluster().await;
    let url = sink.url();
    let app = TestApp::builder()
        .on(db)
        .config(move |c| {
            c.smtp_url = lanyard::config::SmtpUrl::parse(&url).unwrap();
            c.mail_every = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    queue(&app, "alice@example.com").await;
    cluster.stop().await;
    assert!(
        deliver_due(&app.provider.outbox()).await.is_err(),
        "no database: nothing can be claimed"
    );
    assert!(sink.messages().is_empty());
    cluster.start().await;
    // The pool reconnects; the message waited in the outbox.
    let mut sent = Pass::default();
    for _ in 0..50 {
        if let Ok(done) = deliver_due(&app.provider.outbox()).await {
            sent = done;
            if done.sent == 1 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sent, Pass { sent: 1, failed: 0 });
    assert_eq!(sink.messages().len(), 1, "delivered once, after the restart");
}

#[tokio::test]
async fn no_reset_link_goes_to_the_unverified_address_of_an_account_from_an_upstream() {
    for trusted in [false, true] {
        let sink = SmtpSink::start().await;
        let app = app_with_mail(&sink).await;
        let op = mock_op().await;
        let settings = lanyard::admin::upstreams::UpstreamSettings {
            link_by_verified_email: Some(trusted),
            ..Default::default()
        };
        connect_upstream(&app, "mock", &op.issuer, MOCK_CLIENT, settings).await;
        let browser = app.with_browser(new_browser());
        assert_eq!(crate::upstream::sign_in_at_mock(&browser, &op, |_, _, _| {}).await, 303);

        ask_for_link(&app, "mock@example.com", None).await;
        pass(&app).await;

        let sent = sink.messages().len();
        assert_eq!(
            sent,
            usize::from(trusted),
            "trusted {trusted}: mailed only to a verified address"
        );
    }
}
