//! Signing keys: each key with its algorithm, state and dates; rotate now;
//! revoke a compromised key; a preview of the published JWKS.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{admin_page, admitted, bad_form, csrf_ok, require_admin, stale_sign_in};
use crate::keys::{self, KeyError};
use crate::protocol::session::CurrentSession;
use crate::web::respond::redirect;
use crate::web::{AppState, form};

const PAGE: &str = "/admin/keys";

pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => render(&req, &state, &admin, StatusCode::OK, None).await,
        Err(res) => res,
    }
}

/// The keys page; `too_soon` explains why "rotate now" asks a second time.
async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    too_soon: Option<String>,
) -> HttpResponse {
    let list = match keys::list(&state.provider.pool).await {
        Ok(l) => l,
        Err(e) => {
            return state
                .pages
                .error(StatusCode::SERVICE_UNAVAILABLE, "Keys unavailable", &e.to_string());
        }
    };
    let jwks: serde_json::Value = serde_json::from_slice(&state.provider.keys.jwks()).unwrap_or_default();
    let jwks = serde_json::to_string_pretty(&jwks).unwrap_or_default();
    let notice = super::super::query(req)
        .one("done")
        .ok()
        .flatten()
        .map(str::to_owned)
        .unwrap_or_default();
    admin_page(state, req, status, "admin/keys.html", |csrf| {
        json!({ "csrf": csrf, "admin": admin.user.username, "section": "keys", "keys": list, "jwks": jwks,
                "notice": notice, "too_soon": too_soon.unwrap_or_default() })
    })
}

/// "Rotate now": `next` → `active` at once, `active` → `retired`, a new `next`.
pub async fn rotate(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let admin = match require_admin(&req, &state).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    if !csrf_ok(&state, &req, &form(&body)) {
        return bad_form(&state);
    }
    if let Some(res) = stale_sign_in(&state, &admin, PAGE) {
        return res;
    }
    let Some(master) = state.provider.config.master_key.clone() else {
        return state.pages.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No master key",
            "The server has no master key.",
        );
    };
    // A second confirmation forces a rotation that cached JWKS may not follow.
    let force = form(&body).one("force").ok().flatten() == Some("yes");
    match keys::rotate(&state.provider.pool, state.provider.clock.as_ref(), &master, force).await {
        Ok(changes) => {
            state
                .changed(
                    &admin.user.username,
                    "rotated the signing keys",
                    json!({ "changes": changes }),
                )
                .await;
            redirect(&format!("{PAGE}?done=rotated"), true)
        }
        Err(e @ KeyError::TooSoon { .. }) => {
            render(&req, &state, &admin, StatusCode::CONFLICT, Some(e.to_string())).await
        }
        Err(e) => state
            .pages
            .error(StatusCode::SERVICE_UNAVAILABLE, "Rotation failed", &e.to_string()),
    }
}

/// Revokes one key: it leaves the JWKS at once; tokens it signed stop validating.
pub async fn revoke(req: HttpRequest, kid: Path<String>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if let Some(res) = stale_sign_in(&state, &admin, PAGE) {
        return res;
    }
    if params.one("confirm").ok().flatten() != Some(kid.as_str()) {
        return state.pages.error(
            StatusCode::BAD_REQUEST,
            "Not confirmed",
            "Type the key id to confirm the revocation.",
        );
    }
    let Some(master) = state.provider.config.master_key.clone() else {
        return state.pages.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No master key",
            "The server has no master key.",
        );
    };
    match keys::revoke(&state.provider.pool, state.provider.clock.as_ref(), &master, &kid).await {
        Ok(changes) => {
            state
                .changed(
                    &admin.user.username,
                    "revoked a signing key",
                    json!({ "kid": kid.as_str(), "changes": changes }),
                )
                .await;
            redirect(&format!("{PAGE}?done=revoked"), true)
        }
        Err(e @ (KeyError::NotFound(_) | KeyError::Refused { .. })) => {
            state
                .pages
                .error(StatusCode::BAD_REQUEST, "Cannot revoke", &e.to_string())
        }
        Err(e) => state
            .pages
            .error(StatusCode::SERVICE_UNAVAILABLE, "Revocation failed", &e.to_string()),
    }
}
