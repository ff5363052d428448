//! Creating users.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, AdminError, field};
use crate::clock::Clock;
use crate::crypto::password;
use crate::model::{FieldError, NewPassword, StandardClaims, Username};
use crate::protocol::signin::account_key;
use crate::store::second_factors;
use crate::store::users::{self, NewUser};

pub use crate::model::MAX_PASSWORD_CHARS;

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
    let password = field("password", NewPassword::parse(input.password))?;
    let mut conn = pool.acquire().await?;
    if users::exists(&mut conn, username.as_str()).await? {
        return Err(AdminError::Conflict(format!("a user named `{username}`")));
    }
    let hash = password::hash_off_thread(password.into_inner()).await?;
    // A `sub` is a random UUID v4: a v7 would tell when the account was made.
    let sub = Uuid::new_v4();
    let now = clock.now();
    users::insert(
        &mut conn,
        &NewUser {
            id: sub,
            username: &username,
            password_hash: Some(&hash),
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

/// A user as the admin page shows it, with sessions, consents and grants.
#[derive(Debug, serde::Serialize)]
pub struct UserView {
    pub sub: Uuid,
    pub username: String,
    pub admin: bool,
    pub disabled: bool,
    pub claims: StandardClaims,
    pub failed_sign_ins: i32,
    pub sessions: Vec<serde_json::Value>,
    pub consents: Vec<crate::store::consents::ConsentListRow>,
    pub grants: Vec<serde_json::Value>,
    /// Second factors (never their secrets).
    pub two_step: second_factors::FactorSummary,
    /// Passkeys (names and dates, never their keys).
    pub passkeys: Vec<crate::store::passkeys::PasskeyListRow>,
    /// False for a person from an upstream provider who has set none.
    pub has_password: bool,
    /// Who the person is at upstream providers.
    pub upstream_links: Vec<crate::store::upstreams::LinkRow>,
}

fn not_found(sub: Uuid) -> AdminError {
    AdminError::NotFound(format!("no user {sub}"))
}

pub async fn view(pool: &PgPool, clock: &dyn Clock, sub: Uuid) -> Result<UserView, AdminError> {
    use crate::store::{consents, grants, login_throttle, sessions};
    let mut conn = pool.acquire().await?;
    let user = users::find(&mut conn, sub).await?.ok_or_else(|| not_found(sub))?;
    let window = clock.now() - crate::protocol::signin::THROTTLE_WINDOW;
    let failed = login_throttle::attempts(&mut conn, &account_key(&user.username), window).await?;
    let sessions = sessions::list_for_user(&mut conn, sub)
        .await?
        .into_iter()
        .map(|s| serde_json::json!({ "id": s.id, "created_at": s.created_at, "last_seen_at": s.last_seen_at, "expires_at": s.expires_at }))
        .collect();
    let grants = grants::list_live_for_user(&mut conn, sub)
        .await?
        .into_iter()
        .map(|g| serde_json::json!({ "id": g.id, "client_id": g.client_id, "scopes": g.scopes.join(" "), "resources": g.resources.join(" "), "offline": g.offline, "created_at": g.created_at }))
        .collect();
    Ok(UserView {
        sub,
        claims: user.claims(),
        username: user.username,
        admin: user.is_admin,
        disabled: user.disabled_at.is_some(),
        failed_sign_ins: failed,
        sessions,
        consents: consents::list_for_user(&mut conn, sub).await?,
        grants,
        two_step: second_factors::summary(&mut conn, sub).await?,
        passkeys: crate::store::passkeys::list(&mut conn, sub).await?,
        has_password: user.password_hash.is_some(),
        upstream_links: crate::store::upstreams::links_of(&mut conn, sub).await?,
    })
}

/// Replaces the standard claims; returns them before and after.
pub async fn update_claims(
    pool: &PgPool,
    clock: &dyn Clock,
    sub: Uuid,
    claims: StandardClaims,
) -> Result<(StandardClaims, StandardClaims), AdminError> {
    let claims = claims.validated()?;
    let mut conn = pool.acquire().await?;
    let user = users::find(&mut conn, sub).await?.ok_or_else(|| not_found(sub))?;
    users::update_claims(&mut conn, sub, &claims, clock.now()).await?;
    Ok((user.claims(), claims))
}

/// Sets a new password (the same rules as `user create`).
pub async fn reset_password(pool: &PgPool, clock: &dyn Clock, sub: Uuid, password: String) -> Result<(), AdminError> {
    let password = field("password", NewPassword::parse(password))?;
    users::find(&mut *pool.acquire().await?, sub)
        .await?
        .ok_or_else(|| not_found(sub))?;
    let hash = password::hash_off_thread(password.into_inner()).await?;
    let now = clock.now();
    let mut tx = pool.begin().await?;
    users::set_password_hash(&mut tx, sub, &hash, now).await?;
    end_everything(&mut tx, sub, "password reset", now).await?;
    tx.commit().await?;
    Ok(())
}

/// Disables (sign-in, refresh, exchange and UserInfo refuse the user, and
/// every session and grant ends, so enabling again revives none) or enables.
pub async fn set_disabled(pool: &PgPool, clock: &dyn Clock, sub: Uuid, disabled: bool) -> Result<(), AdminError> {
    let now = clock.now();
    let mut tx = pool.begin().await?;
    users::lock_admins(&mut tx).await?;
    let user = users::find(&mut tx, sub).await?.ok_or_else(|| not_found(sub))?;
    if disabled && user.is_admin && users::other_admins(&mut tx, sub).await? == 0 {
        return Err(FieldError::new("disabled", "the last admin cannot be disabled").into());
    }
    users::set_disabled(&mut tx, sub, disabled.then_some(now)).await?;
    if disabled {
        end_everything(&mut tx, sub, "account disabled", now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends a user's sessions and revokes their grants — refresh tokens and every
/// access token with a grant, exchanged ones included.
async fn end_everything(
    conn: &mut sqlx::PgConnection,
    sub: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    crate::store::sessions::end_all_of_user(conn, sub, now).await?;
    crate::store::grants::revoke_all_of_user(conn, sub, reason, now).await?;
    Ok(())
}

/// Deletes a user and everything issued to them (sessions, consents, grants
/// and with them every token that names a grant) — never the last admin.
/// Their sessions end first, so the clients of those sessions get a
/// back-channel logout. Returns the username, for the audit log.
pub async fn delete(pool: &PgPool, clock: &dyn Clock, sub: Uuid) -> Result<String, AdminError> {
    let mut tx = pool.begin().await?;
    users::lock_admins(&mut tx).await?;
    let user = users::find(&mut tx, sub).await?.ok_or_else(|| not_found(sub))?;
    if user.is_admin && users::other_admins(&mut tx, sub).await? == 0 {
        return Err(FieldError::new("user", "the last admin cannot be deleted").into());
    }
    crate::store::sessions::end_all_of_user(&mut tx, sub, clock.now()).await?;
    users::delete(&mut tx, sub).await?;
    tx.commit().await?;
    Ok(user.username)
}

/// The user a command names: their `sub`, or else their username.
pub async fn resolve(pool: &PgPool, user: &str) -> Result<Uuid, AdminError> {
    if let Ok(sub) = Uuid::parse_str(user) {
        return Ok(sub);
    }
    find_by_username(pool, user)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user `{user}`")))
}

/// Grants or takes the admin role — never from the last admin.
pub async fn set_admin(pool: &PgPool, sub: Uuid, admin: bool) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    users::lock_admins(&mut tx).await?;
    users::find(&mut tx, sub).await?.ok_or_else(|| not_found(sub))?;
    if !admin && users::other_admins(&mut tx, sub).await? == 0 {
        return Err(FieldError::new("admin", "the last admin keeps the admin role").into());
    }
    users::set_admin(&mut tx, sub, admin).await?;
    tx.commit().await?;
    Ok(())
}

/// Clears the sign-in throttle of an account.
pub async fn clear_throttle(pool: &PgPool, sub: Uuid) -> Result<(), AdminError> {
    let mut conn = pool.acquire().await?;
    let user = users::find(&mut conn, sub).await?.ok_or_else(|| not_found(sub))?;
    crate::store::login_throttle::clear(&mut conn, &account_key(&user.username)).await?;
    Ok(())
}

/// Ends a session; its grants without offline_access end with it.
pub async fn end_session(pool: &PgPool, clock: &dyn Clock, session_id: Uuid) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    crate::store::sessions::end(&mut tx, session_id, clock.now()).await?;
    crate::store::grants::revoke_online_of_session(&mut tx, session_id, "session ended by an admin", clock.now())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Withdraws a consent: all its grants are revoked.
pub async fn withdraw_consent(pool: &PgPool, clock: &dyn Clock, consent_id: Uuid) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    crate::store::grants::revoke_for_consent(&mut tx, consent_id, clock.now()).await?;
    crate::store::consents::delete(&mut tx, consent_id)
        .await?
        .ok_or_else(|| AdminError::NotFound("no such consent".into()))?;
    tx.commit().await?;
    Ok(())
}

/// Ends a grant: its refresh family and access tokens are revoked.
pub async fn end_grant(pool: &PgPool, clock: &dyn Clock, grant_id: Uuid) -> Result<(), AdminError> {
    crate::store::grants::revoke(&mut *pool.acquire().await?, grant_id, "ended by an admin", clock.now()).await?;
    Ok(())
}

// The flows of the admin pages and the admin API: the same rules, and each
// records its audit event.

/// One line of a list of users.
#[derive(Debug, serde::Serialize)]
pub struct UserLine {
    pub sub: Uuid,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub admin: bool,
    pub disabled: bool,
}

/// Up to `limit` users whose username, email or name holds `search`, from `offset`.
pub async fn search(pool: &PgPool, search: &str, limit: i64, offset: i64) -> Result<Vec<UserLine>, AdminError> {
    let rows = users::list(&mut *pool.acquire().await?, search, limit, offset).await?;
    Ok(rows
        .into_iter()
        .map(|u| UserLine {
            sub: u.id,
            disabled: u.disabled_at.is_some(),
            username: u.username,
            name: u.name,
            email: u.email,
            admin: u.is_admin,
        })
        .collect())
}

/// The `sub` of the user named `username`, if there is one.
pub async fn find_by_username(pool: &PgPool, username: &str) -> Result<Option<Uuid>, AdminError> {
    let user = users::find_by_username(&mut *pool.acquire().await?, username).await?;
    Ok(user.map(|u| u.id))
}

pub async fn create_by(actor: &Actor<'_>, input: NewUserInput) -> Result<CreatedUser, AdminError> {
    let p = actor.provider();
    let user = create(&p.pool, p.clock.as_ref(), input).await?;
    let details = serde_json::json!({ "sub": user.sub, "username": user.username, "admin": user.admin });
    actor.changed("created a user", details).await;
    Ok(user)
}

/// A person's second factors, as an admin sees them (never their secrets).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FactorsView {
    pub sub: Uuid,
    pub username: String,
    /// An authenticator app (TOTP).
    pub totp: bool,
    pub totp_created_at: Option<DateTime<Utc>>,
    pub totp_last_used_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: i64,
    /// Passkeys (names and dates, never their keys).
    pub passkeys: Vec<crate::store::passkeys::PasskeyListRow>,
}

pub async fn factors(pool: &PgPool, sub: Uuid) -> Result<FactorsView, AdminError> {
    let mut conn = pool.acquire().await?;
    let user = users::find(&mut conn, sub).await?.ok_or_else(|| not_found(sub))?;
    let summary = second_factors::summary(&mut conn, sub).await?;
    Ok(FactorsView {
        sub,
        username: user.username,
        totp: summary.totp,
        totp_created_at: summary.totp_created_at,
        totp_last_used_at: summary.totp_last_used_at,
        recovery_codes_left: summary.recovery_codes_left,
        passkeys: crate::store::passkeys::list(&mut conn, sub).await?,
    })
}

/// Removes every second factor of a person (a lost phone), passkeys
/// included: their password alone signs them in again until they set one
/// up. Returns what they had.
pub async fn reset_factors(pool: &PgPool, sub: Uuid) -> Result<FactorsView, AdminError> {
    let before = factors(pool, sub).await?;
    let mut tx = pool.begin().await?;
    second_factors::delete_totp(&mut tx, sub).await?;
    second_factors::delete_recovery_codes(&mut tx, sub).await?;
    crate::store::passkeys::delete_all(&mut tx, sub).await?;
    tx.commit().await?;
    Ok(before)
}

/// What an admin does to one user from the user's page.
#[derive(Debug)]
pub enum UserAction {
    Claims(Box<StandardClaims>),
    Password(String),
    Disable,
    Enable,
    Admin,
    Unadmin,
    /// Clears the sign-in throttle.
    Throttle,
    EndSession(Uuid),
    WithdrawConsent(Uuid),
    EndGrant(Uuid),
    /// Removes the person's second factors.
    ResetFactors,
}

impl UserAction {
    /// The action's name in the page's URL and in the audit log (`user: NAME`).
    pub fn name(&self) -> &'static str {
        match self {
            UserAction::Claims(_) => "claims",
            UserAction::Password(_) => "password",
            UserAction::Disable => "disable",
            UserAction::Enable => "enable",
            UserAction::Admin => "admin",
            UserAction::Unadmin => "unadmin",
            UserAction::Throttle => "throttle",
            UserAction::EndSession(_) => "session",
            UserAction::WithdrawConsent(_) => "consent",
            UserAction::EndGrant(_) => "grant",
            UserAction::ResetFactors => "factors",
        }
    }

    /// Passwords, roles and second factors are sensitive: they need a recent sign-in.
    pub fn is_sensitive(&self) -> bool {
        matches!(
            self,
            UserAction::Password(_) | UserAction::Admin | UserAction::Unadmin | UserAction::ResetFactors
        )
    }
}

/// Does `action` to the user `sub`, and records it.
pub async fn act_by(actor: &Actor<'_>, sub: Uuid, action: UserAction) -> Result<(), AdminError> {
    let p = actor.provider();
    let (pool, clock) = (&p.pool, p.clock.as_ref());
    let name = action.name();
    let mut details = match action {
        UserAction::Claims(claims) => {
            let claims = *claims;
            let (before, after) = update_claims(pool, clock, sub, claims).await?;
            serde_json::json!({ "before": before, "after": after })
        }
        UserAction::Password(password) => reset_password(pool, clock, sub, password)
            .await
            .map(|()| json_empty())?,
        UserAction::Disable => set_disabled(pool, clock, sub, true).await.map(|()| json_empty())?,
        UserAction::Enable => set_disabled(pool, clock, sub, false).await.map(|()| json_empty())?,
        UserAction::Admin => set_admin(pool, sub, true).await.map(|()| json_empty())?,
        UserAction::Unadmin => set_admin(pool, sub, false).await.map(|()| json_empty())?,
        UserAction::Throttle => clear_throttle(pool, sub).await.map(|()| json_empty())?,
        UserAction::EndSession(id) => {
            end_session(pool, clock, id).await?;
            serde_json::json!({ "session": id })
        }
        UserAction::WithdrawConsent(id) => {
            withdraw_consent(pool, clock, id).await?;
            serde_json::json!({ "consent": id })
        }
        UserAction::EndGrant(id) => {
            end_grant(pool, clock, id).await?;
            serde_json::json!({ "grant": id })
        }
        UserAction::ResetFactors => serde_json::json!({ "had": reset_factors(pool, sub).await? }),
    };
    details["sub"] = serde_json::json!(sub);
    actor.changed(&format!("user: {name}"), details).await;
    Ok(())
}

fn json_empty() -> serde_json::Value {
    serde_json::json!({})
}

/// [`delete`], audited.
pub async fn delete_by(actor: &Actor<'_>, sub: Uuid) -> Result<(), AdminError> {
    let p = actor.provider();
    let username = delete(&p.pool, p.clock.as_ref(), sub).await?;
    actor
        .changed(
            "deleted a user",
            serde_json::json!({ "sub": sub, "username": username }),
        )
        .await;
    Ok(())
}
