//! Invitations to register (README "Self-registration, invitations and
//! email verification"): `lanyard user invite`, the admin page's "Invite
//! someone", and `POST /admin/api/v1/invitations`. An invitation is a
//! single-use link (its token stored as its SHA-256) for one address, valid
//! for seven days; it is mailed when mail is on, and the link is always
//! shown to the administrator.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Actor, AdminError, field};
use crate::clock::Clock;
use crate::config::{Config, SignupMode};
use crate::crypto::secret;
use crate::model::{FieldError, check_email};
use crate::paths;
use crate::protocol::signup::INVITATION_LIFETIME;
use crate::store::invitations::{self, NewInvitation};
use crate::store::mail_outbox::{self, NewMail};
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
    /// Whether it was mailed to `email` (then the address counts as verified).
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
/// Refused when self-registration is off, and for an address an account has.
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
    let email = input.email.trim().to_owned();
    field(
        "email",
        check_email(&email).and_then(|()| match email.len() > 320 {
            true => Err("is longer than 320 characters".to_owned()),
            false => Ok(()),
        }),
    )?;
    let token = secret::random_token(&mut crate::random::rng());
    let mut link = url::Url::parse(&format!("{}{}", who.config.issuer.as_str(), paths::REGISTER))
        .map_err(|e| AdminError::NotFound(format!("the issuer makes no link: {e}")))?;
    link.query_pairs_mut().append_pair("invite", &token);
    let now = clock.now();
    let expires_at = now + INVITATION_LIFETIME;
    let mut tx = pool.begin().await?;
    users::lock_email(&mut tx, &email).await?;
    if users::email_taken(&mut tx, &email).await?.is_some() {
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
        let mail = NewMail {
            recipient: &email,
            subject: "You are invited",
            body: &body,
        };
        mail_outbox::insert(&mut tx, &mail, now).await?;
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
