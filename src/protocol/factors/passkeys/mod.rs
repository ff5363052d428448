//! Passkeys (W3C WebAuthn Level 3, with `webauthn-rs`): the relying party
//! built from the issuer, ceremonies kept in PostgreSQL and finished once,
//! and what a verified assertion proves (RFC 8176 `hwk`/`swk`). Registration
//! and a person's list live in `manage`; the sign-in flows that end in a
//! session live in `signin` (passwordless) and `signin::second_step`.

pub mod manage;

use std::sync::Arc;

use chrono::TimeDelta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PublicKeyCredential, Url,
    Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::store::audit::NewEvent;
use crate::store::passkeys::{self, PasskeyRow};
use crate::store::webauthn_ceremonies::{self, NewCeremony};

/// How long a ceremony may take: the crate's own authenticator timeout
/// (W3C WebAuthn §5.4.5 recommends 300 s for user verification).
pub const CEREMONY_LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// Why passkeys are off for this issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeysOff {
    /// An IP address cannot be a relying party id (W3C WebAuthn §5.1.3
    /// step 8: a valid domain); browsers refuse it too.
    IpAddress,
    /// The issuer is not a URL with a host `webauthn-rs` accepts.
    Unusable,
}

impl PasskeysOff {
    /// The sentence the log and the pages show.
    pub fn explain(self) -> &'static str {
        match self {
            PasskeysOff::IpAddress => {
                "passkeys are off: the issuer's host is an IP address, and WebAuthn needs a domain name (in development use http://localhost:PORT, not http://127.0.0.1:PORT)"
            }
            PasskeysOff::Unusable => "passkeys are off: the issuer cannot be a WebAuthn relying party",
        }
    }
}

/// The relying party for this issuer (W3C WebAuthn §5.1.3 "RP ID"): the
/// issuer's host is the RP ID, the issuer its only origin.
pub fn relying_party(issuer: &str) -> Result<Arc<Webauthn>, PasskeysOff> {
    let origin = Url::parse(issuer).map_err(|_| PasskeysOff::Unusable)?;
    let host = match origin.host() {
        Some(url::Host::Domain(host)) => host.to_owned(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => return Err(PasskeysOff::IpAddress),
        None => return Err(PasskeysOff::Unusable),
    };
    WebauthnBuilder::new(&host, &origin)
        .and_then(|b| {
            b.rp_name("Lanyard")
                .timeout(std::time::Duration::from_secs(300))
                .build()
        })
        .map(Arc::new)
        .map_err(|_| PasskeysOff::Unusable)
}

/// Why a passkey ceremony did not succeed.
#[derive(Debug)]
pub enum PasskeyError {
    /// Passkeys are off for this issuer.
    Off(PasskeysOff),
    /// The request does not parse (a credential, a ceremony id, a name).
    Malformed(&'static str),
    /// No such live ceremony for this browser: unknown, expired, already
    /// finished, or another browser's.
    UnknownCeremony,
    /// The person has no passkey to ask for.
    NoPasskey,
    /// The credential is not a registered passkey (of this person).
    UnknownPasskey,
    /// The assertion or attestation does not verify (W3C WebAuthn §7).
    Refused,
    /// The signature counter did not move on: possibly a cloned
    /// authenticator (W3C WebAuthn §6.1.1). Refused and audited.
    Compromised,
    /// This credential is registered already.
    AlreadyRegistered,
    /// The account is disabled.
    Disabled,
    /// Too many refused passkeys from this address: try again later.
    Throttled,
    Internal(OAuthError),
}

impl<E: Into<OAuthError>> From<E> for PasskeyError {
    fn from(e: E) -> Self {
        PasskeyError::Internal(e.into())
    }
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    /// A passwordless sign-in with a discoverable credential.
    SignIn,
    /// A passkey after a password, or a step-up of a session.
    SecondStep,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "sign_in",
            Purpose::SecondStep => "second_step",
        }
    }
}

/// What a ceremony belongs to: only a request from it may finish it.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// A signed-in session (registration, step-up).
    Session(Uuid),
    /// A sign-in waiting for its second step (the pending value).
    Pending(&'a str),
    /// A browser, by its CSRF secret (a passwordless sign-in).
    Browser(&'a str),
}

impl Binding<'_> {
    fn hash(&self) -> [u8; 32] {
        let named = match self {
            Binding::Session(id) => format!("session:{id}"),
            Binding::Pending(value) => format!("pending:{value}"),
            Binding::Browser(secret) => format!("browser:{secret}"),
        };
        crate::crypto::secret::sha256(&named)
    }
}

/// The options for `navigator.credentials.create()` or `get()`, and the
/// ceremony the browser's answer names.
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    pub ceremony: Uuid,
    pub options: Value,
}

/// What a verified assertion proved.
#[derive(Debug, Clone)]
pub struct Used {
    pub user_id: Uuid,
    pub passkey_id: Uuid,
    /// RFC 8176 §2: `swk` for a passkey that may be synced (backup
    /// eligible), `hwk` for one bound to its device.
    pub method: &'static str,
}

