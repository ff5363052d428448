//! The CLI contract: every command, its output and each of its errors.

use sqlx::Row;

use crate::support::{TestDb, count_rows, empty_db, fresh_db, lanyard};

async fn create_api(db: &TestDb, audience: &str, scopes: &[&str]) {
    let mut args = vec!["api", "create", audience];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    lanyard(&args).db(db).run().await.assert_ok();
}

async fn create_service(db: &TestDb, id: &str) {
    lanyard(&["client", "create", id, "--grant-type", "client_credentials"])
        .db(db)
        .run()
        .await
        .assert_ok();
}

async fn pool(db: &TestDb) -> sqlx::PgPool {
    lanyard::store::connect(&db.url, 1).await.unwrap()
}

/// One case of a refusal table: what it checks, the command, its stdin, and
/// what the one line on stderr must name.
struct Refusal<'a> {
    case: &'a str,
    args: Vec<&'a str>,
    stdin: Option<&'a str>,
    names: &'a str,
}

fn refusal<'a>(case: &'a str, args: &[&'a str], names: &'a str) -> Refusal<'a> {
    Refusal {
        case,
        args: args.to_vec(),
        stdin: None,
        names,
    }
}

impl<'a> Refusal<'a> {
    fn stdin(self, input: &'a str) -> Self {
        Refusal {
            stdin: Some(input),
            ..self
        }
    }
}

