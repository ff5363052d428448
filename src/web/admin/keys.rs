//! Signing keys: each key with its algorithm, state and dates; rotate now;
//! revoke a compromised key; a preview of the published JWKS.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{actor, admin_page, notice, stale_sign_in};
use crate::admin::AdminError;
use crate::admin::keys;
use crate::keys::KeyError;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};
use crate::web::respond::redirect;

const PAGE: &str = "/admin/keys";

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    render(&req, &state, &admin, StatusCode::OK, None).await
}

/// The keys page; `too_soon` explains why "rotate now" asks a second time.
async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    too_soon: Option<String>,
) -> Result<HttpResponse, WebError> {
    let list = keys::list(&state.provider.pool)
        .await
        .map_err(WebError::from_admin_page)?;
    let jwks: serde_json::Value = serde_json::from_slice(&state.provider.keys.jwks()).unwrap_or_default();
    let jwks = serde_json::to_string_pretty(&jwks).unwrap_or_default();
    let notice = notice(req);
    Ok(admin_page(state, req, status, "admin/keys.html", |csrf| {
        json!({ "csrf": csrf, "admin": admin.user.username, "section": "keys", "keys": list, "jwks": jwks,
                "notice": notice, "too_soon": too_soon.unwrap_or_default() })
    }))
}

/// "Rotate now": `next` → `active` at once, `active` → `retired`, a new `next`.
pub async fn rotate(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, PAGE)?;
    // A second confirmation forces a rotation that cached JWKS may not follow.
    let force = params.one("force").ok().flatten() == Some("yes");
    match keys::rotate_by(&actor(&state, &admin), force).await {
        Ok(_) => Ok(redirect(&format!("{PAGE}?done=rotated"), true)),
        Err(AdminError::Keys(e @ KeyError::TooSoon { .. })) => {
            render(&req, &state, &admin, StatusCode::CONFLICT, Some(e.to_string())).await
        }
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}

/// Revokes one key: it leaves the JWKS at once; tokens it signed stop validating.
pub async fn revoke(form: AdminForm, kid: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, PAGE)?;
    if params.one("confirm").ok().flatten() != Some(kid.as_str()) {
        return Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "Not confirmed",
            "Type the key id to confirm the revocation.",
        ));
    }
    keys::revoke_by(&actor(&state, &admin), &kid)
        .await
        .map_err(|e| match e {
            AdminError::Keys(e @ (KeyError::NotFound(_) | KeyError::Refused { .. })) => {
                WebError::page(StatusCode::BAD_REQUEST, "Cannot revoke", e.to_string())
            }
            other => WebError::from_admin_page(other),
        })?;
    Ok(redirect(&format!("{PAGE}?done=revoked"), true))
}