/// The relying party, or why passkeys are off.
pub(crate) fn rp(p: &Provider) -> Result<&Webauthn, PasskeyError> {
    p.webauthn.as_deref().map_err(|off| PasskeyError::Off(*off))
}

/// Stores a ceremony's state; returns the challenge to send.
pub(crate) async fn open<S: Serialize, O: Serialize>(
    p: &Provider,
    purpose: Purpose,
    user_id: Option<Uuid>,
    binding: Binding<'_>,
    (options, state): (O, S),
) -> Result<Challenge, PasskeyError> {
    let now = p.now();
    let state = serde_json::to_value(&state).map_err(OAuthError::internal)?;
    let options = serde_json::to_value(&options).map_err(OAuthError::internal)?;
    let ceremony = Uuid::new_v4();
    let row = NewCeremony {
        id: ceremony,
        purpose: purpose.as_str(),
        user_id,
        binding: &binding.hash(),
        state: &state,
        now,
        expires_at: now + CEREMONY_LIFETIME,
    };
    webauthn_ceremonies::insert(&mut *p.pool.acquire().await?, &row).await?;
    Ok(Challenge { ceremony, options })
}

/// Takes a live ceremony of this purpose and binding, once: its person and
/// state.
pub(crate) async fn take<S: DeserializeOwned>(
    p: &Provider,
    purpose: Purpose,
    binding: Binding<'_>,
    ceremony: &str,
) -> Result<(Option<Uuid>, S), PasskeyError> {
    let id: Uuid = ceremony
        .parse()
        .map_err(|_| PasskeyError::Malformed("the ceremony is not a UUID"))?;
    let mut conn = p.pool.acquire().await?;
    let taken = webauthn_ceremonies::take(&mut conn, id, purpose.as_str(), &binding.hash(), p.now()).await?;
    let (user, state) = taken.ok_or(PasskeyError::UnknownCeremony)?;
    let state = serde_json::from_value(state).map_err(OAuthError::internal)?;
    Ok((user, state))
}

/// A browser's JSON, as the type the crate reads.
pub(crate) fn parse<T: DeserializeOwned>(credential: &Value) -> Result<T, PasskeyError> {
    serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Malformed("the credential does not parse"))
}

/// A stored credential.
fn passkey_of(row: &PasskeyRow) -> Result<Passkey, PasskeyError> {
    serde_json::from_value(row.credential.0.clone())
        .map_err(|e| PasskeyError::Internal(OAuthError::internal(format!("stored passkey {}: {e}", row.id))))
}

/// The signature counter a stored credential holds (0 when it keeps none).
fn stored_counter(credential: &Value) -> u64 {
    credential.pointer("/cred/counter").and_then(Value::as_u64).unwrap_or(0)
}

/// Options for a passwordless sign-in (W3C WebAuthn §5.1.4 with an empty
/// `allowCredentials`: the authenticator offers its discoverable
/// credentials). `conditional` asks for the browser's autofill (§5.1.4.1
/// `mediation: "conditional"`); otherwise a modal dialog.
pub async fn sign_in_options(p: &Provider, browser: &str, conditional: bool) -> Result<Challenge, PasskeyError> {
    let (mut options, state) = rp(p)?
        .start_discoverable_authentication()
        .map_err(|e| internal("start_discoverable_authentication", &e))?;
    if !conditional {
        options.mediation = None;
    }
    open(p, Purpose::SignIn, None, Binding::Browser(browser), (options, state)).await
}

/// Verifies a passwordless sign-in's assertion (W3C WebAuthn §7.2): the
/// `userHandle` names the person, their stored credential verifies it.
pub async fn finish_sign_in(
    p: &Provider,
    browser: &str,
    ceremony: &str,
    credential: &Value,
) -> Result<Used, PasskeyError> {
    let rp = rp(p)?;
    let credential: PublicKeyCredential = parse(credential)?;
    let (_, state): (_, DiscoverableAuthentication) =
        take(p, Purpose::SignIn, Binding::Browser(browser), ceremony).await?;
    let (user_id, credential_id) = rp
        .identify_discoverable_authentication(&credential)
        .map_err(|_| PasskeyError::UnknownPasskey)?;
    let mut conn = p.pool.acquire().await?;
    let row = passkeys::by_credential(&mut conn, user_id, credential_id, false)
        .await?
        .ok_or(PasskeyError::UnknownPasskey)?;
    // A disabled account's passkey is refused before its use is recorded.
    let enabled = crate::store::users::find(&mut conn, user_id)
        .await?
        .is_some_and(|u| u.is_enabled());
    drop(conn);
    if !enabled {
        return Err(PasskeyError::Disabled);
    }
    let passkey = passkey_of(&row)?;
    let result = rp.finish_discoverable_authentication_v2(&credential, state, &passkey);
    record_use(p, user_id, result).await
}

