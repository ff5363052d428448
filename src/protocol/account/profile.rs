//! The profile claims a person edits themselves (OIDC Core §5.1): only those
//! `LANYARD_ACCOUNT_EDITABLE_CLAIMS` names, checked by the same rules as an
//! admin's edit (`StandardClaims::validated`).

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Person};
use crate::model::{ProfileClaim, StandardClaims};
use crate::protocol::Provider;
use crate::store::users;

/// One editable claim and its value, as the form shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileField {
    pub name: &'static str,
    pub label: &'static str,
    /// The input's type: `url` for URLs, else `text`.
    pub kind: &'static str,
    pub value: String,
}

fn label(claim: ProfileClaim) -> &'static str {
    match claim {
        ProfileClaim::Name => "Full name",
        ProfileClaim::GivenName => "Given name",
        ProfileClaim::FamilyName => "Family name",
        ProfileClaim::MiddleName => "Middle name",
        ProfileClaim::Nickname => "Nickname",
        ProfileClaim::PreferredUsername => "Preferred username",
        ProfileClaim::Profile => "Profile page (URL)",
        ProfileClaim::Picture => "Picture (URL)",
        ProfileClaim::Website => "Website (URL)",
        ProfileClaim::Email => "Email",
        ProfileClaim::Gender => "Gender",
        ProfileClaim::Birthdate => "Birthdate (YYYY-MM-DD)",
        ProfileClaim::Zoneinfo => "Time zone (such as Europe/Paris)",
        ProfileClaim::Locale => "Language (such as en-GB)",
        ProfileClaim::PhoneNumber => "Phone number",
    }
}

/// The editable claims, in the setting's order, with their values in `claims`.
pub fn fields(p: &Provider, claims: &StandardClaims) -> Vec<ProfileField> {
    p.config
        .account_editable_claims
        .iter()
        .map(|&claim| ProfileField {
            name: claim.as_str(),
            label: label(claim),
            kind: match claim {
                ProfileClaim::Profile | ProfileClaim::Picture | ProfileClaim::Website => "url",
                _ => "text",
            },
            value: claim.get(claims).unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The form as submitted: each field's name and value (blank fields absent).
pub type Submitted = Vec<(String, String)>;

/// The fields again with what was submitted (the form shown again after a refusal).
pub fn fields_as_submitted(p: &Provider, submitted: &Submitted) -> Vec<ProfileField> {
    let mut claims = StandardClaims::default();
    for (name, value) in submitted {
        if let Ok(claim) = ProfileClaim::parse(name) {
            claim.set(&mut claims, Some(value.clone()));
        }
    }
    fields(p, &claims)
}

/// Replaces the person's editable claims with the form's: a blank field
/// clears its claim, a claim that is not editable is refused (nothing is
/// saved), and the result must pass the admin's rules.
pub async fn update(person: &Person<'_>, submitted: &Submitted) -> Result<(), AccountError> {
    let p = person.provider;
    let editable = &p.config.account_editable_claims;
    for (name, _) in submitted {
        if !ProfileClaim::parse(name).is_ok_and(|c| editable.contains(&c)) {
            let message = format!("`{name}` is not a claim you may edit here");
            return Err(AccountError::invalid("profile", message));
        }
    }
    let user_id = person.session.user.id;
    let mut tx = p.pool.begin().await?;
    let user = users::find_for_update(&mut tx, user_id)
        .await?
        .ok_or(AccountError::NotFound("no such account"))?;
    let before = user.claims();
    let mut after = before.clone();
    for &claim in editable {
        let value = submitted
            .iter()
            .find(|(n, _)| n == claim.as_str())
            .map(|(_, v)| v.clone());
        claim.set(&mut after, value);
    }
    let after = after.validated().map_err(AccountError::Invalid)?;
    users::update_claims(&mut tx, user_id, &after, p.now()).await?;
    tx.commit().await?;
    person.audit("ok", "profile", None, json!({ "before": before, "after": after }));
    Ok(())
}
