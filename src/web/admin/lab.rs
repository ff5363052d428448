//! `/admin/lab`: paste a JWT, see what it is. The token is read from the POST
//! body, explained, and forgotten: never stored, never logged. `/admin/dry-run`:
//! what an exchange (RFC 8693) would issue, or why not.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::admin_page;
use crate::protocol::lab;
use crate::protocol::lab::dry_run;
use crate::protocol::params::Params;
use crate::protocol::token::{ID_TOKEN_TYPE, SubjectSource};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> HttpResponse {
    admin_page(
        &state,
        &req,
        StatusCode::OK,
        "admin/lab.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "token": "", "result": null }),
    )
}

pub async fn explain(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let token = params.one("token").ok().flatten().unwrap_or_default().to_owned();
    let result = lab::explain(&state.provider, &token)
        .await
        .map_err(WebError::unavailable_page)?;
    Ok(admin_page(
        &state,
        &req,
        StatusCode::OK,
        "admin/lab.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "token": token, "result": result }),
    ))
}

/// `/admin/dry-run`: the same checks as `/token`, minting and auditing nothing.
pub async fn dry_run_page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> HttpResponse {
    admin_page(
        &state,
        &req,
        StatusCode::OK,
        "admin/dry_run.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "form": blank_form(), "result": null }),
    )
}

fn blank_form() -> Value {
    json!({ "client_id": "", "resource": "", "scope": "", "id_token": "", "username": "" })
}

/// What the exchange would answer for the form's client, API and subject (a
/// pasted id_token, or a user as if signed in).
async fn try_exchange(state: &AppState, params: &Params) -> Result<Value, WebError> {
    let field = |name: &str| params.one(name).ok().flatten().unwrap_or_default().to_owned();
    // The request the client would send, and who it would be for.
    let mut request = url::form_urlencoded::Serializer::new(String::new());
    request
        .append_pair("resource", &field("resource"))
        .append_pair("scope", &field("scope"));
    let username = field("username");
    let source = if username.is_empty() {
        request
            .append_pair("subject_token", &field("id_token"))
            .append_pair("subject_token_type", ID_TOKEN_TYPE);
        SubjectSource::Token
    } else {
        let found = crate::admin::users::find_by_username(&state.provider.pool, &username)
            .await
            .map_err(WebError::from_admin_page)?;
        match found {
            Some(sub) => SubjectSource::SignedIn(sub),
            None => return Ok(json!({ "allowed": false, "outcome": format!("no user `{username}`"), "claims": null })),
        }
    };
    let request = Params::parse(&request.finish());
    let result = dry_run::dry_run(&state.provider, &field("client_id"), &request, source)
        .await
        .map_err(WebError::unavailable_page)?;
    Ok(serde_json::to_value(result).unwrap_or_default())
}

pub async fn dry_run(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let result = try_exchange(&state, &params).await?;
    let claims = serde_json::to_string_pretty(&result["claims"]).unwrap_or_default();
    let field = |name: &str| params.one(name).ok().flatten().unwrap_or_default().to_owned();
    let form_values = json!({
        "client_id": field("client_id"), "resource": field("resource"), "scope": field("scope"),
        "id_token": field("id_token"), "username": field("username"),
    });
    Ok(admin_page(
        &state,
        &req,
        StatusCode::OK,
        "admin/dry_run.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "lab", "form": form_values, "result": result, "claims": claims }),
    ))
}
