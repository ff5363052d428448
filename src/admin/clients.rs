//! Registering clients, their API allowances and whose id_tokens they may exchange.

use sqlx::PgPool;

use super::{AdminError, each, field, optional_name};
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
    let requested_method = input.auth_method.as_deref().map(str::parse::<AuthMethod>).transpose();
    let auth_method = match (input.public, field("auth-method", requested_method)?) {
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
    };
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

    let has = |g| grant_types.contains(&g);
    if has(GrantType::AuthorizationCode) && redirect_uris.is_empty() {
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
    if auth_method == AuthMethod::None {
        for g in [GrantType::ClientCredentials, GrantType::TokenExchange] {
            if has(g) {
                return Err(FieldError::new(
                    "grant-type",
                    format!("a public client cannot use {g}: it cannot authenticate"),
                )
                .into());
            }
        }
    }
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
