//! The `users` table.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::model::{StandardClaims, Username};

pub struct NewUser<'a> {
    pub id: Uuid,
    pub username: &'a Username,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub claims: &'a StandardClaims,
    pub now: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, user: &NewUser<'_>) -> Result<(), StoreError> {
    let c = user.claims;
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, is_admin, name, given_name, family_name, middle_name,
            nickname, preferred_username, profile, picture, website, email, email_verified, gender, birthdate,
            zoneinfo, locale, phone_number, phone_number_verified, address_formatted, address_street_address,
            address_locality, address_region, address_postal_code, address_country, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
            $21, $22, $23, $24, $25, $26, $27, $28, $28)",
    )
    .bind(user.id)
    .bind(user.username.as_str())
    .bind(user.password_hash)
    .bind(user.is_admin)
    .bind(&c.name)
    .bind(&c.given_name)
    .bind(&c.family_name)
    .bind(&c.middle_name)
    .bind(&c.nickname)
    .bind(&c.preferred_username)
    .bind(&c.profile)
    .bind(&c.picture)
    .bind(&c.website)
    .bind(&c.email)
    .bind(c.email_verified)
    .bind(&c.gender)
    .bind(&c.birthdate)
    .bind(&c.zoneinfo)
    .bind(&c.locale)
    .bind(&c.phone_number)
    .bind(c.phone_number_verified)
    .bind(&c.address.formatted)
    .bind(&c.address.street_address)
    .bind(&c.address.locality)
    .bind(&c.address.region)
    .bind(&c.address.postal_code)
    .bind(&c.address.country)
    .bind(user.now)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| format!("a user named `{}`", user.username)))?;
    Ok(())
}

pub async fn exists(conn: &mut PgConnection, username: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1))")
            .bind(username)
            .fetch_one(conn)
            .await?,
    )
}
