//! Configuration errors stop start-up with exit code 2 and one line naming the setting.

use crate::support::{empty_db, fetch_json, fresh_db, lanyard, serve_listening};

#[tokio::test]
async fn invalid_settings_stop_serve_with_exit_2_and_one_line_naming_the_setting() {
    let db = fresh_db().await;
    for (name, value) in [
        ("LANYARD_ISSUER", "https://id.example.com/"),
        ("LANYARD_ISSUER", "http://id.example.com"),
        ("LANYARD_ISSUER", "https://id.example.com/tenant"),
        ("LANYARD_ISSUER", "https://id.example.com?x=1"),
        ("LANYARD_BIND", "everywhere"),
        ("LANYARD_MASTER_KEY", "too-short"),
        ("LANYARD_TRUSTED_PROXIES", "10.0.0.0/40"),
        ("LANYARD_AUDIT_RETENTION_DAYS", "-1"),
        ("LANYARD_LOG_FORMAT", "yaml"),
        ("LANYARD_AUTH_CODE_TTL", "601"),
        ("LANYARD_ACCESS_TOKEN_TTL", "0"),
        ("LANYARD_ID_TOKEN_TTL", "ten"),
        ("LANYARD_REFRESH_TOKEN_TTL", "1.5"),
        ("LANYARD_REFRESH_TOKEN_MAX_TTL", "0"),
        ("LANYARD_SESSION_IDLE_TTL", "99999999"),
        ("LANYARD_SESSION_TTL", "-5"),
    ] {
        let run = lanyard(&["serve"]).db(&db).env(name, value).run().await;
        assert_eq!(run.code, 2, "{name}={value}: {run:?}");
        run.assert_refused(name);
    }
}

#[tokio::test]
async fn serve_without_database_url_or_master_key_exits_2() {
    let db = fresh_db().await;
    let run = lanyard(&["serve"])
        .env("LANYARD_MASTER_KEY", &crate::support::master_key().encode())
        .run()
        .await;
    assert_eq!(run.code, 2);
    run.assert_refused("DATABASE_URL");
    let run = lanyard(&["serve"]).env("DATABASE_URL", &db.url).run().await;
    assert_eq!(run.code, 2);
    run.assert_refused("LANYARD_MASTER_KEY");
}

#[tokio::test]
async fn a_config_file_is_read_and_the_environment_overrides_it() {
    let db = fresh_db().await;
    let dir = std::env::temp_dir().join(format!("lanyard-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lanyard.toml");
    std::fs::write(
        &file,
        "issuer = \"https://id.file.example\"\nbind = \"not an address\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let run = lanyard(&["--config", path, "serve"]).run_on(&db).await;
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_refused("LANYARD_BIND");
    assert!(run.stderr.contains(path), "names the file: {run:?}");

    // The environment beats the file; the file's issuer stays.
    let (mut child, address) = serve_listening(
        lanyard(&["--config", path, "serve"])
            .db(&db)
            .env("LANYARD_BIND", "127.0.0.1:0"),
    )
    .await;
    let doc: serde_json::Value = fetch_json(&format!("http://{address}/.well-known/openid-configuration")).await;
    child.kill().await.ok();
    assert_eq!(doc["issuer"], "https://id.file.example");
    assert_eq!(doc["token_endpoint"], "https://id.file.example/token");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_unknown_setting_in_the_config_file_is_refused() {
    let db = fresh_db().await;
    let file = std::env::temp_dir().join(format!("lanyard-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "isuer = \"https://typo.example\"\n").unwrap();
    let run = lanyard(&["--config", file.to_str().unwrap(), "serve"])
        .run_on(&db)
        .await;
    assert_eq!(run.code, 2);
    run.assert_refused("isuer");
    std::fs::remove_file(file).ok();
}

#[tokio::test]
async fn unknown_lanyard_variables_only_warn() {
    let db = fresh_db().await;
    let cmd = lanyard(&["serve"])
        .db(&db)
        .env("LANYARD_BIND", "127.0.0.1:0")
        .env("LANYARD_COLOUR", "blue");
    let (mut child, address) = serve_listening(cmd).await;
    let status = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap()
        .status();
    child.kill().await.ok();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn serve_publishes_the_configured_issuer_byte_for_byte() {
    let db = empty_db().await;
    lanyard(&["migrate"]).run_on(&db).await.assert_ok();
    let cmd = lanyard(&["serve"])
        .db(&db)
        .env("LANYARD_BIND", "127.0.0.1:0")
        .env("LANYARD_ISSUER", "https://login.example.test:8443");
    let (mut child, address) = serve_listening(cmd).await;
    let doc: serde_json::Value = fetch_json(&format!("http://{address}/.well-known/openid-configuration")).await;
    child.kill().await.ok();
    assert_eq!(doc["issuer"], "https://login.example.test:8443");
    assert_eq!(doc["jwks_uri"], "https://login.example.test:8443/jwks");
}
