//! A person changes their own password: the current one first (counted
//! against the account's sign-in budget, so the form guesses no faster than
//! the sign-in page), the new one twice, by the rules of a chosen password
//! (`model::password_rules`). The
//! person's other sessions end, and every grant not made in this session
//! with them (offline ones too: whoever knew the old password may hold
//! them); this session stays.

use serde_json::json;

use super::{AccountError, Person};
use crate::crypto::password;
use crate::model::NewPassword;
use crate::model::password_rules::context_words;
use crate::protocol::session;
use crate::protocol::signin::{self, SignInError};
use crate::store::grants::{self, UserGrants};
use crate::store::{sessions, users};

/// What the password form carries. Redacted in `Debug`.
pub struct PasswordChange {
    pub current: String,
    pub new: String,
    pub repeated: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange(…)")
    }
}

/// Changes the password; returns how many other sessions ended.
pub async fn change(person: &Person<'_>, form: PasswordChange) -> Result<usize, AccountError> {
    let PasswordChange { current, new, repeated } = form;
    // A person without a password (from an upstream) sets a first one
    // without a current one: the recent sign-in vouches for them.
    let has_password = person.session.user.password_hash.is_some();
    if current.is_empty() && has_password {
        return Err(AccountError::invalid("current_password", "enter your current password"));
    }
    if new != repeated {
        return Err(AccountError::invalid("new_password", "the two new passwords differ"));
    }
    let p = person.provider;
    let user = &person.session.user;
    let refused = |m: String| AccountError::invalid("new_password", format!("The new password {m}."));
    p.config
        .password_policy
        .check(&new, &context_words(&user.username, user.email.as_deref()))
        .map_err(refused)?;
    let new = NewPassword::parse(new).map_err(refused)?;
    if has_password {
        check_current(person, &current).await?;
    }
    let hash = password::hash_off_thread(new.into_inner()).await?;
    let now = p.now();
    let this = person.session.id;
    let mut tx = p.pool.begin().await?;
    users::set_password_hash(&mut tx, user.id, &hash, now).await?;
    let others = sessions::open_ids_of_user_except(&mut tx, user.id, this).await?;
    for id in &others {
        session::end_in(&mut tx, *id, now).await?;
    }
    let reason = "password changed by its owner";
    grants::revoke_of_user(&mut tx, user.id, UserGrants::NotOfSession(this), reason, now).await?;
    tx.commit().await?;
    person.audit("ok", "password", None, json!({ "sessions_ended": others.len() }));
    Ok(others.len())
}

/// The current password, counted against the account's sign-in budget.
async fn check_current(person: &Person<'_>, current: &str) -> Result<(), AccountError> {
    let (p, user) = (person.provider, &person.session.user);
    match signin::confirm_password(p, user, current, person.ip).await {
        Ok(()) => Ok(()),
        Err(SignInError::BadCredentials) => {
            person.audit(
                "failed",
                "password",
                None,
                json!({ "refused": "wrong current password" }),
            );
            Err(AccountError::WrongPassword)
        }
        Err(SignInError::Internal(e)) => Err(AccountError::Internal(e)),
        Err(e) => Err(AccountError::PasswordCheck(e)),
    }
}