/// Runs each case against `db`: each is refused with one line naming what is wrong.
async fn assert_each_refused(db: &TestDb, cases: &[Refusal<'_>]) {
    for r in cases {
        let mut cmd = lanyard(&r.args).db(db);
        if let Some(input) = r.stdin {
            cmd = cmd.stdin(input);
        }
        cmd.run().await.assert_refused_in(r.case, r.names);
    }
}

// ---- migrate and serve ----

#[tokio::test]
async fn migrate_applies_the_schema_once() {
    let db = empty_db().await;
    let run = lanyard(&["migrate"]).run_on(&db).await;
    run.assert_ok();
    assert!(run.stdout.contains("applied"), "{run:?}");
    let again = lanyard(&["migrate"]).run_on(&db).await;
    again.assert_ok();
    assert!(again.stdout.contains("up to date"), "{again:?}");
    assert_eq!(count_rows(&db, "users").await, 0);
}

#[tokio::test]
async fn serve_on_an_unmigrated_database_says_to_run_migrate() {
    let db = empty_db().await;
    let run = lanyard(&["serve"])
        .db(&db)
        .env("LANYARD_BIND", "127.0.0.1:0")
        .run()
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_refused("lanyard migrate");
}

#[tokio::test]
async fn admin_commands_on_an_unmigrated_database_say_to_run_migrate() {
    let db = empty_db().await;
    lanyard(&["keys", "list"])
        .run_on(&db)
        .await
        .assert_refused("lanyard migrate");
}

// ---- user create ----

#[tokio::test]
async fn user_create_stores_every_standard_claim() {
    let db = fresh_db().await;
    let run = lanyard(&[
        "user",
        "create",
        "ada",
        "--password-stdin",
        "--admin",
        "--email",
        "ada@example.com",
        "--email-verified",
        "--name",
        "Ada Lovelace",
        "--given-name",
        "Ada",
        "--family-name",
        "Lovelace",
        "--middle-name",
        "Augusta",
        "--nickname",
        "Countess",
        "--preferred-username",
        "ada.l",
        "--profile",
        "https://ada.example/profile",
        "--picture",
        "https://ada.example/me.png",
        "--website",
        "https://ada.example",
        "--gender",
        "female",
        "--birthdate",
        "1815-12-10",
        "--zoneinfo",
        "Europe/London",
        "--locale",
        "en-GB",
        "--phone-number",
        "+441234567890",
        "--phone-number-verified",
        "--address-formatted",
        "12 St James's Square, London",
        "--address-street-address",
        "12 St James's Square",
        "--address-locality",
        "London",
        "--address-region",
        "Westminster",
        "--address-postal-code",
        "SW1Y 4JH",
        "--address-country",
        "GB",
        "--json",
    ])
    .db(&db)
    .stdin("analytical engine\n")
    .run()
    .await;
    run.assert_ok();
    let out = run.json();
    let sub = uuid::Uuid::parse_str(out["sub"].as_str().unwrap()).expect("sub is a UUID");
    assert_eq!(sub.get_version_num(), 4, "sub is a random UUID v4");
    assert_eq!(out["admin"], true);
    assert_eq!(out["address"]["postal_code"], "SW1Y 4JH");

    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(sub)
        .fetch_one(&pool(&db).await)
        .await
        .unwrap();
    for (column, expected) in [
        ("username", "ada"),
        ("email", "ada@example.com"),
        ("name", "Ada Lovelace"),
        ("given_name", "Ada"),
        ("family_name", "Lovelace"),
        ("middle_name", "Augusta"),
        ("nickname", "Countess"),
        ("preferred_username", "ada.l"),
        ("profile", "https://ada.example/profile"),
        ("picture", "https://ada.example/me.png"),
        ("website", "https://ada.example"),
        ("gender", "female"),
        ("birthdate", "1815-12-10"),
        ("zoneinfo", "Europe/London"),
        ("locale", "en-GB"),
        ("phone_number", "+441234567890"),
        ("address_formatted", "12 St James's Square, London"),
        ("address_street_address", "12 St James's Square"),
        ("address_locality", "London"),
        ("address_region", "Westminster"),
        ("address_postal_code", "SW1Y 4JH"),
        ("address_country", "GB"),
    ] {
        assert_eq!(row.get::<String, _>(column), expected, "{column}");
    }
    assert!(row.get::<bool, _>("email_verified") && row.get::<bool, _>("phone_number_verified"));
    assert!(row.get::<bool, _>("is_admin"));
    let hash: String = row.get("password_hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(
        lanyard::crypto::password::verify("analytical engine", &hash),
        "the stdin line (without newline) is the password"
    );
}

#[tokio::test]
async fn user_create_prints_a_human_summary_without_json() {
    let db = fresh_db().await;
    let run = lanyard(&["user", "create", "grace", "--password-stdin"])
        .db(&db)
        .stdin("cobol\n")
        .run()
        .await;
    run.assert_ok();
    assert!(run.stdout.starts_with("created user grace with sub "), "{run:?}");
}

#[tokio::test]
async fn user_create_refuses_invalid_input_and_stores_nothing() {
    let db = fresh_db().await;
    let create = ["user", "create", "ada", "--password-stdin"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { create.iter().chain(extra).copied().collect() };
    let cases = [
        refusal(
            "no terminal and no --password-stdin",
            &["user", "create", "ada"],
            "--password-stdin",
        ),
        refusal("an empty password", &create, "password").stdin("\n"),
        refusal(
            "a malformed birthdate",
            &with(&["--birthdate", "10/12/1815"]),
            "birthdate",
        )
        .stdin("pw\n"),
        refusal("a malformed email", &with(&["--email", "not-an-email"]), "email").stdin("pw\n"),
        refusal(
            "a javascript: website",
            &with(&["--website", "javascript:alert(1)"]),
            "website",
        )
        .stdin("pw\n"),
        refusal(
            "a malformed phone number",
            &with(&["--phone-number", "call me"]),
            "phone-number",
        )
        .stdin("pw\n"),
        refusal("a malformed locale", &with(&["--locale", "english please"]), "locale").stdin("pw\n"),
        refusal("email_verified without an email", &with(&["--email-verified"]), "email").stdin("pw\n"),
        refusal(
            "a space in the username",
            &["user", "create", "a b", "--password-stdin"],
            "username",
        )
        .stdin("pw\n"),
    ];
    assert_each_refused(&db, &cases).await;
    assert_eq!(count_rows(&db, "users").await, 0);
    // Positive control: the same command without a defect creates the user.
    lanyard(&create).db(&db).stdin("pw\n").run().await.assert_ok();
    assert_eq!(count_rows(&db, "users").await, 1);
}

#[tokio::test]
async fn user_create_refuses_a_duplicate_username_regardless_of_case() {
    let db = fresh_db().await;
    lanyard(&["user", "create", "ada", "--password-stdin"])
        .db(&db)
        .stdin("pw1\n")
        .run()
        .await
        .assert_ok();
    lanyard(&["user", "create", "ADA", "--password-stdin"])
        .db(&db)
        .stdin("pw2\n")
        .run()
        .await
        .assert_refused("already exists");
    assert_eq!(count_rows(&db, "users").await, 1);
}

// ---- client create ----

#[tokio::test]
async fn client_create_json_prints_the_secret_once_and_stores_its_sha256() {
    let db = fresh_db().await;
    let run = lanyard(&[
        "client",
        "create",
        "web",
        "--redirect-uri",
        "https://web.example/cb",
        "--json",
    ])
    .run_on(&db)
    .await;
    run.assert_ok();
    let out = run.json();
    assert_eq!(
        out.as_object().unwrap().len(),
        2,
        "exactly client_id and client_secret: {out}"
    );
    assert_eq!(out["client_id"], "web");
    let secret = out["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM clients WHERE client_id = 'web'")
        .fetch_one(&pool(&db).await)
        .await
        .unwrap();
    assert_eq!(stored, lanyard::crypto::secret::sha256(secret).to_vec());
}

#[tokio::test]
async fn client_create_defaults_to_a_confidential_code_flow_client() {
    let db = fresh_db().await;
    lanyard(&["client", "create", "web", "--redirect-uri", "https://web.example/cb"])
        .run_on(&db)
        .await
        .assert_ok();
    let row = sqlx::query("SELECT * FROM clients WHERE client_id = 'web'")
        .fetch_one(&pool(&db).await)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("auth_method"), "client_secret_basic");
    assert_eq!(
        row.get::<Vec<String>, _>("grant_types"),
        ["authorization_code", "refresh_token"]
    );
    assert_eq!(row.get::<Vec<String>, _>("scopes"), ["openid", "profile", "email"]);
    assert_eq!(row.get::<String, _>("id_token_alg"), "RS256");
    assert_eq!(row.get::<String, _>("name"), "web");
    assert!(!row.get::<bool, _>("first_party"));
}

#[tokio::test]
async fn client_create_stores_every_option() {
    let db = fresh_db().await;
    lanyard(&[
        "client",
        "create",
        "spa",
        "--name",
        "My SPA",
        "--public",
        "--auth-method",
        "none",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--redirect-uri",
        "https://spa.example/cb?x=1",
        "--post-logout-redirect-uri",
        "https://spa.example/bye",
        "--grant-type",
        "authorization_code",
        "--scope",
        "openid",
        "--scope",
        "phone",
        "--scope",
        "address",
        "--scope",
        "offline_access",
        "--first-party",
        "--id-token-alg",
        "EdDSA",
    ])
    .run_on(&db)
    .await
    .assert_ok();
    let row = sqlx::query("SELECT * FROM clients WHERE client_id = 'spa'")
        .fetch_one(&pool(&db).await)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("name"), "My SPA");
    assert_eq!(row.get::<String, _>("auth_method"), "none");
    assert_eq!(row.get::<Option<Vec<u8>>, _>("secret_hash"), None);
    assert_eq!(
        row.get::<Vec<String>, _>("redirect_uris"),
        ["http://127.0.0.1/cb", "https://spa.example/cb?x=1"]
    );
    assert_eq!(
        row.get::<Vec<String>, _>("post_logout_redirect_uris"),
        ["https://spa.example/bye"]
    );
    assert_eq!(row.get::<Vec<String>, _>("grant_types"), ["authorization_code"]);
    assert_eq!(
        row.get::<Vec<String>, _>("scopes"),
        ["openid", "phone", "address", "offline_access"]
    );
    assert!(row.get::<bool, _>("first_party"));
    assert_eq!(row.get::<String, _>("id_token_alg"), "EdDSA");
}

