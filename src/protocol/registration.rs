//! Dynamic client registration (RFC 7591 §3) and its management (RFC 7592
//! §2): a client registers itself, then reads, replaces and deletes its own
//! registration with its registration access token. Registered clients are
//! third-party and get no API allowances; they are rows of `clients` like
//! any other, marked `registered_via = 'dynamic'`, made by the rules every
//! client follows (`client_metadata`). What an administrator does about them
//! (initial access tokens, a registration access token rotated or revoked)
//! is `admin::registration`.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::client_metadata::{self, NewClientInput, uses_secret};
use super::{Provider, address_budget};
use crate::config::ClientRegistration;
use crate::crypto::secret;
use crate::model::{FieldError, GrantType, RedirectUri};
use crate::store::clients::{self, ClientRow};
use crate::store::{StoreError, audit, registration_tokens};

/// Registrations one client address (IPv6 by its /64) may make per
/// throttle window when registration is `open`.
pub const REGISTRATIONS_PER_ADDRESS: i32 = 10;

/// Why a registration or a management request is refused (RFC 7591 §3.2.2,
/// RFC 7592 §2), or fails.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// Registration is `off`: the endpoint does not exist (404).
    #[error("client registration is off")]
    Off,
    /// A missing, unknown, expired or used-up initial access token, or a
    /// registration access token that is not this client's (or a client that
    /// does not exist: not revealed), 401 `invalid_token`.
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// Too many registrations from this address (429).
    #[error("too many registrations from this address; try again later")]
    Throttled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegistrationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// The client metadata Lanyard understands (RFC 7591 §2, OIDC Dynamic
/// Client Registration §2, Back-Channel Logout §2.2, RFC 9449 §5.2); any
/// other member is ignored and not echoed.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Metadata {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub client_name: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub id_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    /// RFC 7592 §2.2: on update, must be the client's own.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Who is registering: the policy's credential and the caller's address.
pub struct Registrant<'a> {
    pub initial_access_token: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// `POST /register` (RFC 7591 §3.1): checks the policy, parses the metadata,
/// inserts the client; the 201 body (§3.2.1) with its secrets, shown once.
/// An initial access token is spent in the transaction that inserts the
/// client, so metadata refused (or an insert that fails) uses none of it.
pub async fn register(
    p: &Provider,
    rng: &mut impl rand::CryptoRng,
    who: Registrant<'_>,
    metadata: Metadata,
) -> Result<Value, RegistrationError> {
    let now = p.now();
    admit(p, &who, now).await?;
    let mut tx = p.pool.begin().await?;
    let registered_with = match p.config.client_registration {
        ClientRegistration::Token => Some(spend_initial_token(&mut tx, who.initial_access_token, now).await?),
        _ => None,
    };
    let row = parse(&new_client_id(rng), metadata, p)?;
    let secret = uses_secret(&row).then(|| secret::random_token(rng));
    let access_token = secret::random_token(rng);
    let row = ClientRow {
        secret_hash: secret.as_deref().map(|s| secret::sha256(s).to_vec()),
        registered_via: "dynamic".to_owned(),
        registration_token_hash: Some(secret::sha256(&access_token).to_vec()),
        registered_with,
        ..row
    };
    clients::insert(&mut tx, &row).await?;
    tx.commit().await?;
    let actor = registered_with.map_or_else(
        || "registration:open".to_owned(),
        |id| format!("registration:token:{id}"),
    );
    changed(p, &actor, who.ip, ("registered", "registered a client"), &row).await;
    let mut body = information(p, &row, &access_token);
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    Ok(body)
}

/// The registration policy, before anything is parsed: `off` refuses,
/// `open` counts the address (`token` spends its token with the insert).
async fn admit(p: &Provider, who: &Registrant<'_>, now: DateTime<Utc>) -> Result<(), RegistrationError> {
    match p.config.client_registration {
        ClientRegistration::Off => Err(RegistrationError::Off),
        ClientRegistration::Token => Ok(()),
        ClientRegistration::Open => {
            let Some(ip) = who.ip else { return Ok(()) };
            let mut conn = p.pool.acquire().await?;
            let window = super::signin::THROTTLE_WINDOW;
            match address_budget::exceeded(&mut conn, "register-ip", ip, REGISTRATIONS_PER_ADDRESS, window, now).await?
            {
                true => Err(RegistrationError::Throttled),
                false => Ok(()),
            }
        }
    }
}

