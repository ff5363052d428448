//! Registering clients, their API allowances and whose id_tokens they may exchange.

use sqlx::PgPool;

use super::{Actor, AdminError, each, field, optional_name};
use crate::clock::Clock;
use crate::crypto::{Alg, secret};
use crate::model::{Audience, AuthMethod, ClientId, FieldError, GrantType, OidcScope, RedirectUri, ScopeToken};
use crate::store::apis;
use crate::store::clients::{self, ClientRow};

/// What `lanyard client create` (and the admin page) asks for; parsed here.
#[derive(Debug, Default)]
pub struct NewClientInput {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub auth_method: Option<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
}

/// A new client; the secret exists only for confidential clients and is shown this once.
#[derive(Debug, serde::Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

const DEFAULT_GRANT_TYPES: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
const DEFAULT_SCOPES: [OidcScope; 3] = [OidcScope::Openid, OidcScope::Profile, OidcScope::Email];

pub async fn create(
    pool: &PgPool,
    clock: &dyn Clock,
    rng: &mut impl rand::CryptoRng,
    input: NewClientInput,
) -> Result<CreatedClient, AdminError> {
    let row = parse_new_client(input, clock)?;
    let secret = (row.auth_method != AuthMethod::None.as_str()).then(|| secret::random_token(rng));
    let row = ClientRow {
        secret_hash: secret.as_deref().map(|s| secret::sha256(s).to_vec()),
        ..row
    };
    let mut conn = pool.acquire().await?;
    clients::insert(&mut conn, &row).await?;
    Ok(CreatedClient {
        client_id: row.client_id,
        client_secret: secret,
    })
}

fn parse_new_client(input: NewClientInput, clock: &dyn Clock) -> Result<ClientRow, AdminError> {
    let client_id = field("client-id", ClientId::parse(&input.client_id))?;
    let name = optional_name(input.name)?;
    let redirect_uris = each("redirect-uri", &input.redirect_uris, RedirectUri::parse)?;
    let post_logout = each(
        "post-logout-redirect-uri",
        &input.post_logout_redirect_uris,
        RedirectUri::parse,
    )?;
    let auth_method = parse_auth_method(input.public, input.auth_method.as_deref())?;
    let mut grant_types = each("grant-type", &input.grant_types, str::parse::<GrantType>)?;
    if grant_types.is_empty() {
        grant_types = DEFAULT_GRANT_TYPES.to_vec();
    }
    let mut scopes = each("scope", &input.scopes, str::parse::<OidcScope>)?;
    if scopes.is_empty() {
        scopes = DEFAULT_SCOPES.to_vec();
    }
    let id_token_alg = field(
        "id-token-alg",
        input.id_token_alg.as_deref().unwrap_or("RS256").parse::<Alg>(),
    )?;

    check_grants_fit(&grant_types, auth_method, !redirect_uris.is_empty())?;
    let now = clock.now();
    Ok(ClientRow {
        name: name.map_or_else(|| client_id.to_string(), |n| n.to_string()),
        client_id: client_id.to_string(),
        secret_hash: None,
        auth_method: auth_method.as_str().to_owned(),
        redirect_uris: redirect_uris.iter().map(ToString::to_string).collect(),
        post_logout_redirect_uris: post_logout.iter().map(ToString::to_string).collect(),
        grant_types: grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        first_party: input.first_party,
        id_token_alg: id_token_alg.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    })
}

/// The authentication method: `none` for a public client, else the one
/// asked for (`client_secret_basic` by default).
fn parse_auth_method(public: bool, requested: Option<&str>) -> Result<AuthMethod, AdminError> {
    let requested = requested.map(str::parse::<AuthMethod>).transpose();
    Ok(match (public, field("auth-method", requested)?) {
        (true, None | Some(AuthMethod::None)) => AuthMethod::None,
        (true, Some(other)) => {
            return Err(FieldError::new(
                "auth-method",
                format!("a public client authenticates with `none`, not `{other}`"),
            )
            .into());
        }
        (false, Some(method)) => method,
        (false, None) => AuthMethod::ClientSecretBasic,
    })
}

