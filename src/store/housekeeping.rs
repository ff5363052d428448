//! Deleting what has expired, table by table, one bounded batch per
//! statement (so no statement holds many row locks or runs long).

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// When each kind of row is past keeping.
pub struct Horizons {
    pub now: DateTime<Utc>,
    /// Expired codes, ended sessions, revoked grants and refresh tokens are
    /// kept this long: a reused code or refresh token is still recognised
    /// (and its grant revoked), the admin page still shows them.
    pub keep_expired: TimeDelta,
    /// The longest access token lifetime: a grant stays until every token it
    /// may have issued has expired.
    pub longest_access_token: TimeDelta,
    /// Sessions idle for longer than this are over.
    pub session_idle: TimeDelta,
    /// Refresh families last at most this long (for grants made before
    /// grants had an expiry).
    pub refresh_token_max: TimeDelta,
    /// The sign-in throttle's window.
    pub throttle_window: TimeDelta,
    /// Audit events and token counts older than this go.
    pub audit_before: DateTime<Utc>,
    /// A metadata-document client last fetched before this, that nothing
    /// references, goes.
    pub documents_before: DateTime<Utc>,
}

/// The tables housekeeping prunes, in the order it prunes them.
pub const TABLES: [&str; 22] = [
    "authorization_codes",
    "par_requests",
    "refresh_tokens",
    "grants",
    "sessions",
    "login_throttle",
    "revoked_access_tokens",
    "dpop_proof_jtis",
    "pending_sign_in_nonces",
    "client_assertion_jtis",
    "webauthn_ceremonies",
    "upstream_flows",
    "upstream_pending_links",
    "mail_outbox",
    "logout_outbox",
    "password_resets",
    "invitations",
    "email_verifications",
    "registration_tokens",
    "audit_events",
    "token_counters",
    // Last: after the grants and codes that may reference a client.
    "clients",
];

/// Deletes at most `batch` rows of `table` past keeping; returns how many.
pub async fn prune_batch(conn: &mut PgConnection, table: &str, h: &Horizons, batch: i64) -> Result<u64, StoreError> {
    // $1 now, $2 keep expired (s), $3 longest access token (s), $4 session
    // idle (s), $5 refresh family (s), $6 throttle window (s), $7 audit
    // horizon, $8 batch, $9 metadata-document horizon.
    let condition = match table {
        "authorization_codes" => "expires_at < $1 - $2 * interval '1 second'",
        // An expired push can no longer start an authorization (RFC 9126
        // §2.2), nor a spent one continue its sign-in: nothing reads it again
        // (kept no longer, so the table stays within `par::MAX_STORED`).
        "par_requests" => "coalesce(carry_until, expires_at) < $1",
        // A rotated token is kept only to recognise its reuse.
        "refresh_tokens" => {
            "least(idle_expires_at, expires_at) < $1 - $2 * interval '1 second'
             OR revoked_at < $1 - $2 * interval '1 second'
             OR rotated_at < $1 - $2 * interval '1 second'"
        }
        // Past what it rests on, plus the life of the last token it issued;
        // a grant without offline_access also once its session is over; an
        // exchange once its one token has expired.
        "grants" => {
            "revoked_at < $1 - $2 * interval '1 second'
             OR coalesce(expires_at, created_at + $5 * interval '1 second') < $1 - $3 * interval '1 second'
             OR (grant_type <> 'authorization_code' AND created_at < $1 - $3 * interval '1 second')
             OR (NOT offline AND grant_type = 'authorization_code' AND created_at < $1 - $3 * interval '1 second'
                 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = t.session_id
                                   AND coalesce(s.ended_at, s.expires_at) > $1 - $3 * interval '1 second'))"
        }
        // A session whose sign-in an offline grant still stands on stays:
        // that grant's refreshed id_tokens name it (`sid`).
        "sessions" => {
            "(ended_at < $1 - $2 * interval '1 second'
              OR expires_at < $1 - $2 * interval '1 second'
              OR last_seen_at < $1 - ($2 + $4) * interval '1 second')
             AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.session_id = t.id AND g.revoked_at IS NULL AND g.offline)"
        }
        "login_throttle" => {
            "window_started_at < $1 - $6 * interval '1 second' AND (in_flight_until IS NULL OR in_flight_until < $1)"
        }
        // Kept past `exp` by the retention too: a node whose clock runs
        // behind must still find the token revoked.
        "revoked_access_tokens" => "expires_at < $1 - $2 * interval '1 second'",
        // Past its window a replayed proof is refused for its `iat` anyway
        // (and a pending sign-in past its expiry).
        "dpop_proof_jtis" | "pending_sign_in_nonces" => "expires_at < $1 - $2 * interval '1 second'",
        // Past its `exp` a replayed assertion is refused as expired anyway.
        "client_assertion_jtis" => "expires_at < $1 - $2 * interval '1 second'",
        // An expired ceremony can no longer finish: nothing to keep.
        "webauthn_ceremonies" => "expires_at < $1",
        // An expired upstream sign-in or pending link can no longer finish.
        "upstream_flows" | "upstream_pending_links" => "expires_at < $1",
        // Sent or given up: kept a while for the operator to look at.
        "mail_outbox" | "logout_outbox" => "coalesce(sent_at, failed_at) < $1 - $2 * interval '1 second'",
        // An expired reset link can no longer be used.
        "password_resets" => "expires_at < $1 - $2 * interval '1 second'",
        // An expired invitation or verification link can no longer be used.
        "invitations" | "email_verifications" => "expires_at < $1 - $2 * interval '1 second'",
        // An initial access token expired, used up or revoked registers
        // nothing more (clients keep its id in `registered_with`, no key).
        "registration_tokens" => {
            "expires_at < $1 - $2 * interval '1 second'
             OR revoked_at < $1 - $2 * interval '1 second'
             OR (uses_left = 0 AND created_at < $1 - $2 * interval '1 second')"
        }
        "audit_events" => "occurred_at < $7",
        "token_counters" => "hour < $7",
        // Only clients described by a metadata document, not fetched for a
        // week, that no consent, grant, code, pushed request or logout
        // delivery references: one that comes back is fetched anew (within
        // the per-address throttle and LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX).
        "clients" => {
            "registered_via = 'metadata_document' AND metadata_fetched_at < $9
             AND NOT EXISTS (SELECT 1 FROM consents x WHERE x.client_id = t.client_id)
             AND NOT EXISTS (SELECT 1 FROM grants x WHERE x.client_id = t.client_id)
             AND NOT EXISTS (SELECT 1 FROM authorization_codes x WHERE x.client_id = t.client_id)
             AND NOT EXISTS (SELECT 1 FROM par_requests x WHERE x.client_id = t.client_id)
             AND NOT EXISTS (SELECT 1 FROM logout_outbox x WHERE x.client_id = t.client_id)"
        }
        other => return Err(StoreError::Corrupt(format!("no housekeeping for table `{other}`"))),
    };
    let sql =
        format!("DELETE FROM {table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table} t WHERE {condition} LIMIT $8))");
    let secs = |d: TimeDelta| d.num_seconds() as f64;
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(h.now)
        .bind(secs(h.keep_expired))
        .bind(secs(h.longest_access_token))
        .bind(secs(h.session_idle))
        .bind(secs(h.refresh_token_max))
        .bind(secs(h.throttle_window))
        .bind(h.audit_before)
        .bind(batch)
        .bind(h.documents_before)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Takes the housekeeping lock for this connection's session, if no other
/// node holds it.
pub async fn try_lock(conn: &mut PgConnection, key: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await?)
}

pub async fn unlock(conn: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
