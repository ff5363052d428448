//! Creating users.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{AdminError, field};
use crate::clock::Clock;
use crate::crypto::{CryptoError, password};
use crate::model::{FieldError, StandardClaims, Username};
use crate::store::users::{self, NewUser};

/// The longest password accepted (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 1024;

pub struct NewUserInput {
    pub username: String,
    pub password: String,
    pub is_admin: bool,
    pub claims: StandardClaims,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedUser {
    pub sub: Uuid,
    pub username: String,
    pub admin: bool,
    #[serde(flatten)]
    pub claims: StandardClaims,
    pub created_at: DateTime<Utc>,
}

pub async fn create(pool: &PgPool, clock: &dyn Clock, input: NewUserInput) -> Result<CreatedUser, AdminError> {
    let username = field("username", Username::parse(&input.username))?;
    let claims = input.claims.validated()?;
    if input.password.is_empty() {
        return Err(FieldError::new("password", "must not be empty").into());
    }
    if input.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(FieldError::new("password", format!("is longer than {MAX_PASSWORD_CHARS} characters")).into());
    }
    let mut conn = pool.acquire().await?;
    if users::exists(&mut conn, username.as_str()).await? {
        return Err(AdminError::Conflict(format!("a user named `{username}`")));
    }
    let password = input.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| CryptoError::Password(e.to_string()))??;
    // A `sub` is a random UUID v4: a v7 would tell when the account was made.
    let sub = Uuid::new_v4();
    let now = clock.now();
    users::insert(
        &mut conn,
        &NewUser {
            id: sub,
            username: &username,
            password_hash: &hash,
            is_admin: input.is_admin,
            claims: &claims,
            now,
        },
    )
    .await?;
    Ok(CreatedUser {
        sub,
        username: username.to_string(),
        admin: input.is_admin,
        claims,
        created_at: now,
    })
}
