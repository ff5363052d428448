//! Registering clients, their API allowances and whose id_tokens they may exchange.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::{Actor, AdminError, each, field};
use crate::clock::Clock;
use crate::crypto::secret;
use crate::model::{Audience, AuthMethod, FieldError, ScopeToken};
pub use crate::protocol::client_metadata::NewClientInput;
use crate::protocol::client_metadata::{self, uses_secret};
use crate::store::apis;
use crate::store::clients::{self, ClientRow};

/// A new client; the secret exists only for clients of a secret method and is shown this once.
#[derive(Debug, serde::Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    /// For the summary a person reads (the JSON stays `client_id` and the secret).
    #[serde(skip)]
    pub auth_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

pub async fn create(
    pool: &PgPool,
    clock: &dyn Clock,
    rng: &mut impl rand::CryptoRng,
    input: NewClientInput,
) -> Result<CreatedClient, AdminError> {
    let row = client_metadata::parse(input, clock)?;
    let secret = uses_secret(&row).then(|| secret::random_token(rng));
    let row = ClientRow {
        secret_hash: secret.as_deref().map(|s| secret::sha256(s).to_vec()),
        ..row
    };
    let mut conn = pool.acquire().await?;
    clients::insert(&mut conn, &row).await?;
    Ok(CreatedClient {
        auth_method: row.auth_method,
        client_id: row.client_id,
        client_secret: secret,
    })
}

/// A client's allowance for one API after `allow`.
#[derive(Debug, serde::Serialize)]
pub struct Allowance {
    pub client_id: String,
    pub audience: String,
    pub scopes: Vec<String>,
}

/// Lets a client get scopes of an API (added to what it already may get).
pub async fn allow(
    pool: &PgPool,
    clock: &dyn Clock,
    client_id: &str,
    audience: &str,
    scopes: &[String],
) -> Result<Allowance, AdminError> {
    let audience = field("audience", Audience::parse(audience))?;
    let scopes = each("scope", scopes, ScopeToken::parse)?;
    if scopes.is_empty() {
        return Err(FieldError::new("scope", "name at least one scope of the API").into());
    }
    let mut tx = pool.begin().await?;
    let client = clients::find(&mut tx, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    let api = apis::find_by_audience(&mut tx, audience.as_str())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no API with audience `{audience}`")))?;
    let defined = apis::scopes(&mut tx, api.id).await?;
    for scope in &scopes {
        if !defined.iter().any(|d| d.name == scope.as_str()) {
            let known: Vec<&str> = defined.iter().map(|d| d.name.as_str()).collect();
            return Err(AdminError::NotFound(format!(
                "the API `{audience}` has no scope `{scope}` (it has: {})",
                known.join(", ")
            )));
        }
    }
    let now = clock.now();
    for scope in &scopes {
        apis::allow(&mut tx, &client.client_id, api.id, scope.as_str(), now).await?;
    }
    let scopes = apis::allowed_scopes(&mut tx, &client.client_id, api.id).await?;
    tx.commit().await?;
    Ok(Allowance {
        client_id: client.client_id,
        audience: api.audience,
        scopes,
    })
}

#[derive(Debug, serde::Serialize)]
pub struct Trust {
    pub client_id: String,
    pub trusted_client_id: String,
    /// False when the client could already exchange those id_tokens.
    pub added: bool,
}

/// Lets `client_id` exchange id_tokens issued to `other` (RFC 8693 subject tokens).
pub async fn trust(pool: &PgPool, clock: &dyn Clock, client_id: &str, other: &str) -> Result<Trust, AdminError> {
    if client_id == other {
        return Err(FieldError::new("other-client-id", "a client may always exchange its own id_tokens").into());
    }
    let mut tx = pool.begin().await?;
    for id in [client_id, other] {
        if clients::find(&mut tx, id).await?.is_none() {
            return Err(AdminError::NotFound(format!("no client `{id}`")));
        }
    }
    let added = clients::insert_trust(&mut tx, client_id, other, clock.now()).await?;
    tx.commit().await?;
    Ok(Trust {
        client_id: client_id.to_owned(),
        trusted_client_id: other.to_owned(),
        added,
    })
}

/// One scope of an API, and whether the client may get it.
#[derive(Debug, serde::Serialize)]
pub struct ScopeAccess {
    pub name: String,
    pub description: String,
    pub allowed: bool,
}

/// What a client may get of one API.
#[derive(Debug, serde::Serialize)]
pub struct ApiAccess {
    pub audience: String,
    pub name: String,
    pub scopes: Vec<ScopeAccess>,
}

/// A client as the admin page shows it (never its secret).
#[derive(Debug, serde::Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: String,
    /// RFC 9449 §5.2 metadata.
    pub dpop_bound_access_tokens: bool,
    pub dpop_nonce: bool,
    /// A `private_key_jwt` client's public keys, or where they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Back-Channel Logout §2.2 metadata (null: no logout tokens).
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_pushed_authorization_requests: bool,
    /// Until when the secret before the last rotation still works (null: it does not).
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub apis: Vec<ApiAccess>,
    pub trusted: Vec<String>,
    /// `admin`, or `dynamic` for a client that registered itself (RFC 7591).
    pub registered_via: String,
}

