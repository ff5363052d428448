//! The JSON admin API at `/admin/api/v1/…`, for automation: clients (with API
//! allowances and secret rotation), APIs, users, keys and the audit log. It
//! shares the service layer with the pages and the CLI. A caller presents a
//! Lanyard access token for `{issuer}/admin` with scope `admin` (a script gets
//! one with client_credentials). Errors are `{"code", "message"}`.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Path, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use crate::admin::AdminError;
use crate::admin::apis::{self, NewApiInput};
use crate::admin::caller::CallerError;
use crate::admin::clients::{self, ClientUpdate, NewClientInput};
use crate::admin::users::{self, NewUserInput};
use crate::keys;
use crate::model::StandardClaims;
use crate::store::audit::{self, EventFilter};

const BASE: &str = "/admin/api/v1";

pub fn routes(cfg: &mut ServiceConfig) {
    use actix_web::http::Method;
    let resource = |path: &str, methods: Vec<(Method, actix_web::Route)>| {
        let allow = methods.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
        let mut r = web::resource(path);
        for (_, route) in methods {
            r = r.route(route);
        }
        // RFC 9110 §15.5.6: another method is 405, with the ones allowed.
        r.default_service(web::to(move || not_allowed(allow.clone())))
    };
    cfg.service(resource(
        "/admin/api/v1/openapi.json",
        vec![(Method::GET, web::get().to(openapi))],
    ))
    .service(resource(
        "/admin/api/v1/clients",
        vec![
            (Method::GET, web::get().to(list_clients)),
            (Method::POST, web::post().to(create_client)),
        ],
    ))
    .service(resource(
        "/admin/api/v1/clients/{id}",
        vec![
            (Method::GET, web::get().to(get_client)),
            (Method::PUT, web::put().to(update_client)),
            (Method::DELETE, web::delete().to(delete_client)),
        ],
    ))
    .service(resource(
        "/admin/api/v1/clients/{id}/secret",
        vec![(Method::POST, web::post().to(rotate_secret))],
    ))
    .service(resource(
        "/admin/api/v1/clients/{id}/apis",
        vec![(Method::PUT, web::put().to(set_access))],
    ))
    .service(resource(
        "/admin/api/v1/apis",
        vec![
            (Method::GET, web::get().to(list_apis)),
            (Method::POST, web::post().to(create_api)),
        ],
    ))
    .service(resource(
        "/admin/api/v1/users",
        vec![
            (Method::GET, web::get().to(list_users)),
            (Method::POST, web::post().to(create_user)),
        ],
    ))
    .service(resource(
        "/admin/api/v1/users/{sub}",
        vec![(Method::GET, web::get().to(get_user))],
    ))
    .service(resource(
        "/admin/api/v1/keys",
        vec![(Method::GET, web::get().to(list_keys))],
    ))
    .service(resource(
        "/admin/api/v1/keys/rotate",
        vec![(Method::POST, web::post().to(rotate_keys))],
    ))
    .service(resource(
        "/admin/api/v1/audit",
        vec![(Method::GET, web::get().to(list_audit))],
    ));
}

async fn not_allowed(allow: String) -> HttpResponse {
    let mut res = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this resource takes {allow}"),
    );
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    res
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "code": code, "message": message.into() }))
}

/// Service errors with stable codes, the same rules as the pages and the CLI.
fn refused(e: AdminError) -> HttpResponse {
    match e {
        AdminError::Invalid(f) => error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{}: {}", f.field, f.message),
        ),
        AdminError::Conflict(what) => error(StatusCode::CONFLICT, "conflict", format!("{what} already exists")),
        AdminError::NotFound(m) => error(StatusCode::NOT_FOUND, "not_found", m),
        AdminError::Store(e) if e.is_unreachable() => unavailable(),
        AdminError::Store(e) if e.is_bad_input() => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a value cannot be stored (a NUL character, a number out of range)",
        ),
        other => {
            tracing::error!(error = %other, "admin API failure");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }
    }
}

/// The database is unreachable: 503 with `Retry-After`.
fn unavailable() -> HttpResponse {
    let mut res = error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly");
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("5"),
    );
    res
}

fn ok(status: StatusCode, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// The caller, as the audit log names it, if `admin::caller` admits it.
async fn caller(req: &HttpRequest, state: &AppState) -> Result<String, HttpResponse> {
    let unauthorized = |challenge: &'static str, message: String| {
        HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", challenge))
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({ "code": "unauthorized", "message": message }))
    };
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Bearer", "send a Lanyard access token for the admin API".into()))?;
    match crate::admin::caller::admit(&state.provider, token.trim()).await {
        Ok(caller) => Ok(caller.actor()),
        Err(CallerError::Unauthenticated(m)) => Err(unauthorized("Bearer error=\"invalid_token\"", m)),
        Err(CallerError::Forbidden(m)) => Err(error(StatusCode::FORBIDDEN, "forbidden", m)),
        Err(CallerError::Unavailable(e)) => {
            tracing::warn!(error = %e.description, "could not check an admin API caller");
            Err(unavailable())
        }
    }
}

