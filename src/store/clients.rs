//! The `clients` and `client_trusts` tables.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;
use crate::model::{BackchannelLogout, BackchannelLogoutUri, Client, JwksUri, KeySource};

/// A client as stored (secret as its SHA-256).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<Vec<u8>>,
    pub auth_method: String,
    /// A `private_key_jwt` client's JWK Set of public keys, or where it is.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: String,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    pub dpop_bound: bool,
    pub dpop_nonce: bool,
    /// Back-Channel Logout §2.2 metadata.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// The secret before the last rotation, still accepted until
    /// `previous_secret_valid_until` (a grace period).
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `admin`, `dynamic` (RFC 7591 registration) or `metadata_document`.
    pub registered_via: String,
    /// A dynamically registered client's registration access token, as its SHA-256 (RFC 7592 §1).
    pub registration_token_hash: Option<Vec<u8>>,
    /// The initial access token it registered with, if any.
    pub registered_with: Option<uuid::Uuid>,
    /// A metadata-document client's last fetch, and until when it is fresh.
    pub metadata_fetched_at: Option<DateTime<Utc>>,
    pub metadata_fresh_until: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut PgConnection, c: &ClientRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO clients (client_id, name, secret_hash, auth_method, redirect_uris, post_logout_redirect_uris,
            grant_types, scopes, first_party, id_token_alg, created_at, updated_at, secret_changed_at, jwks, jwks_uri,
            dpop_bound, dpop_nonce, backchannel_logout_uri, backchannel_logout_session_required,
            registered_via, registration_token_hash, registered_with, require_par)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.secret_hash)
    .bind(&c.auth_method)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.grant_types)
    .bind(&c.scopes)
    .bind(c.first_party)
    .bind(&c.id_token_alg)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(&c.jwks)
    .bind(&c.jwks_uri)
    .bind(c.dpop_bound)
    .bind(c.dpop_nonce)
    .bind(&c.backchannel_logout_uri)
    .bind(c.backchannel_logout_session_required)
    .bind(&c.registered_via)
    .bind(&c.registration_token_hash)
    .bind(c.registered_with)
    .bind(c.require_par)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| format!("a client `{}`", c.client_id)))?;
    Ok(())
}

/// Inserts or replaces a client described by its metadata document (its
/// client_id is the document's URL), with when it was fetched and until
/// when that is fresh. A row of that id made another way is left alone
/// (false). A change of keys counts as a new credential, as in `update`;
/// a change of its redirect_uris, keys or auth method deletes its consents
/// in the same transaction (whoever now holds the URL is not the client
/// people consented to: no code goes out silently with `prompt=none`).
pub async fn upsert_document(conn: &mut PgConnection, c: &ClientRow) -> Result<bool, StoreError> {
    use sqlx::Connection as _;
    let mut tx = conn.begin().await?;
    sqlx::query(
        "DELETE FROM consents WHERE client_id = $1 AND EXISTS (
            SELECT 1 FROM clients c WHERE c.client_id = $1 AND c.registered_via = 'metadata_document'
              AND (c.redirect_uris IS DISTINCT FROM $2 OR c.jwks IS DISTINCT FROM $3
                   OR c.jwks_uri IS DISTINCT FROM $4 OR c.auth_method IS DISTINCT FROM $5))",
    )
    .bind(&c.client_id)
    .bind(&c.redirect_uris)
    .bind(&c.jwks)
    .bind(&c.jwks_uri)
    .bind(&c.auth_method)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query(
        "INSERT INTO clients (client_id, name, auth_method, redirect_uris, post_logout_redirect_uris,
            grant_types, scopes, first_party, id_token_alg, created_at, updated_at, secret_changed_at, jwks, jwks_uri,
            dpop_bound, dpop_nonce, backchannel_logout_uri, backchannel_logout_session_required,
            registered_via, require_par, metadata_fetched_at, metadata_fresh_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9, $9, $9, $10, $11, $12, false, $13, $14,
            'metadata_document', $15, $9, $16)
         ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, auth_method = EXCLUDED.auth_method,
            redirect_uris = EXCLUDED.redirect_uris, post_logout_redirect_uris = EXCLUDED.post_logout_redirect_uris,
            grant_types = EXCLUDED.grant_types, scopes = EXCLUDED.scopes, id_token_alg = EXCLUDED.id_token_alg,
            updated_at = EXCLUDED.updated_at,
            secret_changed_at = CASE WHEN clients.jwks IS DISTINCT FROM EXCLUDED.jwks
                                       OR clients.jwks_uri IS DISTINCT FROM EXCLUDED.jwks_uri
                                     THEN EXCLUDED.updated_at ELSE clients.secret_changed_at END,
            jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri, dpop_bound = EXCLUDED.dpop_bound,
            backchannel_logout_uri = EXCLUDED.backchannel_logout_uri,
            backchannel_logout_session_required = EXCLUDED.backchannel_logout_session_required,
            require_par = EXCLUDED.require_par, metadata_fetched_at = EXCLUDED.metadata_fetched_at,
            metadata_fresh_until = EXCLUDED.metadata_fresh_until
         WHERE clients.registered_via = 'metadata_document'",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.auth_method)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.grant_types)
    .bind(&c.scopes)
    .bind(&c.id_token_alg)
    .bind(c.updated_at)
    .bind(&c.jwks)
    .bind(&c.jwks_uri)
    .bind(c.dpop_bound)
    .bind(&c.backchannel_logout_uri)
    .bind(c.backchannel_logout_session_required)
    .bind(c.require_par)
    .bind(c.metadata_fresh_until)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// How many clients described by a metadata document there are.
