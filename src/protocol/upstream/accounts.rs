//! Accounts from an upstream provider: who the upstream's `sub` is at
//! Lanyard. A known link names the user; an existing account with the
//! upstream's verified email is linked only if the upstream allows it and
//! the person confirms; anyone else gets a new account with the upstream's
//! claims (OIDC Core §5.1) mapped onto it. Then a session as after any
//! sign-in, its `amr` `fed` (RFC 8176 §2) and its level the mapped `acr`'s.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::flow::{Assertion, Carried};
use super::{FLOW_LIFETIME, Upstream, UpstreamError, audit, load};
use crate::crypto::secret::{random_token, sha256};
use crate::model::upstream::federated_amr;
use crate::model::{AuthLevel, ProfileClaim, StandardClaims, Username, username_key};
use crate::protocol::session::{self, Origin};
use crate::protocol::signin::SignedIn;
use crate::protocol::{Provider, email_verification};
use crate::store::StoreError;
use crate::store::upstream_flows::{self, NewPendingLink, PendingLinkRow};
use crate::store::upstreams;
use crate::store::users::{self, NewUser, UserRow};

/// Where a sign-in through an upstream ends.
pub enum Outcome {
    /// Signed in: the session (and device) cookies, and what to resume.
    SignedIn(SignedIn, Carried),
    /// An existing account has the upstream's verified email: the person
    /// confirms the link (or chooses a new account) with this pending token.
    Confirm(PendingLink),
}

/// A link waiting for the person's answer, as the confirmation page shows it.
pub struct PendingLink {
    pub token: String,
    pub username: String,
    pub upstream_name: String,
}

/// Signs in the person an upstream vouched for (see the module's rules).
pub async fn sign_in(p: &Provider, a: Assertion, binding: &str, from: &Origin<'_>) -> Result<Outcome, UpstreamError> {
    let now = p.now();
    let u = &a.upstream;
    let mut conn = p.pool.acquire().await?;
    if let Some(user_id) = upstreams::use_link(&mut conn, u.id.as_str(), &a.subject, now).await? {
        drop(conn);
        let signed_in = start(p, u, user_id, Some(&a.claims), a.level, from).await?;
        return Ok(Outcome::SignedIn(signed_in, a.carried));
    }
    if let Some(user) = linkable(p, u, &a.claims).await? {
        let token = random_token(&mut crate::random::rng());
        let assertion = json!({ "claims": a.claims, "level": a.level.as_str() });
        let pending = NewPendingLink {
            token_hash: &sha256(&token),
            binding: &sha256(binding),
            upstream_id: u.id.as_str(),
            subject: &a.subject,
            user_id: user.id,
            assertion: &assertion,
            request: &a.carried.request,
            return_to: &a.carried.return_to,
            now,
            expires_at: now + FLOW_LIFETIME,
        };
        upstream_flows::insert_pending_link(&mut conn, &pending).await?;
        return Ok(Outcome::Confirm(PendingLink {
            token,
            username: user.username,
            upstream_name: u.name.clone(),
        }));
    }
    drop(conn);
    let user_id = create(p, u, &a.subject, &a.claims, from.ip).await?;
    let signed_in = start(p, u, user_id, None, a.level, from).await?;
    Ok(Outcome::SignedIn(signed_in, a.carried))
}

/// The person's answer to a pending link: `link` links the account they
/// were offered (still enabled, still with that verified email), else a new
/// account is made. The pending link is taken once, by this browser only.
pub async fn confirm(
    p: &Provider,
    token: &str,
    binding: &str,
    link: bool,
    from: &Origin<'_>,
) -> Result<(SignedIn, Carried), UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    let pending = upstream_flows::take_pending_link(&mut conn, &sha256(token), &sha256(binding)).await?;
    let pending = pending.ok_or(UpstreamError::NoFlow)?;
    let now = p.now();
    if pending.expires_at <= now {
        return Err(UpstreamError::Expired);
    }
    let u = load(p, &pending.upstream_id).await?;
    let claims = &pending.assertion["claims"];
    let level = pending.assertion["level"].as_str().and_then(|l| l.parse().ok());
    let level = level.unwrap_or(AuthLevel::Password);
    drop(conn);
    let user_id = match link {
        true => link_offered(p, &u, &pending, from.ip).await?,
        false => create(p, &u, &pending.subject, claims, from.ip).await?,
    };
    let signed_in = start(p, &u, user_id, link.then_some(claims), level, from).await?;
    let carried = Carried {
        request: pending.request,
        return_to: pending.return_to,
    };
    Ok((signed_in, carried))
}

