//! The in-memory catalog follows changes by NOTIFY, one client at a time:
//! a change reads again only the clients it names (issue 16, 100,000 clients).

use std::time::Duration;

use lanyard::admin::{apis, clients};
use lanyard::clock::SystemClock;

use crate::support::{TestApp, eventually, spawn_app};

/// Waits until the app's refresher listens, so a change comes back by NOTIFY
/// (before that, `catch_up` reads the whole catalog).
async fn listening(app: &TestApp) {
    let catalog = &app.provider.catalog;
    let up = eventually(Duration::from_secs(10), || async { catalog.is_listening() }).await;
    assert!(up, "the refresher listens for changes");
}

async fn create_client(app: &TestApp, id: &str, redirect_uri: &str) {
    let input = clients::NewClientInput {
        client_id: id.into(),
        redirect_uris: vec![redirect_uri.into()],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        ..Default::default()
    };
    clients::create(&app.pool, &SystemClock, &mut rand::rng(), input)
        .await
        .unwrap();
}

/// A copy of a client row written with triggers off: no NOTIFY names it, so
/// only a full reload could bring it into the catalog.
async fn copy_client_unannounced(app: &TestApp, from: &str, to: &str) {
    let mut conn = app.pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO clients SELECT (jsonb_populate_record(NULL::clients, to_jsonb(c) || jsonb_build_object('client_id', $2::text))).*
         FROM clients c WHERE client_id = $1",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("RESET session_replication_role")
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_change_reloads_only_the_clients_it_names() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    create_client(&app, "first", "https://first.example/cb").await;
    copy_client_unannounced(&app, "first", "unannounced").await;

    create_client(&app, "named", "https://named.example/cb").await;
    let whole_reads = catalog.whole_reads();
    catalog.catch_up(&app.pool).await.unwrap();
    assert_eq!(
        catalog.whole_reads(),
        whole_reads,
        "the marker came back: no whole read"
    );
    assert!(
        catalog.client("named").is_some(),
        "the client the NOTIFY named is in force"
    );
    assert!(
        catalog.client("unannounced").is_none(),
        "a client no NOTIFY named was not read (no full reload)"
    );

    app.settle().await;
    assert!(
        catalog.client("unannounced").is_some(),
        "a full reload reads every client"
    );
}

#[tokio::test]
async fn a_deleted_client_leaves_the_catalog_and_its_origin_only_when_no_other_client_has_it() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    create_client(&app, "one", "https://shared.example/one").await;
    create_client(&app, "two", "https://shared.example/two").await;
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(catalog.origin_registered("https://shared.example"));

    clients::delete(&app.pool, "one").await.unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(catalog.client("one").is_none(), "the deleted client is gone");
    assert!(
        catalog.origin_registered("https://shared.example"),
        "the other client still registers the origin"
    );

    clients::delete(&app.pool, "two").await.unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(
        !catalog.origin_registered("https://shared.example"),
        "no client registers it now"
    );
}

#[tokio::test]
async fn an_allowance_change_names_its_client_and_a_removed_scope_names_every_client_that_had_it() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    let audience = "https://orders.example";
    let api = apis::NewApiInput {
        audience: audience.into(),
        scopes: vec!["read".into(), "write".into()],
        ..Default::default()
    };
    apis::create(&app.pool, &SystemClock, api).await.unwrap();
    create_client(&app, "svc", "https://svc.example/cb").await;
    let scopes = ["read".to_owned(), "write".to_owned()];
    clients::allow(&app.pool, &SystemClock, "svc", audience, &scopes)
        .await
        .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert_eq!(catalog.allowed_scopes("svc", audience), ["read", "write"]);
    assert_eq!(catalog.audiences_for("svc"), [audience]);

    sqlx::query("DELETE FROM api_scopes WHERE name = 'write'")
        .execute(&app.pool)
        .await
        .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert_eq!(
        catalog.allowed_scopes("svc", audience),
        ["read"],
        "the cascade's NOTIFY named the client"
    );
}

#[tokio::test]
async fn a_change_made_on_one_node_reaches_another_by_notify_without_a_full_reload() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    listening(&other).await;
    create_client(&app, "seed", "https://seed.example/cb").await;
    let seen = eventually(Duration::from_secs(10), || async {
        other.provider.catalog.client("seed").is_some()
    })
    .await;
    assert!(seen, "the new client reached the other node");
    copy_client_unannounced(&app, "seed", "unannounced").await;

    // Many clients in one statement: one NOTIFY names them all.
    sqlx::query(
        "INSERT INTO clients SELECT (jsonb_populate_record(NULL::clients, to_jsonb(c) || jsonb_build_object('client_id', 'bulk-' || n))).*
         FROM clients c, generate_series(1, 50) n WHERE c.client_id = 'seed'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let catalog = &other.provider.catalog;
    let seen = eventually(Duration::from_secs(10), || async {
        (1..=50).all(|n| catalog.client(&format!("bulk-{n}")).is_some())
    })
    .await;
    assert!(seen, "all 50 clients reached the other node");
    assert!(
        catalog.client("unannounced").is_none(),
        "only the named clients were read"
    );
}