/// The grant types fit the rest of the client: the code flow needs a
/// redirect URI, refresh tokens come from sign-ins, and a public client
/// cannot use client_credentials, which rests on client authentication
/// alone. (It may exchange id_tokens bound to its DPoP key: the proof
/// stands in for authentication, `protocol::token::exchange`.)
fn check_grants_fit(
    grant_types: &[GrantType],
    auth_method: AuthMethod,
    has_redirect_uri: bool,
) -> Result<(), AdminError> {
    let has = |g| grant_types.contains(&g);
    if has(GrantType::AuthorizationCode) && !has_redirect_uri {
        return Err(FieldError::new(
            "redirect-uri",
            "a client with the authorization_code grant needs at least one",
        )
        .into());
    }
    if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
        return Err(FieldError::new(
            "grant-type",
            "refresh_token needs authorization_code (refresh tokens come from sign-ins)",
        )
        .into());
    }
    if auth_method == AuthMethod::None && has(GrantType::ClientCredentials) {
        return Err(FieldError::new(
            "grant-type",
            "a public client cannot use client_credentials: it cannot authenticate",
        )
        .into());
    }
    Ok(())
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
    pub apis: Vec<ApiAccess>,
    pub trusted: Vec<String>,
}

pub async fn view(pool: &PgPool, client_id: &str) -> Result<ClientView, AdminError> {
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
        apis: api_access,
        trusted,
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
}

/// Changes a client with the same rules as `client create`; returns its
/// settings before and after (for the audit log). Public stays public.
pub async fn update(
    pool: &PgPool,
    clock: &dyn Clock,
    client_id: &str,
    change: ClientUpdate,
) -> Result<(serde_json::Value, serde_json::Value), AdminError> {
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
    let input = NewClientInput {
        client_id: client_id.to_owned(),
        name: change.name,
        redirect_uris: change.redirect_uris,
        post_logout_redirect_uris: change.post_logout_redirect_uris,
        public,
        auth_method: method.or_else(|| Some(before.auth_method.clone())),
        grant_types: change.grant_types,
        scopes: change.scopes,
        first_party: change.first_party,
        id_token_alg: change.id_token_alg,
    };
    let parsed = parse_new_client(input, clock)?;
    let after = ClientRow {
        secret_hash: before.secret_hash.clone(),
        created_at: before.created_at,
        ..parsed
    };
    clients::update(&mut tx, &after).await?;
    tx.commit().await?;
    Ok((settings(&before), settings(&after)))
}

/// The settings of a row, for "before" and "after" in the audit log (no secret).
fn settings(c: &ClientRow) -> serde_json::Value {
    serde_json::json!({
        "name": c.name, "auth_method": c.auth_method, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "grant_types": c.grant_types,
        "scopes": c.scopes, "first_party": c.first_party, "id_token_alg": c.id_token_alg,
    })
}

/// A new secret for a confidential client, shown once; the old one stops working.
pub async fn rotate_secret(
    pool: &PgPool,
    clock: &dyn Clock,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
) -> Result<String, AdminError> {
    let mut conn = pool.acquire().await?;
    let c = clients::find(&mut conn, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    if c.auth_method == AuthMethod::None.as_str() {
        return Err(FieldError::new("client-id", "a public client has no secret").into());
    }
    let secret = secret::random_token(rng);
    clients::set_secret_hash(&mut conn, client_id, &secret::sha256(&secret), clock.now()).await?;
    Ok(secret)
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
        })
        .collect())
}

pub async fn create_by(
    actor: &Actor<'_>,
    rng: &mut impl rand::CryptoRng,
    input: NewClientInput,
) -> Result<CreatedClient, AdminError> {
    let p = actor.provider();
    let created = create(&p.pool, p.clock.as_ref(), rng, input).await?;
    let details = serde_json::json!({ "client_id": created.client_id });
    actor.changed("created a client", details).await;
    Ok(created)
}

pub async fn update_by(actor: &Actor<'_>, client_id: &str, change: ClientUpdate) -> Result<(), AdminError> {
    let p = actor.provider();
    let (before, after) = update(&p.pool, p.clock.as_ref(), client_id, change).await?;
    let details = serde_json::json!({ "client_id": client_id, "before": before, "after": after });
    actor.changed("changed a client", details).await;
    Ok(())
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
) -> Result<String, AdminError> {
    let p = actor.provider();
    let secret = rotate_secret(&p.pool, p.clock.as_ref(), rng, client_id).await?;
    let details = serde_json::json!({ "client_id": client_id });
    actor.changed("rotated a client secret", details).await;
    Ok(secret)
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