#[tokio::test]
async fn a_public_client_gets_no_secret() {
    let db = fresh_db().await;
    let run = lanyard(&[
        "client",
        "create",
        "spa",
        "--public",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--json",
    ])
    .run_on(&db)
    .await;
    run.assert_ok();
    assert_eq!(run.json(), serde_json::json!({"client_id": "spa"}));
}

#[tokio::test]
async fn a_code_flow_client_needs_a_redirect_uri_but_a_service_does_not() {
    let db = fresh_db().await;
    lanyard(&["client", "create", "web"])
        .run_on(&db)
        .await
        .assert_refused("redirect-uri");
    assert_eq!(count_rows(&db, "clients").await, 0);
    create_service(&db, "svc").await;
    assert_eq!(count_rows(&db, "clients").await, 1);
}

#[tokio::test]
async fn client_create_refuses_invalid_input_and_stores_nothing() {
    let db = fresh_db().await;
    let create = ["client", "create", "web", "--redirect-uri", "https://web.example/cb"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { create.iter().chain(extra).copied().collect() };
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut cases = vec![
        refusal(
            "public with a secret method",
            &[
                "client",
                "create",
                "spa",
                "--public",
                "--auth-method",
                "client_secret_post",
                "--redirect-uri",
                "https://a.example/cb",
            ],
            "auth-method",
        ),
        refusal("grant type implicit", &with(&["--grant-type", "implicit"]), "implicit"),
        refusal("grant type password", &with(&["--grant-type", "password"]), "password"),
        refusal("an unknown scope", &with(&["--scope", "admin"]), "admin"),
        refusal("id_token alg HS256", &with(&["--id-token-alg", "HS256"]), "HS256"),
        refusal(
            "auth method private_key_jwt",
            &with(&["--auth-method", "private_key_jwt"]),
            "private_key_jwt",
        ),
        refusal(
            "a public client with client_credentials",
            &[
                "client",
                "create",
                "pub",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "public",
        ),
        refusal(
            "a client id that is a UUID",
            &["client", "create", &uuid, "--grant-type", "client_credentials"],
            "UUID",
        ),
    ];
    for (uri, names) in [
        ("/relative/cb", "absolute"),
        ("https://web.example/cb#frag", "fragment"),
        ("http://web.example/cb", "http"),
        ("javascript:alert(1)", "scheme"),
    ] {
        cases.push(refusal(uri, &["client", "create", "web", "--redirect-uri", uri], names));
        cases.push(refusal(
            uri,
            &[
                "client",
                "create",
                "web",
                "--redirect-uri",
                "https://ok.example/cb",
                "--post-logout-redirect-uri",
                uri,
            ],
            names,
        ));
    }
    assert_each_refused(&db, &cases).await;
    assert_eq!(count_rows(&db, "clients").await, 0);
    // Positive control: the command without a defect creates the client.
    lanyard(&create).run_on(&db).await.assert_ok();
    assert_eq!(count_rows(&db, "clients").await, 1);
}

#[tokio::test]
async fn a_duplicate_client_id_is_refused() {
    let db = fresh_db().await;
    create_service(&db, "svc").await;
    lanyard(&["client", "create", "svc", "--grant-type", "client_credentials"])
        .run_on(&db)
        .await
        .assert_refused("already exists");
    assert_eq!(count_rows(&db, "clients").await, 1);
}

// ---- client allow / trust ----

#[tokio::test]
async fn client_allow_adds_api_scopes_to_the_clients_allowance() {
    let db = fresh_db().await;
    create_api(&db, "https://orders.example", &["read", "write", "admin"]).await;
    create_service(&db, "svc").await;
    lanyard(&["client", "allow", "svc", "https://orders.example", "--scope", "read"])
        .run_on(&db)
        .await
        .assert_ok();
    let run = lanyard(&[
        "client",
        "allow",
        "svc",
        "https://orders.example",
        "--scope",
        "write",
        "--json",
    ])
    .run_on(&db)
    .await;
    run.assert_ok();
    assert_eq!(
        run.json(),
        serde_json::json!({"client_id": "svc", "audience": "https://orders.example", "scopes": ["read", "write"]})
    );
    assert_eq!(count_rows(&db, "client_api_access").await, 2);
}

#[tokio::test]
async fn client_allow_refuses_an_unknown_client_api_or_scope() {
    let db = fresh_db().await;
    create_api(&db, "https://orders.example", &["read"]).await;
    create_service(&db, "svc").await;
    let allow = |client, audience, scope: &[&'static str]| -> Vec<&'static str> {
        ["client", "allow", client, audience]
            .iter()
            .chain(scope)
            .copied()
            .collect()
    };
    let read = &["--scope", "read"][..];
    let cases = [
        refusal(
            "an unknown client",
            &allow("nobody", "https://orders.example", read),
            "nobody",
        ),
        refusal(
            "an unknown API",
            &allow("svc", "https://other.example", read),
            "other.example",
        ),
        // Audiences are exact strings: a trailing slash is another API.
        refusal(
            "a trailing slash",
            &allow("svc", "https://orders.example/", read),
            "no API",
        ),
        refusal(
            "a scope the API lacks",
            &allow("svc", "https://orders.example", &["--scope", "write"]),
            "write",
        ),
        refusal("no scope", &allow("svc", "https://orders.example", &[]), "scope"),
    ];
    assert_each_refused(&db, &cases).await;
    assert_eq!(count_rows(&db, "client_api_access").await, 0);
    // Positive control: the command without a defect allows the scope.
    lanyard(&allow("svc", "https://orders.example", read))
        .run_on(&db)
        .await
        .assert_ok();
    assert_eq!(count_rows(&db, "client_api_access").await, 1);
}

#[tokio::test]
async fn client_trust_lets_a_client_exchange_another_clients_id_tokens() {
    let db = fresh_db().await;
    create_service(&db, "backend").await;
    lanyard(&["client", "create", "web", "--redirect-uri", "https://web.example/cb"])
        .run_on(&db)
        .await
        .assert_ok();
    let run = lanyard(&["client", "trust", "backend", "web", "--json"])
        .run_on(&db)
        .await;
    run.assert_ok();
    assert_eq!(run.json()["trusted_client_id"], "web");
    let row: (String, String) = sqlx::query_as("SELECT client_id, trusted_client_id FROM client_trusts")
        .fetch_one(&pool(&db).await)
        .await
        .unwrap();
    assert_eq!(row, ("backend".to_owned(), "web".to_owned()));
}

#[tokio::test]
async fn client_trust_refuses_unknown_clients_and_itself() {
    let db = fresh_db().await;
    create_service(&db, "backend").await;
    create_service(&db, "web").await;
    let cases = [
        refusal(
            "an unknown trusted client",
            &["client", "trust", "backend", "ghost"],
            "ghost",
        ),
        refusal(
            "an unknown trusting client",
            &["client", "trust", "ghost", "backend"],
            "ghost",
        ),
        refusal("trusting itself", &["client", "trust", "backend", "backend"], "own"),
    ];
    assert_each_refused(&db, &cases).await;
    assert_eq!(count_rows(&db, "client_trusts").await, 0);
    // Positive control: two known clients.
    lanyard(&["client", "trust", "backend", "web"])
        .run_on(&db)
        .await
        .assert_ok();
    assert_eq!(count_rows(&db, "client_trusts").await, 1);
}

// ---- api create ----

#[tokio::test]
async fn api_create_stores_scopes_lifetime_algorithm_and_resource_servers() {
    let db = fresh_db().await;
    create_service(&db, "introspector").await;
    let run = lanyard(&[
        "api",
        "create",
        "https://orders.example/",
        "--name",
        "Orders",
        "--scope",
        "read=Read your orders",
        "--scope",
        "write",
        "--access-token-ttl",
        "300",
        "--alg",
        "EdDSA",
        "--resource-server",
        "introspector",
        "--json",
    ])
    .run_on(&db)
    .await;
    run.assert_ok();
    let out = run.json();
    assert_eq!(out["audience"], "https://orders.example/", "kept exactly as given");
    assert_eq!(out["name"], "Orders");
    assert_eq!(
        out["scopes"],
        serde_json::json!([{"name": "read", "description": "Read your orders"}, {"name": "write", "description": ""}])
    );
    assert_eq!(out["access_token_ttl"], 300);
    assert_eq!(out["alg"], "EdDSA");
    assert_eq!(out["resource_servers"], serde_json::json!(["introspector"]));
    assert_eq!(count_rows(&db, "api_scopes").await, 2);
}

#[tokio::test]
async fn api_create_defaults_to_es256_and_the_global_lifetime() {
    let db = fresh_db().await;
    let run = lanyard(&["api", "create", "urn:example:billing", "--scope", "pay", "--json"])
        .run_on(&db)
        .await;
    run.assert_ok();
    assert_eq!(run.json()["alg"], "ES256");
    assert_eq!(run.json()["access_token_ttl"], serde_json::Value::Null);
}

#[tokio::test]
async fn api_create_refuses_bad_audiences_scopes_and_duplicates() {
    let db = fresh_db().await;
    create_api(&db, "https://orders.example", &["read"]).await;
    let y = |extra: &[&'static str]| -> Vec<&'static str> {
        ["api", "create", "https://y.example"]
            .iter()
            .chain(extra)
            .copied()
            .collect()
    };
    let cases = [
        refusal(
            "a relative audience",
            &["api", "create", "orders", "--scope", "read"],
            "absolute URI",
        ),
        refusal(
            "a fragment",
            &["api", "create", "https://x.example#f", "--scope", "read"],
            "fragment",
        ),
        refusal(
            "a duplicate audience",
            &["api", "create", "https://orders.example", "--scope", "read"],
            "already exists",
        ),
        refusal("no scope", &y(&[]), "scope"),
        refusal("a space in a scope", &y(&["--scope", "bad scope"]), "scope"),
        refusal("a scope twice", &y(&["--scope", "a", "--scope", "a"]), "twice"),
        refusal("alg none", &y(&["--scope", "a", "--alg", "none"]), "none"),
        refusal(
            "a zero lifetime",
            &y(&["--scope", "a", "--access-token-ttl", "0"]),
            "access-token-ttl",
        ),
        refusal(
            "a lifetime that is not a number",
            &y(&["--scope", "a", "--access-token-ttl", "soon"]),
            "access-token-ttl",
        ),
        refusal(
            "an unknown resource server",
            &y(&["--scope", "a", "--resource-server", "ghost"]),
            "ghost",
        ),
    ];
    assert_each_refused(&db, &cases).await;
    assert_eq!(count_rows(&db, "apis").await, 1);
    assert_eq!(count_rows(&db, "api_scopes").await, 1);
    // Positive control: the command without a defect creates the API.
    lanyard(&y(&["--scope", "a"])).run_on(&db).await.assert_ok();
    assert_eq!(count_rows(&db, "apis").await, 2);
}

// ---- keys and help ----

#[tokio::test]
async fn keys_list_prints_each_key_without_private_parts() {
    let db = fresh_db().await;
    let run = lanyard(&["keys", "list", "--json"]).run_on(&db).await;
    run.assert_ok();
    let keys = run.json();
    assert_eq!(keys.as_array().unwrap().len(), 6);
    assert!(!run.stdout.contains("private"), "{}", run.stdout);
    let human = lanyard(&["keys", "list"]).run_on(&db).await;
    human.assert_ok();
    assert!(human.stdout.starts_with("KID"), "{human:?}");
    assert_eq!(human.stdout.lines().count(), 7);
}

#[tokio::test]
async fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["dev", "--help"],
        vec!["migrate", "--help"],
        vec!["user", "create", "--help"],
        vec!["client", "create", "--help"],
        vec!["client", "allow", "--help"],
        vec!["client", "trust", "--help"],
        vec!["api", "create", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "revoke", "--help"],
    ] {
        let run = lanyard(&args).run().await;
        run.assert_ok();
        assert!(run.stdout.contains("Usage: lanyard"), "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn an_unknown_flag_is_one_line_and_exit_2() {
    let run = lanyard(&["keys", "list", "--colour"]).run().await;
    assert_eq!(run.code, 2);
    run.assert_refused("--colour");
}

#[tokio::test]
async fn cli_changes_are_audit_events_with_cli_as_the_actor() {
    let db = fresh_db().await;
    create_api(&db, "https://orders.example", &["read"]).await;
    create_service(&db, "svc").await;
    lanyard(&["client", "allow", "svc", "https://orders.example", "--scope", "read"])
        .run_on(&db)
        .await
        .assert_ok();
    lanyard(&["keys", "rotate", "--force"]).run_on(&db).await.assert_ok();
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM audit_events WHERE kind = 'admin' AND actor = 'cli' ORDER BY reason")
            .fetch_all(&pool(&db).await)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "changed a client's API access",
            "changed the signing keys",
            "created a client",
            "created an API"
        ]
    );
}

#[tokio::test]
async fn user_create_accepts_a_multi_line_address_and_keeps_it_intact() {
    let db = fresh_db().await;
    let formatted = "12 St James's Square\nLondon SW1Y 4JH\nUnited Kingdom";
    let run = lanyard(&[
        "user",
        "create",
        "ada",
        "--password-stdin",
        "--address-formatted",
        formatted,
        "--address-street-address",
        "12 St James's Square\r\nFlat 2",
        "--json",
    ])
    .db(&db)
    .stdin("analytical engine\n")
    .run()
    .await;
    run.assert_ok();
    assert_eq!(run.json()["address"]["formatted"], formatted);
    assert_eq!(
        run.json()["address"]["street_address"],
        "12 St James's Square\r\nFlat 2"
    );
}

/// Runs a command that must succeed with `--json` and returns its document.
async fn json_of(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let run = lanyard(&args).db(db).run().await;
    run.assert_ok();
    run.json()
}

/// The newest admin change in the audit log: its actor, its action and details.
async fn last_audit(db: &TestDb) -> (String, String, serde_json::Value) {
    let row = sqlx::query(
        "SELECT actor, reason, details FROM audit_events WHERE kind = 'admin' ORDER BY occurred_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&pool(db).await)
    .await
    .unwrap();
    (row.get("actor"), row.get("reason"), row.get("details"))
}

#[tokio::test]
async fn client_list_show_update_and_delete_manage_what_create_made() {
    let db = fresh_db().await;
    lanyard(&[
        "client",
        "create",
        "web",
        "--redirect-uri",
        "https://web.example/cb",
        "--name",
        "Web",
    ])
    .db(&db)
    .run()
    .await
    .assert_ok();
    let list = json_of(&db, &["client", "list"]).await;
    assert!(
        list.as_array().unwrap().iter().any(|c| c["client_id"] == "web"),
        "{list}"
    );
    let shown = json_of(&db, &["client", "show", "web"]).await;
    assert_eq!(
        (shown["name"].as_str(), shown["first_party"].as_bool()),
        (Some("Web"), Some(false))
    );
    assert!(shown.get("client_secret").is_none() && !shown.to_string().contains("secret_hash"));

    // Only what is given changes: the name and redirect URIs stay.
    let updated = json_of(
        &db,
        &["client", "update", "web", "--first-party", "--id-token-alg", "ES256"],
    )
    .await;
    assert_eq!(updated["first_party"], true);
    assert_eq!(updated["id_token_alg"], "ES256");
    assert_eq!(updated["name"], "Web");
    assert_eq!(updated["redirect_uris"], serde_json::json!(["https://web.example/cb"]));
    let (actor, kind, details) = last_audit(&db).await;
    assert_eq!((actor.as_str(), kind.as_str()), ("cli", "changed a client"));
    assert_eq!(details["before"]["first_party"], false);
    assert_eq!(details["after"]["first_party"], true);
    let undone = json_of(&db, &["client", "update", "web", "--first-party=false"]).await;
    assert_eq!(undone["first_party"], false);

    let deleted = json_of(&db, &["client", "delete", "web"]).await;
    assert_eq!(deleted["deleted"], true);
    lanyard(&["client", "show", "web"])
        .db(&db)
        .run()
        .await
        .assert_refused("no client `web`");
    assert_eq!(last_audit(&db).await.1, "deleted a client");
}

#[tokio::test]
async fn client_update_keeps_the_rules_of_create() {
    let db = fresh_db().await;
    create_service(&db, "svc").await;
    lanyard(&["client", "update", "svc", "--auth-method", "none"])
        .db(&db)
        .run()
        .await
        .assert_refused("auth-method");
    lanyard(&["client", "update", "svc", "--grant-type", "refresh_token"])
        .db(&db)
        .run()
        .await
        .assert_refused("refresh_token needs authorization_code");
    lanyard(&["client", "update", "nobody", "--name", "X"])
        .db(&db)
        .run()
        .await
        .assert_refused("no client `nobody`");
    let unchanged = json_of(&db, &["client", "show", "svc"]).await;
    assert_eq!(unchanged["grant_types"], serde_json::json!(["client_credentials"]));
}

#[tokio::test]
async fn api_list_show_update_and_delete_manage_what_create_made() {
    let db = fresh_db().await;
    create_api(&db, "https://orders.example", &["read=Read orders", "write"]).await;
    create_service(&db, "svc").await;
    lanyard(&["client", "allow", "svc", "https://orders.example", "--scope", "read"])
        .db(&db)
        .run()
        .await
        .assert_ok();
    let list = json_of(&db, &["api", "list"]).await;
    let orders = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["audience"] == "https://orders.example")
        .unwrap()
        .clone();
    assert_eq!(orders["allowances"], serde_json::json!(["svc: read"]));
    let shown = json_of(&db, &["api", "show", "https://orders.example"]).await;
    assert_eq!(shown["alg"], "ES256");

    // Only what is given changes: the scopes and their descriptions stay.
    let updated = json_of(
        &db,
        &[
            "api",
            "update",
            "https://orders.example",
            "--alg",
            "EdDSA",
            "--access-token-ttl",
            "120",
        ],
    )
    .await;
    assert_eq!(
        (updated["alg"].as_str(), updated["access_token_ttl"].as_i64()),
        (Some("EdDSA"), Some(120))
    );
    assert_eq!(updated["scopes"][0]["description"], "Read orders");
    assert_eq!(updated["scopes"].as_array().unwrap().len(), 2);
    assert_eq!(last_audit(&db).await.1, "changed an API");
    lanyard(&[
        "api",
        "update",
        "https://orders.example",
        "--access-token-ttl",
        "999999",
    ])
    .db(&db)
    .run()
    .await
    .assert_refused("access-token-ttl");

    json_of(&db, &["api", "delete", "https://orders.example"]).await;
    lanyard(&["api", "show", "https://orders.example"])
        .db(&db)
        .run()
        .await
        .assert_refused("no API");
    assert_eq!(
        count_rows(&db, "client_api_access").await,
        0,
        "its allowances went with it"
    );
    assert_eq!(last_audit(&db).await.1, "deleted an API");
}

#[tokio::test]
async fn the_admin_api_cannot_be_deleted_from_the_cli() {
    let db = fresh_db().await;
    let issuer = "http://localhost:8080";
    // The admin API exists once the server has started; create it as start-up does.
    lanyard::admin::apis::ensure_admin_api(
        &pool(&db).await,
        &lanyard::clock::SystemClock,
        &lanyard::config::Issuer::parse(issuer).unwrap(),
    )
    .await
    .unwrap();
    let admin_api = format!("{issuer}/admin");
    json_of(&db, &["api", "show", &admin_api]).await;
    lanyard(&["api", "delete", &admin_api])
        .db(&db)
        .env("LANYARD_ISSUER", issuer)
        .run()
        .await
        .assert_refused("cannot be deleted");
}

#[tokio::test]
async fn user_list_show_update_disable_enable_and_delete_manage_what_create_made() {
    let db = fresh_db().await;
    // Another administrator, so grace may be promoted and then disabled.
    lanyard(&["user", "create", "root", "--password-stdin", "--admin"])
        .db(&db)
        .stdin("correct horse battery staple\n")
        .run()
        .await
        .assert_ok();
    lanyard(&[
        "user",
        "create",
        "grace",
        "--password-stdin",
        "--name",
        "Grace",
        "--email",
        "g@example.com",
    ])
    .db(&db)
    .stdin("correct horse battery staple\n")
    .run()
    .await
    .assert_ok();
    let list = json_of(&db, &["user", "list", "--search", "grace"]).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let shown = json_of(&db, &["user", "show", "grace"]).await;
    let sub = shown["sub"].as_str().unwrap().to_owned();
    assert_eq!(
        json_of(&db, &["user", "show", &sub]).await["username"],
        "grace",
        "by sub too"
    );

    // Only what is given changes; an empty value removes a claim.
    let updated = json_of(
        &db,
        &[
            "user",
            "update",
            "grace",
            "--locale",
            "en-GB",
            "--email",
            "",
            "--email-verified=false",
        ],
    )
    .await;
    assert_eq!(updated["claims"]["locale"], "en-GB");
    assert_eq!(updated["claims"]["name"], "Grace");
    assert!(updated["claims"]["email"].is_null(), "{updated}");
    assert_eq!(last_audit(&db).await.1, "user: claims");
    let promoted = json_of(&db, &["user", "update", "grace", "--admin"]).await;
    assert_eq!(promoted["admin"], true);
    assert_eq!(last_audit(&db).await.1, "user: admin");

    assert_eq!(json_of(&db, &["user", "disable", "grace"]).await["disabled"], true);
    assert_eq!(last_audit(&db).await.1, "user: disable");
    assert_eq!(json_of(&db, &["user", "enable", "grace"]).await["disabled"], false);
    json_of(&db, &["user", "delete", "grace"]).await;
    lanyard(&["user", "show", "grace"])
        .db(&db)
        .run()
        .await
        .assert_refused("no user `grace`");
    assert_eq!(last_audit(&db).await.1, "deleted a user");
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_disabled_or_demoted() {
    let db = fresh_db().await;
    lanyard(&["user", "create", "root", "--password-stdin", "--admin"])
        .db(&db)
        .stdin("correct horse battery staple\n")
        .run()
        .await
        .assert_ok();
    for (case, args, names) in [
        ("delete", vec!["user", "delete", "root"], "last admin"),
        ("disable", vec!["user", "disable", "root"], "last admin"),
        ("demote", vec!["user", "update", "root", "--admin=false"], "last admin"),
    ] {
        lanyard(&args).db(&db).run().await.assert_refused_in(case, names);
    }
    assert_eq!(json_of(&db, &["user", "show", "root"]).await["admin"], true);
}

/// `update` can take back what it gave: an empty value empties a list, and
/// `--access-token-ttl default` returns to LANYARD_ACCESS_TOKEN_TTL.
#[tokio::test]
async fn update_can_empty_a_list_and_restore_a_default() {
    let db = fresh_db().await;
    create_service(&db, "rs").await;
    lanyard(&[
        "client",
        "create",
        "web",
        "--redirect-uri",
        "https://web.example/cb",
        "--post-logout-redirect-uri",
        "https://web.example/bye",
    ])
    .db(&db)
    .run()
    .await
    .assert_ok();
    let api = json_of(
        &db,
        &[
            "api",
            "create",
            "https://orders.example",
            "--scope",
            "read",
            "--access-token-ttl",
            "120",
            "--resource-server",
            "rs",
        ],
    )
    .await;
    assert_eq!(
        (api["access_token_ttl"].as_i64(), api["resource_servers"][0].as_str()),
        (Some(120), Some("rs")),
        "positive control"
    );
    let api = json_of(
        &db,
        &[
            "api",
            "update",
            "https://orders.example",
            "--access-token-ttl",
            "default",
            "--resource-server",
            "",
        ],
    )
    .await;
    assert!(api["access_token_ttl"].is_null(), "{api}");
    assert_eq!(api["resource_servers"], serde_json::json!([]));
    let web = json_of(&db, &["client", "update", "web", "--post-logout-redirect-uri", ""]).await;
    assert_eq!(web["post_logout_redirect_uris"], serde_json::json!([]));
    assert_eq!(
        web["redirect_uris"],
        serde_json::json!(["https://web.example/cb"]),
        "the rest stays"
    );
}

// ---- private_key_jwt keys ----

/// Writes a file for a flag that takes a path; returns the path.
fn temp_file(text: &str) -> String {
    let path = std::env::temp_dir().join(format!("lanyard-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// An ES256 key pair as JWKs: (private, public).
fn es256_jwks() -> (serde_json::Value, serde_json::Value) {
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let set = |jwk: josekit::jwk::Jwk| serde_json::json!({ "keys": [serde_json::Value::Object(jwk.as_ref().clone())] });
    (set(pair.to_jwk_private_key()), set(pair.to_jwk_public_key()))
}

#[tokio::test]
async fn client_create_with_a_jwks_file_registers_private_key_jwt_and_prints_no_secret() {
    let db = fresh_db().await;
    let (_, public) = es256_jwks();
    let path = temp_file(&public.to_string());
    let out = json_of(
        &db,
        &[
            "client",
            "create",
            "svc",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            &path,
            "--grant-type",
            "client_credentials",
        ],
    )
    .await;
    assert_eq!(out, serde_json::json!({ "client_id": "svc" }), "no secret: {out}");
    let (hash, jwks): (Option<Vec<u8>>, Option<serde_json::Value>) =
        sqlx::query_as("SELECT secret_hash, jwks FROM clients WHERE client_id = 'svc'")
            .fetch_one(&pool(&db).await)
            .await
            .unwrap();
    assert_eq!((hash, jwks.as_ref()), (None, Some(&public)));
    let shown = json_of(&db, &["client", "show", "svc"]).await;
    assert_eq!(shown["auth_method"], "private_key_jwt");
    assert_eq!(shown["jwks"], public);

    let human = lanyard(&[
        "client",
        "create",
        "svc2",
        "--jwks-uri",
        "https://svc.example/jwks",
        "--grant-type",
        "client_credentials",
    ])
    .run_on(&db)
    .await;
    human.assert_ok();
    assert!(
        human.stdout.contains("private_key_jwt") && !human.stdout.contains("client_secret"),
        "{human:?}"
    );
    let shown = json_of(&db, &["client", "show", "svc2"]).await;
    assert_eq!(
        (shown["auth_method"].as_str(), shown["jwks_uri"].as_str()),
        (Some("private_key_jwt"), Some("https://svc.example/jwks")),
        "keys without --auth-method mean private_key_jwt"
    );
}

#[tokio::test]
async fn client_create_refuses_private_symmetric_or_misplaced_keys() {
    let db = fresh_db().await;
    let (private, public) = es256_jwks();
    let private = temp_file(&private.to_string());
    let public = temp_file(&public.to_string());
    let symmetric = temp_file(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#);
    let not_json = temp_file("-----BEGIN PUBLIC KEY-----");
    fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let svc = ["client", "create", "svc", "--grant-type", "client_credentials"];
        svc.into_iter().chain(extra.iter().copied()).collect()
    }
    let (private, public, symmetric, not_json) = (&private[..], &public[..], &symmetric[..], &not_json[..]);
    let cases = [
        refusal("a private key", &with(&["--jwks-file", private]), "private"),
        refusal("a symmetric key", &with(&["--jwks-file", symmetric]), "symmetric"),
        refusal("not JSON", &with(&["--jwks-file", not_json]), "not JSON"),
        refusal(
            "no such file",
            &with(&["--jwks-file", "/nonexistent/jwks.json"]),
            "cannot read",
        ),
        refusal(
            "http off loopback",
            &with(&["--jwks-uri", "http://svc.example/jwks"]),
            "jwks-uri",
        ),
        refusal(
            "keys with a secret method",
            &with(&["--auth-method", "client_secret_basic", "--jwks-file", public]),
            "private_key_jwt",
        ),
        refusal(
            "private_key_jwt without keys",
            &with(&["--auth-method", "private_key_jwt"]),
            "jwks",
        ),
        refusal(
            "a public client with keys",
            &with(&["--public", "--jwks-file", public]),
            "none",
        ),
    ];
    assert_each_refused(&db, &cases).await;
    assert_eq!(count_rows(&db, "clients").await, 0, "nothing stored");
}

#[tokio::test]
async fn client_update_switches_between_a_secret_and_keys_never_holding_both() {
    let db = fresh_db().await;
    create_service(&db, "svc").await;
    let stored = || async {
        sqlx::query_as::<_, (Option<Vec<u8>>, Option<String>)>(
            "SELECT secret_hash, jwks_uri FROM clients WHERE client_id = 'svc'",
        )
        .fetch_one(&pool(&db).await)
        .await
        .unwrap()
    };
    let to_keys = json_of(
        &db,
        &["client", "update", "svc", "--jwks-uri", "https://svc.example/jwks"],
    )
    .await;
    assert_eq!(to_keys["auth_method"], "private_key_jwt");
    assert!(to_keys.get("client_secret").is_none(), "{to_keys}");
    assert_eq!(
        stored().await,
        (None, Some("https://svc.example/jwks".into())),
        "the secret is dropped"
    );
    lanyard(&[
        "client",
        "update",
        "svc",
        "--auth-method",
        "client_secret_basic",
        "--jwks-uri",
        "https://x.example/j",
    ])
    .db(&db)
    .run()
    .await
    .assert_refused("private_key_jwt");

    let to_secret = json_of(&db, &["client", "update", "svc", "--auth-method", "client_secret_post"]).await;
    let secret = to_secret["client_secret"].as_str().expect("a new secret, shown once");
    let (hash, uri) = stored().await;
    assert_eq!(
        (hash, uri),
        (Some(lanyard::crypto::secret::sha256(secret).to_vec()), None),
        "the keys are dropped"
    );
    let (actor, reason, details) = last_audit(&db).await;
    assert_eq!((actor.as_str(), reason.as_str()), ("cli", "changed a client"));
    assert_eq!(details["secret_created"], true);
    assert_eq!(details["before"]["jwks_uri"], "https://svc.example/jwks");
    assert!(!details.to_string().contains(secret), "the secret is not audited");
    let again = json_of(&db, &["client", "update", "svc", "--name", "Service"]).await;
    assert!(again.get("client_secret").is_none(), "a kept secret is not shown again");
}