#[tokio::test]
async fn a_notify_naming_too_many_clients_reloads_everything() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    create_client(&app, "seed", "https://seed.example/cb").await;
    copy_client_unannounced(&app, "seed", "unannounced").await;
    // 300 ids of ~40 characters do not fit one payload: it says `all`. (The
    // count is taken before: the refresher may begin its read at once.)
    let whole_reads = catalog.whole_reads();
    sqlx::query(
        "INSERT INTO clients SELECT (jsonb_populate_record(NULL::clients, to_jsonb(c)
             || jsonb_build_object('client_id', 'a-rather-long-client-id-for-the-payload-' || n))).*
         FROM clients c, generate_series(1, 300) n WHERE c.client_id = 'seed'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert_eq!(
        catalog.whole_reads(),
        whole_reads + 1,
        "one whole read, the refresher's"
    );
    assert!(catalog.client("a-rather-long-client-id-for-the-payload-300").is_some());
    assert!(
        catalog.client("unannounced").is_some(),
        "`all` read every client, the unannounced one too"
    );
}

#[tokio::test]
async fn deleting_a_trusted_client_ends_the_trust_in_the_trusting_clients_entry() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    create_client(&app, "api-gateway", "https://gateway.example/cb").await;
    create_client(&app, "web", "https://web.example/cb").await;
    clients::trust(&app.pool, &SystemClock, "api-gateway", "web")
        .await
        .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(catalog.trusts("api-gateway", "web"));

    clients::delete(&app.pool, "web").await.unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(
        !catalog.trusts("api-gateway", "web"),
        "the cascade on the trusted side named the trusting client"
    );
}

#[tokio::test]
async fn an_update_that_moves_a_redirect_uri_moves_its_origin() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    create_client(&app, "mover", "https://old.example/cb").await;
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(catalog.origin_registered("https://old.example"));

    sqlx::query("UPDATE clients SET redirect_uris = ARRAY['https://new.example/cb'] WHERE client_id = 'mover'")
        .execute(&app.pool)
        .await
        .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(
        !catalog.origin_registered("https://old.example"),
        "the old origin is gone"
    );
    assert!(
        catalog.origin_registered("https://new.example"),
        "the new one is in force"
    );
}

#[tokio::test]
async fn introspection_rights_follow_their_client() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    let audience = "https://ledger.example";
    let api = apis::NewApiInput {
        audience: audience.into(),
        scopes: vec!["read".into()],
        ..Default::default()
    };
    apis::create(&app.pool, &SystemClock, api).await.unwrap();
    create_client(&app, "ledger", "https://ledger.example/cb").await;
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(!catalog.is_resource_server(audience, "ledger"));

    sqlx::query(
        "INSERT INTO api_resource_servers (api_id, client_id) SELECT id, 'ledger' FROM apis WHERE audience = $1",
    )
    .bind(audience)
    .execute(&app.pool)
    .await
    .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(
        catalog.is_resource_server(audience, "ledger"),
        "the grant named its client"
    );

    sqlx::query("DELETE FROM api_resource_servers WHERE client_id = 'ledger'")
        .execute(&app.pool)
        .await
        .unwrap();
    catalog.catch_up(&app.pool).await.unwrap();
    assert!(
        !catalog.is_resource_server(audience, "ledger"),
        "and so did its removal"
    );
}

#[tokio::test]
async fn callers_whose_markers_cannot_come_back_share_one_whole_read() {
    let app = spawn_app().await;
    listening(&app).await;
    let catalog = &app.provider.catalog;
    create_client(&app, "seed", "https://seed.example/cb").await;
    catalog.catch_up(&app.pool).await.unwrap();
    copy_client_unannounced(&app, "seed", "late").await;
    // While the catalog believes nobody listens (no NOTIFY comes to say
    // otherwise), every caller falls back to a whole read at once.
    catalog.set_listening(false);
    let whole_reads = catalog.whole_reads();
    let callers = (0..8).map(|_| catalog.catch_up(&app.pool));
    for done in futures_util::future::join_all(callers).await {
        done.unwrap();
    }
    assert!(catalog.client("late").is_some(), "a whole read came");
    // Each caller needs a read that began after it asked (the first one's
    // may have begun before the others did); they share those instead of
    // one read each.
    let reads = catalog.whole_reads() - whole_reads;
    assert!(
        (1..8).contains(&reads),
        "8 callers waiting together: {reads} whole reads"
    );
}