/// Links the account a pending link offered, if it still has the verified
/// email; a link made meanwhile (another tab) decides instead.
async fn link_offered(
    p: &Provider,
    u: &Upstream,
    pending: &PendingLinkRow,
    ip: Option<&str>,
) -> Result<Uuid, UpstreamError> {
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let user = users::find(&mut conn, pending.user_id).await?;
    let user = user.filter(|user| same_verified_email(user, &pending.assertion["claims"]));
    let user = user.ok_or_else(|| UpstreamError::Invalid("the account no longer has this verified email".into()))?;
    match upstreams::link(&mut conn, u.id.as_str(), &pending.subject, user.id, now).await {
        Err(StoreError::Conflict(_)) => raced(p, u, &pending.subject, now).await,
        other => {
            other?;
            let reason = "linked to an existing account by verified email";
            record(p, "linked", user.id, ip, u, reason)?;
            Ok(user.id)
        }
    }
}

/// The one enabled account whose own email is verified and is the email
/// the upstream asserts as verified — when the upstream allows linking.
async fn linkable(p: &Provider, u: &Upstream, claims: &Value) -> Result<Option<UserRow>, UpstreamError> {
    let email = claims["email"]
        .as_str()
        .filter(|_| claims["email_verified"].as_bool() == Some(true));
    let Some(email) = email.filter(|_| u.link_by_verified_email) else {
        return Ok(None);
    };
    let mut conn = p.pool.acquire().await?;
    let mut found = users::find_enabled_by_email(&mut conn, email).await?;
    found.retain(|user| same_verified_email(user, claims));
    // Two accounts with one address: no guess which; a new account instead.
    Ok(match found.len() {
        1 => found.pop(),
        _ => None,
    })
}

fn same_verified_email(user: &UserRow, claims: &Value) -> bool {
    let asserted = claims["email"]
        .as_str()
        .filter(|_| claims["email_verified"].as_bool() == Some(true));
    user.is_enabled()
        && user.email_verified
        && asserted
            .zip(user.email.as_deref())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// Starts the session of `user_id` (refused if disabled), with the mapped
/// claims written again first when the upstream refreshes them at every sign-in.
async fn start(
    p: &Provider,
    u: &Upstream,
    user_id: Uuid,
    refresh: Option<&Value>,
    level: AuthLevel,
    from: &Origin<'_>,
) -> Result<SignedIn, UpstreamError> {
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let user = users::find(&mut conn, user_id).await?.ok_or(UpstreamError::NoFlow)?;
    if !user.is_enabled() {
        record(p, "disabled", user.id, from.ip, u, "the account is disabled")?;
        return Err(UpstreamError::Disabled);
    }
    drop(conn);
    if let Some(claims) = refresh.filter(|_| u.refresh_claims) {
        refresh_claims(p, &user, mapped(u, claims, user.claims()), from.ip).await?;
    }
    let cookie = session::start(p, user.id, &federated_amr(level), from).await?;
    record(p, "ok", user.id, from.ip, u, "signed in through an upstream provider")?;
    Ok(SignedIn {
        user_id: user.id,
        cookie,
        device_cookie: p.devices.issue(&username_key(&user.username), None, now),
    })
}

/// Writes the claims an upstream refreshes at each sign-in, if they changed
/// (a verified address settled first: one verified holder per address).
async fn refresh_claims(
    p: &Provider,
    user: &UserRow,
    mut updated: StandardClaims,
    ip: Option<&str>,
) -> Result<(), UpstreamError> {
    if updated == user.claims() {
        return Ok(());
    }
    let now = p.now();
    let mut tx = p.pool.begin().await?;
    let released = email_verification::settle_asserted(&mut tx, user.id, &mut updated, now).await?;
    users::update_claims(&mut tx, user.id, &updated, now).await?;
    tx.commit().await?;
    email_verification::audit_released(p, &released, ip)?;
    Ok(())
}

/// A new account for (upstream, sub): a random `sub` of its own, a free
/// username, the mapped claims, no password, and the link — in one
/// transaction. A concurrent first sign-in of the same person wins the link;
/// this one then signs in to that account.
async fn create(
    p: &Provider,
    u: &Upstream,
    subject: &str,
    claims: &Value,
    ip: Option<&str>,
) -> Result<Uuid, UpstreamError> {
    let now = p.now();
    for username in usernames(u, claims) {
        let Ok(username) = Username::parse(&username) else {
            continue;
        };
        let id = Uuid::new_v4();
        let mut tx = p.pool.begin().await?;
        let mut mapped = mapped(u, claims, StandardClaims::default());
        let released = email_verification::settle_asserted(&mut tx, id, &mut mapped, now).await?;
        let user = NewUser {
            id,
            username: &username,
            password_hash: None,
            is_admin: false,
            claims: &mapped,
            now,
        };
        match users::insert(&mut tx, &user).await {
            Err(StoreError::Conflict(_)) => continue,
            other => other?,
        }
        match upstreams::link(&mut tx, u.id.as_str(), subject, id, now).await {
            Err(StoreError::Conflict(_)) => return raced(p, u, subject, now).await,
            other => other?,
        }
        tx.commit().await?;
        email_verification::audit_released(p, &released, ip)?;
        record(
            p,
            "created",
            id,
            ip,
            u,
            "account made for a person from an upstream provider",
        )?;
        return Ok(id);
    }
    Err(UpstreamError::Internal(crate::protocol::error::OAuthError::internal(
        "no free username for a person from an upstream",
    )))
}

async fn raced(p: &Provider, u: &Upstream, subject: &str, now: DateTime<Utc>) -> Result<Uuid, UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    upstreams::use_link(&mut conn, u.id.as_str(), subject, now)
        .await?
        .ok_or(UpstreamError::NoFlow)
}

