//! Accounts from an upstream provider: who the upstream's `sub` (at its
//! issuer, OIDC Core §2) is at Lanyard. A known link names the user; an
//! existing account with the upstream's verified email is offered for a link
//! when the upstream allows it, and linked only once the person signs in to
//! that account with its own factors in the same browser; a signed-in person
//! connects an upstream from the account page; anyone else gets a new account
//! with the upstream's claims (OIDC Core §5.1) mapped onto it. Then a session
//! as after any sign-in, its `amr` `fed` (RFC 8176 §2) and its level the
//! mapped `acr`'s.

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
use crate::store::upstreams::{self, LinkKey};
use crate::store::users::{self, NewUser, UserRow};

/// Where a sign-in through an upstream ends.
pub enum Outcome {
    /// Signed in: the session (and device) cookies, and what to resume.
    SignedIn(SignedIn, Carried),
    /// An existing account has the upstream's verified email: the person may
    /// sign in to it to connect the upstream, or take a separate account,
    /// with this pending token.
    Confirm(PendingLink),
    /// Connected from the account page: the link made, back to that page.
    Connected(Carried),
}

/// A link waiting for the person to sign in to the account it names.
pub struct PendingLink {
    pub token: String,
    pub username: String,
    pub upstream_name: String,
}

/// The key of the link an assertion names: (upstream, its issuer, sub).
fn key_of<'a>(u: &'a Upstream, subject: &'a str) -> LinkKey<'a> {
    LinkKey {
        upstream_id: u.id.as_str(),
        issuer: &u.issuer,
        subject,
    }
}

/// Signs in the person an upstream vouched for (see the module's rules).
pub async fn sign_in(p: &Provider, a: Assertion, binding: &str, from: &Origin<'_>) -> Result<Outcome, UpstreamError> {
    let now = p.now();
    let u = &a.upstream;
    if let Some(user_id) = a.link_user_id {
        connect(p, u, &a.subject, user_id, from.ip).await?;
        return Ok(Outcome::Connected(a.carried));
    }
    let mut conn = p.pool.acquire().await?;
    if let Some(user_id) = upstreams::use_link(&mut conn, key_of(u, &a.subject), now).await? {
        drop(conn);
        let signed_in = start(p, u, user_id, Some(&a.claims), &a, from).await?;
        return Ok(Outcome::SignedIn(signed_in, a.carried));
    }
    drop(conn);
    if let Some(user) = linkable(p, u, &a.claims).await? {
        return offer_link(p, &a, user, binding).await.map(Outcome::Confirm);
    }
    let user_id = create(p, u, &a.subject, &a.claims, from.ip).await?;
    let signed_in = start(p, u, user_id, None, &a, from).await?;
    Ok(Outcome::SignedIn(signed_in, a.carried))
}

/// Keeps the upstream's answer as a pending link to `user`, for this browser.
async fn offer_link(p: &Provider, a: &Assertion, user: UserRow, binding: &str) -> Result<PendingLink, UpstreamError> {
    let now = p.now();
    let u = &a.upstream;
    let token = random_token(&mut crate::random::rng());
    let assertion = json!({
        "claims": a.claims, "level": a.level.as_str(), "auth_time": a.auth_time.map(|t| t.timestamp()),
    });
    let pending = NewPendingLink {
        token_hash: &sha256(&token),
        binding: &sha256(binding),
        upstream_id: u.id.as_str(),
        issuer: &u.issuer,
        subject: &a.subject,
        user_id: user.id,
        assertion: &assertion,
        request: &a.carried.request,
        return_to: &a.carried.return_to,
        now,
        expires_at: now + FLOW_LIFETIME,
    };
    let mut conn = p.pool.acquire().await?;
    upstream_flows::insert_pending_link(&mut conn, &pending).await?;
    Ok(PendingLink {
        token,
        username: user.username,
        upstream_name: u.name.clone(),
    })
}