/// A client as the CLI, the admin page and the admin API show it (never its
/// secret); a previous secret's grace only while it lasts (by `clock`).
pub async fn view(pool: &PgPool, clock: &dyn Clock, client_id: &str) -> Result<ClientView, AdminError> {
    let now = clock.now();
    let mut conn = pool.acquire().await?;
    let c = clients::find(&mut conn, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    let mut api_access = Vec::new();
    for api in apis::list(&mut conn).await? {
        let allowed = apis::allowed_scopes(&mut conn, client_id, api.id).await?;
        let scopes = apis::scopes(&mut conn, api.id)
            .await?
            .into_iter()
            .map(|s| ScopeAccess {
                allowed: allowed.contains(&s.name),
                name: s.name,
                description: s.description,
            })
            .collect();
        api_access.push(ApiAccess {
            audience: api.audience,
            name: api.name,
            scopes,
        });
    }
    let trusted = clients::trusted(&mut conn, client_id).await?;
    Ok(ClientView {
        public: c.auth_method == AuthMethod::None.as_str(),
        client_id: c.client_id,
        name: c.name,
        auth_method: c.auth_method,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        grant_types: c.grant_types,
        scopes: c.scopes,
        first_party: c.first_party,
        id_token_alg: c.id_token_alg,
        dpop_bound_access_tokens: c.dpop_bound,
        dpop_nonce: c.dpop_nonce,
        jwks: c.jwks,
        jwks_uri: c.jwks_uri,
        backchannel_logout_uri: c.backchannel_logout_uri,
        backchannel_logout_session_required: c.backchannel_logout_session_required,
        require_pushed_authorization_requests: c.require_par,
        previous_secret_valid_until: c
            .previous_secret_valid_until
            .filter(|until| c.previous_secret_hash.is_some() && *until > now),
        apis: api_access,
        trusted,
        registered_via: c.registered_via,
    })
}

/// A client's editable settings, as the form sends them.
#[derive(Debug, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub auth_method: Option<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
    pub dpop_bound: bool,
    pub dpop_nonce: bool,
    /// New keys for a `private_key_jwt` client (one of the two); neither
    /// keeps the keys it has, if it stays `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// Its back-channel logout URI (none or empty: it gets no logout tokens).
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub require_par: bool,
}

/// A client changed: its settings before and after (for the audit log), and
/// the secret made when it moved to a secret method (shown this once).
#[derive(Debug)]
pub struct Updated {
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub client_secret: Option<String>,
}

