//! The second step of a sign-in: a code from the person's authenticator app
//! (RFC 6238), one of their recovery codes, or one of their passkeys (W3C
//! WebAuthn §7.2), after the password. Guesses
//! are throttled like passwords: counted before they are checked, one in
//! flight per account (or per device cookie that completed a sign-in
//! before), `ACCOUNT_LIMIT` per window. The step completes a pending
//! sign-in (a new session) or steps the current session up (RFC 9470).

use chrono::{DateTime, Utc};
use uuid::Uuid;
use webauthn_rs::prelude::PublicKeyCredential;

use super::{ACCOUNT_LIMIT, IN_FLIGHT_FOR, SignInError, SignedIn, THROTTLE_WINDOW, record};
use crate::model::{AuthLevel, username_key};
use crate::protocol::Provider;
use crate::protocol::device::DeviceId;
use crate::protocol::factors::passkeys::{self, Binding, Challenge, PasskeyError};
use crate::protocol::factors::pending::{self, Pending};
use crate::protocol::factors::totp::{self, CodeCheck};
use crate::protocol::factors::{Enrolled, recovery, with_methods};
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

impl Whose<'_> {
    /// What a passkey ceremony for this step belongs to.
    fn binding(&self) -> Binding<'_> {
        match self {
            Whose::Pending(value) => Binding::Pending(value),
            Whose::Session(s) => Binding::Session(s.id),
        }
    }
}

/// What the person offers as their second step.
pub enum Proof<'a> {
    /// An authenticator code or a recovery code, as typed.
    Code(&'a str),
    /// A passkey's assertion for a ceremony of this step.
    Passkey {
        ceremony: &'a str,
        credential: Box<PublicKeyCredential>,
    },
}

impl<'a> Proof<'a> {
    /// A passkey's answer as the browser sent it (malformed: refused before
    /// it counts as an attempt).
    pub fn passkey(ceremony: &'a str, credential: &serde_json::Value) -> Result<Self, SignInError> {
        let credential = passkeys::parse(credential).map_err(SignInError::Passkey)?;
        Ok(Proof::Passkey {
            ceremony,
            credential: Box::new(credential),
        })
    }
}

pub struct StepAttempt<'a> {
    pub proof: Proof<'a>,
    pub from: Origin<'a>,
    pub device_cookie: Option<&'a str>,
}

/// What the step's page offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The code form (an authenticator app and its recovery codes).
    pub code: bool,
    /// "Use a passkey".
    pub passkey: bool,
}

/// What the person may prove for a step to `level` (if known): a passkey
/// when they have one; a code when they have an authenticator app and the
/// level is not phishing-resistant (a code can be phished: RFC 8176 §2).
pub async fn offer(p: &Provider, whose: &Whose<'_>, level: Option<AuthLevel>) -> Result<Offer, SignInError> {
    let (user, _) = person(p, whose, p.now()).await?;
    let enrolled = Enrolled::of(p, user.id).await?;
    let code_enough = level.is_none_or(|l| l < AuthLevel::PhishingResistant);
    let passkey = enrolled.passkeys();
    Ok(Offer {
        code: (enrolled.summary.totp && code_enough) || !passkey,
        passkey,
    })
}

/// Options for a passkey of the person whose step this is.
pub async fn passkey_options(p: &Provider, whose: &Whose<'_>) -> Result<Challenge, SignInError> {
    let (user, _) = person(p, whose, p.now()).await?;
    passkeys::second_step_options(p, user.id, whose.binding())
        .await
        .map_err(SignInError::Passkey)
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
    let proven = match &a.proof {
        Proof::Code(code) => prove_code(p, &user, code, device.as_ref(), a.from.ip).await,
        Proof::Passkey { ceremony, credential } => prove_passkey(p, user.id, &whose, (ceremony, credential)).await,
    };
    let (how, method) = match proven? {
        Ok(proven) => proven,
        Err(refusal) => {
            let why = match refusal {
                SignInError::CodesLocked => "authenticator codes locked: too many wrong ones in a row",
                _ => "wrong second step",
            };
            record(p, "failed", Some(user.id), a.from.ip, why)?;
            return Err(refusal);
        }
    };
    if let Some(pending) = pending {
        spend(p, &pending).await?;
    }
    record(p, "ok", Some(user.id), a.from.ip, how)?;
    let cookie = match whose {
        Whose::Pending(_) => session::start(p, user.id, &with_methods(&["pwd".to_owned()], &[method]), &a.from).await?,
        Whose::Session(s) => session::step_up(p, s, &with_methods(&s.amr, &[method]))
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
            let checked = p
                .pending
                .verify(value, &pending::stamp(user.password_hash.as_deref()), now);
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

/// A code, counted before it is checked (a code can be guessed; a passkey
/// cannot, and is never held up by someone guessing codes). A person with
/// no authenticator app and no recovery code has no code to guess: refused
/// before it counts, so codes typed by whoever knows the password do not
/// block their passkey.
async fn prove_code(
    p: &Provider,
    user: &UserRow,
    code: &str,
    device: Option<&DeviceId>,
    ip: Option<&str>,
) -> Result<Result<Proven, SignInError>, SignInError> {
    let summary = Enrolled::of(p, user.id).await?.summary;
    if !summary.totp && summary.recovery_codes_left == 0 {
        return Ok(Err(SignInError::BadCredentials));
    }
    let key = throttle_key(device, user.id);
    reserve(p, &key, user.id, ip, p.now()).await?;
    let proven = check_code(p, user.id, code).await;
    let mut conn = p.pool.acquire().await?;
    match proven {
        Ok(Ok(_)) => login_throttle::clear(&mut conn, &key).await?,
        _ => login_throttle::release(&mut conn, &key).await?,
    }
    proven
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

/// How a step was proven: the audit's words and the RFC 8176 method.
type Proven = (&'static str, &'static str);

/// Checks a passkey's assertion for this step: its ceremony (bound to the
/// step) and its counter.
async fn prove_passkey(
    p: &Provider,
    user_id: Uuid,
    whose: &Whose<'_>,
    (ceremony, credential): (&str, &PublicKeyCredential),
) -> Result<Result<Proven, SignInError>, SignInError> {
    match passkeys::finish_second_step(p, user_id, whose.binding(), ceremony, credential).await {
        Ok(used) => Ok(Ok(("second step: a passkey", used.method))),
        Err(PasskeyError::Internal(e)) => Err(e.into()),
        Err(refusal) => Ok(Err(SignInError::Passkey(refusal))),
    }
}

/// Checks a code: a recovery code is spent, an authenticator code's time
/// step too. Returns how the person proved it, or the refusal.
async fn check_code(p: &Provider, user_id: Uuid, code: &str) -> Result<Result<Proven, SignInError>, SignInError> {
    if recovery::looks_like_one(code) {
        let mut conn = p.pool.acquire().await?;
        let digest = recovery::hash(&p.recovery_codes, user_id, code);
        let spent = second_factors::spend_recovery_code(&mut conn, user_id, &digest, p.now()).await?;
        return Ok(match spent {
            true => Ok(("second step: a recovery code", "otp")),
            false => Err(SignInError::BadCredentials),
        });
    }
    Ok(match totp::check(p, user_id, code).await? {
        CodeCheck::Right => Ok(("second step: an authenticator code", "otp")),
        CodeCheck::Wrong => Err(SignInError::BadCredentials),
        CodeCheck::Locked => Err(SignInError::CodesLocked),
    })
}
