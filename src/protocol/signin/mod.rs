//! Signing in with a username and password: argon2id off the async threads,
//! the same answer and cost for an unknown user as for a wrong password, and
//! throttling per account (or per device cookie) and per client address.
//!
//! Every attempt is counted before its password is checked, in one atomic
//! statement, and only one attempt per account (or device) is in flight at a
//! time, so concurrent guesses cannot outrun the limit. A browser holding a
//! device cookie for the account it names has a budget of its own and is not
//! refused by the account-wide lockout (see `device`).
//!
//! A person with a second factor is not signed in by the password alone: the
//! attempt ends pending, and `second_step` completes it.

pub mod passkey;
pub mod second_step;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Provider;
use super::device::DeviceId;
use super::error::OAuthError;
use super::factors::{Enrolled, pending};
use super::session::{self, Origin};
use crate::model::username_key;
use crate::store::audit::NewEvent;
use crate::store::users::UserRow;
use crate::store::{login_throttle, users};

/// Attempts count within this window; it never locks the real user out for longer.
pub const THROTTLE_WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Attempts on one account (or one device cookie) before "too many attempts".
pub const ACCOUNT_LIMIT: i32 = 5;
/// Failed attempts from one address before "too many attempts" (an office shares one).
pub const ADDRESS_LIMIT: i32 = 100;
/// The growing delay before answering, after earlier failures, capped at 2 s.
const MAX_DELAY_MS: u64 = 2000;
/// How long an attempt may hold its account (or device) at most: the delay,
/// a wait for a hashing thread and the hash. A node that dies mid-attempt
/// frees the account after this.
const IN_FLIGHT_FOR: TimeDelta = TimeDelta::seconds(15);

#[derive(Debug)]
pub enum SignInError {
    /// Unknown user or wrong password: one message for both.
    BadCredentials,
    /// The password was right but the account is disabled.
    Disabled,
    /// The sign-in waiting for its second step is too old (or gone).
    Expired,
    /// Too many attempts: try again after the window.
    Throttled,
    /// Another attempt for this account (or device) is in flight: try again
    /// in a moment.
    InFlight,
    /// Every hashing thread is busy and the queue is full: try again shortly.
    Busy,
    /// A passkey was not accepted (second step or step-up).
    Passkey(super::factors::passkeys::PasskeyError),
    /// Too many wrong authenticator codes in a row: codes are refused until
    /// a recovery code, a passkey or an administrator's reset.
    CodesLocked,
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

/// What a right password leads to.
pub enum Outcome {
    SignedIn(SignedIn),
    /// The person has a second factor: the browser holds `pending` until
    /// the second step (`second_step::complete`).
    SecondStep {
        pending: String,
    },
}

pub struct SignedIn {
    pub user_id: Uuid,
    /// The new session cookie value.
    pub cookie: String,
    /// The device cookie value for this browser and account (renewed at
    /// every sign-in).
    pub device_cookie: String,
}

pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub previous_cookie: Option<&'a str>,
    /// The device cookie the browser sent, if any (checked here).
    pub device_cookie: Option<&'a str>,
}

