//! Self-registration (README "Self-registration, invitations and email
//! verification"): `LANYARD_SIGNUP` says who may register — nobody, only
//! with an invitation, or anyone. A registration is throttled per client
//! address, follows the password rules (`model::password_rules`), and signs
//! the person in. The address typed is only waiting for verification
//! (`email_verification`): it becomes the account's once its link is used,
//! and an address another account has verified gets its owner a notice —
//! the same answer either way, so registering reveals no address. An
//! invitation fixes the address but does not verify it (its link was shown
//! to the administrator too): the registration mails a link as any other.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Provider;
use super::email_verification::{self, Offered};
use super::error::OAuthError;
use super::session::{self, Origin};
use super::signin::{SignedIn, THROTTLE_WINDOW};
use crate::config::SignupMode;
use crate::crypto::{password, secret};
use crate::model::password_rules::context_words;
use crate::model::{Email, FieldError, NewPassword, StandardClaims, Username};
use crate::store::audit::NewEvent;
use crate::store::invitations::{self, InvitationRow};
use crate::store::login_throttle;
use crate::store::users::{self, NewUser};

/// Registrations tried from one client address per throttle window (15 minutes).
pub const ADDRESS_BUDGET: i32 = 10;
/// How long an invitation works.
pub const INVITATION_LIFETIME: TimeDelta = TimeDelta::days(7);

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("self-registration is off")]
    Off,
    #[error("registration needs an invitation")]
    InvitationNeeded,
    /// Unknown, expired, used or withdrawn, or its address has an account.
    #[error("the invitation is not valid")]
    InvalidInvitation,
    #[error("too many registrations from this address")]
    Throttled,
    /// A value breaks a rule: the form again, with the message.
    #[error("{}", .0.message)]
    Invalid(FieldError),
    #[error(transparent)]
    Internal(#[from] OAuthError),
}

impl From<crate::store::StoreError> for SignupError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<sqlx::Error> for SignupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> SignupError {
    SignupError::Invalid(FieldError::new(field, message))
}

/// What `admit` let through: registration is open to this visitor, with
/// this invitation (if any) and its token. Only `admit` makes one.
pub struct Admitted {
    invitation: Option<(InvitationRow, String)>,
}

impl Admitted {
    /// The invitation carried, whose address the form fixes.
    pub fn invitation(&self) -> Option<&InvitationRow> {
        self.invitation.as_ref().map(|(i, _)| i)
    }
}

/// What the registration form carries. Redacted in `Debug`.
pub struct Registration<'a> {
    pub username: &'a str,
    /// Ignored with an invitation (its address is fixed) and when mail is off.
    pub email: &'a str,
    pub password: String,
    pub password_again: &'a str,
    /// What `admit` said of this request.
    pub admitted: &'a Admitted,
    pub origin: Origin<'a>,
    /// The device cookie the browser sent, if any (renewed for the new account).
    pub device_cookie: Option<&'a str>,
}

impl std::fmt::Debug for Registration<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registration(…)")
    }
}

/// A new account, signed in.
pub struct Registered {
    pub signed_in: SignedIn,
    /// The address a verification message went to, if any (none when mail is off).
    pub mailed_to: Option<String>,
}

/// Whether this registration may go ahead: the mode, and the invitation it
/// carries — usable, and for an address no account has verified. Nothing
/// is spent.
pub async fn admit(p: &Provider, invitation: Option<&str>) -> Result<Admitted, SignupError> {
    let mode = p.config.signup;
    if mode == SignupMode::Off {
        return Err(SignupError::Off);
    }
    let Some(token) = invitation.filter(|t| !t.is_empty()) else {
        return match mode {
            SignupMode::Open => Ok(Admitted { invitation: None }),
            _ => Err(SignupError::InvitationNeeded),
        };
    };
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let found = invitations::find_usable(&mut conn, &secret::sha256(token), p.now())
        .await?
        .ok_or(SignupError::InvalidInvitation)?;
    if users::verified_holder(&mut conn, &found.email).await?.is_some() {
        return Err(SignupError::InvalidInvitation);
    }
    Ok(Admitted {
        invitation: Some((found, token.to_owned())),
    })
}

/// `POST /signin/register` (after `admit`): creates the account and signs the person in.
pub async fn register(p: &Provider, r: Registration<'_>) -> Result<Registered, SignupError> {
    let ip = r.origin.ip;
    let now = p.now();
    throttle(p, ip, now).await?;
    let username = chosen_username(r.username)?;
    let email = chosen_email(p, &r)?;
    let new = checked_password(p, &r, &username, email.as_ref())?;
    // Said before the (slow, memory-hungry) hash; `create` checks again.
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    if users::exists(&mut conn, username.as_str()).await? {
        return Err(username_taken());
    }
    drop(conn);
    let hash = password::hash_off_thread(new.into_inner())
        .await
        .map_err(OAuthError::from)?;
    let account = Account {
        username: &username,
        hash: &hash,
        email: email.as_ref(),
        invitation: r.admitted.invitation.as_ref(),
    };
    let (user_id, offered) = create(p, &account, now).await?;
    let reason = match offered {
        Some(Offered::Notice) => "registered; the address given belongs to another account, whose owner was told",
        _ => "registered",
    };
    audit(p, "ok", Some(user_id), ip, reason)?;
    let cookie = session::start(p, user_id, &["pwd".to_owned()], &r.origin).await?;
    let device = r.device_cookie.and_then(|c| p.devices.verify(c, &username.key(), now));
    let device_cookie = p.devices.issue(&username.key(), device, now);
    let signed_in = SignedIn {
        user_id,
        cookie,
        device_cookie,
    };
    // A link, or a notice to the address's owner: the person hears the same.
    let mailed_to = email.filter(|_| offered.is_some()).map(Email::into_string);
    Ok(Registered { signed_in, mailed_to })
}

