//! What the in-memory catalog reads about clients: their rows, the API scopes
//! they may get, whose id_tokens they may exchange and whose tokens they may
//! introspect — for every client at start-up, or for the few a change named.

use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::StoreError;
use super::clients::ClientRow;

/// Which clients to read.
#[derive(Clone, Copy)]
pub enum Which<'a> {
    All,
    /// These client_ids (unknown ones simply have no rows).
    Only(&'a [String]),
}

impl Which<'_> {
    /// `sql`, filtered on `column` when not all: two fixed statements, so
    /// each keeps its own (indexed) plan.
    async fn fetch<T>(self, conn: &mut PgConnection, sql: &str, column: &str) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        // Only the fixed statements below, never input: the ids are bound.
        let sql = match self {
            Which::All => sql.to_owned(),
            Which::Only(_) => format!("{sql} WHERE {column} = ANY($1)"),
        };
        let query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
        let query = match self {
            Which::All => query,
            Which::Only(ids) => query.bind(ids),
        };
        Ok(query.fetch_all(conn).await?)
    }
}

/// The catalog's rows for some clients.
#[derive(Default)]
pub struct ClientRows {
    pub clients: Vec<ClientRow>,
    /// (client_id, audience, scope).
    pub allowances: Vec<(String, String, String)>,
    /// (client_id, trusted client_id).
    pub trusts: Vec<(String, String)>,
    /// (client_id, audience): the APIs whose tokens it may introspect (RFC 7662 §4).
    pub introspects: Vec<(String, String)>,
}

/// Reads the catalog's rows for `which` clients. Call it in one consistent
/// transaction (`store::begin_consistent_read`).
pub async fn client_rows(conn: &mut PgConnection, which: Which<'_>) -> Result<ClientRows, StoreError> {
    Ok(ClientRows {
        clients: which.fetch(conn, "SELECT * FROM clients", "client_id").await?,
        allowances: which
            .fetch(
                conn,
                "SELECT c.client_id, a.audience, c.scope FROM client_api_access c JOIN apis a ON a.id = c.api_id",
                "c.client_id",
            )
            .await?,
        trusts: which
            .fetch(
                conn,
                "SELECT client_id, trusted_client_id FROM client_trusts",
                "client_id",
            )
            .await?,
        introspects: which
            .fetch(
                conn,
                "SELECT r.client_id, a.audience FROM api_resource_servers r JOIN apis a ON a.id = r.api_id",
                "r.client_id",
            )
            .await?,
    })
}
