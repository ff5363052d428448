//! Upstream OpenID providers on the admin page: the list, connecting one
//! (the redirect URI to register there), changing and deleting one. A
//! secret is written, never shown; every change needs a recent sign-in.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{actor, admin_page, missing, notice, stale_sign_in};
use crate::admin::AdminError;
use crate::admin::upstreams::{self, UpstreamSettings, ctx};
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};
use crate::web::respond::redirect;

const LIST: &str = "/admin/upstreams";

fn page_of(id: &str) -> String {
    format!("{LIST}/{id}")
}

/// The form's settings: words of a line for lists, a checkbox for flags
/// (`with_enabled`: the edit form has that box), blank for "keep".
fn settings(params: &Params, with_enabled: bool) -> UpstreamSettings {
    let text = |name: &str| {
        params
            .one(name)
            .ok()
            .flatten()
            .map(str::to_owned)
            .filter(|v| !v.trim().is_empty())
    };
    let words = |name: &str| text(name).map(|v| v.split_whitespace().map(str::to_owned).collect());
    let lines = |name: &str| {
        Some(
            text(name)
                .map(|v| v.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
        )
    };
    UpstreamSettings {
        name: text("name"),
        issuer: text("issuer"),
        client_id: text("client_id"),
        client_secret: text("client_secret"),
        scopes: words("scopes"),
        link_by_verified_email: Some(params.has("link_by_verified_email")),
        claims: words("claims"),
        refresh_claims: Some(params.has("refresh_claims")),
        acr: lines("acr"),
        enabled: with_enabled.then(|| params.has("enabled")),
        force: params.has("force"),
    }
}

async fn render_list(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    error: &str,
    values: Value,
) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let list = upstreams::list(&p.pool, &p.config.issuer)
        .await
        .map_err(WebError::from_admin_page)?;
    let notice = notice(req);
    let callback = p.config.issuer.url(&crate::paths::upstream_callback("ID"));
    Ok(admin_page(state, req, status, "admin/upstreams.html", |csrf| {
        json!({ "csrf": csrf, "admin": admin.user.username, "section": "upstreams", "upstreams": list,
                "error": error, "values": values, "notice": notice, "callback": callback })
    }))
}

/// `GET /admin/upstreams`.
pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    render_list(&req, &state, &admin, StatusCode::OK, "", json!({})).await
}

/// `POST /admin/upstreams`: connects one (the secret needs a recent sign-in).
pub async fn create(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, LIST)?;
    let id = params.one("id").ok().flatten().unwrap_or_default().to_owned();
    let mut values = json!({});
    for name in ["id", "name", "issuer", "client_id", "scopes", "claims", "acr"] {
        values[name] = json!(params.one(name).ok().flatten().unwrap_or_default());
    }
    match upstreams::create_by(&actor(&state, &admin), &id, settings(&params, false)).await {
        Ok(created) => Ok(redirect(&format!("{}?done=created", page_of(&created.id)), true)),
        Err(e) if e.is_refusal() => {
            render_list(&req, &state, &admin, StatusCode::BAD_REQUEST, &e.to_string(), values).await
        }
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}

async fn render_one(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    id: &str,
    status: StatusCode,
    error: Option<&AdminError>,
) -> Result<HttpResponse, WebError> {
    let view = upstreams::view(&ctx(&state.provider), id)
        .await
        .map_err(missing("No such upstream provider"))?;
    let notice = notice(req);
    // Asked a second time: how many accounts lose their only way in.
    let lock_out = match error {
        Some(AdminError::LocksOut { accounts, .. }) => *accounts,
        _ => 0,
    };
    let error = error.map(ToString::to_string).unwrap_or_default();
    Ok(admin_page(state, req, status, "admin/upstream.html", |csrf| {
        json!({ "csrf": csrf, "admin": admin.user.username, "section": "upstreams", "u": view,
                "scopes": view.scopes.join(" "), "claims": view.claims.join(" "), "acr": view.acr.join("\n"),
                "error": error, "notice": notice, "lock_out": lock_out })
    }))
}

/// `GET /admin/upstreams/{id}`.
pub async fn one(
    req: HttpRequest,
    Admin(admin): Admin,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    render_one(&req, &state, &admin, &id, StatusCode::OK, None).await
}

/// `POST /admin/upstreams/{id}`: the settings (a blank secret keeps the sealed one).
pub async fn update(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, &page_of(&id))?;
    match upstreams::update_by(&actor(&state, &admin), &id, settings(&params, true)).await {
        Ok(_) => Ok(redirect(&format!("{}?done=saved", page_of(&id)), true)),
        Err(e) if e.is_refusal() => render_one(&req, &state, &admin, &id, StatusCode::BAD_REQUEST, Some(&e)).await,
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}

/// `POST /admin/upstreams/{id}/delete` (with `force` once the page asked
/// again: it is the only way in for some accounts).
pub async fn delete(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, &page_of(&id))?;
    match upstreams::delete_by(&actor(&state, &admin), &id, params.has("force")).await {
        Ok(()) => Ok(redirect(&format!("{LIST}?done=deleted"), true)),
        Err(e @ AdminError::LocksOut { .. }) => {
            render_one(&req, &state, &admin, &id, StatusCode::CONFLICT, Some(&e)).await
        }
        Err(e) => Err(missing("No such upstream provider")(e)),
    }
}