/// Options for a passkey of this person, after their password or to step
/// their session up (`allowCredentials` lists their passkeys).
pub async fn second_step_options(p: &Provider, user_id: Uuid, binding: Binding<'_>) -> Result<Challenge, PasskeyError> {
    let rp = rp(p)?;
    let rows = passkeys::of_user(&mut *p.pool.acquire().await?, user_id).await?;
    if rows.is_empty() {
        return Err(PasskeyError::NoPasskey);
    }
    let credentials = rows.iter().map(passkey_of).collect::<Result<Vec<_>, _>>()?;
    let started = rp
        .start_passkey_authentication(&credentials)
        .map_err(|e| internal("start_passkey_authentication", &e))?;
    open(p, Purpose::SecondStep, Some(user_id), binding, started).await
}

/// Verifies this person's passkey assertion for their second step.
pub async fn finish_second_step(
    p: &Provider,
    user_id: Uuid,
    binding: Binding<'_>,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<Used, PasskeyError> {
    let rp = rp(p)?;
    let (owner, state): (_, PasskeyAuthentication) = take(p, Purpose::SecondStep, binding, ceremony).await?;
    if owner != Some(user_id) {
        return Err(PasskeyError::UnknownCeremony);
    }
    let result = rp.finish_passkey_authentication(credential, &state);
    record_use(p, user_id, result).await
}

/// After a verification: refuses a failed one (and audits a possible clone),
/// or records the use — the counter and backup flags as the authenticator
/// reports them, and when (W3C WebAuthn §7.2 steps 21–24) — under the row's
/// lock, checking the counter again against the row as it is now.
async fn record_use(
    p: &Provider,
    user_id: Uuid,
    result: Result<AuthenticationResult, WebauthnError>,
) -> Result<Used, PasskeyError> {
    let result = match result {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => return Err(compromised(p, user_id, None)),
        Err(e) => {
            tracing::info!(error = %e, "a passkey assertion did not verify");
            return Err(PasskeyError::Refused);
        }
    };
    let mut tx = p.pool.begin().await?;
    let row = passkeys::by_credential(&mut tx, user_id, result.cred_id().as_ref(), true)
        .await?
        .ok_or(PasskeyError::UnknownPasskey)?;
    let (stored, used) = (stored_counter(&row.credential), u64::from(result.counter()));
    if (stored > 0 || used > 0) && used <= stored {
        return Err(compromised(p, user_id, Some(row.id)));
    }
    let mut passkey = passkey_of(&row)?;
    passkey.update_credential(&result);
    let credential = serde_json::to_value(&passkey).map_err(OAuthError::internal)?;
    let backup = (result.backup_eligible() || row.backup_eligible, result.backup_state());
    passkeys::record_use(&mut tx, row.id, &credential, backup, p.now()).await?;
    tx.commit().await?;
    Ok(Used {
        user_id,
        passkey_id: row.id,
        method: method(backup.0),
    })
}

/// RFC 8176 §2: `swk` (a software-secured key, here one that may be synced
/// to other devices) or `hwk` (a key that stays on its device).
pub fn method(backup_eligible: bool) -> &'static str {
    match backup_eligible {
        true => "swk",
        false => "hwk",
    }
}

/// Audits a possibly cloned authenticator as a security event; the
/// passkey stays (removing it would let an attacker lock the person out).
fn compromised(p: &Provider, user_id: Uuid, passkey: Option<Uuid>) -> PasskeyError {
    tracing::warn!(%user_id, ?passkey, "a passkey's signature counter went backwards: possibly a cloned authenticator");
    let why = "a passkey's signature counter did not move on: possibly a cloned authenticator";
    let event = NewEvent {
        details: serde_json::json!({ "passkey": passkey }),
        ..NewEvent::about("security", "refused", Some(user_id), None, why)
    };
    match p.audit(&event) {
        Ok(()) => PasskeyError::Compromised,
        Err(e) => PasskeyError::Internal(e.into()),
    }
}

/// A failure of the crate where only Lanyard can be at fault: logged, opaque.
pub(crate) fn internal(what: &str, e: &WebauthnError) -> PasskeyError {
    PasskeyError::Internal(OAuthError::internal(format!("webauthn {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuers_domain_never_an_ip_address() {
        assert!(relying_party("http://localhost:8080").is_ok());
        assert!(relying_party("https://id.example.com").is_ok());
        assert_eq!(
            relying_party("http://127.0.0.1:8080").err(),
            Some(PasskeysOff::IpAddress)
        );
        assert_eq!(relying_party("http://[::1]:8080").err(), Some(PasskeysOff::IpAddress));
    }

    #[test]
    fn a_synced_passkey_is_swk_and_a_device_bound_one_hwk() {
        assert_eq!(method(true), "swk");
        assert_eq!(method(false), "hwk");
    }

    #[test]
    fn the_stored_counter_is_read_from_the_credential() {
        let credential = serde_json::json!({ "cred": { "counter": 7 } });
        assert_eq!(stored_counter(&credential), 7);
        assert_eq!(stored_counter(&serde_json::json!({})), 0);
    }
}
