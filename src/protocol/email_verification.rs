//! Verifying an email address by a mailed link (README "Self-registration,
//! invitations and email verification"): after registering, and when a
//! person changes their address on `/account`. The account's email changes
//! (verified) only when the link is used; the link is single-use, stored as
//! its SHA-256, valid for a day; a newer request voids the older links. No
//! answer says whether an address belongs to an account: for an address
//! another account has verified, its owner is sent a notice instead (OWASP
//! Authentication Cheat Sheet, account enumeration). Only a verified
//! address holds: verifying takes it from accounts that hold it unverified.
//! One address is sent at most `RECIPIENT_BUDGET` messages per window.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use super::signin::THROTTLE_WINDOW;
use crate::crypto::secret;
use crate::paths;
use crate::store::StoreError;
use crate::store::audit::NewEvent;
use crate::store::mail_outbox::{self, NewMail};
use crate::store::{email_verifications, login_throttle, password_resets, users};

/// How long a verification link works.
pub const LINK_LIFETIME: TimeDelta = TimeDelta::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Unknown, expired or already used (or the address was taken by
    /// another account meanwhile): one answer for all.
    #[error("the link is not valid")]
    InvalidLink,
    #[error(transparent)]
    Internal(#[from] OAuthError),
}

impl From<crate::store::StoreError> for VerifyError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// Messages queued to one address per throttle window (15 minutes),
/// whoever asks: past it, nothing more is queued and nobody is told.
pub const RECIPIENT_BUDGET: i32 = 3;

/// What was mailed for an address (for the audit log; never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// A verification link, to the address.
    Link,
    /// Another account has verified the address: its owner got a notice.
    Notice,
}

/// Queues, in the caller's transaction, a link that verifies `email` for
/// the account `user_id` — or, when another account has verified that
/// address, a notice to it. Either way the account's earlier links are void
/// and a new one is stored (for a notice, one nobody is sent), so the
/// account page and the time taken are the same: whoever asked learns
/// nothing.
pub async fn offer(
    p: &Provider,
    tx: &mut PgConnection,
    (user_id, username): (Uuid, &str),
    email: &str,
    now: DateTime<Utc>,
) -> Result<Offered, OAuthError> {
    users::lock_email(tx, email).await?;
    email_verifications::spend_all_of_user(tx, user_id, now).await?;
    let token = secret::random_token(&mut crate::random::rng());
    email_verifications::insert(tx, user_id, email, &secret::sha256(&token), now, now + LINK_LIFETIME).await?;
    let issuer = p.config.issuer.as_str();
    let (offered, subject, body) = match users::verified_holder(tx, email).await?.filter(|u| u.id != user_id) {
        Some(owner) => {
            let body = format!(
                "Hello {owner},\n\nsomeone (perhaps you) asked to use this address for another account, `{username}`, at {issuer}.\n\
                 It stays with your account `{owner}`, and nothing was changed.\n\n\
                 If that was you and you forgot your password, you can reset it at {issuer}{forgot}.\n",
                owner = owner.username,
                forgot = paths::FORGOT,
            );
            (Offered::Notice, "Your address was given for another account", body)
        }
        None => {
            let link = crate::mail::link(&p.config.issuer, paths::VERIFY_EMAIL, "token", &token)
                .map_err(|e| OAuthError::internal(format!("verification link: {e}")))?;
            let body = format!(
                "Hello {username},\n\nto confirm that this address is yours, open this link within 24 hours:\n\n{link}\n\n\
                 The link works once. If you did not ask for it, ignore this message: nothing changes.\n",
            );
            (Offered::Link, "Verify your email address", body)
        }
    };
    queue(tx, email, subject, &body, now).await?;
    Ok(offered)
}

/// Queues a message to `to` in the caller's transaction — unless `to` was
/// sent [`RECIPIENT_BUDGET`] messages in the window already: then nothing
/// is queued (the caller answers the same). Whether it was queued.
pub async fn queue(
    tx: &mut PgConnection,
    to: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let key = format!("mail:to:{}", to.to_lowercase());
    let sent = login_throttle::reserve(tx, &key, now, now - THROTTLE_WINDOW, None).await?;
    if sent.is_some_and(|n| n > RECIPIENT_BUDGET) {
        tracing::info!("mail not queued: its recipient had enough in this window");
        return Ok(false);
    }
    let mail = NewMail {
        recipient: to,
        subject,
        body,
    };
    mail_outbox::insert(tx, &mail, now).await?;
    Ok(true)
}

/// What a link still verifies: the address, for the account named.
pub struct Waiting {
    pub email: String,
    pub username: String,
}

