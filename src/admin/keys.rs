//! Signing keys from the admin pages and the admin API: the lifecycle of
//! `crate::keys` (list, rotate, revoke) under the server's master key, each
//! change audited.

use sqlx::PgPool;

use super::{Actor, AdminError};
use crate::keys::{self, KeyChange, KeyInfo};

/// Every stored key (never its private half).
pub async fn list(pool: &PgPool) -> Result<Vec<KeyInfo>, AdminError> {
    Ok(keys::list(pool).await?)
}

/// "Rotate now": `next` → `active`, `active` → `retired`, a new `next`. Too
/// soon for cached JWKS is refused (`KeyError::TooSoon`) unless `force`.
pub async fn rotate_by(actor: &Actor<'_>, force: bool) -> Result<Vec<KeyChange>, AdminError> {
    let p = actor.provider();
    let master = p.config.master_key.as_ref().ok_or(AdminError::NoMasterKey)?;
    let changes = keys::rotate(&p.pool, p.clock.as_ref(), master, force).await?;
    let details = serde_json::json!({ "changes": changes });
    actor.changed("rotated the signing keys", details).await;
    Ok(changes)
}

/// Revokes one key: it leaves the JWKS at once; tokens it signed stop validating.
pub async fn revoke_by(actor: &Actor<'_>, kid: &str) -> Result<Vec<KeyChange>, AdminError> {
    let p = actor.provider();
    let master = p.config.master_key.as_ref().ok_or(AdminError::NoMasterKey)?;
    let changes = keys::revoke(&p.pool, p.clock.as_ref(), master, kid).await?;
    let details = serde_json::json!({ "kid": kid, "changes": changes });
    actor.changed("revoked a signing key", details).await;
    Ok(changes)
}
