//! What the in-memory catalog reads about clients: their rows, the API scopes
//! they may get, whose id_tokens they may exchange and whose tokens they may
//! introspect — for every client at start-up, or for the few a change named.

use futures_util::TryStreamExt;
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
    /// Calls `each` with every row of `sql` (filtered on `column` when not
    /// all) as it arrives. Two fixed statements, so each keeps its own
    /// (indexed) plan.
    async fn each<T>(
        self,
        conn: &mut PgConnection,
        sql: &str,
        column: &str,
        mut each: impl FnMut(T),
    ) -> Result<(), StoreError>
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
        let mut rows = query.fetch(conn);
        while let Some(row) = rows.try_next().await? {
            each(row);
        }
        Ok(())
    }

    async fn all_of<T>(self, conn: &mut PgConnection, sql: &str, column: &str) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut rows = Vec::new();
        self.each(conn, sql, column, |row| rows.push(row)).await?;
        Ok(rows)
    }
}

/// Calls `each` with the row of every one of `which` clients as it arrives:
/// 100,000 rows are never held at once.
pub async fn each_client(
    conn: &mut PgConnection,
    which: Which<'_>,
    each: impl FnMut(ClientRow),
) -> Result<(), StoreError> {
    which.each(conn, "SELECT * FROM clients", "client_id", each).await
}

/// What some clients may do.
#[derive(Default)]
pub struct ClientRights {
    /// (client_id, audience, scope).
    pub allowances: Vec<(String, String, String)>,
    /// (client_id, trusted client_id).
    pub trusts: Vec<(String, String)>,
    /// (client_id, audience): the APIs whose tokens it may introspect (RFC 7662 §4).
    pub introspects: Vec<(String, String)>,
}

/// What `which` clients may do. Read it in the transaction that read their
/// rows (`store::begin_consistent_read`).
pub async fn client_rights(conn: &mut PgConnection, which: Which<'_>) -> Result<ClientRights, StoreError> {
    Ok(ClientRights {
        allowances: which
            .all_of(
                conn,
                "SELECT c.client_id, a.audience, c.scope FROM client_api_access c JOIN apis a ON a.id = c.api_id",
                "c.client_id",
            )
            .await?,
        trusts: which
            .all_of(
                conn,
                "SELECT client_id, trusted_client_id FROM client_trusts",
                "client_id",
            )
            .await?,
        introspects: which
            .all_of(
                conn,
                "SELECT r.client_id, a.audience FROM api_resource_servers r JOIN apis a ON a.id = r.api_id",
                "r.client_id",
            )
            .await?,
    })
}
