//! Invitations to register (README "Self-registration, invitations and
//! email verification"): `lanyard user invite`, the admin page's "Invite
//! someone", and `POST /admin/api/v1/invitations`. An invitation is a
//! single-use link (its token stored as its SHA-256) for one address, valid
//! for seven days; it is mailed when mail is on, and the link is always
//! shown to the administrator — so it never verifies the address by itself.
//! Pending invitations are listed (never their links) and can be withdrawn:
//! `lanyard user invitations`, `lanyard user uninvite`, the admin page.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, AdminError, field};
use crate::clock::Clock;
use crate::config::{Config, SignupMode};
use crate::crypto::secret;
use crate::model::{Email, FieldError};
use crate::paths;
use crate::protocol::email_verification;
use crate::protocol::signup::INVITATION_LIFETIME;
pub use crate::store::invitations::PendingInvitation;
use crate::store::invitations::{self, NewInvitation};
use crate::store::users;

pub struct InviteInput {
    pub email: String,
    /// The registered account gets the admin role.
    pub is_admin: bool,
}

/// An invitation made: the link, shown this once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invitation {
    pub email: String,
    pub invitation_url: String,
    pub expires_at: DateTime<Utc>,
    pub admin: bool,
    /// Whether it was mailed to `email` (the address is verified only by
    /// the link its registration mails).
    pub mailed: bool,
}

/// Where an invitation is made from: the configuration, whether mail can
/// go out, and who invites (for the record).
pub struct Inviter<'a> {
    pub config: &'a Config,
    pub mail_on: bool,
    pub by: &'a str,
}

/// Makes an invitation, and queues its mail in the same transaction.
/// Refused when self-registration is off, and for an address an account
/// has verified.
pub async fn invite(
    pool: &PgPool,
    clock: &dyn Clock,
    who: &Inviter<'_>,
    input: InviteInput,
) -> Result<Invitation, AdminError> {
    if who.config.signup == SignupMode::Off {
        let message = "LANYARD_SIGNUP is off, so an invitation cannot be used: set it to `invite` or `open`";
        return Err(AdminError::Invalid(FieldError::new("signup", message)));
    }
    let email = field("email", Email::parse(&input.email))?.into_string();
    let token = secret::random_token(&mut crate::random::rng());
    let link = crate::mail::link(&who.config.issuer, paths::REGISTER, "invite", &token)
        .map_err(|e| AdminError::NotFound(format!("the issuer makes no link: {e}")))?;
    let now = clock.now();
    let expires_at = now + INVITATION_LIFETIME;
    let mut tx = pool.begin().await?;
    users::lock_email(&mut tx, &email).await?;
    if users::verified_holder(&mut tx, &email).await?.is_some() {
        return Err(AdminError::Conflict(format!("an account with the email `{email}`")));
    }
    let new = NewInvitation {
        token_hash: &secret::sha256(&token),
        email: &email,
        is_admin: input.is_admin,
        mailed: who.mail_on,
        created_by: who.by,
        now,
        expires_at,
    };
    invitations::insert(&mut tx, &new).await?;
    if who.mail_on {
        let body = format!(
            "Hello,\n\nyou are invited to create an account. \
             Open this link within 7 days to choose your username and password:\n\n{link}\n\n\
             The link works once. If you did not expect it, ignore this message.\n",
        );
        email_verification::queue(&mut tx, &email, "You are invited", &body, now).await?;
    }
    tx.commit().await?;
    Ok(Invitation {
        email,
        invitation_url: link.to_string(),
        expires_at,
        admin: input.is_admin,
        mailed: who.mail_on,
    })
}

/// An invitation from the admin page or the admin API, audited.
pub async fn invite_by(actor: &Actor<'_>, input: InviteInput) -> Result<Invitation, AdminError> {
    let p = actor.provider();
    let who = Inviter {
        config: &p.config,
        mail_on: p.mail.is_on(),
        by: actor.name(),
    };
    let invitation = invite(&p.pool, p.clock.as_ref(), &who, input).await?;
    actor.changed("invited someone", details(&invitation)).await;
    Ok(invitation)
}

/// What the audit log records of an invitation (never its link).
pub fn details(i: &Invitation) -> serde_json::Value {
    serde_json::json!({ "email": i.email, "admin": i.admin, "mailed": i.mailed, "expires_at": i.expires_at })
}

/// The invitations still usable (never their links), the soonest to expire first.
pub async fn pending(pool: &PgPool, clock: &dyn Clock) -> Result<Vec<PendingInvitation>, AdminError> {
    let mut conn = pool.acquire().await?;
    Ok(invitations::pending(&mut conn, clock.now()).await?)
}

/// Withdraws a pending invitation: its link no longer works. Returns its address.
pub async fn withdraw(pool: &PgPool, clock: &dyn Clock, id: Uuid) -> Result<String, AdminError> {
    let mut conn = pool.acquire().await?;
    invitations::withdraw(&mut conn, id, clock.now())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no pending invitation `{id}`")))
}

/// [`withdraw`] from the admin page, audited.
pub async fn withdraw_by(actor: &Actor<'_>, id: Uuid) -> Result<String, AdminError> {
    let p = actor.provider();
    let email = withdraw(&p.pool, p.clock.as_ref(), id).await?;
    actor
        .changed(
            "withdrew an invitation",
            serde_json::json!({ "id": id, "email": email }),
        )
        .await;
    Ok(email)
}
