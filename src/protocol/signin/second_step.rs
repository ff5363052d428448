//! The second step of a sign-in: a code from the person's authenticator app
//! (RFC 6238) or one of their recovery codes, after the password. Guesses
//! are throttled like passwords: counted before they are checked, one in
//! flight per account (or per device cookie that completed a sign-in
//! before), `ACCOUNT_LIMIT` per window. The step completes a pending
//! sign-in (a new session) or steps the current session up (RFC 9470).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ACCOUNT_LIMIT, IN_FLIGHT_FOR, SignInError, SignedIn, THROTTLE_WINDOW, record};
use crate::model::username_key;
use crate::protocol::Provider;
use crate::protocol::device::DeviceId;
use crate::protocol::factors::pending::{self, Pending};
use crate::protocol::factors::{recovery, totp, with_methods};
use crate::protocol::session::{self, CurrentSession, Origin};
use crate::store::used_jtis::{self, JtiTable};
use crate::store::users::{self, UserRow};
use crate::store::{login_throttle, second_factors};

/// Whose sign-in the step completes.
pub enum Whose<'a> {
    /// A sign-in whose password was right: the browser's pending value.
    Pending(&'a str),
    /// The current session, asked for more (a step-up).
    Session(&'a CurrentSession),
}

pub struct StepAttempt<'a> {
    /// An authenticator code or a recovery code, as typed.
    pub code: &'a str,
    pub from: Origin<'a>,
    pub device_cookie: Option<&'a str>,
}

/// Completes the sign-in (the stepped-up session gets a new cookie).
pub async fn complete(p: &Provider, whose: Whose<'_>, a: &StepAttempt<'_>) -> Result<SignedIn, SignInError> {
    let now = p.now();
    let (user, pending) = person(p, &whose, now).await?;
    if !user.is_enabled() {
        return Err(SignInError::Disabled);
    }
    let username_key = username_key(&user.username);
    let device = a.device_cookie.and_then(|c| p.devices.verify(c, &username_key, now));
    let key = throttle_key(device.as_ref(), user.id);
    reserve(p, &key, user.id, a.from.ip, now).await?;
    let proven = prove(p, user.id, a.code).await;
    let mut conn = p.pool.acquire().await?;
    match proven {
        Ok(Some(_)) => login_throttle::clear(&mut conn, &key).await?,
        _ => login_throttle::release(&mut conn, &key).await?,
    }
    drop(conn);
    let Some(how) = proven? else {
        record(p, "failed", Some(user.id), a.from.ip, "wrong second-step code")?;
        return Err(SignInError::BadCredentials);
    };
    if let Some(pending) = pending {
        spend(p, &pending).await?;
    }
    record(p, "ok", Some(user.id), a.from.ip, how)?;
    let cookie = match whose {
        Whose::Pending(_) => session::start(p, user.id, &with_methods(&["pwd".to_owned()], &["otp"]), &a.from).await?,
        Whose::Session(s) => session::step_up(p, s, &with_methods(&s.amr, &["otp"]))
            .await?
            .ok_or(SignInError::Expired)?,
    };
    Ok(SignedIn {
        user_id: user.id,
        cookie,
        device_cookie: p.devices.issue(&username_key, device, now),
    })
}

/// The person a step is for: the pending sign-in's (if still pending, and
/// their password unchanged since) or the session's.
async fn person(
    p: &Provider,
    whose: &Whose<'_>,
    now: DateTime<Utc>,
) -> Result<(UserRow, Option<Pending>), SignInError> {
    match whose {
        Whose::Session(s) => Ok((s.user.clone(), None)),
        Whose::Pending(value) => {
            let id = p.pending.person(value).ok_or(SignInError::Expired)?;
            let mut conn = p.pool.acquire().await?;
            let user = users::find(&mut conn, id).await?.ok_or(SignInError::Expired)?;
            let checked = p.pending.verify(value, &pending::stamp(&user.password_hash), now);
            let checked = checked.ok_or(SignInError::Expired)?;
            Ok((user, Some(checked)))
        }
    }
}

/// Spends a pending sign-in's nonce: it completes once, on one node.
async fn spend(p: &Provider, pending: &Pending) -> Result<(), SignInError> {
    let mut conn = p.pool.acquire().await?;
    let nonce = crate::crypto::secret::sha256(&pending.nonce);
    match used_jtis::first_use(&mut conn, JtiTable::PendingSignIns, &nonce, pending.expires).await? {
        true => Ok(()),
        false => Err(SignInError::Expired),
    }
}

/// A device that completed a sign-in to this account has its own budget;
/// anyone else shares the account's.
fn throttle_key(device: Option<&DeviceId>, user_id: Uuid) -> String {
    match device {
        Some(d) => format!("{}:second-step", d.throttle_key()),
        None => format!("second-step:{user_id}"),
    }
}

/// Counts the attempt before its code is checked, taking the key while it
/// is in flight.
async fn reserve(
    p: &Provider,
    key: &str,
    user_id: Uuid,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), SignInError> {
    let mut conn = p.pool.acquire().await?;
    let attempts =
        login_throttle::reserve(&mut conn, key, now, now - THROTTLE_WINDOW, Some(now + IN_FLIGHT_FOR)).await?;
    let (error, why) = match attempts {
        None => (SignInError::InFlight, "another second-step attempt is in flight"),
        Some(n) if n > ACCOUNT_LIMIT => {
            login_throttle::release(&mut conn, key).await?;
            (SignInError::Throttled, "too many wrong second-step codes")
        }
        Some(_) => return Ok(()),
    };
    record(p, "throttled", Some(user_id), ip, why)?;
    Err(error)
}

/// Checks a code: a recovery code is spent, an authenticator code's time
/// step too. Returns how the person proved it, or `None` for a wrong code.
async fn prove(p: &Provider, user_id: Uuid, code: &str) -> Result<Option<&'static str>, SignInError> {
    if recovery::looks_like_one(code) {
        let mut conn = p.pool.acquire().await?;
        let spent = second_factors::spend_recovery_code(
            &mut conn,
            user_id,
            &recovery::hash(&p.recovery_codes, user_id, code),
            p.now(),
        )
        .await?;
        return Ok(spent.then_some("second step: a recovery code"));
    }
    let right = totp::check(p, user_id, code).await?;
    Ok(right.then_some("second step: an authenticator code"))
}