/// Spends one use of a valid initial access token (one `UPDATE …
/// RETURNING`, rolled back with the registration), returning its id.
async fn spend_initial_token(
    conn: &mut PgConnection,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Uuid, RegistrationError> {
    let token = token.ok_or(RegistrationError::InvalidToken("an initial access token is required"))?;
    registration_tokens::spend(conn, &secret::sha256(token), now)
        .await?
        .ok_or(RegistrationError::InvalidToken(
            "the initial access token is unknown, expired or used up",
        ))
}

/// A new client_id: `dyn_` and 128 random bits, never a UUID's shape.
fn new_client_id(rng: &mut impl rand::CryptoRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("dyn_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The metadata as a client row (no secret yet), by the rules every client
/// follows (`client_metadata`), plus the registration's own: the code flow
/// only, `response_types` consistent with `grant_types` (RFC 7591 §2.1),
/// third-party, URLs Lanyard contacts on the public internet.
pub(super) fn parse(client_id: &str, m: Metadata, p: &Provider) -> Result<ClientRow, RegistrationError> {
    for uri in m
        .redirect_uris
        .iter()
        .flatten()
        .chain(m.post_logout_redirect_uris.iter().flatten())
    {
        RedirectUri::parse(uri).map_err(RegistrationError::InvalidRedirectUri)?;
    }
    let grant_types = check_flows(m.grant_types.clone(), m.response_types.clone())?;
    // What Lanyard fetches or posts to for this client must not be the
    // operator's own network (SSRF; Back-Channel Logout §4, RFC 7591 §5).
    for (name, uri) in [
        ("backchannel_logout_uri", &m.backchannel_logout_uri),
        ("jwks_uri", &m.jwks_uri),
    ] {
        if let Some(uri) = uri {
            crate::model::public_https(uri)
                .map_err(|e| RegistrationError::InvalidClientMetadata(format!("{name}: {e}")))?;
        }
    }
    Ok(client_metadata::parse(
        input_of(client_id, m, grant_types),
        p.clock.as_ref(),
    )?)
}

/// The grant types asked for: the code flow's only (a registered client
/// gets no client_credentials), `response_types` agreeing (RFC 7591 §2.1).
fn check_flows(
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
) -> Result<Vec<String>, RegistrationError> {
    let bad = |m: String| RegistrationError::InvalidClientMetadata(m);
    let grant_types = grant_types.unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
    for g in &grant_types {
        if g != GrantType::AuthorizationCode.as_str() && g != GrantType::RefreshToken.as_str() {
            return Err(bad(format!(
                "grant type `{g}` is not offered to registered clients (authorization_code, refresh_token)"
            )));
        }
    }
    let response_types = response_types.unwrap_or_else(|| vec!["code".to_owned()]);
    if let Some(other) = response_types.iter().find(|r| *r != "code") {
        return Err(bad(format!("response type `{other}` is not supported (only `code`)")));
    }
    let code_flow = grant_types.iter().any(|g| g == GrantType::AuthorizationCode.as_str());
    if code_flow == response_types.is_empty() {
        return Err(bad(
            "response_types and grant_types disagree: `code` goes with authorization_code (RFC 7591 §2.1)".into(),
        ));
    }
    Ok(grant_types)
}

/// The metadata in the words of `client_metadata` (third-party, no server
/// nonce: those are an administrator's to set).
fn input_of(client_id: &str, m: Metadata, grant_types: Vec<String>) -> NewClientInput {
    let method = m
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".to_owned());
    NewClientInput {
        client_id: client_id.to_owned(),
        name: m.client_name,
        redirect_uris: m.redirect_uris.unwrap_or_default(),
        post_logout_redirect_uris: m.post_logout_redirect_uris.unwrap_or_default(),
        public: method == "none",
        auth_method: Some(method),
        grant_types,
        scopes: m
            .scope
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect(),
        first_party: false,
        id_token_alg: m.id_token_signed_response_alg,
        dpop_bound: m.dpop_bound_access_tokens.unwrap_or(false),
        dpop_nonce: false,
        jwks: m.jwks,
        jwks_uri: m.jwks_uri,
        backchannel_logout_uri: m.backchannel_logout_uri,
        backchannel_logout_session_required: m.backchannel_logout_session_required.unwrap_or(false),
        require_par: m.require_pushed_authorization_requests.unwrap_or(false),
    }
}

/// The metadata member an admin field's error is about.
fn metadata_name(field: &str) -> &str {
    match field {
        "auth-method" => "token_endpoint_auth_method",
        "grant-type" => "grant_types",
        "scope" => "scope",
        "id-token-alg" => "id_token_signed_response_alg",
        "name" => "client_name",
        "jwks" => "jwks",
        "jwks-uri" => "jwks_uri",
        "backchannel-logout-uri" => "backchannel_logout_uri",
        "backchannel-logout-session-required" => "backchannel_logout_session_required",
        other => other,
    }
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): every
/// registered metadata value, the registration access token and where the
/// registration is managed. The secret, stored hashed, is only in the 201.
fn information(p: &Provider, row: &ClientRow, access_token: &str) -> Value {
    let mut body = json!({
        "client_id": row.client_id,
        "client_id_issued_at": row.created_at.timestamp(),
        "registration_access_token": access_token,
        "registration_client_uri": p.config.issuer.url(&crate::paths::client_configuration(&row.client_id)),
        "client_name": row.name,
        "redirect_uris": row.redirect_uris,
        "post_logout_redirect_uris": row.post_logout_redirect_uris,
        "token_endpoint_auth_method": row.auth_method,
        "grant_types": row.grant_types,
        "response_types": if row.grant_types.iter().any(|g| g == "authorization_code") { vec!["code"] } else { vec![] },
        "scope": row.scopes.join(" "),
        "id_token_signed_response_alg": row.id_token_alg,
        "dpop_bound_access_tokens": row.dpop_bound,
        "backchannel_logout_session_required": row.backchannel_logout_session_required,
        "require_pushed_authorization_requests": row.require_par,
    });
    if row.secret_hash.is_some() {
        body["client_secret_expires_at"] = json!(0);
    }
    for (name, value) in [
        (
            "backchannel_logout_uri",
            row.backchannel_logout_uri.as_ref().map(|u| json!(u)),
        ),
        ("jwks", row.jwks.clone()),
        ("jwks_uri", row.jwks_uri.as_ref().map(|u| json!(u))),
    ] {
        if let Some(value) = value {
            body[name] = value;
        }
    }
    body
}

/// After a committed registration change: the catalog holding it on this
/// node (the others follow on the NOTIFY) and a `client_registration` audit event.
async fn changed(p: &Provider, actor: &str, ip: Option<&str>, (event, action): (&str, &str), row: &ClientRow) {
    p.metrics.client_registration(event);
    if let Err(e) = p.catalog.catch_up(&p.pool).await {
        tracing::warn!(error = %e, action, "could not reload the catalog after a registration");
    }
    let event = audit::NewEvent {
        kind: "client_registration",
        outcome: "ok",
        actor: Some(actor),
        client_id: Some(&row.client_id),
        user_id: None,
        ip,
        reason: Some(action),
        details: json!({
            "client_id": row.client_id, "client_name": row.name,
            "redirect_uris": row.redirect_uris, "token_endpoint_auth_method": row.auth_method,
            "grant_types": row.grant_types, "scope": row.scopes.join(" "),
        }),
    };
    let recorded = async {
        let mut conn = p.pool.acquire().await?;
        audit::insert(&mut conn, &event, p.now()).await
    };
    if let Err(e) = recorded.await {
        tracing::warn!(error = %e, action, "could not audit a registration");
    }
}

/// The registered client a registration access token manages (RFC 7592 §2):
/// an unknown client, an admin-created one, a revoked token and a wrong
/// one all answer the same 401, so a client's existence is not revealed.
async fn managed(p: &Provider, client_id: &str, token: Option<&str>) -> Result<ClientRow, RegistrationError> {
    if p.config.client_registration == ClientRegistration::Off {
        return Err(RegistrationError::Off);
    }
    let refused = || RegistrationError::InvalidToken("the registration access token is not valid for this client");
    let token = token.ok_or(RegistrationError::InvalidToken(
        "a registration access token is required",
    ))?;
    let mut conn = p.pool.acquire().await?;
    let row = clients::find(&mut conn, client_id).await?.ok_or_else(refused)?;
    let stored = row.registration_token_hash.as_deref().unwrap_or_default();
    match !stored.is_empty() && secret::constant_time_eq(stored, &secret::sha256(token)) {
        true => Ok(row),
        false => Err(refused()),
    }
}

/// RFC 7592 §2.1: the client's current registration.
pub async fn read(p: &Provider, client_id: &str, token: Option<&str>) -> Result<Value, RegistrationError> {
    let row = managed(p, client_id, token).await?;
    Ok(information(p, &row, token.unwrap_or_default()))
}

/// RFC 7592 §2.2: the client's metadata replaced as a whole (omitted values
/// take their defaults); `client_id` must be the client's, a
/// `client_secret` its current one. The secret and the registration access
/// token are kept, and so is every setting the metadata does not carry —
/// an administrator's (`kept_by_the_server`).
pub async fn update(
    p: &Provider,
    client_id: &str,
    token: Option<&str>,
    ip: Option<&str>,
    metadata: Metadata,
) -> Result<Value, RegistrationError> {
    let before = managed(p, client_id, token).await?;
    check_identity(&before, &metadata)?;
    let parsed = parse(client_id, metadata, p)?;
    if uses_secret(&parsed) != before.secret_hash.is_some() {
        return Err(RegistrationError::InvalidClientMetadata(
            "token_endpoint_auth_method cannot move between a secret and none or keys; register a new client".into(),
        ));
    }
    let after = kept_by_the_server(&before, parsed);
    let mut conn = p.pool.acquire().await?;
    clients::update(&mut conn, &after).await?;
    drop(conn);
    changed(
        p,
        &format!("registration:{client_id}"),
        ip,
        ("updated", "changed its registration"),
        &after,
    )
    .await;
    Ok(information(p, &after, token.unwrap_or_default()))
}

/// RFC 7592 §2.2: an update names the client, and a secret it sends is its own.
fn check_identity(before: &ClientRow, metadata: &Metadata) -> Result<(), RegistrationError> {
    if metadata.client_id.as_deref() != Some(before.client_id.as_str()) {
        return Err(RegistrationError::InvalidClientMetadata(
            "client_id must be given and be this client's".into(),
        ));
    }
    if let Some(given) = metadata.client_secret.as_deref() {
        let stored = before.secret_hash.as_deref().unwrap_or_default();
        if stored.is_empty() || !secret::constant_time_eq(stored, &secret::sha256(given)) {
            return Err(RegistrationError::InvalidClientMetadata(
                "client_secret is not this client's".into(),
            ));
        }
    }
    Ok(())
}

/// The row after an update: the client's own metadata as `parsed`, and as
/// `before` everything the metadata does not carry — the secret, the
/// registration, and what only an administrator sets: first-party, DPoP
/// server nonces, grant types beyond the code flow (its API allowances and
/// trusts are other tables, untouched). Where a client may ask for more
/// protection (RFC 9126 §6 `require_pushed_authorization_requests`, RFC 9449
/// §5.2 `dpop_bound_access_tokens`), it cannot remove what is in force: an
/// administrator may have set it, and RFC 7592 §2.2 lets the server keep
/// its own values.
fn kept_by_the_server(before: &ClientRow, parsed: ClientRow) -> ClientRow {
    let code_flow = [GrantType::AuthorizationCode.as_str(), GrantType::RefreshToken.as_str()];
    let mut grant_types = parsed.grant_types.clone();
    grant_types.extend(
        before
            .grant_types
            .iter()
            .filter(|g| !code_flow.contains(&g.as_str()))
            .cloned(),
    );
    ClientRow {
        grant_types,
        first_party: before.first_party,
        dpop_nonce: before.dpop_nonce,
        dpop_bound: parsed.dpop_bound || before.dpop_bound,
        require_par: parsed.require_par || before.require_par,
        secret_hash: before.secret_hash.clone(),
        created_at: before.created_at,
        registered_via: before.registered_via.clone(),
        registration_token_hash: before.registration_token_hash.clone(),
        registered_with: before.registered_with,
        ..parsed
    }
}

/// RFC 7592 §2.3: the client deleted, as `lanyard client delete` does (its
/// grants, tokens and consents go with it).
pub async fn delete(
    p: &Provider,
    client_id: &str,
    token: Option<&str>,
    ip: Option<&str>,
) -> Result<(), RegistrationError> {
    let row = managed(p, client_id, token).await?;
    let mut conn = p.pool.acquire().await?;
    clients::delete(&mut conn, client_id).await?;
    drop(conn);
    changed(
        p,
        &format!("registration:{client_id}"),
        ip,
        ("deleted", "deleted its registration"),
        &row,
    )
    .await;
    Ok(())
}

/// A field error of the rules every client follows, as RFC 7591 §3.2.2 names it.
impl From<FieldError> for RegistrationError {
    fn from(f: FieldError) -> Self {
        match f.field {
            field if field.contains("redirect-uri") => RegistrationError::InvalidRedirectUri(f.message),
            field => RegistrationError::InvalidClientMetadata(format!("{}: {}", metadata_name(field), f.message)),
        }
    }
}
