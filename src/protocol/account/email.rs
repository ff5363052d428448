//! A person changes their email address: the new address is sent a
//! verification link (`email_verification`) and becomes the account's only
//! when the link is used; until then nothing changes. An address that
//! another account has verified gets its owner a notice instead, and the
//! person the same answer (the account page too). An account asks for at
//! most `ACCOUNT_BUDGET` addresses per 15 minutes.

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Person};
use crate::model::Email;
use crate::protocol::Provider;
use crate::protocol::email_verification::{self, Offered};
use crate::protocol::error::OAuthError;
use crate::protocol::signin::THROTTLE_WINDOW;
use crate::store::users::UserRow;
use crate::store::{email_verifications, login_throttle};

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

/// Email changes one account may ask for per throttle window (15
/// minutes): each mails someone.
pub const ACCOUNT_BUDGET: i32 = 3;

/// Sends the link for `new`; returns the address it went to.
pub async fn change(person: &Person<'_>, new: &str) -> Result<String, AccountError> {
    let p = person.provider;
    if !p.mail.is_on() {
        return Err(AccountError::invalid(
            "email",
            "Lanyard sends no mail here, so it cannot verify a new address: ask your administrator.",
        ));
    }
    let new = Email::parse(new).map_err(|m| AccountError::invalid("email", m))?;
    let user = &person.session.user;
    if user.email_verified
        && user
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(new.as_str()))
    {
        return Err(AccountError::invalid("email", "This is your address already."));
    }
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let key = format!("email-change:user:{}", user.id);
    let asked = login_throttle::reserve(&mut conn, &key, now, now - THROTTLE_WINDOW, None).await?;
    drop(conn);
    if asked.is_some_and(|n| n > ACCOUNT_BUDGET) {
        person.audit(
            "refused",
            "too many email changes asked",
            None,
            json!({ "new": new.as_str() }),
        );
        let message = "Too many new addresses asked for in a short time: try again in 15 minutes.";
        return Err(AccountError::invalid("email", message));
    }
    let mut tx = p.pool.begin().await?;
    let offered = email_verification::offer(p, &mut tx, (user.id, &user.username), new.as_str(), now).await?;
    tx.commit().await?;
    let sent = match offered {
        Offered::Link => "link",
        Offered::Notice => "notice to the address's account",
    };
    person.audit(
        "ok",
        "email change asked",
        None,
        json!({ "new": new.as_str(), "sent": sent }),
    );
    Ok(new.into_string())
}