pub async fn count_documents(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM clients WHERE registered_via = 'metadata_document'")
            .fetch_one(conn)
            .await?,
    )
}

/// Ends a document client's freshness at `until` (its document was
/// refused for good: it serves no more until fetched again).
pub async fn end_document_freshness(
    conn: &mut PgConnection,
    client_id: &str,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE clients SET metadata_fresh_until = $2
         WHERE client_id = $1 AND registered_via = 'metadata_document'",
    )
    .bind(client_id)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(conn: &mut PgConnection, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The clients of these ids that exist (one query).
pub async fn find_many(conn: &mut PgConnection, client_ids: &[String]) -> Result<Vec<ClientRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE client_id = ANY($1)")
            .bind(client_ids)
            .fetch_all(conn)
            .await?,
    )
}

/// Sets (or, with `None`, clears) a registered client's registration access
/// token hash. `None` when there is no such client, `Some(false)` when it
/// did not register itself (nothing changed).
pub async fn set_registration_token(
    conn: &mut PgConnection,
    client_id: &str,
    hash: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<Option<bool>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE clients SET
            registration_token_hash = CASE WHEN registered_via = 'dynamic' THEN $2 ELSE registration_token_hash END,
            updated_at = CASE WHEN registered_via = 'dynamic' THEN $3 ELSE updated_at END
         WHERE client_id = $1
         RETURNING registered_via = 'dynamic'",
    )
    .bind(client_id)
    .bind(hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Lets `client_id` exchange id_tokens issued to `trusted`. False if it already could.
pub async fn insert_trust(
    conn: &mut PgConnection,
    client_id: &str,
    trusted: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO client_trusts (client_id, trusted_client_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(trusted)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("client {}: {e}", r.client_id));
        let keys = match (r.jwks, r.jwks_uri) {
            (Some(jwks), None) => Some(KeySource::Jwks(jwks)),
            (None, Some(uri)) => Some(KeySource::JwksUri(JwksUri::parse(&uri).map_err(corrupt)?)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(corrupt("both jwks and jwks_uri".into())),
        };
        let backchannel_logout = match r.backchannel_logout_uri {
            Some(uri) => Some(BackchannelLogout {
                uri: BackchannelLogoutUri::parse(&uri).map_err(corrupt)?,
                session_required: r.backchannel_logout_session_required,
            }),
            None => None,
        };
        Ok(Client {
            keys,
            auth_method: r.auth_method.parse().map_err(corrupt)?,
            grant_types: r
                .grant_types
                .iter()
                .map(|g| g.parse())
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            scopes: r
                .scopes
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            id_token_alg: r.id_token_alg.parse().map_err(corrupt)?,
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: r.redirect_uris,
            post_logout_redirect_uris: r.post_logout_redirect_uris,
            first_party: r.first_party,
            dpop: crate::model::DpopPolicy {
                required: r.dpop_bound,
                nonce: r.dpop_nonce,
            },
            backchannel_logout,
            require_par: r.require_par,
            previous_secret: match (r.previous_secret_hash, r.previous_secret_valid_until) {
                (Some(hash), Some(valid_until)) => Some(crate::model::PreviousSecret { hash, valid_until }),
                _ => None,
            },
            self_registered: matches!(r.registered_via.as_str(), "dynamic" | "metadata_document"),
            document_fresh_until: r.metadata_fresh_until,
            by_previous_secret: false,
        })
    }
}

/// A page of clients, by client_id, optionally filtered by a search term.
pub async fn list(
    conn: &mut PgConnection,
    search: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<ClientRow>, StoreError> {
    Ok(sqlx::query_as::<_, ClientRow>(
        "SELECT * FROM clients WHERE $1 = '' OR client_id ILIKE '%' || $1 || '%' OR name ILIKE '%' || $1 || '%'
         ORDER BY client_id LIMIT $2 OFFSET $3",
    )
    .bind(search)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?)
}

/// Replaces a client's settings and credentials (secret hash, keys), not
/// its id. A change of credentials counts as a new secret: the admin-API
/// tokens issued before it stop working (`secret_changed_at`).
pub async fn update(conn: &mut PgConnection, c: &ClientRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE clients SET name = $2, auth_method = $3, redirect_uris = $4, post_logout_redirect_uris = $5,
            grant_types = $6, scopes = $7, first_party = $8, id_token_alg = $9, updated_at = $10,
            secret_changed_at = CASE WHEN secret_hash IS DISTINCT FROM $11 OR jwks IS DISTINCT FROM $12
                                       OR jwks_uri IS DISTINCT FROM $13 THEN $10 ELSE secret_changed_at END,
            previous_secret_hash = CASE WHEN secret_hash IS DISTINCT FROM $11 THEN NULL ELSE previous_secret_hash END,
            previous_secret_valid_until = CASE WHEN secret_hash IS DISTINCT FROM $11 THEN NULL
                                               ELSE previous_secret_valid_until END,
            secret_hash = $11, jwks = $12, jwks_uri = $13, dpop_bound = $14, dpop_nonce = $15,
            backchannel_logout_uri = $16, backchannel_logout_session_required = $17, require_par = $18
         WHERE client_id = $1",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.auth_method)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.grant_types)
    .bind(&c.scopes)
    .bind(c.first_party)
    .bind(&c.id_token_alg)
    .bind(c.updated_at)
    .bind(&c.secret_hash)
    .bind(&c.jwks)
    .bind(&c.jwks_uri)
    .bind(c.dpop_bound)
    .bind(c.dpop_nonce)
    .bind(&c.backchannel_logout_uri)
    .bind(c.backchannel_logout_session_required)
    .bind(c.require_par)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new secret; the one it replaces stays accepted until `previous_valid_until`
/// (none: it stops at once), and a grace still running for an older one ends.
pub async fn set_secret_hash(
    conn: &mut PgConnection,
    client_id: &str,
    hash: &[u8],
    now: DateTime<Utc>,
    previous_valid_until: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE clients SET previous_secret_hash = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret_hash END,
            previous_secret_valid_until = $4, secret_hash = $2, updated_at = $3, secret_changed_at = $3
         WHERE client_id = $1",
    )
    .bind(client_id)
    .bind(hash)
    .bind(now)
    .bind(previous_valid_until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the grace of a client's previous secret now; `false` if none was running.
pub async fn end_secret_grace(
    conn: &mut PgConnection,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        // Tokens the previous secret got (admin API tokens included) stop
        // with it: they were issued before this change.
        "UPDATE clients SET previous_secret_hash = NULL, previous_secret_valid_until = NULL, updated_at = $2,
           secret_changed_at = $2
         WHERE client_id = $1 AND previous_secret_hash IS NOT NULL AND previous_secret_valid_until > $2",
    )
    .bind(client_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// For a client holding the `scope` of the API `audience`, when its secret
/// last changed; `None` when there is no such client or it lacks the scope
/// (what the admin API asks of a service's token, at every request).
pub async fn secret_changed_if_allowed(
    conn: &mut PgConnection,
    client_id: &str,
    audience: &str,
    scope: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT c.secret_changed_at FROM clients c
         JOIN client_api_access a ON a.client_id = c.client_id AND a.scope = $3
         JOIN apis ON apis.id = a.api_id AND apis.audience = $2
         WHERE c.client_id = $1",
    )
    .bind(client_id)
    .bind(audience)
    .bind(scope)
    .fetch_optional(conn)
    .await?)
}

/// Deletes a client; its grants, codes, consents and allowances go with it.
pub async fn delete(conn: &mut PgConnection, client_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM clients WHERE client_id = $1")
        .bind(client_id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// A new registration access token for a registered client (RFC 7592 §3: rotated on update).
pub async fn set_registration_token_hash(
    conn: &mut PgConnection,
    client_id: &str,
    hash: &[u8],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE clients SET registration_token_hash = $2 WHERE client_id = $1")
        .bind(client_id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// The clients whose id_tokens `client_id` may exchange.
pub async fn trusted(conn: &mut PgConnection, client_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT trusted_client_id FROM client_trusts WHERE client_id = $1 ORDER BY trusted_client_id",
    )
    .bind(client_id)
    .fetch_all(conn)
    .await?)
}

pub async fn untrust(conn: &mut PgConnection, client_id: &str, other: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM client_trusts WHERE client_id = $1 AND trusted_client_id = $2")
        .bind(client_id)
        .bind(other)
        .execute(conn)
        .await?;
    Ok(())
}