/// Changes a client with the same rules as `client create`. Public stays
/// public. Its secret and keys never coexist: moving to `private_key_jwt`
/// drops the secret; moving to a secret method drops the keys and, when it
/// had no secret, makes one.
pub async fn update(
    pool: &PgPool,
    clock: &dyn Clock,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
    change: ClientUpdate,
) -> Result<Updated, AdminError> {
    let mut tx = pool.begin().await?;
    let before = clients::find(&mut tx, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    let public = before.auth_method == AuthMethod::None.as_str();
    let method = change.auth_method.filter(|m| !m.is_empty());
    if !public && method.as_deref() == Some(AuthMethod::None.as_str()) {
        return Err(FieldError::new(
            "auth-method",
            "a confidential client keeps a secret method; register a public client instead",
        )
        .into());
    }
    let method = method.unwrap_or_else(|| before.auth_method.clone());
    let (jwks, jwks_uri) = match (change.jwks, change.jwks_uri) {
        (None, None) if method == AuthMethod::PrivateKeyJwt.as_str() => (before.jwks.clone(), before.jwks_uri.clone()),
        given => given,
    };
    let input = NewClientInput {
        client_id: client_id.to_owned(),
        name: change.name,
        redirect_uris: change.redirect_uris,
        post_logout_redirect_uris: change.post_logout_redirect_uris,
        public,
        auth_method: Some(method),
        grant_types: change.grant_types,
        scopes: change.scopes,
        first_party: change.first_party,
        id_token_alg: change.id_token_alg,
        dpop_bound: change.dpop_bound,
        dpop_nonce: change.dpop_nonce,
        jwks,
        jwks_uri,
        backchannel_logout_uri: change.backchannel_logout_uri,
        backchannel_logout_session_required: change.backchannel_logout_session_required,
        require_par: change.require_par,
    };
    let parsed = client_metadata::parse(input, clock)?;
    let (secret_hash, client_secret) = match (uses_secret(&parsed), before.secret_hash.clone()) {
        (true, Some(kept)) => (Some(kept), None),
        (true, None) => {
            let secret = secret::random_token(rng);
            (Some(secret::sha256(&secret).to_vec()), Some(secret))
        }
        (false, _) => (None, None),
    };
    let after = ClientRow {
        secret_hash,
        created_at: before.created_at,
        registered_via: before.registered_via.clone(),
        registration_token_hash: before.registration_token_hash.clone(),
        registered_with: before.registered_with,
        ..parsed
    };
    clients::update(&mut tx, &after).await?;
    tx.commit().await?;
    Ok(Updated {
        before: settings(&before),
        after: settings(&after),
        client_secret,
    })
}

/// The settings of a row, for "before" and "after" in the audit log (no secret).
fn settings(c: &ClientRow) -> serde_json::Value {
    serde_json::json!({
        "name": c.name, "auth_method": c.auth_method, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "grant_types": c.grant_types,
        "scopes": c.scopes, "first_party": c.first_party, "id_token_alg": c.id_token_alg,
        "dpop_bound_access_tokens": c.dpop_bound, "dpop_nonce": c.dpop_nonce,
        "jwks": c.jwks, "jwks_uri": c.jwks_uri, "has_secret": c.secret_hash.is_some(),
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "require_pushed_authorization_requests": c.require_par,
    })
}

/// A new secret for a confidential client, shown once; the old one stops working.
pub async fn rotate_secret(
    pool: &PgPool,
    clock: &dyn Clock,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
) -> Result<String, AdminError> {
    Ok(rotate_secret_with_grace(pool, clock, rng, client_id, None)
        .await?
        .client_secret)
}

/// The longest grace a rotated secret may get.
pub const MAX_SECRET_GRACE: TimeDelta = TimeDelta::days(30);

/// A rotation's answer: the new secret (shown once) and until when the
/// previous one still works.
#[derive(Debug, serde::Serialize)]
pub struct Rotated {
    pub client_id: String,
    pub client_secret: String,
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

/// The grace a request asks for: whole seconds, at most [`MAX_SECRET_GRACE`];
/// none or zero: the previous secret stops at once.
pub fn secret_grace(raw: Option<&str>) -> Result<Option<TimeDelta>, AdminError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        FieldError::new(
            "grace",
            format!(
                "a whole number of seconds, at most {} (30 days)",
                MAX_SECRET_GRACE.num_seconds()
            ),
        )
    };
    let secs: i64 = raw.parse().map_err(|_| bad())?;
    match secs {
        0 => Ok(None),
        s if s < 0 || s > MAX_SECRET_GRACE.num_seconds() => Err(bad().into()),
        s => Ok(Some(TimeDelta::seconds(s))),
    }
}