/// Counts a registration against the client address's budget.
async fn throttle(p: &Provider, ip: Option<&str>, now: DateTime<Utc>) -> Result<(), SignupError> {
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let key = format!(
        "signup:ip:{}",
        ip.map_or_else(|| "-".to_owned(), crate::model::address_group)
    );
    let attempts = login_throttle::reserve(&mut conn, &key, now, now - THROTTLE_WINDOW, None).await?;
    if attempts.is_some_and(|n| n > ADDRESS_BUDGET) {
        audit(p, "refused", None, ip, "throttled")?;
        return Err(SignupError::Throttled);
    }
    Ok(())
}

/// The username chosen: a valid one, without `@` (a name that looks like an
/// address would be confused with one, e.g. by the forgotten-password form).
fn chosen_username(raw: &str) -> Result<Username, SignupError> {
    let raw = raw.trim();
    if raw.contains('@') {
        return Err(invalid("username", "A username cannot contain @: choose another."));
    }
    Username::parse(raw).map_err(|m| invalid("username", m))
}

fn username_taken() -> SignupError {
    invalid("username", "This username is taken: choose another.")
}

/// The address of the new account: the invitation's, else the one typed
/// (only when mail can verify it).
fn chosen_email(p: &Provider, r: &Registration<'_>) -> Result<Option<Email>, SignupError> {
    let typed = match r.admitted.invitation() {
        Some(invitation) => &invitation.email,
        None if !p.mail.is_on() => return Ok(None),
        None => r.email,
    };
    Email::parse(typed).map(Some).map_err(|m| invalid("email", m))
}

/// The password, typed twice alike, by the rules of a chosen password.
fn checked_password(
    p: &Provider,
    r: &Registration<'_>,
    username: &Username,
    email: Option<&Email>,
) -> Result<NewPassword, SignupError> {
    if r.password != r.password_again {
        return Err(invalid("password", "The two passwords differ."));
    }
    let refused = |m: String| invalid("password", format!("The password {m}."));
    p.config
        .password_policy
        .check(&r.password, &context_words(username.as_str(), email.map(Email::as_str)))
        .map_err(refused)?;
    NewPassword::parse(r.password.clone()).map_err(refused)
}

/// What `create` writes.
struct Account<'a> {
    username: &'a Username,
    hash: &'a str,
    email: Option<&'a Email>,
    /// The invitation and its token.
    invitation: Option<&'a (InvitationRow, String)>,
}

/// Writes the account (the invitation spent with it, and every other one
/// for its address) and queues what its address is sent, in one
/// transaction. The address is locked first, before the account's row
/// exists (the order `email_verification::confirm` takes them in). A
/// username taken is said; an invitation whose address an account verified
/// meanwhile is refused.
async fn create(p: &Provider, a: &Account<'_>, now: DateTime<Utc>) -> Result<(Uuid, Option<Offered>), SignupError> {
    let mut tx = p.pool.begin().await?;
    if let Some(email) = a.email {
        users::lock_email(&mut tx, email.as_str()).await?;
    }
    if users::exists(&mut tx, a.username.as_str()).await? {
        return Err(username_taken());
    }
    if let Some((invitation, _)) = a.invitation
        && users::verified_holder(&mut tx, &invitation.email).await?.is_some()
    {
        return Err(SignupError::InvalidInvitation);
    }
    // A `sub` is a random UUID v4 (a v7 would tell when the account was made).
    let user_id = Uuid::new_v4();
    // Without mail nothing can verify an address: an invitation's is kept, unverified.
    let claims = StandardClaims {
        email: a.email.filter(|_| !p.mail.is_on()).map(|e| e.as_str().to_owned()),
        ..Default::default()
    };
    let user = NewUser {
        id: user_id,
        username: a.username,
        password_hash: Some(a.hash),
        is_admin: a.invitation.is_some_and(|(i, _)| i.is_admin),
        claims: &claims,
        now,
    };
    users::insert(&mut tx, &user).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => username_taken(),
        other => other.into(),
    })?;
    if let Some((invitation, token)) = a.invitation {
        invitations::spend(&mut tx, &secret::sha256(token), user_id, now)
            .await?
            .ok_or(SignupError::InvalidInvitation)?;
        invitations::spend_all_for_email(&mut tx, &invitation.email, now).await?;
    }
    let offered = match a.email.filter(|_| p.mail.is_on()) {
        Some(email) => {
            Some(email_verification::offer(p, &mut tx, (user_id, a.username.as_str()), email.as_str(), now).await?)
        }
        None => None,
    };
    tx.commit().await?;
    Ok((user_id, offered))
}

fn audit(
    p: &Provider,
    outcome: &str,
    user_id: Option<Uuid>,
    ip: Option<&str>,
    reason: &str,
) -> Result<(), SignupError> {
    let event = NewEvent::about("signup", outcome, user_id, ip, reason);
    p.audit(&event).map_err(OAuthError::from)?;
    Ok(())
}
