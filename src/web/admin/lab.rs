//! `/admin/lab`: paste a JWT, see what it is. The token is read from the POST
//! body, explained, and forgotten: never stored, never logged.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{admin_page, bad_form, csrf_ok, require_admin};
use crate::protocol::lab;
use crate::web::signin::unavailable;
use crate::web::{AppState, form};

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
    let admin = match require_admin(&req, &state).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let params = form(&body);
    if !csrf_ok(&state, &req, &params) {
        return bad_form(&state);
    }
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
