//! The `users` table.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::model::{StandardClaims, Username, username_key};

pub struct NewUser<'a> {
    pub id: Uuid,
    pub username: &'a Username,
    /// None: a person from an upstream, who never signs in with a password
    /// until they set one.
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
    pub claims: &'a StandardClaims,
    pub now: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, user: &NewUser<'_>) -> Result<(), StoreError> {
    let c = user.claims;
    let query = sqlx::query(
        "INSERT INTO users (id, username, username_key, password_hash, is_admin, name, given_name, family_name, middle_name,
            nickname, preferred_username, profile, picture, website, email, email_verified, gender, birthdate,
            zoneinfo, locale, phone_number, phone_number_verified, address_formatted, address_street_address,
            address_locality, address_region, address_postal_code, address_country, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
            $21, $22, $23, $24, $25, $26, $27, $28, $29, $29)",
    )
    .bind(user.id)
    .bind(user.username.as_str())
    .bind(user.username.key())
    .bind(user.password_hash)
    .bind(user.is_admin);
    bind_claims(query, c)
        .bind(user.now)
        .execute(conn)
        .await
        .map_err(StoreError::conflict_as(|| format!("a user named `{}`", user.username)))?;
    Ok(())
}

pub async fn exists(conn: &mut PgConnection, username: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username_key = $1)")
            .bind(username_key(username))
            .fetch_one(conn)
            .await?,
    )
}

/// A user as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    /// None: no password (a person from an upstream who has not set one).
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub preferred_username: Option<String>,
    pub profile: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub gender: Option<String>,
    pub birthdate: Option<String>,
    pub zoneinfo: Option<String>,
    pub locale: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub address_formatted: Option<String>,
    pub address_street_address: Option<String>,
    pub address_locality: Option<String>,
    pub address_region: Option<String>,
    pub address_postal_code: Option<String>,
    pub address_country: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    pub fn claims(&self) -> StandardClaims {
        StandardClaims {
            name: self.name.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            middle_name: self.middle_name.clone(),
            nickname: self.nickname.clone(),
            preferred_username: self.preferred_username.clone(),
            profile: self.profile.clone(),
            picture: self.picture.clone(),
            website: self.website.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            gender: self.gender.clone(),
            birthdate: self.birthdate.clone(),
            zoneinfo: self.zoneinfo.clone(),
            locale: self.locale.clone(),
            phone_number: self.phone_number.clone(),
            phone_number_verified: self.phone_number_verified,
            address: crate::model::Address {
                formatted: self.address_formatted.clone(),
                street_address: self.address_street_address.clone(),
                locality: self.address_locality.clone(),
                region: self.address_region.clone(),
                postal_code: self.address_postal_code.clone(),
                country: self.address_country.clone(),
            },
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}

pub async fn find_by_username(conn: &mut PgConnection, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE username_key = $1")
            .bind(username_key(username))
            .fetch_optional(conn)
            .await?,
    )
}

/// Enabled users whose verified email is `email` (compared without case).
pub async fn find_enabled_by_email(conn: &mut PgConnection, email: &str) -> Result<Vec<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(
        "SELECT * FROM users WHERE lower(email) = lower($1) AND email_verified AND disabled_at IS NULL
         ORDER BY created_at LIMIT 10",
    )
    .bind(email)
    .fetch_all(conn)
    .await?)
}

