//! TOTP (RFC 6238): enrolment — a new secret shown as a QR code and in
//! base32, sealed into the confirmation form until the person proves it with
//! a code — and checking a code at sign-in, each time step accepted once
//! (§5.2). Secrets are stored sealed under a key derived from the master key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

use super::recovery;
use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::store::second_factors;
use crate::store::users::UserRow;

/// Six digits every 30 seconds with HMAC-SHA1: what every authenticator app
/// reads (RFC 6238 §4, §5.2); a code of the step before or after is
/// accepted too, for clocks that drift.
const DIGITS: u8 = 6;
const STEP_SECONDS: u64 = 30;
const SKEW_STEPS: u16 = 1;
/// 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;
/// How long a person may take to scan the code and confirm it.
const ENROLMENT_FOR: TimeDelta = TimeDelta::minutes(15);

/// A new authenticator waiting to be confirmed.
pub struct Enrolment {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://totp/…` URI the QR code holds.
    pub uri: String,
    /// The secret and its deadline, sealed for the confirmation form.
    pub sealed: String,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    secret: String,
    expires: i64,
}

#[derive(Debug)]
pub enum ConfirmError {
    /// The enrolment form is too old (or was not made for this person).
    Expired,
    WrongCode,
    Internal(OAuthError),
}

impl<E: Into<OAuthError>> From<E> for ConfirmError {
    fn from(e: E) -> Self {
        ConfirmError::Internal(e.into())
    }
}

fn authenticator(secret: &[u8], label: Option<(&str, &str)>) -> Result<Totp, OAuthError> {
    let mut builder = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::from(secret.to_vec()));
    if let Some((issuer, account)) = label {
        // `otpauth` labels are `issuer:account`: neither may hold a colon.
        builder = builder
            .with_issuer(Some(issuer.replace(':', " ")))
            .with_account_name(account.replace(':', " "));
    }
    builder.build().map_err(|e| OAuthError::internal(format!("TOTP: {e}")))
}

fn enrolment_kid(user_id: Uuid) -> String {
    format!("totp-enrolment:{user_id}")
}

fn stored_kid(user_id: Uuid) -> String {
    format!("totp:{user_id}")
}

/// A new secret for `user`, to show and to confirm with a code.
pub fn begin(p: &Provider, user: &UserRow) -> Result<Enrolment, OAuthError> {
    let secret = crate::random::bytes::<SECRET_BYTES>();
    let pending = Pending {
        secret: URL_SAFE_NO_PAD.encode(secret),
        expires: (p.now() + ENROLMENT_FOR).timestamp(),
    };
    let plaintext = serde_json::to_vec(&pending).map_err(OAuthError::internal)?;
    let sealed = p.factor_seal.seal(&enrolment_kid(user.id), &plaintext)?;
    enrolment(p, user, &secret, sealed)
}

/// The enrolment a confirmation form carries, to show again (after a wrong
/// code); `None` once it has expired.
pub fn resume(p: &Provider, user: &UserRow, sealed: &str) -> Result<Option<Enrolment>, OAuthError> {
    match open_enrolment(p, user.id, sealed) {
        Some(secret) => enrolment(p, user, &secret, sealed.to_owned()).map(Some),
        None => Ok(None),
    }
}

fn enrolment(p: &Provider, user: &UserRow, secret: &[u8], sealed: String) -> Result<Enrolment, OAuthError> {
    let host = url::Url::parse(p.config.issuer.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Lanyard".to_owned());
    let totp = authenticator(secret, Some((&host, &user.username)))?;
    let uri = totp
        .to_url()
        .map_err(|e| OAuthError::internal(format!("TOTP URI: {e}")))?;
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        uri,
        sealed,
    })
}

/// The secret of an enrolment form made for this person, if not expired.
fn open_enrolment(p: &Provider, user_id: Uuid, sealed: &str) -> Option<Vec<u8>> {
    let pending: Pending = p
        .factor_seal
        .open(&enrolment_kid(user_id), sealed)
        .ok()
        .and_then(|plain| serde_json::from_slice(&plain).ok())?;
    (pending.expires > p.now().timestamp())
        .then(|| URL_SAFE_NO_PAD.decode(&pending.secret).ok())
        .flatten()
}

