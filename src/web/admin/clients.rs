//! Clients: list and search; create with the fields of `lanyard client create`
//! — the secret is shown once, on the page that answers the creation.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{Paging, admin_page, admitted, require_admin};
use crate::admin::{AdminError, clients::NewClientInput};
use crate::protocol::session::CurrentSession;
use crate::store::clients;
use crate::web::AppState;
use crate::web::signin::unavailable;

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    error: &str,
    values: serde_json::Value,
    created: serde_json::Value,
) -> HttpResponse {
    let paging = Paging::of(req);
    let rows = async {
        let mut conn = state.provider.pool.acquire().await?;
        clients::list(&mut conn, &paging.search, paging.limit(), paging.offset()).await
    };
    let mut rows = match rows.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &e.into()),
    };
    let pager = paging.finish(&mut rows);
    let list: Vec<_> = rows
        .iter()
        .map(|c| {
            json!({
                "client_id": c.client_id, "name": c.name, "public": c.auth_method == "none", "first_party": c.first_party,
                "grant_types": c.grant_types.join(", "), "redirect_uris": c.redirect_uris.join(" "),
            })
        })
        .collect();
    admin_page(state, req, status, "admin/clients.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "clients", "clients": list, "pager": pager,
            "error": error, "values": values, "created": created,
        })
    })
}

/// The new-client form, blank.
fn empty_values() -> serde_json::Value {
    json!({ "client_id": "", "name": "", "redirect_uris": "", "post_logout_redirect_uris": "" })
}

pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => render(&req, &state, &admin, StatusCode::OK, "", empty_values(), json!(null)).await,
        Err(res) => res,
    }
}

/// Registers a client. The answer shows its secret this once; a validation
/// error re-renders the form with the message and saves nothing.
pub async fn create(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let lines = |name: &str| {
        field(name)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let input = NewClientInput {
        client_id: field("client_id").unwrap_or_default(),
        name: field("name"),
        redirect_uris: lines("redirect_uris"),
        post_logout_redirect_uris: lines("post_logout_redirect_uris"),
        public: field("public").is_some(),
        // A public client authenticates with `none`; the select names the secret methods.
        auth_method: if field("public").is_some() {
            None
        } else {
            field("auth_method")
        },
        grant_types: params.all("grant_type").to_vec(),
        scopes: params.all("scope").to_vec(),
        first_party: field("first_party").is_some(),
        id_token_alg: field("id_token_alg"),
    };
    let values = json!({
        "client_id": input.client_id, "name": input.name.clone().unwrap_or_default(), "redirect_uris": input.redirect_uris.join("\n"),
        "post_logout_redirect_uris": input.post_logout_redirect_uris.join("\n"),
    });
    match crate::admin::clients::create(
        &state.provider.pool,
        state.provider.clock.as_ref(),
        &mut crate::random::rng(),
        input,
    )
    .await
    {
        Ok(created) => {
            let details = json!({ "client_id": created.client_id });
            state.changed(&admin.user.username, "created a client", details).await;
            // Shown once, in this response only: it is not stored, only its SHA-256.
            let created = json!({ "client_id": created.client_id, "client_secret": created.client_secret });
            render(&req, &state, &admin, StatusCode::CREATED, "", empty_values(), created).await
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::Conflict(_) | AdminError::NotFound(_))) => {
            render(
                &req,
                &state,
                &admin,
                StatusCode::BAD_REQUEST,
                &e.to_string(),
                values,
                json!(null),
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "creating a client failed");
            state.pages.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The client was not created.",
            )
        }
    }
}
