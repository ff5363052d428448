//! Signing in with a username and password: argon2id off the async threads,
//! the same answer and cost for an unknown user as for a wrong password, and
//! throttling per account and per client address.

use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;
use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use super::session;
use crate::store::audit::NewEvent;
use crate::store::{login_throttle, users};

/// Failures count within this window; it never locks the real user out for longer.
pub const THROTTLE_WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Consecutive failures for one account before "too many attempts".
pub const ACCOUNT_LIMIT: i32 = 5;
/// Failures from one address before "too many attempts" (an office shares one).
pub const ADDRESS_LIMIT: i32 = 100;
/// The growing delay before answering, after earlier failures, capped at 2 s.
const MAX_DELAY_MS: u64 = 2000;

#[derive(Debug)]
pub enum SignInError {
    /// Unknown user or wrong password: one message for both.
    BadCredentials,
    /// The password was right but the account is disabled.
    Disabled,
    /// Too many failures: try again after the window.
    Throttled,
    Internal(OAuthError),
}

impl From<OAuthError> for SignInError {
    fn from(e: OAuthError) -> Self {
        SignInError::Internal(e)
    }
}

impl From<crate::store::StoreError> for SignInError {
    fn from(e: crate::store::StoreError) -> Self {
        SignInError::Internal(e.into())
    }
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        SignInError::Internal(e.into())
    }
}

pub struct SignedIn {
    pub user_id: Uuid,
    /// The new session cookie value.
    pub cookie: String,
}

pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub previous_cookie: Option<&'a str>,
}

pub async fn sign_in(p: &Provider, a: &Attempt<'_>) -> Result<SignedIn, SignInError> {
    let now = p.now();
    let window_opened_after = now - THROTTLE_WINDOW;
    let account_key = format!("user:{}", a.username.to_lowercase());
    let address_key = a.ip.map(|ip| format!("ip:{ip}"));
    let mut conn = p.pool.acquire().await?;
    let account_failures = login_throttle::failures(&mut conn, &account_key, window_opened_after).await?;
    let address_failures = match &address_key {
        Some(k) => login_throttle::failures(&mut conn, k, window_opened_after).await?,
        None => 0,
    };
    let user = users::find_by_username(&mut conn, a.username).await?;
    let user_id = user.as_ref().map(|u| u.id);
    if account_failures >= ACCOUNT_LIMIT || address_failures >= ADDRESS_LIMIT {
        record(p, "throttled", user_id, a.ip, "too many failed attempts")?;
        return Err(SignInError::Throttled);
    }
    drop(conn);
    if account_failures > 0 {
        let delay = (200u64 << (account_failures - 1).min(10)).min(MAX_DELAY_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let verified = p
        .verify_password(a.password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await;
    let mut conn = p.pool.acquire().await?;
    let Some(user) = user.filter(|_| verified) else {
        login_throttle::record_failure(&mut conn, &account_key, now, window_opened_after).await?;
        if let Some(k) = &address_key {
            login_throttle::record_failure(&mut conn, k, now, window_opened_after).await?;
        }
        record(p, "failed", user_id, a.ip, "unknown user or wrong password")?;
        return Err(SignInError::BadCredentials);
    };
    if !user.is_enabled() {
        record(p, "disabled", Some(user.id), a.ip, "the account is disabled")?;
        return Err(SignInError::Disabled);
    }
    login_throttle::clear(&mut conn, &account_key).await?;
    record(p, "ok", Some(user.id), a.ip, "signed in")?;
    drop(conn);
    let cookie = session::start(p, user.id, a.previous_cookie, a.ip, a.user_agent).await?;
    Ok(SignedIn {
        user_id: user.id,
        cookie,
    })
}

fn record(
    p: &Provider,
    outcome: &str,
    user_id: Option<Uuid>,
    ip: Option<&str>,
    reason: &str,
) -> Result<(), SignInError> {
    let event = NewEvent {
        kind: "sign_in",
        outcome,
        actor: None,
        client_id: None,
        user_id,
        ip,
        reason: Some(reason),
        details: json!({}),
    };
    p.metrics.sign_in(outcome);
    p.audit(&event).map_err(OAuthError::from)?;
    Ok(())
}
