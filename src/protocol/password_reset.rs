//! Password reset by email (README "Email and password reset"): a link with
//! a single-use, short-lived token (stored as its SHA-256) is mailed through
//! the outbox; no answer says whether an account matched (NIST SP 800-63B
//! §6.1.2.3, OWASP Forgot Password Cheat Sheet). Links go only to
//! verified addresses; an input with an `@` is matched as an address only.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use super::signin::THROTTLE_WINDOW;
use crate::crypto::{password, secret};
use crate::model::NewPassword;
use crate::model::password_rules::context_words;
use crate::paths;
use crate::store::audit::NewEvent;
use crate::store::mail_outbox::{self, NewMail};
use crate::store::users::UserRow;
use crate::store::{grants, login_throttle, password_resets, sessions, users};

/// How long a reset link works.
pub const LINK_LIFETIME: TimeDelta = TimeDelta::minutes(30);
/// Requests per client address per throttle window (15 minutes).
pub const ADDRESS_BUDGET: i32 = 5;
/// Links mailed to one account per throttle window: a flood of requests
/// from many addresses does not flood its mailbox.
pub const ACCOUNT_BUDGET: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("mail is off")]
    MailOff,
    #[error("too many requests from this address")]
    Throttled,
    /// Unknown, expired or already used: one answer for all three.
    #[error("the link is not valid")]
    InvalidLink,
    /// The new password breaks a rule (the message says which).
    #[error("{0}")]
    Password(String),
    #[error(transparent)]
    Internal(#[from] OAuthError),
}

impl From<crate::store::StoreError> for ResetError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// `POST /signin/forgot`: mails a link to every enabled account the name or
/// address matches, if any; the caller answers the same either way.
pub async fn request(p: &Provider, who: &str, ip: Option<&str>) -> Result<(), ResetError> {
    if !p.mail.is_on() {
        return Err(ResetError::MailOff);
    }
    let now = p.now();
    let address_key = format!(
        "forgot:ip:{}",
        ip.map_or_else(|| "-".to_owned(), crate::model::address_group)
    );
    if over_budget(p, &address_key, ADDRESS_BUDGET, now).await? {
        audit(p, "refused", None, ip, "throttled")?;
        return Err(ResetError::Throttled);
    }
    for user in matching(p, who.trim()).await? {
        // Only a verified address gets a link: an address typed by someone
        // who could not open its mail proves nothing.
        let Some(email) = user.email.as_deref().filter(|e| !e.is_empty() && user.email_verified) else {
            continue;
        };
        if over_budget(p, &format!("forgot:user:{}", user.id), ACCOUNT_BUDGET, now).await? {
            audit(p, "refused", Some(user.id), ip, "too many links for this account")?;
            continue;
        }
        mail_link(p, &user, email, now).await?;
        audit(p, "ok", Some(user.id), ip, "link mailed")?;
    }
    Ok(())
}

/// Counts one request on `key`; whether it is past `budget` in the window.
async fn over_budget(p: &Provider, key: &str, budget: i32, now: DateTime<Utc>) -> Result<bool, ResetError> {
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let attempts = login_throttle::reserve(&mut conn, key, now, now - THROTTLE_WINDOW, None).await?;
    Ok(attempts.is_some_and(|n| n > budget))
}

/// The enabled accounts whose verified email is `who` when it holds an `@`,
/// else the one named `who` (a username that looks like an address never
/// takes an address's links).
async fn matching(p: &Provider, who: &str) -> Result<Vec<UserRow>, ResetError> {
    if who.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    if who.contains('@') {
        return Ok(users::find_enabled_by_email(&mut conn, who).await?);
    }
    let user = users::find_by_username(&mut conn, who).await?;
    Ok(user.filter(UserRow::is_enabled).into_iter().collect())
}

/// Stores a new link's hash and queues its mail, in one transaction.
async fn mail_link(p: &Provider, user: &UserRow, email: &str, now: DateTime<Utc>) -> Result<(), ResetError> {
    let token = secret::random_token(&mut crate::random::rng());
    let link = crate::mail::link(&p.config.issuer, paths::RESET, "token", &token)
        .map_err(|e| OAuthError::internal(format!("reset link: {e}")))?;
    let body = format!(
        "Hello {name},\n\nsomeone (we hope you) asked to reset the password of your account `{name}`.\n\
         To choose a new password, open this link within 30 minutes:\n\n{link}\n\n\
         The link works once. If you did not ask for it, ignore this message: your password stays as it is.\n",
        name = user.username,
    );
    let mut tx = p.pool.begin().await.map_err(OAuthError::from)?;
    password_resets::insert(&mut tx, user.id, &secret::sha256(&token), now, now + LINK_LIFETIME).await?;
    let mail = NewMail {
        recipient: email,
        subject: "Reset your password",
        body: &body,
    };
    mail_outbox::insert(&mut tx, &mail, now).await?;
    tx.commit().await.map_err(OAuthError::from)?;
    Ok(())
}

/// `GET /signin/reset`: whether a link still works (nothing is spent).
pub async fn check(p: &Provider, token: &str) -> Result<(), ResetError> {
    whose(p, token).await.map(drop)
}

/// The account a link still works for.
async fn whose(p: &Provider, token: &str) -> Result<UserRow, ResetError> {
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let user_id = password_resets::find_usable(&mut conn, &secret::sha256(token), p.now())
        .await?
        .ok_or(ResetError::InvalidLink)?;
    users::find(&mut conn, user_id).await?.ok_or(ResetError::InvalidLink)
}

/// `POST /signin/reset`: spends the link (one atomic UPDATE: a second use
/// fails), sets the new password, ends every session of the person and
/// revokes their grants. Pending second steps are void already: they are
/// bound to the password hash.
pub async fn complete(p: &Provider, token: &str, new: String, again: &str, ip: Option<&str>) -> Result<(), ResetError> {
    let user = whose(p, token).await?;
    if new != again {
        return Err(ResetError::Password("The two passwords differ.".into()));
    }
    let refused = |m: String| ResetError::Password(format!("The password {m}."));
    p.config
        .password_policy
        .check(&new, &context_words(&user.username, user.email.as_deref()))
        .map_err(refused)?;
    let new = NewPassword::parse(new).map_err(refused)?;
    let hash = password::hash_off_thread(new.into_inner())
        .await
        .map_err(OAuthError::from)?;
    let now = p.now();
    let mut tx = p.pool.begin().await.map_err(OAuthError::from)?;
    // The account's row before its links (as `email_verification::confirm`).
    let enabled = users::find_for_update(&mut tx, user.id)
        .await?
        .is_some_and(|u| u.is_enabled());
    let user_id = password_resets::spend(&mut tx, &secret::sha256(token), now)
        .await?
        .filter(|id| *id == user.id && enabled)
        .ok_or(ResetError::InvalidLink)?;
    users::set_password_hash(&mut tx, user_id, &hash, now).await?;
    password_resets::spend_all_of_user(&mut tx, user_id, now).await?;
    sessions::end_all_of_user(&mut tx, user_id, now).await?;
    grants::revoke_all_of_user(&mut tx, user_id, "password reset by email", now).await?;
    tx.commit().await.map_err(OAuthError::from)?;
    audit(p, "ok", Some(user_id), ip, "password reset by email")?;
    Ok(())
}

fn audit(p: &Provider, outcome: &str, user_id: Option<Uuid>, ip: Option<&str>, reason: &str) -> Result<(), ResetError> {
    let event = NewEvent::about("password_reset", outcome, user_id, ip, reason);
    p.audit(&event).map_err(OAuthError::from)?;
    Ok(())
}
