//! A person's own two-step sign-in: setting up (or replacing) an
//! authenticator app, new recovery codes, removing it. Once the person has a
//! second factor, a change to their factors needs a session that proved one
//! (multi-factor or better): a session signed in with the password alone
//! cannot replace or remove one. (Not the highest level they can reach: a
//! person who lost their passkey must be able to remove it with their
//! authenticator app.) Every change ends the person's other sessions —
//! signed in before it, perhaps by whoever knew the password — and is
//! audited.

use serde_json::json;

use super::{AccountError, Person, sessions};
use crate::model::AuthLevel;
use crate::protocol::factors::totp::{self, ConfirmError, Enrolment};
use crate::protocol::factors::{Enrolled, recovery};

/// Refuses a change when the person has a second factor and their session
/// proved none.
pub async fn may_change(person: &Person<'_>) -> Result<Enrolled, AccountError> {
    let enrolled = Enrolled::of(person.provider, person.session.user.id).await?;
    let proved = AuthLevel::of_methods(&person.session.amr);
    match enrolled.any() && proved < AuthLevel::MultiFactor {
        true => Err(AccountError::SecondStepFirst),
        false => Ok(enrolled),
    }
}

/// A new authenticator to scan; `replacing` when one is set up already.
pub async fn begin(person: &Person<'_>) -> Result<(Enrolment, bool), AccountError> {
    let enrolled = may_change(person).await?;
    Ok((
        totp::begin(person.provider, &person.session.user)?,
        enrolled.summary.totp,
    ))
}

/// The enrolment a form carries, to show again after a wrong code (a new
/// one once it has expired).
pub fn again(person: &Person<'_>, sealed: &str) -> Result<Enrolment, AccountError> {
    let p = person.provider;
    match totp::resume(p, &person.session.user, sealed)? {
        Some(enrolment) => Ok(enrolment),
        None => Ok(totp::begin(p, &person.session.user)?),
    }
}

/// Confirms the new authenticator with a code from it; returns the
/// recovery codes, to show once.
pub async fn confirm(person: &Person<'_>, sealed: &str, code: &str) -> Result<Vec<String>, ConfirmError> {
    may_change(person).await.map_err(|e| match e {
        AccountError::Internal(e) => ConfirmError::Internal(e),
        _ => ConfirmError::Expired,
    })?;
    let codes = totp::confirm(person.provider, person.session.user.id, sealed, code).await?;
    after_change(person, "set up an authenticator app")
        .await
        .map_err(|e| match e {
            AccountError::Internal(e) => ConfirmError::Internal(e),
            _ => ConfirmError::Expired,
        })?;
    Ok(codes)
}

/// New recovery codes (the old ones stop working); to show once.
pub async fn renew_codes(person: &Person<'_>) -> Result<Vec<String>, AccountError> {
    let enrolled = may_change(person).await?;
    if !enrolled.any() {
        return Err(AccountError::NotFound("no second factor to recover"));
    }
    let codes = recovery::renew_now(person.provider, person.session.user.id).await?;
    after_change(person, "made new recovery codes").await?;
    Ok(codes)
}

/// Removes the authenticator and the recovery codes.
pub async fn remove(person: &Person<'_>) -> Result<(), AccountError> {
    may_change(person).await?;
    if totp::remove(person.provider, person.session.user.id).await? {
        after_change(person, "removed the authenticator app").await?;
    }
    Ok(())
}

/// Ends the person's other sessions after a change to their factors, audited.
pub async fn after_change(person: &Person<'_>, what: &str) -> Result<(), AccountError> {
    let ended = sessions::end_others(person).await?;
    person.audit("ok", what, None, json!({ "other_sessions_ended": ended }));
    Ok(())
}
