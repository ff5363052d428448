//! The applications a person connected: the consents they gave (OIDC scopes,
//! and API scopes per API). Withdrawing one deletes the consent and revokes
//! every grant of theirs for that client — refresh tokens, access tokens
//! (refused by grant) and every grant exchanged or delegated from them
//! (RFC 7009 §2.1: revoking a grant revokes what it issued).

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Person, when};
use crate::model::OidcScope;
use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::store::consents::{self, GivenConsent};
use crate::store::grants::{self, UserGrants};

/// A connected application as the account page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub client_id: String,
    pub name: String,
    /// The OIDC scopes consented to, in plain words (as the consent page
    /// said them).
    pub scopes: Vec<String>,
    /// `[{"audience", "name", "scopes"}]`: the APIs it may call for the person.
    pub apis: serde_json::Value,
    pub since: String,
    pub updated: String,
}

/// The consents the person gave, newest first, named as the catalog names
/// their clients.
pub async fn list(p: &Provider, user_id: uuid::Uuid) -> Result<Vec<AppView>, OAuthError> {
    let given = consents::given_by_user(&mut *p.pool.acquire().await?, user_id).await?;
    Ok(given.into_iter().map(|c| view(p, c)).collect())
}

fn view(p: &Provider, c: GivenConsent) -> AppView {
    let name = p.catalog.client(&c.client_id).map(|client| client.name.clone());
    AppView {
        name: name.filter(|n| !n.is_empty()).unwrap_or_else(|| c.client_id.clone()),
        client_id: c.client_id,
        scopes: c
            .scopes
            .iter()
            .map(|s| {
                s.parse::<OidcScope>()
                    .map_or_else(|_| s.clone(), |o| o.in_words().to_owned())
            })
            .collect(),
        apis: c.apis,
        since: when(c.created_at),
        updated: when(c.updated_at),
    }
}

/// Withdraws the person's consent to `client_id` and ends everything it issued.
pub async fn withdraw(person: &Person<'_>, client_id: &str) -> Result<(), AccountError> {
    let p = person.provider;
    let user_id = person.session.user.id;
    let mut tx = p.pool.begin().await?;
    if !consents::delete_of_user(&mut tx, user_id, client_id).await? {
        return Err(AccountError::NotFound("no such application"));
    }
    let reason = "consent withdrawn by its owner";
    grants::revoke_of_user(&mut tx, user_id, UserGrants::OfClient(client_id), reason, p.now()).await?;
    tx.commit().await?;
    person.audit(
        "ok",
        "withdraw consent",
        Some(client_id),
        json!({ "client_id": client_id }),
    );
    Ok(())
}