/// A JSON body, or why it is not the expected one.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("the body is not the expected JSON: {e}"))
}

macro_rules! admit {
    ($req:expr, $state:expr) => {
        match caller(&$req, &$state).await {
            Ok(actor) => actor,
            Err(res) => return res,
        }
    };
}

macro_rules! parse {
    ($bytes:expr) => {
        match body(&$bytes) {
            Ok(v) => v,
            Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", message),
        }
    };
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ClientBody {
    client_id: String,
    name: Option<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    public: bool,
    auth_method: Option<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    first_party: bool,
    id_token_alg: Option<String>,
}

async fn list_clients(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    let rows = async {
        let mut conn = state.provider.pool.acquire().await?;
        crate::store::clients::list(&mut conn, "", 10_000, 0).await
    };
    match rows.await {
        Ok(rows) => ok(
            StatusCode::OK,
            json!({ "clients": rows.iter().map(|c| &c.client_id).collect::<Vec<_>>() }),
        ),
        Err(e) => refused(e.into()),
    }
}

async fn create_client(req: HttpRequest, bytes: Bytes, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    let b: ClientBody = parse!(bytes);
    let input = NewClientInput {
        client_id: b.client_id,
        name: b.name,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        public: b.public,
        auth_method: b.auth_method,
        grant_types: b.grant_types,
        scopes: b.scopes,
        first_party: b.first_party,
        id_token_alg: b.id_token_alg,
    };
    match clients::create(
        &state.provider.pool,
        state.provider.clock.as_ref(),
        &mut crate::random::rng(),
        input,
    )
    .await
    {
        Ok(created) => {
            state
                .changed(&actor, "created a client", json!({ "client_id": created.client_id }))
                .await;
            ok(StatusCode::CREATED, created)
        }
        Err(e) => refused(e),
    }
}

async fn get_client(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    match clients::view(&state.provider.pool, &id).await {
        Ok(view) => ok(StatusCode::OK, view),
        Err(e) => refused(e),
    }
}

async fn update_client(req: HttpRequest, id: Path<String>, bytes: Bytes, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    let b: ClientBody = parse!(bytes);
    let change = ClientUpdate {
        name: b.name,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        auth_method: b.auth_method,
        grant_types: b.grant_types,
        scopes: b.scopes,
        first_party: b.first_party,
        id_token_alg: b.id_token_alg,
    };
    match clients::update(&state.provider.pool, state.provider.clock.as_ref(), &id, change).await {
        Ok((before, after)) => {
            state
                .changed(
                    &actor,
                    "changed a client",
                    json!({ "client_id": id.as_str(), "before": before, "after": after }),
                )
                .await;
            match clients::view(&state.provider.pool, &id).await {
                Ok(view) => ok(StatusCode::OK, view),
                Err(e) => refused(e),
            }
        }
        Err(e) => refused(e),
    }
}

async fn delete_client(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    match clients::delete(&state.provider.pool, &id).await {
        Ok(()) => {
            state
                .changed(&actor, "deleted a client", json!({ "client_id": id.as_str() }))
                .await;
            HttpResponse::NoContent().finish()
        }
        Err(e) => refused(e),
    }
}

async fn rotate_secret(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
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
                .changed(&actor, "rotated a client secret", json!({ "client_id": id.as_str() }))
                .await;
            ok(
                StatusCode::OK,
                json!({ "client_id": id.as_str(), "client_secret": secret }),
            )
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    audience: String,
    scopes: Vec<String>,
}

async fn set_access(req: HttpRequest, id: Path<String>, bytes: Bytes, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    let b: AccessBody = parse!(bytes);
    match clients::set_access(
        &state.provider.pool,
        state.provider.clock.as_ref(),
        &id,
        &b.audience,
        &b.scopes,
    )
    .await
    {
        Ok(()) => {
            let details = json!({ "client_id": id.as_str(), "audience": b.audience, "scopes": b.scopes });
            state
                .changed(&actor, "changed a client's API access", details.clone())
                .await;
            ok(StatusCode::OK, details)
        }
        Err(e) => refused(e),
    }
}

async fn list_apis(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    match apis::list(&state.provider.pool).await {
        Ok(list) => ok(StatusCode::OK, json!({ "apis": list })),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ApiBody {
    audience: String,
    name: Option<String>,
    scopes: Vec<String>,
    access_token_ttl: Option<i64>,
    alg: Option<String>,
    resource_servers: Vec<String>,
}

async fn create_api(req: HttpRequest, bytes: Bytes, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    let b: ApiBody = parse!(bytes);
    let input = NewApiInput {
        audience: b.audience,
        name: b.name,
        scopes: b.scopes,
        access_token_ttl: b.access_token_ttl,
        alg: b.alg,
        resource_servers: b.resource_servers,
    };
    match apis::create(&state.provider.pool, state.provider.clock.as_ref(), input).await {
        Ok(api) => {
            state.changed(&actor, "created an API", json!({ "api": api })).await;
            ok(StatusCode::CREATED, api)
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct UserBody {
    username: String,
    password: String,
    admin: bool,
    name: Option<String>,
    email: Option<String>,
    email_verified: bool,
}

async fn create_user(req: HttpRequest, bytes: Bytes, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    let b: UserBody = parse!(bytes);
    let input = NewUserInput {
        username: b.username,
        password: b.password,
        is_admin: b.admin,
        claims: StandardClaims {
            name: b.name,
            email: b.email,
            email_verified: b.email_verified,
            ..Default::default()
        },
    };
    match users::create(&state.provider.pool, state.provider.clock.as_ref(), input).await {
        Ok(user) => {
            state
                .changed(
                    &actor,
                    "created a user",
                    json!({ "sub": user.sub, "username": user.username }),
                )
                .await;
            ok(StatusCode::CREATED, user)
        }
        Err(e) => refused(e),
    }
}

/// The query parameters `names` of a request, each empty when absent; a
/// repeated one is 400 (RFC 6749 §3.1's rule, here too).
fn query_texts<const N: usize>(req: &HttpRequest, names: [&str; N]) -> Result<[String; N], String> {
    let q = super::query(req);
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = q.one(name).map_err(|e| e.description)?.unwrap_or_default().to_owned();
    }
    Ok(out)
}

macro_rules! query {
    ($req:expr, $names:expr) => {
        match query_texts(&$req, $names) {
            Ok(values) => values,
            Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", message),
        }
    };
}

async fn list_users(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    let [search] = query!(req, ["q"]);
    let rows = async {
        let mut conn = state.provider.pool.acquire().await?;
        crate::store::users::list(&mut conn, &search, 1000, 0).await
    };
    match rows.await {
        Ok(rows) => {
            let users: Vec<Value> = rows
                .iter()
                .map(|u| json!({ "sub": u.id, "username": u.username, "admin": u.is_admin, "disabled": u.disabled_at.is_some() }))
                .collect();
            ok(StatusCode::OK, json!({ "users": users }))
        }
        Err(e) => refused(e.into()),
    }
}

async fn get_user(req: HttpRequest, sub: Path<String>, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    let Ok(sub) = Uuid::parse_str(&sub) else {
        return error(StatusCode::NOT_FOUND, "not_found", "a user's sub is a UUID");
    };
    match users::view(&state.provider.pool, state.provider.clock.as_ref(), sub).await {
        Ok(view) => ok(StatusCode::OK, view),
        Err(e) => refused(e),
    }
}

async fn list_keys(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    match keys::list(&state.provider.pool).await {
        Ok(list) => ok(StatusCode::OK, json!({ "keys": list })),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
    }
}

async fn rotate_keys(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    let actor = admit!(req, state);
    let Some(master) = state.provider.config.master_key.clone() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no master key");
    };
    let [force] = query!(req, ["force"]);
    let force = match force.as_str() {
        "" | "false" => false,
        "true" => true,
        _ => return error(StatusCode::BAD_REQUEST, "bad_request", "force is `true` or `false`"),
    };
    match keys::rotate(&state.provider.pool, state.provider.clock.as_ref(), &master, force).await {
        Ok(changes) => {
            state
                .changed(&actor, "rotated the signing keys", json!({ "changes": changes }))
                .await;
            ok(StatusCode::OK, json!({ "changes": changes }))
        }
        Err(e @ keys::KeyError::TooSoon { .. }) => error(
            StatusCode::CONFLICT,
            "conflict",
            format!("{e} (rotate anyway with ?force=true)"),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
    }
}

async fn list_audit(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    admit!(req, state);
    let [kind, client, user, limit] = query!(req, ["kind", "client", "user", "limit"]);
    let user_id = match user.as_str() {
        "" => None,
        raw => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad_request", "user is a user's sub (a UUID)"),
        },
    };
    let limit = match limit.as_str() {
        "" => 100,
        raw => match raw.parse::<i64>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "limit is a whole number from 1 to 500",
                );
            }
        },
    };
    let filter = EventFilter {
        kind: &kind,
        client_id: &client,
        user_id,
        since: None,
    };
    let events = async {
        // What this node still buffers is listed too.
        state.provider.audit.write(&state.provider.pool).await?;
        let mut conn = state.provider.pool.acquire().await?;
        audit::list(&mut conn, &filter, limit, 0).await
    };
    match events.await {
        Ok(events) => ok(StatusCode::OK, json!({ "events": events })),
        Err(e) => refused(e.into()),
    }
}

/// The OpenAPI 3.1 description of this API (`admin_api.openapi.json`, with
/// this issuer's URLs).
async fn openapi(state: Data<AppState>) -> HttpResponse {
    let issuer = &state.provider.config.issuer;
    let doc = OPENAPI
        .replace("{server}", &issuer.url(BASE))
        .replace("{token_url}", &issuer.url(crate::paths::TOKEN));
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .body(doc)
}

const OPENAPI: &str = include_str!("admin_api.openapi.json");
