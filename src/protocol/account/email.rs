//! A person changes their email address: the new address is sent a
//! verification link (`email_verification`) and becomes the account's only
//! when the link is used; until then nothing changes. An address that
//! belongs to another account gets its owner a notice instead, and the
//! person the same answer.

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Person};
use crate::model::check_email;
use crate::protocol::Provider;
use crate::protocol::email_verification::{self, Offered};
use crate::protocol::error::OAuthError;
use crate::store::email_verifications;
use crate::store::users::UserRow;

/// The address as the account page shows it.
#[derive(Debug, Serialize)]
pub struct EmailView {
    pub current: Option<String>,
    pub verified: bool,
    /// The address a link was sent to and not used yet.
    pub pending: Option<String>,
    /// Mail can go out (else the address cannot be changed here).
    pub mail: bool,
}

/// The person's address, verified or not, and the one waiting.
pub async fn view(p: &Provider, user: &UserRow) -> Result<EmailView, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    let pending = email_verifications::pending_of_user(&mut conn, user.id, p.now()).await?;
    Ok(EmailView {
        current: user.email.clone(),
        verified: user.email_verified,
        pending,
        mail: p.mail.is_on(),
    })
}

/// Sends the link for `new`; returns the address it went to.
pub async fn change(person: &Person<'_>, new: &str) -> Result<String, AccountError> {
    let p = person.provider;
    if !p.mail.is_on() {
        return Err(AccountError::invalid(
            "email",
            "Lanyard sends no mail here, so it cannot verify a new address: ask your administrator.",
        ));
    }
    let new = new.trim();
    if new.is_empty() || new.len() > 320 {
        return Err(AccountError::invalid("email", "Enter the new email address."));
    }
    check_email(new).map_err(|m| AccountError::invalid("email", m))?;
    let user = &person.session.user;
    if user.email_verified && user.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(new)) {
        return Err(AccountError::invalid("email", "This is your address already."));
    }
    let now = p.now();
    let mut tx = p.pool.begin().await?;
    let offered = email_verification::offer(p, &mut tx, (user.id, &user.username), new, now).await?;
    tx.commit().await?;
    let sent = match offered {
        Offered::Link => "link",
        Offered::Notice => "notice to the address's account",
    };
    person.audit("ok", "email change asked", None, json!({ "new": new, "sent": sent }));
    Ok(new.to_owned())
}
