//! Signing in with a passkey alone (W3C WebAuthn §7.2 with a discoverable
//! credential): no username, no password. The passkey verified the person
//! (user verification required), so the sign-in has two factors in one
//! device: RFC 8176 `hwk` or `swk`, `user`, `mfa`.

use serde_json::Value;

use super::{ADDRESS_LIMIT, SignInError, SignedIn, THROTTLE_WINDOW};
use crate::model::username_key;
use crate::protocol::Provider;
use crate::protocol::factors::passkeys::{self, Challenge, PasskeyError};
use crate::protocol::session::{self, Origin};
use crate::store::{login_throttle, users};

/// Options for the browser: a modal dialog, or the autofill of the
/// username field (`conditional`, W3C WebAuthn §5.1.4.1). `browser` is the
/// browser's CSRF secret: only this browser may finish the ceremony.
pub async fn options(p: &Provider, browser: &str, conditional: bool) -> Result<Challenge, PasskeyError> {
    passkeys::sign_in_options(p, browser, conditional).await
}

/// Verifies the assertion and starts a session. Each attempt counts
/// against its address's budget of failures, as a password's does (a
/// success gives it back).
pub async fn finish(
    p: &Provider,
    browser: &str,
    ceremony: &str,
    credential: &Value,
    from: &Origin<'_>,
) -> Result<SignedIn, PasskeyError> {
    let address = from.ip.map(|ip| format!("ip:{}", crate::model::address_group(ip)));
    if let Some(address) = &address {
        let now = p.now();
        let mut conn = p.pool.acquire().await?;
        let attempts = login_throttle::reserve(&mut conn, address, now, now - THROTTLE_WINDOW, None).await?;
        if attempts.is_none_or(|n| n > ADDRESS_LIMIT) {
            record(
                p,
                "throttled",
                None,
                from.ip,
                "too many failed attempts from this address",
            )?;
            return Err(PasskeyError::Throttled);
        }
    }
    let used = match passkeys::finish_sign_in(p, browser, ceremony, credential).await {
        Ok(used) => used,
        Err(e) => {
            match e {
                PasskeyError::Refused | PasskeyError::UnknownPasskey | PasskeyError::Compromised => {
                    record(p, "failed", None, from.ip, "a passkey was refused")?;
                }
                PasskeyError::Disabled => record(p, "disabled", None, from.ip, "the account is disabled")?,
                _ => {}
            }
            return Err(e);
        }
    };
    let user = users::find(&mut *p.pool.acquire().await?, used.user_id)
        .await?
        .ok_or(PasskeyError::UnknownPasskey)?;
    if !user.is_enabled() {
        record(p, "disabled", Some(user.id), from.ip, "the account is disabled")?;
        return Err(PasskeyError::Disabled);
    }
    if let Some(address) = &address {
        login_throttle::refund(&mut *p.pool.acquire().await?, address).await?;
    }
    record(p, "ok", Some(user.id), from.ip, "signed in with a passkey")?;
    let amr = [used.method, "user", "mfa"].map(str::to_owned);
    let cookie = session::start(p, user.id, &amr, from).await?;
    Ok(SignedIn {
        user_id: user.id,
        cookie,
        device_cookie: p.devices.issue(&username_key(&user.username), None, p.now()),
    })
}

/// Audits the attempt as the password sign-in does.
fn record(
    p: &Provider,
    outcome: &str,
    user_id: Option<uuid::Uuid>,
    ip: Option<&str>,
    reason: &str,
) -> Result<(), PasskeyError> {
    super::record(p, outcome, user_id, ip, reason).map_err(|e| match e {
        SignInError::Internal(e) => PasskeyError::Internal(e),
        _ => PasskeyError::Refused,
    })
}
