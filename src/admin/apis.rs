//! Registering APIs (resource servers) and their scopes.

use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, AdminError, field, optional_name};
use crate::clock::Clock;
use crate::crypto::Alg;
use crate::model::{Audience, AuthLevel, AuthMethod, FieldError, ScopeToken};
use crate::store::apis::{self, ApiRow, ApiScopeRow};
use crate::store::clients;

/// The longest access-token lifetime an API may set: one day.
pub const MAX_ACCESS_TOKEN_TTL: i64 = 86_400;

#[derive(Debug, Default)]
pub struct NewApiInput {
    pub audience: String,
    pub name: Option<String>,
    /// `NAME` or `NAME=DESCRIPTION`.
    pub scopes: Vec<String>,
    pub access_token_ttl: Option<i64>,
    pub alg: Option<String>,
    pub resource_servers: Vec<String>,
    /// Tokens for it are issued only DPoP-bound (RFC 9449).
    pub require_dpop: bool,
    /// DPoP proofs for its tokens carry a server nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// The level of sign-in its user tokens need (`model::AuthLevel`), if any.
    pub min_acr: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiScope {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiView {
    pub id: Uuid,
    pub audience: String,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    /// Seconds; absent means `LANYARD_ACCESS_TOKEN_TTL`.
    pub access_token_ttl: Option<i32>,
    pub alg: String,
    pub resource_servers: Vec<String>,
    pub require_dpop: bool,
    pub dpop_nonce: bool,
    /// RFC 9470: the level of sign-in a user's token needs; `null` for none.
    pub min_acr: Option<String>,
}

pub async fn create(pool: &PgPool, clock: &dyn Clock, input: NewApiInput) -> Result<ApiView, AdminError> {
    let audience = field("audience", Audience::parse(&input.audience))?;
    let name = optional_name(input.name)?;
    let scopes = parse_scopes(&input.scopes)?;
    let ttl = parse_ttl(input.access_token_ttl)?;
    let alg = parse_alg(input.alg.as_deref())?;
    let min_acr = parse_min_acr(input.min_acr.as_deref())?;
    let now = clock.now();
    let row = ApiRow {
        id: Uuid::now_v7(),
        name: name.map_or_else(|| audience.to_string(), |n| n.to_string()),
        audience: audience.to_string(),
        access_token_ttl: ttl,
        alg: alg.as_str().to_owned(),
        require_dpop: input.require_dpop,
        dpop_nonce: input.dpop_nonce,
        min_acr,
        created_at: now,
        updated_at: now,
    };
    let mut tx = pool.begin().await?;
    if apis::find_by_audience(&mut tx, &row.audience).await?.is_some() {
        return Err(AdminError::Conflict(format!("an API with audience `{audience}`")));
    }
    for client_id in &input.resource_servers {
        check_resource_server(&mut tx, client_id).await?;
    }
    apis::insert(&mut tx, &row).await?;
    for scope in &scopes {
        apis::insert_scope(&mut tx, row.id, scope).await?;
    }
    for client_id in &input.resource_servers {
        apis::insert_resource_server(&mut tx, row.id, client_id).await?;
    }
    let resource_servers = apis::resource_servers(&mut tx, row.id).await?;
    tx.commit().await?;
    Ok(ApiView {
        id: row.id,
        audience: row.audience,
        name: row.name,
        scopes: scopes
            .into_iter()
            .map(|s| ApiScope {
                name: s.name,
                description: s.description,
            })
            .collect(),
        access_token_ttl: row.access_token_ttl,
        alg: row.alg,
        resource_servers,
        require_dpop: row.require_dpop,
        dpop_nonce: row.dpop_nonce,
        min_acr: row.min_acr,
    })
}

pub(crate) fn parse_scopes(raws: &[String]) -> Result<Vec<ApiScopeRow>, AdminError> {
    if raws.is_empty() {
        return Err(FieldError::new("scope", "an API needs at least one scope (NAME or NAME=DESCRIPTION)").into());
    }
    let mut scopes: Vec<ApiScopeRow> = Vec::new();
    for raw in raws {
        let (name, description) = raw.split_once('=').unwrap_or((raw, ""));
        let name = field("scope", ScopeToken::parse(name))?;
        let description = description.trim();
        if description.chars().count() > 200 || description.chars().any(char::is_control) {
            return Err(FieldError::new(
                "scope",
                format!("the description of `{name}` must be at most 200 characters"),
            )
            .into());
        }
        if scopes.iter().any(|s| s.name == name.as_str()) {
            return Err(FieldError::new("scope", format!("`{name}` is given twice")).into());
        }
        scopes.push(ApiScopeRow {
            name: name.to_string(),
            description: description.to_owned(),
        });
    }
    Ok(scopes)
}

/// An API with who may get what, for the admin page.
#[derive(Debug, serde::Serialize)]
pub struct ApiDetail {
    #[serde(flatten)]
    pub api: ApiView,
    /// `client_id: scope scope …` lines.
    pub allowances: Vec<String>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<ApiDetail>, AdminError> {
    let mut conn = pool.acquire().await?;
    let mut out = Vec::new();
    for row in apis::list(&mut conn).await? {
        out.push(detail(&mut conn, row).await?);
    }
    Ok(out)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<ApiDetail, AdminError> {
    let mut conn = pool.acquire().await?;
    let row = apis::find(&mut conn, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no API {id}")))?;
    detail(&mut conn, row).await
}

async fn detail(conn: &mut sqlx::PgConnection, row: ApiRow) -> Result<ApiDetail, AdminError> {
    let scopes = apis::scopes(conn, row.id)
        .await?
        .into_iter()
        .map(|s| ApiScope {
            name: s.name,
            description: s.description,
        })
        .collect();
    let resource_servers = apis::resource_servers(conn, row.id).await?;
    let mut allowances: Vec<String> = Vec::new();
    for (client, scope) in apis::allowances(conn, row.id).await? {
        match allowances.last_mut() {
            Some(line) if line.starts_with(&format!("{client}:")) => line.push_str(&format!(" {scope}")),
            _ => allowances.push(format!("{client}: {scope}")),
        }
    }
    let api = ApiView {
        id: row.id,
        audience: row.audience,
        name: row.name,
        scopes,
        access_token_ttl: row.access_token_ttl,
        alg: row.alg,
        resource_servers,
        require_dpop: row.require_dpop,
        dpop_nonce: row.dpop_nonce,
        min_acr: row.min_acr,
    };
    Ok(ApiDetail { api, allowances })
}

/// The API registered under `audience`.
pub async fn get_by_audience(pool: &PgPool, audience: &str) -> Result<ApiDetail, AdminError> {
    let mut conn = pool.acquire().await?;
    let row = apis::find_by_audience(&mut conn, audience)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no API `{audience}`")))?;
    detail(&mut conn, row).await
}

/// Deletes an API: no token is issued for it any more, its allowances and
/// consents go, and the exchanges for it are revoked. (Tokens already
/// issued from sign-ins name an API that no longer exists; they expire.)
/// Lanyard's own admin API (`{issuer}/admin`) cannot be deleted. `api` is
/// the API as the caller found it (by audience or by id).
pub async fn delete(
    pool: &PgPool,
    clock: &dyn Clock,
    issuer: &crate::config::Issuer,
    api: &ApiView,
) -> Result<(), AdminError> {
    if api.audience == issuer.url(crate::paths::ADMIN) {
        return Err(FieldError::new("audience", "Lanyard's own admin API cannot be deleted").into());
    }
    let mut tx = pool.begin().await?;
    crate::store::grants::revoke_exchanges_for_api(&mut tx, &api.audience, clock.now()).await?;
    apis::delete(&mut tx, api.id).await?;
    tx.commit().await?;
    Ok(())
}

/// An API's editable settings (its audience never changes).
#[derive(Debug, Default)]
pub struct ApiUpdate {
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub access_token_ttl: Option<i64>,
    pub alg: Option<String>,
    pub resource_servers: Vec<String>,
    pub require_dpop: bool,
    pub dpop_nonce: bool,
    pub min_acr: Option<String>,
}

/// Changes an API with the rules of `api create`; returns it before and after.
/// Lanyard's own admin API keeps its `admin` scope (without it nobody could
/// reach the JSON admin API again).
pub async fn update(
    pool: &PgPool,
    clock: &dyn Clock,
    issuer: &crate::config::Issuer,
    id: Uuid,
    change: ApiUpdate,
) -> Result<(ApiView, ApiView), AdminError> {
    let before = get(pool, id).await?.api;
    let name = optional_name(change.name)?;
    let scopes = parse_scopes(&change.scopes)?;
    if before.audience == issuer.url(crate::paths::ADMIN) && !scopes.iter().any(|s| s.name == ADMIN_SCOPE) {
        return Err(FieldError::new("scope", "Lanyard's own admin API keeps its `admin` scope").into());
    }
    let ttl = parse_ttl(change.access_token_ttl)?;
    let alg = parse_alg(change.alg.as_deref())?;
    let min_acr = parse_min_acr(change.min_acr.as_deref())?;
    let mut tx = pool.begin().await?;
    for client_id in &change.resource_servers {
        check_resource_server(&mut tx, client_id).await?;
    }
    let row = ApiRow {
        id,
        audience: before.audience.clone(),
        name: name.map_or_else(|| before.audience.clone(), |n| n.to_string()),
        access_token_ttl: ttl,
        alg: alg.as_str().to_owned(),
        require_dpop: change.require_dpop,
        dpop_nonce: change.dpop_nonce,
        min_acr,
        created_at: clock.now(),
        updated_at: clock.now(),
    };
    apis::update(&mut tx, &row).await?;
    apis::replace_scopes(&mut tx, id, &scopes).await?;
    apis::set_resource_servers(&mut tx, id, &change.resource_servers).await?;
    tx.commit().await?;
    let after = get(pool, id).await?.api;
    Ok((before, after))
}

/// A resource server must exist and authenticate (introspection needs it).
async fn check_resource_server(conn: &mut sqlx::PgConnection, client_id: &str) -> Result<(), AdminError> {
    let client = clients::find(conn, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}` (--resource-server)")))?;
    if client.auth_method == AuthMethod::None.as_str() {
        return Err(FieldError::new(
            "resource-server",
            format!("`{client_id}` is a public client; introspection needs a client that authenticates"),
        )
        .into());
    }
    Ok(())
}

/// An API's own access-token lifetime: 1 s to a day, or none (the default).
fn parse_ttl(secs: Option<i64>) -> Result<Option<i32>, AdminError> {
    match secs {
        None => Ok(None),
        Some(secs) if (1..=MAX_ACCESS_TOKEN_TTL).contains(&secs) => Ok(Some(secs as i32)),
        Some(secs) => Err(FieldError::new(
            "access-token-ttl",
            format!("{secs} is outside 1..={MAX_ACCESS_TOKEN_TTL} seconds"),
        )
        .into()),
    }
}

/// The level of sign-in an API requires (`model::AuthLevel`); none when
/// absent or empty.
fn parse_min_acr(raw: Option<&str>) -> Result<Option<String>, AdminError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => Ok(Some(field("min-acr", raw.parse::<AuthLevel>())?.as_str().to_owned())),
    }
}

/// An API's signing algorithm, ES256 unless named.
fn parse_alg(raw: Option<&str>) -> Result<Alg, AdminError> {
    field("alg", raw.unwrap_or("ES256").parse::<Alg>())
}

/// The scope of the built-in admin API (`{issuer}/admin`).
pub const ADMIN_SCOPE: &str = "admin";

/// The built-in API whose tokens (scope `admin`) open the JSON admin API;
/// made at start-up when missing. Returns its audience.
pub async fn ensure_admin_api(
    pool: &PgPool,
    clock: &dyn Clock,
    issuer: &crate::config::Issuer,
) -> Result<String, AdminError> {
    let audience = issuer.url(crate::paths::ADMIN);
    let input = NewApiInput {
        audience: audience.clone(),
        name: Some("Lanyard admin API".into()),
        scopes: vec![format!("{ADMIN_SCOPE}=Manage Lanyard: clients, APIs, users, keys")],
        ..Default::default()
    };
    match create(pool, clock, input).await {
        Ok(_) | Err(AdminError::Conflict(_)) => Ok(audience),
        Err(e) => Err(e),
    }
}

// The flows of the admin pages and the admin API: the same rules, and each
// records its audit event and puts the change in force.

pub async fn create_by(actor: &Actor<'_>, input: NewApiInput) -> Result<ApiView, AdminError> {
    let p = actor.provider();
    let api = create(&p.pool, p.clock.as_ref(), input).await?;
    actor.changed("created an API", serde_json::json!({ "api": api })).await;
    Ok(api)
}

pub async fn update_by(actor: &Actor<'_>, id: Uuid, change: ApiUpdate) -> Result<(), AdminError> {
    let p = actor.provider();
    let (before, after) = update(&p.pool, p.clock.as_ref(), &p.config.issuer, id, change).await?;
    let details = serde_json::json!({ "api": id.to_string(), "before": before, "after": after });
    actor.changed("changed an API", details).await;
    Ok(())
}

/// [`delete`] by id, audited.
pub async fn delete_by(actor: &Actor<'_>, id: Uuid) -> Result<(), AdminError> {
    let p = actor.provider();
    let api = get(&p.pool, id).await?.api;
    delete(&p.pool, p.clock.as_ref(), &p.config.issuer, &api).await?;
    actor.changed("deleted an API", serde_json::json!({ "api": api })).await;
    Ok(())
}