/// The person takes a separate account rather than signing in to the one
/// offered: a new account is made and signed in. The pending link is taken
/// once, by this browser only.
pub async fn separate(
    p: &Provider,
    token: &str,
    binding: &str,
    from: &Origin<'_>,
) -> Result<(SignedIn, Carried), UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    let pending = upstream_flows::take_pending_link(&mut conn, &sha256(token), &sha256(binding)).await?;
    drop(conn);
    let pending = pending.ok_or(UpstreamError::NoFlow)?;
    if pending.expires_at <= p.now() {
        return Err(UpstreamError::Expired);
    }
    let u = load(p, &pending.upstream_id).await?;
    if pending.issuer != u.issuer {
        return Err(UpstreamError::NoFlow);
    }
    let a = kept(u, pending);
    let user_id = create(p, &a.upstream, &a.subject, &a.claims, from.ip).await?;
    let signed_in = start(p, &a.upstream, user_id, None, &a, from).await?;
    Ok((signed_in, a.carried))
}

/// The upstream's answer a pending link kept.
fn kept(upstream: Upstream, pending: PendingLinkRow) -> Assertion {
    let level = pending.assertion["level"].as_str().and_then(|l| l.parse().ok());
    let auth_time = pending.assertion["auth_time"].as_i64();
    Assertion {
        upstream,
        subject: pending.subject,
        claims: pending.assertion["claims"].clone(),
        level: level.unwrap_or(AuthLevel::Password),
        auth_time: auth_time.and_then(|t| DateTime::from_timestamp(t, 0)),
        link_user_id: None,
        carried: Carried {
            request: pending.request,
            return_to: pending.return_to,
        },
    }
}

/// What the sign-in page shows for a pending link this browser holds: the
/// account to sign in to, the upstream's name, and what the sign-in carries.
pub struct Awaiting {
    pub username: String,
    pub upstream_name: String,
    pub carried: Carried,
}

/// "Sign in to connect": the pending link, still waiting (not taken).
pub async fn awaiting(p: &Provider, token: &str, binding: &str) -> Result<Awaiting, UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    let pending = upstream_flows::find_pending_link(&mut conn, &sha256(token), &sha256(binding)).await?;
    let pending = pending
        .filter(|l| l.expires_at > p.now())
        .ok_or(UpstreamError::NoFlow)?;
    let user = users::find(&mut conn, pending.user_id)
        .await?
        .ok_or(UpstreamError::NoFlow)?;
    drop(conn);
    let u = load(p, &pending.upstream_id).await?;
    Ok(Awaiting {
        username: user.username,
        upstream_name: u.name,
        carried: Carried {
            request: pending.request,
            return_to: pending.return_to,
        },
    })
}

/// After this browser signed in with an account's own factors (password
/// and its second step, or a passkey) as `user_id`: the pending link
/// `token` is taken, and made if it names that account (audited either
/// way). True when linked.
pub async fn link_signed_in(
    p: &Provider,
    token: &str,
    binding: &str,
    user_id: Uuid,
    ip: Option<&str>,
) -> Result<bool, UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    let pending = upstream_flows::take_pending_link(&mut conn, &sha256(token), &sha256(binding)).await?;
    drop(conn);
    let pending = pending.ok_or(UpstreamError::NoFlow)?;
    let u = load(p, &pending.upstream_id).await?;
    let refused = match () {
        _ if pending.expires_at <= p.now() => Some("the pending link expired"),
        _ if pending.user_id != user_id => Some("signed in to another account than the one offered: no link"),
        _ if pending.issuer != u.issuer => Some("the upstream's issuer changed: no link"),
        _ => None,
    };
    if let Some(reason) = refused {
        audit(p, "failed", Some(user_id), ip, u.id.as_str(), reason)?;
        return Ok(false);
    }
    connect(p, &u, &pending.subject, user_id, ip).await?;
    Ok(true)
}

/// Links (upstream, issuer, sub) to `user_id` (audited): refused when that
/// upstream account is linked to someone else, or the user has a link to
/// this upstream already.
async fn connect(
    p: &Provider,
    u: &Upstream,
    subject: &str,
    user_id: Uuid,
    ip: Option<&str>,
) -> Result<(), UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    match upstreams::link(&mut conn, key_of(u, subject), user_id, p.now()).await {
        Err(StoreError::Conflict(_)) => {
            let reason = "link refused: this upstream account is linked to another account, or this account has a link to the upstream";
            record(p, "failed", user_id, ip, u, reason)?;
            Err(UpstreamError::LinkTaken)
        }
        other => {
            other?;
            record(p, "linked", user_id, ip, u, "linked by the account's own sign-in")?;
            Ok(())
        }
    }
}

