//! APIs: audience, name, scopes with descriptions, token lifetime, algorithm,
//! resource-server clients, and which clients may get which scopes.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{admin_page, admitted, failed, require_admin};
use crate::admin::AdminError;
use crate::admin::apis::{self, ApiUpdate, NewApiInput};
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::respond::redirect;

fn lines(params: &Params, name: &str) -> Vec<String> {
    params
        .one(name)
        .ok()
        .flatten()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn ttl(params: &Params) -> Result<Option<i64>, AdminError> {
    match params.one("access_token_ttl").ok().flatten() {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|_| {
            AdminError::Invalid(crate::model::FieldError::new(
                "access-token-ttl",
                format!("`{raw}` is not a whole number of seconds"),
            ))
        }),
    }
}

async fn render_list(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    error: &str,
    values: Value,
) -> HttpResponse {
    let list = match apis::list(&state.provider.pool).await {
        Ok(l) => l,
        Err(e) => return failed(state, &e),
    };
    admin_page(
        state,
        req,
        status,
        "admin/apis.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "apis", "apis": list, "error": error, "values": values }),
    )
}

fn blank() -> Value {
    json!({ "audience": "", "name": "", "scopes": "", "access_token_ttl": "", "resource_servers": "" })
}

pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => render_list(&req, &state, &admin, StatusCode::OK, "", blank()).await,
        Err(res) => res,
    }
}

pub async fn create(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let values = json!({
        "audience": field("audience").unwrap_or_default(), "name": field("name").unwrap_or_default(),
        "scopes": field("scopes").unwrap_or_default(), "access_token_ttl": field("access_token_ttl").unwrap_or_default(),
        "resource_servers": field("resource_servers").unwrap_or_default(),
    });
    let result = match ttl(&params) {
        Ok(access_token_ttl) => {
            let input = NewApiInput {
                audience: field("audience").unwrap_or_default(),
                name: field("name"),
                scopes: lines(&params, "scopes"),
                access_token_ttl,
                alg: field("alg"),
                resource_servers: lines(&params, "resource_servers"),
            };
            apis::create(&state.provider.pool, state.provider.clock.as_ref(), input).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(api) => {
            state
                .changed(&admin.user.username, "created an API", json!({ "api": api }))
                .await;
            redirect(&format!("/admin/apis/{}", api.id), true)
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::Conflict(_) | AdminError::NotFound(_))) => {
            render_list(&req, &state, &admin, StatusCode::BAD_REQUEST, &e.to_string(), values).await
        }
        Err(e) => failed(&state, &e),
    }
}

async fn render_one(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    id: Uuid,
    status: StatusCode,
    error: &str,
) -> HttpResponse {
    let detail = match apis::get(&state.provider.pool, id).await {
        Ok(d) => d,
        Err(AdminError::NotFound(m)) => return state.pages.error(StatusCode::NOT_FOUND, "No such API", &m),
        Err(e) => return failed(state, &e),
    };
    let scopes: Vec<String> = detail
        .api
        .scopes
        .iter()
        .map(|s| {
            if s.description.is_empty() {
                s.name.clone()
            } else {
                format!("{}={}", s.name, s.description)
            }
        })
        .collect();
    let notice = crate::web::query(req)
        .one("done")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    admin_page(state, req, status, "admin/api.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "apis", "api": detail, "scopes": scopes.join("\n"),
            "ttl": detail.api.access_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            "resource_servers": detail.api.resource_servers.join("\n"), "error": error, "notice": notice,
        })
    })
}

pub async fn one(req: HttpRequest, id: Path<Uuid>, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => render_one(&req, &state, &admin, *id, StatusCode::OK, "").await,
        Err(res) => res,
    }
}

pub async fn update(req: HttpRequest, id: Path<Uuid>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let result = match ttl(&params) {
        Ok(access_token_ttl) => {
            let change = ApiUpdate {
                name: params.one("name").ok().flatten().map(str::to_owned),
                scopes: lines(&params, "scopes"),
                access_token_ttl,
                alg: params.one("alg").ok().flatten().map(str::to_owned),
                resource_servers: lines(&params, "resource_servers"),
            };
            apis::update(&state.provider.pool, state.provider.clock.as_ref(), *id, change).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((before, after)) => {
            let details = json!({ "api": id.to_string(), "before": before, "after": after });
            state.changed(&admin.user.username, "changed an API", details).await;
            redirect(&format!("/admin/apis/{}?done=saved", *id), true)
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::Conflict(_) | AdminError::NotFound(_))) => {
            render_one(&req, &state, &admin, *id, StatusCode::BAD_REQUEST, &e.to_string()).await
        }
        Err(e) => failed(&state, &e),
    }
}
