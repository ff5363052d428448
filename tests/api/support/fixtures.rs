//! What tests put in the database before they act: users, clients, APIs and
//! the allowances between them, as an admin or the CLI would.

use lanyard::clock::SystemClock;
use sqlx::PgPool;

use super::app::TestApp;

pub const PASSWORD: &str = "correct horse battery";

/// A user with a few claims; returns its `sub`.
pub async fn create_user(app: &TestApp, username: &str) -> uuid::Uuid {
    create_user_on(&app.pool, username).await
}

/// `create_user` on a database a test's own `lanyard serve` processes use.
pub async fn create_user_on(pool: &PgPool, username: &str) -> uuid::Uuid {
    let input = lanyard::admin::users::NewUserInput {
        username: username.into(),
        password: PASSWORD.into(),
        is_admin: false,
        claims: lanyard::model::StandardClaims {
            name: Some(format!("{username} Example")),
            given_name: Some(username.into()),
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            phone_number: Some("+15551234567".into()),
            locale: Some("en-GB".into()),
            ..Default::default()
        },
    };
    lanyard::admin::users::create(pool, &SystemClock, input)
        .await
        .expect("user created")
        .sub
}

/// A service: a confidential client with only the client_credentials grant.
pub async fn create_service(app: &TestApp, id: &str) -> TestClient {
    create_client(
        app,
        ClientSpec {
            id,
            grants: &["client_credentials"],
            ..Default::default()
        },
    )
    .await
}

/// A registered test client.
#[derive(Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// The grants of a client that signs users in and exchanges their id_tokens.
pub const EXCHANGE_GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];

pub struct ClientSpec<'a> {
    pub id: &'a str,
    pub public: bool,
    pub first_party: bool,
    pub scopes: &'a [&'a str],
    pub alg: &'a str,
    pub grants: &'a [&'a str],
    /// Back-Channel Logout §2.2 metadata.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

impl Default for ClientSpec<'_> {
    fn default() -> Self {
        Self {
            id: "rp",
            public: false,
            first_party: true,
            scopes: &["openid", "profile", "email", "phone", "offline_access"],
            alg: "RS256",
            grants: &["authorization_code", "refresh_token"],
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
        }
    }
}

impl ClientSpec<'_> {
    /// The default first-party client, also allowed token exchange.
    pub fn exchanging() -> Self {
        Self {
            grants: EXCHANGE_GRANTS,
            ..Default::default()
        }
    }
}

/// A public client (a single-page app): no secret, PKCE.
pub async fn create_public_client(app: &TestApp, id: &str) -> TestClient {
    create_client(
        app,
        ClientSpec {
            id,
            public: true,
            ..Default::default()
        },
    )
    .await
}

pub async fn create_client(app: &TestApp, spec: ClientSpec<'_>) -> TestClient {
    let redirect_uri = format!("https://{}.example/callback?tenant=1", spec.id);
    let input = lanyard::admin::clients::NewClientInput {
        client_id: spec.id.into(),
        name: Some(format!("{} app", spec.id)),
        redirect_uris: vec![redirect_uri.clone(), "http://127.0.0.1/cb".into()],
        post_logout_redirect_uris: vec![format!("https://{}.example/bye", spec.id)],
        public: spec.public,
        grant_types: spec.grants.iter().map(|g| g.to_string()).collect(),
        scopes: spec.scopes.iter().map(|s| s.to_string()).collect(),
        first_party: spec.first_party,
        id_token_alg: Some(spec.alg.into()),
        backchannel_logout_uri: spec.backchannel_logout_uri,
        backchannel_logout_session_required: spec.backchannel_logout_session_required,
        ..Default::default()
    };
    let created = lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input)
        .await
        .expect("client created");
    app.settle().await;
    TestClient {
        id: created.client_id,
        secret: created.client_secret,
        redirect_uri,
    }
}

/// RFC 8693 token exchange: its grant type and the id_token subject type.
pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// An API with scopes (and optionally its algorithm and resource servers).
pub async fn create_api(app: &TestApp, audience: &str, scopes: &[&str], alg: Option<&str>, resource_servers: &[&str]) {
    let input = lanyard::admin::apis::NewApiInput {
        audience: audience.into(),
        name: None,
        scopes: scopes.iter().map(|s| format!("{s}=Lets the client {s}")).collect(),
        access_token_ttl: None,
        alg: alg.map(str::to_owned),
        resource_servers: resource_servers.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    lanyard::admin::apis::create(&app.pool, &app.clock, input)
        .await
        .expect("API created");
    app.settle().await;
}

/// Sets exactly which scopes of an API a client may get, as an admin does,
/// and puts it in force in the app.
pub async fn set_access(app: &TestApp, client: &str, audience: &str, scopes: &[&str]) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    lanyard::admin::clients::set_access(&app.pool, &app.clock, client, audience, &scopes)
        .await
        .expect("access set");
    app.settle().await;
}

pub async fn allow(app: &TestApp, client: &str, audience: &str, scopes: &[&str]) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    lanyard::admin::clients::allow(&app.pool, &app.clock, client, audience, &scopes)
        .await
        .expect("allowed");
    app.settle().await;
}