/// Usernames to try, in order: the upstream's `preferred_username`, the
/// local part of its email, else `ID-xxxx`; each taken one again with a
/// random suffix.
fn usernames(u: &Upstream, claims: &Value) -> Vec<String> {
    let fits = |s: &&str| Username::parse(s).is_ok() && s.chars().count() <= 40;
    let email_local = claims["email"].as_str().and_then(|e| e.split('@').next());
    let base = claims["preferred_username"]
        .as_str()
        .filter(fits)
        .or(email_local.filter(fits));
    let suffix = || {
        let bytes = crate::random::bytes::<2>();
        format!("{:02x}{:02x}", bytes[0], bytes[1])
    };
    let mut out: Vec<String> = base.map(str::to_owned).into_iter().collect();
    let stem = base.unwrap_or(u.id.as_str());
    out.extend((0..5).map(|_| format!("{stem}-{}", suffix())));
    out
}

/// `base` with the upstream's mapped claims written over it: each claim the
/// upstream gives that is well formed; `email` with the upstream's
/// `email_verified`, `phone_number` with its `phone_number_verified`.
pub fn mapped(u: &Upstream, claims: &Value, base: StandardClaims) -> StandardClaims {
    let mut out = base.clone();
    for claim in &u.claims {
        let Some(value) = claims[claim.as_str()].as_str() else {
            continue;
        };
        let mut probe = StandardClaims::default();
        claim.set(&mut probe, Some(value.to_owned()));
        if probe.validated().is_err() {
            continue;
        }
        claim.set(&mut out, Some(value.to_owned()));
        match claim {
            ProfileClaim::Email => out.email_verified = claims["email_verified"].as_bool() == Some(true),
            ProfileClaim::PhoneNumber => {
                out.phone_number_verified = claims["phone_number_verified"].as_bool() == Some(true)
            }
            _ => {}
        }
    }
    out.validated().unwrap_or(base)
}

/// An audit event about a sign-in through an upstream (kind `sign_in`), the upstream named.
fn record(
    p: &Provider,
    outcome: &str,
    user_id: Uuid,
    ip: Option<&str>,
    u: &Upstream,
    reason: &str,
) -> Result<(), UpstreamError> {
    audit(p, outcome, Some(user_id), ip, u.id.as_str(), reason)
}
