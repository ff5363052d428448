//! A person's links to upstream OpenID providers (README "Sign in with
//! another OpenID provider"): the list, and unlinking one — refused when it
//! would leave the account with no way in (no password, no passkey, no
//! other link).

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
    let other_ways = links.len() - 1 + usize::from(user.password_hash.is_some());
    if other_ways == 0 && passkeys::count(&mut tx, user_id).await? == 0 {
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