/// The upstream's `email` when it asserts `email_verified: true`.
fn verified_email(claims: &Value) -> Option<&str> {
    claims["email"]
        .as_str()
        .filter(|_| claims["email_verified"].as_bool() == Some(true))
}

/// The one enabled account to offer a link to: its own email verified and
/// the one the upstream asserts as verified, when the upstream allows
/// linking; never an admin (admins connect from their account page), nor
/// an account with a link to this upstream already.
async fn linkable(p: &Provider, u: &Upstream, claims: &Value) -> Result<Option<UserRow>, UpstreamError> {
    let Some(email) = verified_email(claims).filter(|_| u.link_by_verified_email) else {
        return Ok(None);
    };
    let mut conn = p.pool.acquire().await?;
    let mut found = users::find_enabled_by_email(&mut conn, email).await?;
    found.retain(|user| {
        user.is_enabled()
            && user.email_verified
            && !user.is_admin
            && user.email.as_deref().is_some_and(|b| email.eq_ignore_ascii_case(b))
    });
    // Two accounts with one address: no guess which; a new account instead.
    if found.len() != 1 {
        return Ok(None);
    }
    let Some(user) = found.pop() else {
        return Ok(None);
    };
    let links = upstreams::links_of(&mut conn, user.id).await?;
    let linked = links
        .iter()
        .any(|l| l.upstream_id == u.id.as_str() && l.issuer == u.issuer);
    Ok((!linked).then_some(user))
}

/// Starts the session of `user_id` (refused if disabled), with the mapped
/// claims written again first when the upstream refreshes them at every sign-in.
async fn start(
    p: &Provider,
    u: &Upstream,
    user_id: Uuid,
    refresh: Option<&Value>,
    a: &Assertion,
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
    let cookie = session::start_at(p, user.id, &federated_amr(a.level), a.auth_time, from).await?;
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
        match upstreams::link(&mut tx, key_of(u, subject), id, now).await {
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
    upstreams::use_link(&mut conn, key_of(u, subject), now)
        .await?
        .ok_or(UpstreamError::NoFlow)
}

/// Usernames a person from an upstream never gets (they read as the
/// operator's own).
const RESERVED: [&str; 7] = [
    "admin",
    "administrator",
    "root",
    "lanyard",
    "support",
    "security",
    "system",
];

/// A username derived from an upstream's claim: lower-cased ASCII
/// `[a-z0-9._-]` only (so never `@`), at most 40 characters, not reserved.
fn derived(raw: &str) -> Option<String> {
    let lower = raw.to_ascii_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= 40
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && !RESERVED.contains(&lower.as_str())
        && Username::parse(&lower).is_ok();
    ok.then_some(lower)
}

/// Usernames to try, in order: the upstream's `preferred_username`, the
/// local part of its email (each as `derived` allows), else `ID-xxxx`; each
/// taken one again with a random suffix.
fn usernames(u: &Upstream, claims: &Value) -> Vec<String> {
    let email_local = claims["email"].as_str().and_then(|e| e.split('@').next());
    let base = claims["preferred_username"]
        .as_str()
        .and_then(derived)
        .or_else(|| email_local.and_then(derived));
    let suffix = || {
        let bytes = crate::random::bytes::<2>();
        format!("{:02x}{:02x}", bytes[0], bytes[1])
    };
    let stem = base.clone().unwrap_or_else(|| u.id.as_str().to_owned());
    let mut out: Vec<String> = base.into_iter().collect();
    out.extend((0..5).map(|_| format!("{stem}-{}", suffix())));
    out
}

/// `base` with the upstream's mapped claims written over it: each claim the
/// upstream gives that is well formed; `email` verified only when the
/// upstream asserts `email_verified` *and* the admin trusts its
/// verification (`link_by_verified_email`), else stored unverified;
/// `phone_number` with its `phone_number_verified` under the same trust.
pub fn mapped(u: &Upstream, claims: &Value, base: StandardClaims) -> StandardClaims {
    let mut out = base.clone();
    let trusted = |name: &str| u.link_by_verified_email && claims[name].as_bool() == Some(true);
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
            ProfileClaim::Email => out.email_verified = trusted("email_verified"),
            ProfileClaim::PhoneNumber => out.phone_number_verified = trusted("phone_number_verified"),
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
