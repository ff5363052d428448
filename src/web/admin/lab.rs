//! `/admin/lab`: paste a JWT, see what it is. The token is read from the POST
//! body, explained, and forgotten: never stored, never logged.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{admin_page, admitted, require_admin};
use crate::protocol::lab;
use crate::web::AppState;
use crate::web::signin::unavailable;

pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => admin_page(
            &state,
            &req,
            StatusCode::OK,
            "admin/lab.html",
            |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "token": "", "result": null }),
        ),
        Err(res) => res,
    }
}

pub async fn explain(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let token = params.one("token").ok().flatten().unwrap_or_default().to_owned();
    let result = match lab::explain(&state.provider, &token).await {
        Ok(r) => r,
        Err(e) => return unavailable(&state, &e),
    };
    admin_page(
        &state,
        &req,
        StatusCode::OK,
        "admin/lab.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "token": token, "result": result }),
    )
}

/// `/admin/dry-run`: what an exchange would issue, or why not — the same
/// checks as `/token`, minting and auditing nothing.
pub async fn dry_run_page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => admin_page(
            &state,
            &req,
            StatusCode::OK,
            "admin/dry_run.html",
            |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "form": blank_form(), "result": null }),
        ),
        Err(res) => res,
    }
}

fn blank_form() -> serde_json::Value {
    json!({ "client_id": "", "resource": "", "scope": "", "id_token": "", "username": "" })
}

pub async fn dry_run(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    use crate::protocol::lab::dry_run;
    use crate::protocol::params::Params;
    use crate::protocol::token::{ID_TOKEN_TYPE, SubjectSource};
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let field = |name: &str| params.one(name).ok().flatten().unwrap_or_default().to_owned();
    let (client_id, username, id_token) = (field("client_id"), field("username"), field("id_token"));
    // The request the client would send, and who it would be for.
    let mut request = url::form_urlencoded::Serializer::new(String::new());
    request
        .append_pair("resource", &field("resource"))
        .append_pair("scope", &field("scope"));
    let source = if username.is_empty() {
        request
            .append_pair("subject_token", &id_token)
            .append_pair("subject_token_type", ID_TOKEN_TYPE);
        Ok(SubjectSource::Token)
    } else {
        let found = async {
            let mut conn = state.provider.pool.acquire().await?;
            crate::store::users::find_by_username(&mut conn, &username).await
        };
        match found.await {
            Ok(Some(u)) => Ok(SubjectSource::SignedIn(u.id)),
            Ok(None) => Err(format!("no user `{username}`")),
            Err(e) => return unavailable(&state, &e.into()),
        }
    };
    let result = match source {
        Ok(source) => {
            match dry_run::dry_run(&state.provider, &client_id, &Params::parse(&request.finish()), source).await {
                Ok(r) => serde_json::to_value(r).unwrap_or_default(),
                Err(e) => return unavailable(&state, &e),
            }
        }
        Err(message) => json!({ "allowed": false, "outcome": message, "claims": null }),
    };
    let claims = serde_json::to_string_pretty(&result["claims"]).unwrap_or_default();
    let form_values = json!({ "client_id": client_id, "resource": field("resource"), "scope": field("scope"), "id_token": id_token, "username": username });
    admin_page(
        &state,
        &req,
        StatusCode::OK,
        "admin/dry_run.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "form": form_values, "result": result, "claims": claims }),
    )
}
