//! One client: edit its settings, its API allowances and whose id_tokens it
//! may exchange; rotate its secret (shown once); delete it.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{admin_page, admitted, failed, require_admin, stale_sign_in};
use crate::admin::AdminError;
use crate::admin::clients::{self, ClientUpdate};
use crate::model::{GrantType, OidcScope};
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::respond::redirect;

fn page_of(id: &str) -> String {
    format!("/admin/clients/{}", crate::web::pages::percent_encode(id))
}

/// Renders the client page, with an error for a form or a secret just made.
async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    id: &str,
    status: StatusCode,
    error: &str,
    secret: &str,
) -> HttpResponse {
    let client = match clients::view(&state.provider.pool, id).await {
        Ok(c) => c,
        Err(AdminError::NotFound(m)) => return state.pages.error(StatusCode::NOT_FOUND, "No such client", &m),
        Err(e) => return failed(state, &e),
    };
    let grants: Vec<Value> = GrantType::ALL
        .iter()
        .map(|g| json!({ "value": g.as_str(), "checked": client.grant_types.iter().any(|x| x == g.as_str()) }))
        .collect();
    let scopes: Vec<Value> = OidcScope::ALL
        .iter()
        .map(|s| json!({ "value": s.as_str(), "checked": client.scopes.iter().any(|x| x == s.as_str()) }))
        .collect();
    let notice = crate::web::query(req)
        .one("done")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    admin_page(state, req, status, "admin/client.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "clients", "client": client,
            "redirect_uris": client.redirect_uris.join("\n"), "post_logout_redirect_uris": client.post_logout_redirect_uris.join("\n"),
            "grants": grants, "scopes": scopes, "error": error, "secret": secret, "notice": notice,
        })
    })
}

pub async fn page(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => render(&req, &state, &admin, &id, StatusCode::OK, "", "").await,
        Err(res) => res,
    }
}

pub async fn update(req: HttpRequest, id: Path<String>, body: Bytes, state: Data<AppState>) -> HttpResponse {
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
    let change = ClientUpdate {
        name: field("name"),
        redirect_uris: lines("redirect_uris"),
        post_logout_redirect_uris: lines("post_logout_redirect_uris"),
        auth_method: field("auth_method"),
        grant_types: params.all("grant_type").to_vec(),
        scopes: params.all("scope").to_vec(),
        first_party: field("first_party").is_some(),
        id_token_alg: field("id_token_alg"),
    };
    match clients::update(&state.provider.pool, state.provider.clock.as_ref(), &id, change).await {
        Ok((before, after)) => {
            state
                .changed(
                    &admin.user.username,
                    "changed a client",
                    json!({ "client_id": id.as_str(), "before": before, "after": after }),
                )
                .await;
            redirect(&format!("{}?done=saved", page_of(&id)), true)
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::NotFound(_) | AdminError::Conflict(_))) => {
            render(&req, &state, &admin, &id, StatusCode::BAD_REQUEST, &e.to_string(), "").await
        }
        Err(e) => failed(&state, &e),
    }
}

/// A new secret, shown in this response only.
pub async fn rotate_secret(req: HttpRequest, id: Path<String>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, _) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if let Some(res) = stale_sign_in(&state, &admin, &page_of(&id)) {
        return res;
    }
    match clients::rotate_secret(
        &state.provider.pool,
        state.provider.clock.as_ref(),
        &mut crate::random::rng(),
        &id,
    )
    .await
    {
        Ok(secret) => {
            state
                .changed(
                    &admin.user.username,
                    "rotated a client secret",
                    json!({ "client_id": id.as_str() }),
                )
                .await;
            render(&req, &state, &admin, &id, StatusCode::OK, "", &secret).await
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::NotFound(_))) => {
            render(&req, &state, &admin, &id, StatusCode::BAD_REQUEST, &e.to_string(), "").await
        }
        Err(e) => failed(&state, &e),
    }
}

pub async fn delete(req: HttpRequest, id: Path<String>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if params.one("confirm").ok().flatten() != Some(id.as_str()) {
        return render(
            &req,
            &state,
            &admin,
            &id,
            StatusCode::BAD_REQUEST,
            "Type the client id to confirm the deletion.",
            "",
        )
        .await;
    }
    match clients::delete(&state.provider.pool, &id).await {
        Ok(()) => {
            state
                .changed(
                    &admin.user.username,
                    "deleted a client",
                    json!({ "client_id": id.as_str() }),
                )
                .await;
            redirect("/admin/clients", true)
        }
        Err(AdminError::NotFound(m)) => state.pages.error(StatusCode::NOT_FOUND, "No such client", &m),
        Err(e) => failed(&state, &e),
    }
}

/// Which scopes of one API the client may get.
pub async fn access(req: HttpRequest, id: Path<String>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let audience = params.one("audience").ok().flatten().unwrap_or_default().to_owned();
    let scopes = params.all("scope").to_vec();
    // Allowing the admin API makes the client an administrator: a recent
    // sign-in, as for a secret.
    if crate::protocol::api_tokens::is_admin_api(&state.provider, &audience)
        && !scopes.is_empty()
        && let Some(res) = stale_sign_in(&state, &admin, &page_of(&id))
    {
        return res;
    }
    match clients::set_access(
        &state.provider.pool,
        state.provider.clock.as_ref(),
        &id,
        &audience,
        &scopes,
    )
    .await
    {
        Ok(()) => {
            state
                .changed(
                    &admin.user.username,
                    "changed a client's API access",
                    json!({ "client_id": id.as_str(), "audience": audience, "scopes": scopes }),
                )
                .await;
            redirect(&format!("{}?done=saved", page_of(&id)), true)
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::NotFound(_))) => {
            render(&req, &state, &admin, &id, StatusCode::BAD_REQUEST, &e.to_string(), "").await
        }
        Err(e) => failed(&state, &e),
    }
}

/// Lets the client exchange another client's id_tokens, or stops it (`remove`).
pub async fn trust(req: HttpRequest, id: Path<String>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let other = params.one("other").ok().flatten().unwrap_or_default().to_owned();
    let remove = params.one("remove").ok().flatten().is_some();
    let result = match remove {
        true => clients::untrust(&state.provider.pool, &id, &other).await,
        false => clients::trust(&state.provider.pool, state.provider.clock.as_ref(), &id, &other)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => {
            let action = if remove {
                "stopped a client exchanging another's id_tokens"
            } else {
                "let a client exchange another's id_tokens"
            };
            state
                .changed(
                    &admin.user.username,
                    action,
                    json!({ "client_id": id.as_str(), "other": other }),
                )
                .await;
            redirect(&format!("{}?done=saved", page_of(&id)), true)
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::NotFound(_))) => {
            render(&req, &state, &admin, &id, StatusCode::BAD_REQUEST, &e.to_string(), "").await
        }
        Err(e) => failed(&state, &e),
    }
}