/// The account (enabled or not) that has verified the address `email`,
/// compared without case: only such an account holds an address.
pub async fn verified_holder(conn: &mut PgConnection, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(
        "SELECT * FROM users WHERE lower(email) = lower($1) AND email_verified ORDER BY created_at LIMIT 1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

/// Takes the unverified address `email` from every account but `keep`
/// (which has just verified it); returns the accounts that lost it.
pub async fn release_unverified_email(
    conn: &mut PgConnection,
    email: &str,
    keep: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE users SET email = NULL, updated_at = $3
         WHERE lower(email) = lower($1) AND NOT email_verified AND id <> $2 RETURNING id",
    )
    .bind(email)
    .bind(keep)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Serialises, for the rest of the transaction, the changes that give an
/// account the address `email` (two registrations or verifications of one
/// address at once: the second sees the first's).
pub async fn lock_email(conn: &mut PgConnection, email: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('lanyard-email:' || lower($1), 0))")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets an account's email, verified.
pub async fn set_verified_email(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET email = $2, email_verified = true, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(email)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// A user, locked for the rest of the transaction (a change that reads
/// the row before writing it back).
pub async fn find_for_update(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Disables or enables a user (admin page, tests).
pub async fn set_disabled(conn: &mut PgConnection, id: Uuid, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// A page of users, by username, optionally filtered by a search term.
pub async fn list(conn: &mut PgConnection, search: &str, limit: i64, offset: i64) -> Result<Vec<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(
        "SELECT * FROM users
         WHERE $1 = '' OR username ILIKE '%' || $1 || '%' OR coalesce(email, '') ILIKE '%' || $1 || '%' OR coalesce(name, '') ILIKE '%' || $1 || '%'
         ORDER BY username_key LIMIT $2 OFFSET $3",
    )
    .bind(search)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?)
}

pub async fn count(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(conn).await?)
}

pub async fn update_claims(
    conn: &mut PgConnection,
    id: Uuid,
    c: &StandardClaims,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "UPDATE users SET name = $2, given_name = $3, family_name = $4, middle_name = $5, nickname = $6,
            preferred_username = $7, profile = $8, picture = $9, website = $10, email = $11, email_verified = $12,
            gender = $13, birthdate = $14, zoneinfo = $15, locale = $16, phone_number = $17, phone_number_verified = $18,
            address_formatted = $19, address_street_address = $20, address_locality = $21, address_region = $22,
            address_postal_code = $23, address_country = $24, updated_at = $25
         WHERE id = $1",
    )
    .bind(id);
    bind_claims(query, c).bind(now).execute(conn).await?;
    Ok(())
}

pub async fn set_password_hash(
    conn: &mut PgConnection,
    id: Uuid,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_admin(conn: &mut PgConnection, id: Uuid, admin: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET is_admin = $2 WHERE id = $1")
        .bind(id)
        .bind(admin)
        .execute(conn)
        .await?;
    Ok(())
}

/// Enabled admins other than `except`.
/// Serialises changes that may remove an administrator for the rest of the
/// transaction, so two of them cannot both see "another admin remains".
pub async fn lock_admins(conn: &mut PgConnection) -> Result<(), StoreError> {
    // An arbitrary constant of Lanyard's (ASCII "LYADMINS").
    sqlx::query("SELECT pg_advisory_xact_lock(5499424116437208403)")
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn other_admins(conn: &mut PgConnection, except: Uuid) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM users WHERE is_admin AND disabled_at IS NULL AND id <> $1")
            .bind(except)
            .fetch_one(conn)
            .await?,
    )
}

/// Gives every user made before `username_key` existed its key (run by
/// `lanyard migrate` and at start-up; a no-op once done). Two usernames that
/// fold to one key cannot both have it: the later keeps none (it cannot sign
/// in until renamed) and is returned, for the operator to hear of.
pub async fn backfill_username_keys(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, username FROM users WHERE username_key IS NULL ORDER BY created_at")
            .fetch_all(&mut *conn)
            .await?;
    let mut left_without = Vec::new();
    for (id, username) in rows {
        let keyed = sqlx::query(
            "UPDATE users SET username_key = $2 WHERE id = $1
               AND NOT EXISTS (SELECT 1 FROM users WHERE username_key = $2)",
        )
        .bind(id)
        .bind(username_key(&username))
        .execute(&mut *conn)
        .await?;
        if keyed.rows_affected() == 0 {
            left_without.push(username);
        }
    }
    Ok(left_without)
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the 23 claim columns, in the order both statements above name them.
fn bind_claims<'q>(query: PgQuery<'q>, c: &'q StandardClaims) -> PgQuery<'q> {
    query
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
}

/// Deletes a user; their sessions, consents, codes and grants go with them.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}
