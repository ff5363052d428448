//! Self-registration (README "Self-registration, invitations and email
//! verification"): `LANYARD_SIGNUP` says who may register — nobody, only
//! with an invitation, or anyone. A registration is throttled per client
//! address, follows the password rules (`model::password_rules`), and signs
//! the person in. The address typed is only waiting for verification
//! (`email_verification`): it becomes the account's once its link is used,
//! and an address that belongs to another account gets its owner a notice —
//! the same answer either way, so registering reveals no address.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Provider;
use super::email_verification::{self, Offered};
use super::error::OAuthError;
use super::session::{self, Origin};
use super::signin::{SignedIn, THROTTLE_WINDOW};
use crate::config::SignupMode;
use crate::crypto::{password, secret};
use crate::model::{FieldError, NewPassword, StandardClaims, Username, check_email};
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
    /// Unknown, expired or already used.
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

/// What the registration form carries. Redacted in `Debug`.
pub struct Registration<'a> {
    pub username: &'a str,
    /// Ignored with an invitation (its address is fixed) and when mail is off.
    pub email: &'a str,
    pub password: String,
    pub password_again: &'a str,
    pub invitation: Option<&'a str>,
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
    /// The address a verification message went to, if any (none when an
    /// invitation mailed to it verified it already).
    pub mailed_to: Option<String>,
}

/// Whether this registration may go ahead: the mode, and the invitation it
/// carries (its fixed address); nothing is spent.
pub async fn admit(p: &Provider, invitation: Option<&str>) -> Result<Option<InvitationRow>, SignupError> {
    let mode = p.config.signup;
    if mode == SignupMode::Off {
        return Err(SignupError::Off);
    }
    let Some(token) = invitation.filter(|t| !t.is_empty()) else {
        return match mode {
            SignupMode::Open => Ok(None),
            _ => Err(SignupError::InvitationNeeded),
        };
    };
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let found = invitations::find_usable(&mut conn, &secret::sha256(token), p.now()).await?;
    found.map(Some).ok_or(SignupError::InvalidInvitation)
}

/// `POST /signin/register`: creates the account and signs the person in.
pub async fn register(p: &Provider, r: Registration<'_>) -> Result<Registered, SignupError> {
    let invitation = admit(p, r.invitation).await?;
    let ip = r.origin.ip;
    let now = p.now();
    let mut conn = p.pool.acquire().await.map_err(OAuthError::from)?;
    let key = format!("signup:ip:{}", ip.unwrap_or("-"));
    let attempts = login_throttle::reserve(&mut conn, &key, now, now - THROTTLE_WINDOW, None).await?;
    drop(conn);
    if attempts.is_some_and(|n| n > ADDRESS_BUDGET) {
        audit(p, "refused", None, ip, "throttled")?;
        return Err(SignupError::Throttled);
    }
    let username = Username::parse(r.username.trim()).map_err(|m| invalid("username", m))?;
    let email = chosen_email(p, &r, invitation.as_ref())?;
    let new = checked_password(p, &r, &username, email.as_deref())?;
    let hash = password::hash_off_thread(new.into_inner())
        .await
        .map_err(OAuthError::from)?;
    let account = Account {
        username: &username,
        hash: &hash,
        email: email.as_deref(),
        invitation: invitation.as_ref().zip(r.invitation),
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
    let mailed_to = email.filter(|_| offered.is_some());
    Ok(Registered { signed_in, mailed_to })
}

/// The address of the new account: the invitation's, else the one typed
/// (only when mail can verify it).
fn chosen_email(
    p: &Provider,
    r: &Registration<'_>,
    invitation: Option<&InvitationRow>,
) -> Result<Option<String>, SignupError> {
    if let Some(invitation) = invitation {
        return Ok(Some(invitation.email.clone()));
    }
    if !p.mail.is_on() {
        return Ok(None);
    }
    let email = r.email.trim();
    if email.is_empty() || email.len() > 320 {
        return Err(invalid("email", "Enter your email address."));
    }
    check_email(email).map_err(|m| invalid("email", m))?;
    Ok(Some(email.to_owned()))
}

/// The password, typed twice alike, by the rules of a chosen password.
fn checked_password(
    p: &Provider,
    r: &Registration<'_>,
    username: &Username,
    email: Option<&str>,
) -> Result<NewPassword, SignupError> {
    if r.password != r.password_again {
        return Err(invalid("password", "The two passwords differ."));
    }
    let local = email
        .and_then(|e| e.rsplit_once('@'))
        .map(|(l, _)| l)
        .unwrap_or_default();
    p.config
        .password_policy
        .check(&r.password, &[username.as_str(), local])
        .map_err(|m| invalid("password", format!("The password {m}.")))?;
    NewPassword::parse(r.password.clone()).map_err(|m| invalid("password", format!("The password {m}.")))
}

/// What `create` writes.
struct Account<'a> {
    username: &'a Username,
    hash: &'a str,
    email: Option<&'a str>,
    /// The invitation and its token.
    invitation: Option<(&'a InvitationRow, &'a str)>,
}

/// Writes the account (the invitation spent with it) and queues what its
/// address is sent, in one transaction. A username taken is said.
async fn create(p: &Provider, a: &Account<'_>, now: DateTime<Utc>) -> Result<(Uuid, Option<Offered>), SignupError> {
    let mut tx = p.pool.begin().await?;
    if users::exists(&mut tx, a.username.as_str()).await? {
        return Err(invalid("username", "This username is taken: choose another."));
    }
    // A `sub` is a random UUID v4 (a v7 would tell when the account was made).
    let user_id = Uuid::new_v4();
    let claims = invited_claims(&mut tx, a.invitation.map(|(i, _)| i)).await?;
    let is_admin = a.invitation.is_some_and(|(i, _)| i.is_admin);
    let user = NewUser {
        id: user_id,
        username: a.username,
        password_hash: a.hash,
        is_admin,
        claims: &claims,
        now,
    };
    users::insert(&mut tx, &user).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => invalid("username", "This username is taken: choose another."),
        other => other.into(),
    })?;
    if let Some((_, token)) = a.invitation
        && invitations::spend(&mut tx, &secret::sha256(token), user_id, now)
            .await?
            .is_none()
    {
        return Err(SignupError::InvalidInvitation);
    }
    let offered = match a.email.filter(|_| p.mail.is_on() && !claims.email_verified) {
        Some(email) => Some(email_verification::offer(p, &mut tx, (user_id, a.username.as_str()), email, now).await?),
        None => None,
    };
    tx.commit().await?;
    Ok((user_id, offered))
}

/// The claims an invitation gives: its address, verified when the
/// invitation was mailed to it — unless another account has it by now.
async fn invited_claims(
    tx: &mut PgConnection,
    invitation: Option<&InvitationRow>,
) -> Result<StandardClaims, SignupError> {
    let Some(invitation) = invitation else {
        return Ok(StandardClaims::default());
    };
    users::lock_email(tx, &invitation.email).await?;
    if users::email_taken(tx, &invitation.email).await?.is_some() {
        return Ok(StandardClaims::default());
    }
    Ok(StandardClaims {
        email: Some(invitation.email.clone()),
        email_verified: invitation.mailed,
        ..Default::default()
    })
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
