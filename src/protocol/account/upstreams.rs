//! A person's links to upstream OpenID providers (README "Sign in with
//! another OpenID provider"): the list, and unlinking one — refused when it
//! would leave the account with no way in (no password, no passkey while
//! passkeys are on, no other link to an enabled upstream).

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Person};
use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::store::{passkeys, upstreams, users};

/// One link as the account page shows it.
#[derive(Debug, Serialize)]
pub struct LinkView {
    pub upstream_id: String,
    /// The upstream's display name (its id if it is gone from the catalog).
    pub upstream_name: String,
    pub subject: String,
    pub since: String,
}

pub async fn list(p: &Provider, user_id: uuid::Uuid) -> Result<Vec<LinkView>, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    let links = upstreams::links_of(&mut conn, user_id).await?;
    let names = p.catalog.upstreams();
    Ok(links
        .into_iter()
        .map(|l| LinkView {
            upstream_name: names
                .iter()
                .find(|(id, _)| *id == l.upstream_id)
                .map_or_else(|| l.upstream_id.clone(), |(_, name)| name.clone()),
            since: super::when(l.created_at),
            upstream_id: l.upstream_id,
            subject: l.subject,
        })
        .collect())
}

/// An enabled upstream the person has no link to yet: "Connect NAME".
#[derive(Debug, Serialize)]
pub struct Connectable {
    pub name: String,
    /// Where connecting starts (the upstream flow in link mode).
    pub href: String,
}

pub async fn connectable(p: &Provider, user_id: uuid::Uuid) -> Result<Vec<Connectable>, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    let links = upstreams::links_of(&mut conn, user_id).await?;
    Ok(p.catalog
        .upstreams()
        .into_iter()
        .filter(|(id, _)| !links.iter().any(|l| l.upstream_id == *id))
        .map(|(id, name)| Connectable {
            name,
            href: format!("{}?connect=1", crate::paths::upstream_signin(&id)),
        })
        .collect())
}

/// Removes one of the person's links, unless it is their only way in. The
/// person's row is locked meanwhile, so two unlinks cannot both see "another
/// way remains".
pub async fn unlink(person: &Person<'_>, upstream_id: &str, subject: &str) -> Result<(), AccountError> {
    let p = person.provider;
    let user_id = person.session.user.id;
    let mut tx = p.pool.begin().await?;
    let user = users::find_for_update(&mut tx, user_id).await?;
    let user = user.ok_or(AccountError::NotFound("no such account"))?;
    let links = upstreams::links_of(&mut tx, user_id).await?;
    if !links
        .iter()
        .any(|l| l.upstream_id == upstream_id && l.subject == subject)
    {
        return Err(AccountError::NotFound("no such link"));
    }
    // Ways in besides this link: a password, a link to an enabled upstream
    // (at its current issuer), a passkey while passkeys are on.
    let live = upstreams::live_links(&mut tx, user_id).await?;
    let this_live = i64::from(upstreams::live_links_to(&mut tx, user_id, upstream_id, subject).await?);
    let other_ways = live - this_live + i64::from(user.password_hash.is_some());
    let passkeys_on = p.webauthn.is_ok();
    if other_ways == 0 && (!passkeys_on || passkeys::count(&mut tx, user_id).await? == 0) {
        person.audit(
            "failed",
            "unlink",
            None,
            json!({ "upstream": upstream_id, "refused": "only way in" }),
        );
        return Err(AccountError::Invalid(crate::model::FieldError::new(
            "upstreams",
            "This is your only way to sign in: set a password or add a passkey first.",
        )));
    }
    upstreams::unlink(&mut tx, user_id, upstream_id, subject).await?;
    tx.commit().await?;
    person.audit("ok", "unlink", None, json!({ "upstream": upstream_id }));
    Ok(())
}
