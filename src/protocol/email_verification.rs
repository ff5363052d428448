//! Verifying an email address by a mailed link (README "Self-registration,
//! invitations and email verification"): after registering, and when a
//! person changes their address on `/account`. The account's email changes
//! (verified) only when the link is used; the link is single-use, stored as
//! its SHA-256, valid for a day. No answer says whether an address belongs
//! to an account: for such an address its owner is sent a notice instead
//! (OWASP Authentication Cheat Sheet, account enumeration).

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use crate::crypto::secret;
use crate::paths;
use crate::store::audit::NewEvent;
use crate::store::mail_outbox::{self, NewMail};
use crate::store::{email_verifications, users};

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

/// What was mailed for an address (for the audit log; never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// A verification link, to the address.
    Link,
    /// The address belongs to another account: its owner got a notice.
    Notice,
}

/// Queues, in the caller's transaction, a link that verifies `email` for
/// the account `user_id` — or, when another account has that address, a
/// notice to it and no link. Whoever asked is answered the same either way.
pub async fn offer(
    p: &Provider,
    tx: &mut PgConnection,
    (user_id, username): (Uuid, &str),
    email: &str,
    now: DateTime<Utc>,
) -> Result<Offered, OAuthError> {
    users::lock_email(tx, email).await?;
    if let Some(owner) = users::email_taken(tx, email).await?.filter(|u| u.id != user_id) {
        let body = format!(
            "Hello {owner},\n\nsomeone (perhaps you) asked to use this address for another account, `{username}`, at {issuer}.\n\
             It stays with your account `{owner}`, and nothing was changed.\n\n\
             If that was you and you forgot your password, you can reset it at {issuer}{forgot}.\n",
            owner = owner.username,
            issuer = p.config.issuer.as_str(),
            forgot = paths::FORGOT,
        );
        queue(tx, email, "Your address was given for another account", &body, now).await?;
        return Ok(Offered::Notice);
    }
    let token = secret::random_token(&mut crate::random::rng());
    let link = crate::mail::link(&p.config.issuer, paths::VERIFY_EMAIL, &token)
        .map_err(|e| OAuthError::internal(format!("verification link: {e}")))?;
    email_verifications::insert(tx, user_id, email, &secret::sha256(&token), now, now + LINK_LIFETIME).await?;
    let body = format!(
        "Hello {username},\n\nto confirm that this address is yours, open this link within 24 hours:\n\n{link}\n\n\
         The link works once. If you did not ask for it, ignore this message: nothing changes.\n",
    );
    queue(tx, email, "Verify your email address", &body, now).await?;
    Ok(Offered::Link)
}

async fn queue(
    tx: &mut PgConnection,
    to: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let mail = NewMail {
        recipient: to,
        subject,
        body,
    };
    mail_outbox::insert(tx, &mail, now).await?;
    Ok(())
}

/// `GET /signin/verify-email`: the address a link still verifies (nothing is spent).
pub async fn check(p: &Provider, token: &str) -> Result<String, VerifyError> {
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    email_verifications::find_usable(&mut conn, &secret::sha256(token), p.now())
        .await?
        .map(|pending| pending.email)
        .ok_or(VerifyError::InvalidLink)
}

/// `POST /signin/verify-email`: spends the link (one atomic UPDATE: a
/// second use fails) and gives the account the address, verified; the
/// account's other links are void, and its previous address is told.
pub async fn confirm(p: &Provider, token: &str, ip: Option<&str>) -> Result<String, VerifyError> {
    let now = p.now();
    let mut tx = p.pool.begin().await.map_err(OAuthError::from)?;
    let pending = email_verifications::spend(&mut tx, &secret::sha256(token), now)
        .await?
        .ok_or(VerifyError::InvalidLink)?;
    let user = users::find_for_update(&mut tx, pending.user_id)
        .await?
        .filter(users::UserRow::is_enabled)
        .ok_or(VerifyError::InvalidLink)?;
    users::lock_email(&mut tx, &pending.email).await?;
    if users::email_taken(&mut tx, &pending.email)
        .await?
        .is_some_and(|u| u.id != user.id)
    {
        return Err(VerifyError::InvalidLink);
    }
    users::set_verified_email(&mut tx, user.id, &pending.email, now).await?;
    email_verifications::spend_all_of_user(&mut tx, user.id, now).await?;
    let previous = user
        .email
        .as_deref()
        .filter(|old| !old.eq_ignore_ascii_case(&pending.email));
    if let Some(old) = previous {
        let body = format!(
            "Hello {name},\n\nthe email address of your account `{name}` at {issuer} is now {new}.\n\
             This address ({old}) no longer receives its mail. If you did not make this change, \
             reset your password at {issuer}{forgot} and tell your administrator.\n",
            name = user.username,
            issuer = p.config.issuer.as_str(),
            new = pending.email,
            forgot = paths::FORGOT,
        );
        queue(&mut tx, old, "Your email address was changed", &body, now).await?;
    }
    tx.commit().await.map_err(OAuthError::from)?;
    let event = NewEvent::about("account", "ok", Some(user.id), ip, "email verified");
    p.audit(&event).map_err(OAuthError::from)?;
    Ok(pending.email)
}