/// `GET /signin/verify-email`: what a link still verifies (nothing is spent).
pub async fn check(p: &Provider, token: &str) -> Result<Waiting, VerifyError> {
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let pending = email_verifications::find_usable(&mut conn, &secret::sha256(token), p.now())
        .await?
        .ok_or(VerifyError::InvalidLink)?;
    let user = users::find(&mut conn, pending.user_id)
        .await?
        .ok_or(VerifyError::InvalidLink)?;
    Ok(Waiting {
        email: pending.email,
        username: user.username,
    })
}

/// `POST /signin/verify-email`: spends the link (one atomic UPDATE: a
/// second use fails) and gives the account the address, verified. Accounts
/// holding the address unverified lose it; the account's other links and
/// its password reset links (mailed to the old address) are void; its
/// previous address is told. Locks: the address (read without locking
/// first), then the link's row, then the account's — the order `offer` and
/// registration take them in — then its reset links (after the account's
/// row, as `password_reset::complete` takes them).
pub async fn confirm(p: &Provider, token: &str, ip: Option<&str>) -> Result<String, VerifyError> {
    let now = p.now();
    let mut tx = p.pool.begin().await.map_err(OAuthError::from)?;
    let hash = secret::sha256(token);
    let found = email_verifications::find_usable(&mut tx, &hash, now).await?;
    users::lock_email(&mut tx, &found.ok_or(VerifyError::InvalidLink)?.email).await?;
    let pending = email_verifications::spend(&mut tx, &hash, now)
        .await?
        .ok_or(VerifyError::InvalidLink)?;
    let user = users::find_for_update(&mut tx, pending.user_id)
        .await?
        .filter(users::UserRow::is_enabled)
        .ok_or(VerifyError::InvalidLink)?;
    if users::verified_holder(&mut tx, &pending.email)
        .await?
        .is_some_and(|u| u.id != user.id)
    {
        return Err(VerifyError::InvalidLink);
    }
    users::set_verified_email(&mut tx, user.id, &pending.email, now).await?;
    let released = users::release_unverified_email(&mut tx, &pending.email, user.id, now).await?;
    email_verifications::spend_all_of_user(&mut tx, user.id, now).await?;
    password_resets::spend_all_of_user(&mut tx, user.id, now).await?;
    if let Some(old) = user
        .email
        .as_deref()
        .filter(|old| !old.eq_ignore_ascii_case(&pending.email))
    {
        let body = changed_notice(p, &user.username, old, &pending.email);
        queue(&mut tx, old, "Your email address was changed", &body, now).await?;
    }
    tx.commit().await.map_err(OAuthError::from)?;
    audit(p, user.id, ip, "email verified")?;
    audit_released(p, &released, ip)?;
    Ok(pending.email)
}

/// An address an upstream provider asserts verified (README "Sign in with
/// another OpenID provider"), settled in the caller's transaction before
/// `claims` are written: one account at most has an address verified, so
/// it stays verified only when no other account has verified it, and is
/// then taken from accounts that hold it unverified (returned, to audit).
pub async fn settle_asserted(
    tx: &mut PgConnection,
    user_id: Uuid,
    claims: &mut crate::model::StandardClaims,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let Some(email) = claims.email.clone().filter(|_| claims.email_verified) else {
        return Ok(Vec::new());
    };
    users::lock_email(tx, &email).await?;
    if users::verified_holder(tx, &email)
        .await?
        .is_some_and(|u| u.id != user_id)
    {
        claims.email_verified = false;
        return Ok(Vec::new());
    }
    users::release_unverified_email(tx, &email, user_id, now).await
}

/// Audits the accounts an address verified elsewhere was taken from.
pub fn audit_released(p: &Provider, released: &[Uuid], ip: Option<&str>) -> Result<(), OAuthError> {
    for id in released {
        let event = NewEvent::about(
            "account",
            "ok",
            Some(*id),
            ip,
            "email removed: verified by another account",
        );
        p.audit(&event)?;
    }
    Ok(())
}

/// What the previous address of an account is told when it changes.
fn changed_notice(p: &Provider, name: &str, old: &str, new: &str) -> String {
    format!(
        "Hello {name},\n\nthe email address of your account `{name}` at {issuer} is now {new}.\n\
         This address ({old}) no longer receives its mail. If you did not make this change, \
         reset your password at {issuer}{forgot} and tell your administrator.\n",
        issuer = p.config.issuer.as_str(),
        forgot = paths::FORGOT,
    )
}

fn audit(p: &Provider, user_id: Uuid, ip: Option<&str>, reason: &str) -> Result<(), VerifyError> {
    let event = NewEvent::about("account", "ok", Some(user_id), ip, reason);
    p.audit(&event).map_err(OAuthError::from)?;
    Ok(())
}
