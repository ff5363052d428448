//! A person's own passkeys: registering one (W3C WebAuthn §7.1) from a
//! signed-in session, listing, renaming and removing them.

use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{CredentialID, PasskeyRegistration, RegisterPublicKeyCredential};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::{Binding, Challenge, PasskeyError, Purpose, internal, open, parse, rp, take};
use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::store::StoreError;
use crate::store::passkeys::{self, NewPasskey, PasskeyListRow};
use crate::store::users::UserRow;

/// How many passkeys one person may have (each goes into every ceremony's
/// list of credentials).
pub const MAX_PER_PERSON: usize = 20;

/// The longest name a passkey may have, in characters.
pub const NAME_MAX: usize = 64;

/// A passkey's name as typed: trimmed, 1 to `NAME_MAX` characters, no
/// control characters nor invisible or direction-changing ones (which could
/// make one name look like another); empty means "Passkey".
pub fn name(typed: &str) -> Result<String, PasskeyError> {
    let trimmed = typed.trim();
    if trimmed.is_empty() {
        return Ok("Passkey".to_owned());
    }
    if trimmed.chars().count() > NAME_MAX || trimmed.chars().any(|c| c.is_control() || invisible(c)) {
        return Err(PasskeyError::Malformed(
            "a passkey's name has 1 to 64 characters and no control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Zero-width and bidirectional formatting characters (Unicode Cf).
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// Options to create a passkey for the signed-in person. The credential must
/// be discoverable (W3C WebAuthn §5.4.6 `residentKey: "required"`), so it
/// signs in without a username, and verify the user (§5.8.6, the crate's
/// `userVerification: "required"`); the person's own passkeys are excluded
/// (§5.4.3 `excludeCredentials`).
pub async fn registration_options(p: &Provider, user: &UserRow, session_id: Uuid) -> Result<Challenge, PasskeyError> {
    let rp = rp(p)?;
    let existing = passkeys::of_user(&mut *p.pool.acquire().await?, user.id).await?;
    if existing.len() >= MAX_PER_PERSON {
        return Err(PasskeyError::Malformed(
            "a person may have at most 20 passkeys: remove one first",
        ));
    }
    let exclude: Vec<CredentialID> = existing
        .iter()
        .filter_map(|row| serde_json::from_value::<webauthn_rs::prelude::Passkey>(row.credential.0.clone()).ok())
        .map(|passkey| passkey.cred_id().clone())
        .collect();
    let display = user.name.clone().unwrap_or_else(|| user.username.clone());
    let (mut options, state) = rp
        .start_passkey_registration(user.id, &user.username, &display, Some(exclude))
        .map_err(|e| internal("start_passkey_registration", &e))?;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    open(
        p,
        Purpose::Register,
        Some(user.id),
        Binding::Session(session_id),
        (options, state),
    )
    .await
}

/// Verifies the browser's new credential (W3C WebAuthn §7.1) and stores it
/// under `name`; a credential registered already (to anyone) is refused
/// (§7.1 step 26). Returns the new passkey's id.
pub async fn register(
    p: &Provider,
    user_id: Uuid,
    session_id: Uuid,
    ceremony: &str,
    credential: &Value,
    typed_name: &str,
) -> Result<Uuid, PasskeyError> {
    let rp = rp(p)?;
    let name = name(typed_name)?;
    let credential: RegisterPublicKeyCredential = parse(credential)?;
    let (owner, state): (_, PasskeyRegistration) =
        take(p, Purpose::Register, Binding::Session(session_id), ceremony).await?;
    if owner != Some(user_id) {
        return Err(PasskeyError::UnknownCeremony);
    }
    let passkey = rp.finish_passkey_registration(&credential, &state).map_err(|e| {
        tracing::info!(error = %e, "a new passkey did not verify");
        PasskeyError::Refused
    })?;
    let stored = serde_json::to_value(&passkey).map_err(OAuthError::internal)?;
    let flag = |name: &str| {
        stored
            .pointer(&format!("/cred/{name}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let id = Uuid::now_v7();
    let row = NewPasskey {
        id,
        user_id,
        credential_id: passkey.cred_id().as_ref(),
        credential: &stored,
        name: &name,
        backup_eligible: flag("backup_eligible"),
        backup_state: flag("backup_state"),
        now: p.now(),
    };
    match passkeys::insert(&mut *p.pool.acquire().await?, &row).await {
        Ok(()) => Ok(id),
        Err(StoreError::Conflict(_)) => Err(PasskeyError::AlreadyRegistered),
        Err(e) => Err(e.into()),
    }
}

/// A person's passkeys, oldest first (never their credentials).
pub async fn list(p: &Provider, user_id: Uuid) -> Result<Vec<PasskeyListRow>, OAuthError> {
    Ok(passkeys::list(&mut *p.pool.acquire().await?, user_id).await?)
}

/// Renames one of the person's passkeys; false if they have no such passkey.
pub async fn rename(p: &Provider, user_id: Uuid, id: Uuid, typed_name: &str) -> Result<bool, PasskeyError> {
    let name = name(typed_name)?;
    Ok(passkeys::rename(&mut *p.pool.acquire().await?, user_id, id, &name).await?)
}

/// Removes one of the person's passkeys; false if they have no such
/// passkey. Their password always remains, so the account keeps a way in.
/// What removing a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// The person has no such passkey.
    NotFound,
    /// It is the person's only way in (no password, no other passkey, no
    /// link to an upstream provider): kept.
    OnlyWayIn,
}

/// Removes one of a person's passkeys, unless it is their only way in. The
/// person's row is locked meanwhile (as an unlink locks it), so two removals
/// cannot both see "another way remains".
pub async fn remove(p: &Provider, user_id: Uuid, id: Uuid) -> Result<Removal, OAuthError> {
    let mut tx = p.pool.begin().await?;
    let user = crate::store::users::find_for_update(&mut tx, user_id).await?;
    if !passkeys::delete(&mut tx, user_id, id).await? {
        return Ok(Removal::NotFound);
    }
    let has_password = user.is_some_and(|u| u.password_hash.is_some());
    if !has_password
        && passkeys::count(&mut tx, user_id).await? == 0
        && crate::store::upstreams::live_links(&mut tx, user_id).await? == 0
    {
        // Dropped: the deletion rolls back.
        return Ok(Removal::OnlyWayIn);
    }
    tx.commit().await?;
    Ok(Removal::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_bounded_and_printable() {
        assert_eq!(name("  Laptop  ").unwrap(), "Laptop");
        assert_eq!(name("").unwrap(), "Passkey");
        assert!(name(&"x".repeat(NAME_MAX)).is_ok());
        assert!(matches!(
            name(&"x".repeat(NAME_MAX + 1)),
            Err(PasskeyError::Malformed(_))
        ));
        assert!(matches!(name("a\u{0}b"), Err(PasskeyError::Malformed(_))));
    }
}