/// Confirms an enrolment with a code from the app: the authenticator
/// replaces any earlier one, the code's step is spent, and new recovery
/// codes are made. Returns the recovery codes, to show once.
pub async fn confirm(p: &Provider, user_id: Uuid, sealed: &str, code: &str) -> Result<Vec<String>, ConfirmError> {
    let now = p.now();
    let secret = open_enrolment(p, user_id, sealed).ok_or(ConfirmError::Expired)?;
    let step = authenticator(&secret, None)?
        .check(&digits_of(code), now.timestamp().max(0) as u64)
        .ok_or(ConfirmError::WrongCode)?;
    let stored = p.factor_seal.seal(&stored_kid(user_id), &secret)?;
    let mut tx = p.pool.begin().await?;
    second_factors::save_totp(&mut tx, user_id, &stored, now).await?;
    second_factors::spend_step(&mut tx, user_id, step as i64, now).await?;
    let codes = recovery::renew(&mut tx, &p.recovery_codes, user_id, now).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Wrong codes in a row after which codes are refused for good, until a
/// recovery code, a passkey or an administrator's reset (NIST SP 800-63B
/// §5.2.2: at most 100 consecutive failed attempts). The throttle alone
/// would let a holder of the password try 480 codes a day, forever.
pub const LOCK_AFTER: i32 = 100;

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// A current code, not accepted before: its step is spent now.
    Right,
    /// Wrong, already used, or the person has no authenticator.
    Wrong,
    /// Too many wrong codes in a row: codes are refused.
    Locked,
}

/// The code as apps show it ("123 456") or as typed ("123-456").
fn digits_of(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

/// Checks a code of the person's authenticator; a wrong one is counted.
pub async fn check(p: &Provider, user_id: Uuid, code: &str) -> Result<CodeCheck, OAuthError> {
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let Some(row) = second_factors::find_totp(&mut conn, user_id).await? else {
        return Ok(CodeCheck::Wrong);
    };
    if row.failures >= LOCK_AFTER {
        return Ok(CodeCheck::Locked);
    }
    let secret = p.factor_seal.open(&stored_kid(user_id), &row.sealed_secret)?;
    let step = authenticator(&secret, None)?.check(&digits_of(code), now.timestamp().max(0) as u64);
    if let Some(step) = step
        && second_factors::spend_step(&mut conn, user_id, step as i64, now).await?
    {
        return Ok(CodeCheck::Right);
    }
    match second_factors::count_failure(&mut conn, user_id).await? >= LOCK_AFTER {
        true => Ok(CodeCheck::Locked),
        false => Ok(CodeCheck::Wrong),
    }
}

/// Removes a person's authenticator and their recovery codes.
pub async fn remove(p: &Provider, user_id: Uuid) -> Result<bool, OAuthError> {
    let mut tx = p.pool.begin().await?;
    let removed = second_factors::delete_totp(&mut tx, user_id).await?;
    second_factors::delete_recovery_codes(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 test vectors (8 digits there; their
    /// last six here).
    #[test]
    fn codes_follow_the_rfc_test_vectors() {
        let totp = authenticator(b"12345678901234567890", None).unwrap();
        assert_eq!(totp.generate(59).to_string(), "287082");
        assert_eq!(totp.generate(1_111_111_109).to_string(), "081804");
        assert_eq!(totp.generate(2_000_000_000).to_string(), "279037");
    }

    #[test]
    fn a_code_is_read_as_apps_show_it() {
        assert_eq!(digits_of(" 123 456 "), "123456");
        assert_eq!(digits_of("123-456"), "123456");
    }

    #[test]
    fn a_code_of_the_step_before_or_after_is_accepted_but_no_further() {
        let totp = authenticator(b"12345678901234567890", None).unwrap();
        let code = totp.generate(1_000_000_020).to_string();
        assert!(totp.check(&code, 1_000_000_020 + 30).is_some());
        assert!(totp.check(&code, 1_000_000_020 - 30).is_some());
        assert!(totp.check(&code, 1_000_000_020 + 90).is_none());
    }
}