/// A new secret for a confidential client, shown once; the old one keeps
/// working for `grace` (none: it stops at once).
pub async fn rotate_secret_with_grace(
    pool: &PgPool,
    clock: &dyn Clock,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
    grace: Option<TimeDelta>,
) -> Result<Rotated, AdminError> {
    let mut conn = pool.acquire().await?;
    let c = clients::find(&mut conn, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    if !uses_secret(&c) {
        return Err(FieldError::new(
            "client-id",
            format!("a client authenticating with `{}` has no secret", c.auth_method),
        )
        .into());
    }
    let secret = secret::random_token(rng);
    let now = clock.now();
    let until = grace.map(|g| now + g);
    clients::set_secret_hash(&mut conn, client_id, &secret::sha256(&secret), now, until).await?;
    Ok(Rotated {
        client_id: client_id.to_owned(),
        client_secret: secret,
        previous_secret_valid_until: until,
    })
}

/// Ends the grace of a client's previous secret now; refused when none runs.
pub async fn end_secret_grace(pool: &PgPool, clock: &dyn Clock, client_id: &str) -> Result<(), AdminError> {
    let mut conn = pool.acquire().await?;
    if clients::end_secret_grace(&mut conn, client_id, clock.now()).await? {
        return Ok(());
    }
    match clients::find(&mut conn, client_id).await? {
        Some(_) => Err(FieldError::new("grace", "no previous secret is still valid").into()),
        None => Err(AdminError::NotFound(format!("no client `{client_id}`"))),
    }
}

/// [`end_secret_grace`], audited.
pub async fn end_secret_grace_by(actor: &Actor<'_>, client_id: &str) -> Result<(), AdminError> {
    let p = actor.provider();
    end_secret_grace(&p.pool, p.clock.as_ref(), client_id).await?;
    let details = serde_json::json!({ "client_id": client_id });
    actor.changed("ended a client secret's grace", details).await;
    Ok(())
}

/// Deletes a client and everything issued to it.
pub async fn delete(pool: &PgPool, client_id: &str) -> Result<(), AdminError> {
    let mut conn = pool.acquire().await?;
    if !clients::delete(&mut conn, client_id).await? {
        return Err(AdminError::NotFound(format!("no client `{client_id}`")));
    }
    Ok(())
}

/// Sets exactly which scopes of an API a client may get (none removes the API).
pub async fn set_access(
    pool: &PgPool,
    clock: &dyn Clock,
    client_id: &str,
    audience: &str,
    scopes: &[String],
) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    clients::find(&mut tx, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    let api = apis::find_by_audience(&mut tx, audience)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no API with audience `{audience}`")))?;
    let defined = apis::scopes(&mut tx, api.id).await?;
    if let Some(unknown) = scopes.iter().find(|s| !defined.iter().any(|d| &d.name == *s)) {
        return Err(AdminError::NotFound(format!(
            "the API `{audience}` has no scope `{unknown}`"
        )));
    }
    apis::set_allowed(&mut tx, client_id, api.id, scopes, clock.now()).await?;
    // Exchanges rest on the allowance: what it no longer covers ends now.
    crate::store::grants::revoke_exchanges_beyond_allowance(&mut tx, client_id, audience, scopes, clock.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Stops `client_id` from exchanging id_tokens issued to `other`.
pub async fn untrust(pool: &PgPool, client_id: &str, other: &str) -> Result<(), AdminError> {
    clients::untrust(&mut *pool.acquire().await?, client_id, other).await?;
    Ok(())
}

// The flows of the admin pages and the admin API: the same rules, and each
// records its audit event and puts the change in force.

/// Every client id, in order (the admin API's list).
pub async fn list_ids(pool: &PgPool) -> Result<Vec<String>, AdminError> {
    let rows = clients::list(&mut *pool.acquire().await?, "", 10_000, 0).await?;
    Ok(rows.into_iter().map(|c| c.client_id).collect())
}

/// One line of the admin page's list of clients.
#[derive(Debug, serde::Serialize)]
pub struct ClientLine {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    pub grant_types: String,
    pub redirect_uris: String,
    /// It registered itself (RFC 7591).
    pub registered_itself: bool,
    /// Its client_id is the URL of its metadata document.
    pub describes_itself: bool,
}

/// Up to `limit` clients matching `search`, from `offset`.
pub async fn search(pool: &PgPool, search: &str, limit: i64, offset: i64) -> Result<Vec<ClientLine>, AdminError> {
    let rows = clients::list(&mut *pool.acquire().await?, search, limit, offset).await?;
    Ok(rows
        .into_iter()
        .map(|c| ClientLine {
            public: c.auth_method == AuthMethod::None.as_str(),
            client_id: c.client_id,
            name: c.name,
            first_party: c.first_party,
            grant_types: c.grant_types.join(", "),
            redirect_uris: c.redirect_uris.join(" "),
            registered_itself: c.registered_via == "dynamic",
            describes_itself: c.registered_via == "metadata_document",
        })
        .collect())
}

/// A back-channel logout URI over `http` (to a loopback receiver, the
/// only `http` one `BackchannelLogoutUri` takes) is for `lanyard dev`,
/// whose issuer is `http` too; a deployment's issuer is `https`, and its
/// logout tokens travel over TLS (Back-Channel Logout §2.2, §4).
pub fn check_logout_uri_for(issuer: &crate::config::Issuer, uri: Option<&str>) -> Result<(), AdminError> {
    match uri {
        Some(uri) if issuer.is_https() && uri.trim().starts_with("http://") => Err(FieldError::new(
            "backchannel-logout-uri",
            format!(
                "`{uri}` uses http; under an https issuer a back-channel logout URI is https (http is for lanyard dev)"
            ),
        )
        .into()),
        _ => Ok(()),
    }
}

pub async fn create_by(
    actor: &Actor<'_>,
    rng: &mut impl rand::CryptoRng,
    input: NewClientInput,
) -> Result<CreatedClient, AdminError> {
    let p = actor.provider();
    check_logout_uri_for(&p.config.issuer, input.backchannel_logout_uri.as_deref())?;
    let created = create(&p.pool, p.clock.as_ref(), rng, input).await?;
    let details = serde_json::json!({ "client_id": created.client_id });
    actor.changed("created a client", details).await;
    Ok(created)
}

/// [`update`], audited; returns the secret made, if the client moved to a secret method.
pub async fn update_by(
    actor: &Actor<'_>,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
    change: ClientUpdate,
) -> Result<Option<String>, AdminError> {
    let p = actor.provider();
    check_logout_uri_for(&p.config.issuer, change.backchannel_logout_uri.as_deref())?;
    let updated = update(&p.pool, p.clock.as_ref(), rng, client_id, change).await?;
    let details = change_details(client_id, &updated);
    actor.changed("changed a client", details).await;
    Ok(updated.client_secret)
}

/// The audit details of a change (never the secret; whether one was made).
pub fn change_details(client_id: &str, updated: &Updated) -> serde_json::Value {
    serde_json::json!({
        "client_id": client_id, "before": updated.before, "after": updated.after,
        "secret_created": updated.client_secret.is_some(),
    })
}

pub async fn delete_by(actor: &Actor<'_>, client_id: &str) -> Result<(), AdminError> {
    delete(&actor.provider().pool, client_id).await?;
    let details = serde_json::json!({ "client_id": client_id });
    actor.changed("deleted a client", details).await;
    Ok(())
}

pub async fn rotate_secret_by(
    actor: &Actor<'_>,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
    grace: Option<TimeDelta>,
) -> Result<Rotated, AdminError> {
    let p = actor.provider();
    let rotated = rotate_secret_with_grace(&p.pool, p.clock.as_ref(), rng, client_id, grace).await?;
    actor
        .changed("rotated a client secret", rotation_details(&rotated))
        .await;
    Ok(rotated)
}

/// What the audit log says of a rotation (never the secret).
pub fn rotation_details(r: &Rotated) -> serde_json::Value {
    serde_json::json!({ "client_id": r.client_id, "previous_secret_valid_until": r.previous_secret_valid_until })
}

/// [`set_access`], audited; returns the audit event's details.
pub async fn set_access_by(
    actor: &Actor<'_>,
    client_id: &str,
    audience: &str,
    scopes: &[String],
) -> Result<serde_json::Value, AdminError> {
    let p = actor.provider();
    set_access(&p.pool, p.clock.as_ref(), client_id, audience, scopes).await?;
    let details = serde_json::json!({ "client_id": client_id, "audience": audience, "scopes": scopes });
    actor.changed("changed a client's API access", details.clone()).await;
    Ok(details)
}

/// [`trust`] (or, with `remove`, [`untrust`]), audited.
pub async fn trust_by(actor: &Actor<'_>, client_id: &str, other: &str, remove: bool) -> Result<(), AdminError> {
    let p = actor.provider();
    let action = if remove {
        untrust(&p.pool, client_id, other).await?;
        "stopped a client exchanging another's id_tokens"
    } else {
        trust(&p.pool, p.clock.as_ref(), client_id, other).await?;
        "let a client exchange another's id_tokens"
    };
    let details = serde_json::json!({ "client_id": client_id, "other": other });
    actor.changed(action, details).await;
    Ok(())
}
