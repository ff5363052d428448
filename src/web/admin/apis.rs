//! APIs: audience, name, scopes with descriptions, token lifetime, algorithm,
//! resource-server clients, and which clients may get which scopes.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{actor, admin_page, missing, notice};
use crate::admin::AdminError;
use crate::admin::apis::{self, ApiUpdate, NewApiInput};
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};
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
) -> Result<HttpResponse, WebError> {
    let list = apis::list(&state.provider.pool)
        .await
        .map_err(WebError::from_admin_page)?;
    Ok(admin_page(
        state,
        req,
        status,
        "admin/apis.html",
        |csrf| json!({ "csrf": csrf, "admin": admin.user.username, "section": "apis", "apis": list, "error": error, "values": values }),
    ))
}

fn blank() -> Value {
    json!({ "audience": "", "name": "", "scopes": "", "access_token_ttl": "", "resource_servers": "" })
}

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    render_list(&req, &state, &admin, StatusCode::OK, "", blank()).await
}

pub async fn create(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let values = json!({
        "audience": field("audience").unwrap_or_default(), "name": field("name").unwrap_or_default(),
        "scopes": field("scopes").unwrap_or_default(), "access_token_ttl": field("access_token_ttl").unwrap_or_default(),
        "resource_servers": field("resource_servers").unwrap_or_default(),
    });
    let result = async {
        let input = NewApiInput {
            audience: field("audience").unwrap_or_default(),
            name: field("name"),
            scopes: lines(&params, "scopes"),
            access_token_ttl: ttl(&params)?,
            alg: field("alg"),
            resource_servers: lines(&params, "resource_servers"),
            require_dpop: field("require_dpop").is_some(),
            dpop_nonce: field("dpop_nonce").is_some(),
            min_acr: field("min_acr"),
        };
        apis::create_by(&actor(&state, &admin), input).await
    };
    match result.await {
        Ok(api) => Ok(redirect(&format!("/admin/apis/{}", api.id), true)),
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
    id: Uuid,
    status: StatusCode,
    error: &str,
) -> Result<HttpResponse, WebError> {
    let detail = apis::get(&state.provider.pool, id)
        .await
        .map_err(missing("No such API"))?;
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
    let notice = notice(req);
    Ok(admin_page(state, req, status, "admin/api.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "apis", "api": detail, "scopes": scopes.join("\n"),
            "ttl": detail.api.access_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            "resource_servers": detail.api.resource_servers.join("\n"), "error": error, "notice": notice,
        })
    }))
}

pub async fn one(
    req: HttpRequest,
    Admin(admin): Admin,
    id: Path<Uuid>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    render_one(&req, &state, &admin, *id, StatusCode::OK, "").await
}

pub async fn update(
    req: HttpRequest,
    form: AdminForm,
    id: Path<Uuid>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let result = async {
        let change = ApiUpdate {
            name: params.one("name").ok().flatten().map(str::to_owned),
            scopes: lines(&params, "scopes"),
            access_token_ttl: ttl(&params)?,
            alg: params.one("alg").ok().flatten().map(str::to_owned),
            resource_servers: lines(&params, "resource_servers"),
            require_dpop: params.has("require_dpop"),
            dpop_nonce: params.has("dpop_nonce"),
            min_acr: params.one("min_acr").ok().flatten().map(str::to_owned),
        };
        apis::update_by(&actor(&state, &admin), *id, change).await
    };
    match result.await {
        Ok(()) => Ok(redirect(&format!("/admin/apis/{}?done=saved", *id), true)),
        Err(e) if e.is_refusal() => {
            render_one(&req, &state, &admin, *id, StatusCode::BAD_REQUEST, &e.to_string()).await
        }
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}
