//! What an administrator does about dynamic client registration (RFC 7591,
//! RFC 7592; the flows themselves are `protocol::registration`): initial
//! access tokens for `LANYARD_CLIENT_REGISTRATION=token`, and a registered
//! client's registration access token rotated (a new one, shown once) or
//! revoked (the client can no longer manage its registration).

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{Actor, AdminError};
use crate::crypto::secret;
use crate::model::FieldError;
use crate::store::{clients, registration_tokens};

/// A new initial access token (`lanyard client registration-token create`),
/// shown once: its value, end and uses.
#[derive(Debug, serde::Serialize)]
pub struct InitialAccessToken {
    pub initial_access_token: String,
    pub expires_at: DateTime<Utc>,
    pub uses: i32,
    pub id: Uuid,
}

/// The default lifetime of an initial access token: a day.
pub const DEFAULT_TOKEN_LIFETIME: TimeDelta = TimeDelta::days(1);

pub async fn create_token(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    rng: &mut impl rand::CryptoRng,
    expires_in: Option<TimeDelta>,
    uses: i32,
) -> Result<InitialAccessToken, AdminError> {
    if uses < 1 {
        return Err(FieldError::new("uses", "at least 1").into());
    }
    let lifetime = expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME);
    if lifetime <= TimeDelta::zero() {
        return Err(FieldError::new("expires-in", "at least 1 second").into());
    }
    let now = clock.now();
    let token = secret::random_token(rng);
    let id = crate::protocol::mint::new_jti(now);
    let mut conn = pool.acquire().await?;
    registration_tokens::insert(&mut conn, id, &secret::sha256(&token), uses, now + lifetime, now).await?;
    Ok(InitialAccessToken {
        initial_access_token: token,
        expires_at: now + lifetime,
        uses,
        id,
    })
}

pub async fn list_tokens(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
) -> Result<Vec<registration_tokens::RegistrationToken>, AdminError> {
    let mut conn = pool.acquire().await?;
    Ok(registration_tokens::list(&mut conn, clock.now()).await?)
}

pub async fn revoke_token(pool: &sqlx::PgPool, clock: &dyn crate::clock::Clock, id: &str) -> Result<(), AdminError> {
    let id = Uuid::try_parse(id).map_err(|_| FieldError::new("id", "not a token id"))?;
    let mut conn = pool.acquire().await?;
    match registration_tokens::revoke(&mut conn, id, clock.now()).await? {
        true => Ok(()),
        false => Err(AdminError::NotFound(format!("no registration token `{id}`"))),
    }
}

/// A registered client's new registration access token (RFC 7592 §1: its
/// credential for managing its registration), shown once.
#[derive(Debug, serde::Serialize)]
pub struct RegistrationAccessToken {
    pub client_id: String,
    pub registration_access_token: String,
}

/// A new registration access token for a client that registered itself;
/// the one it had stops working at once (it leaked, or the client lost
/// it). Only its SHA-256 is kept.
pub async fn rotate_access_token(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
) -> Result<RegistrationAccessToken, AdminError> {
    let token = secret::random_token(rng);
    set_access_token(pool, clock, client_id, Some(&secret::sha256(&token))).await?;
    Ok(RegistrationAccessToken {
        client_id: client_id.to_owned(),
        registration_access_token: token,
    })
}

/// Revokes a registered client's registration access token: the client
/// stays, but can no longer read, change or delete its registration (RFC
/// 7592 §2 answers 401) until an administrator rotates it.
pub async fn revoke_access_token(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    client_id: &str,
) -> Result<(), AdminError> {
    set_access_token(pool, clock, client_id, None).await
}

async fn set_access_token(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    client_id: &str,
    hash: Option<&[u8]>,
) -> Result<(), AdminError> {
    let mut conn = pool.acquire().await?;
    match clients::set_registration_token(&mut conn, client_id, hash, clock.now()).await? {
        Some(true) => Ok(()),
        Some(false) => Err(FieldError::new(
            "client-id",
            format!("`{client_id}` was made by an administrator; only a client that registered itself (RFC 7591) has a registration access token"),
        )
        .into()),
        None => Err(AdminError::NotFound(format!("no client `{client_id}`"))),
    }
}

/// [`rotate_access_token`], audited (never the token).
pub async fn rotate_access_token_by(
    actor: &Actor<'_>,
    rng: &mut impl rand::CryptoRng,
    client_id: &str,
) -> Result<RegistrationAccessToken, AdminError> {
    let p = actor.provider();
    let rotated = rotate_access_token(&p.pool, p.clock.as_ref(), rng, client_id).await?;
    let details = serde_json::json!({ "client_id": client_id });
    actor.changed("rotated a registration access token", details).await;
    Ok(rotated)
}

/// [`revoke_access_token`], audited.
pub async fn revoke_access_token_by(actor: &Actor<'_>, client_id: &str) -> Result<(), AdminError> {
    let p = actor.provider();
    revoke_access_token(&p.pool, p.clock.as_ref(), client_id).await?;
    let details = serde_json::json!({ "client_id": client_id });
    actor.changed("revoked a registration access token", details).await;
    Ok(())
}