/// The throttle key of an account: the SHA-256 of its username's one
/// normalisation — a key of fixed size whatever was typed (and no username,
/// which may be a mistyped password, stored in the clear).
pub fn account_key(username: &str) -> String {
    use base64::Engine as _;
    let digest = crate::crypto::secret::sha256(&username_key(username));
    format!(
        "user:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// Where an attempt is counted: the device cookie that vouches for it, else
/// the account (and, then, the address too).
struct Budget {
    /// The username's one normalisation.
    username_key: String,
    key: String,
    address: Option<String>,
    device: Option<DeviceId>,
}

impl Budget {
    fn of(p: &Provider, a: &Attempt<'_>, now: DateTime<Utc>) -> Self {
        let username_key = username_key(a.username);
        match a.device_cookie.and_then(|c| p.devices.verify(c, &username_key, now)) {
            Some(device) => Self {
                key: device.throttle_key(),
                address: None,
                device: Some(device),
                username_key,
            },
            None => Self::account(a.username, a.ip),
        }
    }

    /// The account's own budget (and the address's, when known).
    fn account(username: &str, ip: Option<&str>) -> Self {
        Self {
            key: account_key(username),
            address: ip.map(|ip| format!("ip:{}", crate::model::address_group(ip))),
            device: None,
            username_key: username_key(username),
        }
    }
}

pub async fn sign_in(p: &Provider, a: &Attempt<'_>) -> Result<Outcome, SignInError> {
    let now = p.now();
    let budget = Budget::of(p, a, now);
    let user = users::find_by_username(&mut *p.pool.acquire().await?, a.username).await?;
    let user_id = user.as_ref().map(|u| u.id);
    let user = match counted(p, &budget, a.ip, user, a.password).await {
        Err(SignInError::BadCredentials) => {
            record(p, "failed", user_id, a.ip, "unknown user or wrong password")?;
            return Err(SignInError::BadCredentials);
        }
        outcome => outcome?,
    };
    if !user.is_enabled() {
        record(p, "disabled", Some(user.id), a.ip, "the account is disabled")?;
        return Err(SignInError::Disabled);
    }
    // The device cookie, too, waits for the second step: it vouches only
    // for browsers that completed a whole sign-in.
    if Enrolled::of(p, user.id).await?.any() {
        record(p, "second_step", Some(user.id), a.ip, "right password; second step due")?;
        let pending = p
            .pending
            .issue(user.id, &pending::stamp(user.password_hash.as_deref()), now);
        return Ok(Outcome::SecondStep { pending });
    }
    record(p, "ok", Some(user.id), a.ip, "signed in")?;
    let from = Origin {
        previous_cookie: a.previous_cookie,
        ip: a.ip,
        user_agent: a.user_agent,
    };
    let cookie = session::start(p, user.id, &["pwd".to_owned()], &from).await?;
    let device_cookie = p.devices.issue(&budget.username_key, budget.device, now);
    Ok(Outcome::SignedIn(SignedIn {
        user_id: user.id,
        cookie,
        device_cookie,
    }))
}

/// Checks the password of a person already signed in (the account page asks
/// for it before a change), counted against the account's own sign-in
/// budget, so that form guesses no faster than the sign-in page. A wrong
/// password is `BadCredentials`.
pub async fn confirm_password(
    p: &Provider,
    user: &UserRow,
    password: &str,
    ip: Option<&str>,
) -> Result<(), SignInError> {
    let budget = Budget::account(&user.username, ip);
    counted(p, &budget, ip, Some(user.clone()), password).await.map(drop)
}

/// Counts an attempt against `budget`, checks `password` against `user`'s
/// and settles the count: a right password is forgiven (the account's or
/// device's count starts over, the address gets its attempt back), a wrong
/// one stays counted. Returns the user whose password it is.
async fn counted(
    p: &Provider,
    budget: &Budget,
    ip: Option<&str>,
    user: Option<UserRow>,
    password: &str,
) -> Result<UserRow, SignInError> {
    let attempts = reserve(p, ip, budget, p.now()).await?;
    let outcome = evaluate(p, attempts, user, password).await;
    let mut conn = p.pool.acquire().await?;
    match outcome {
        Ok(user) => {
            login_throttle::clear(&mut conn, &budget.key).await?;
            if let Some(address) = &budget.address {
                login_throttle::refund(&mut conn, address).await?;
            }
            Ok(user)
        }
        Err(e) => {
            login_throttle::release(&mut conn, &budget.key).await?;
            if matches!(e, SignInError::Busy)
                && let Some(address) = &budget.address
            {
                login_throttle::refund(&mut conn, address).await?;
            }
            Err(e)
        }
    }
}

/// Counts the attempt before anything is checked: against the address (if
/// it counts), then against the account or device, taking it for the time
/// the attempt is in flight. Returns the attempts in the window, this one
/// included; refuses when a limit is reached or another attempt is in flight.
async fn reserve(p: &Provider, ip: Option<&str>, budget: &Budget, now: DateTime<Utc>) -> Result<i32, SignInError> {
    let window_opened_after = now - THROTTLE_WINDOW;
    let mut conn = p.pool.acquire().await?;
    if let Some(address) = &budget.address {
        let attempts = login_throttle::reserve(&mut conn, address, now, window_opened_after, None).await?;
        if attempts.is_none_or(|n| n > ADDRESS_LIMIT) {
            record(p, "throttled", None, ip, "too many failed attempts from this address")?;
            return Err(SignInError::Throttled);
        }
    }
    let in_flight_until = Some(now + IN_FLIGHT_FOR);
    let attempts = login_throttle::reserve(&mut conn, &budget.key, now, window_opened_after, in_flight_until).await?;
    let (refusal, error) = match attempts {
        None => ("another attempt for this account is in flight", SignInError::InFlight),
        Some(n) if n > ACCOUNT_LIMIT => {
            login_throttle::release(&mut conn, &budget.key).await?;
            ("too many failed attempts", SignInError::Throttled)
        }
        Some(n) => return Ok(n),
    };
    if let Some(address) = &budget.address {
        login_throttle::refund(&mut conn, address).await?;
    }
    record(p, "throttled", None, ip, refusal)?;
    Err(error)
}

/// Waits the growing delay of earlier failures, then checks the password
/// (an unknown user costs the same). Returns the user whose password it is.
async fn evaluate(p: &Provider, attempts: i32, user: Option<UserRow>, password: &str) -> Result<UserRow, SignInError> {
    let failures = attempts - 1;
    if failures > 0 {
        let delay = (200u64 << (failures - 1).min(10)).min(MAX_DELAY_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let verified = p
        // A person without a password (from an upstream) costs what an
        // unknown user costs, and never signs in with one.
        .verify_password(password, user.as_ref().and_then(|u| u.password_hash.as_deref()))
        .await
        .map_err(|_| SignInError::Busy)?;
    user.filter(|_| verified).ok_or(SignInError::BadCredentials)
}

fn record(
    p: &Provider,
    outcome: &str,
    user_id: Option<Uuid>,
    ip: Option<&str>,
    reason: &str,
) -> Result<(), SignInError> {
    let event = NewEvent::about("sign_in", outcome, user_id, ip, reason);
    p.metrics.sign_in(outcome);
    p.audit(&event).map_err(OAuthError::from)?;
    Ok(())
}
