//! The JSON admin API at `/admin/api/v1/…`, for automation: clients (with API
//! allowances and secret rotation), APIs, users, upstream providers, keys and the audit log. It
//! shares the service layer with the pages and the CLI. A caller presents a
//! Lanyard access token for `{issuer}/admin` with scope `admin` (a script gets
//! one with client_credentials). Errors are `{"code", "message"}`.

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes, Data, Path, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, WebError};
use super::extract::AdminCaller;
use crate::admin::apis::{self, ApiUpdate, NewApiInput};
use crate::admin::audit::{self, Filter};
use crate::admin::clients::{self, ClientUpdate, NewClientInput};
use crate::admin::invitations::{self, InviteInput};
use crate::admin::registration;
use crate::admin::upstreams::{self, UpstreamSettings};
use crate::admin::users::{self, NewUserInput, UserAction};
use crate::admin::{Actor, AdminError, keys};
use crate::model::{Address, StandardClaims};

const BASE: &str = "/admin/api/v1";

pub fn routes(cfg: &mut ServiceConfig) {
    let groups = [
        client_routes(),
        api_routes(),
        user_routes(),
        upstream_routes(),
        other_routes(),
    ];
    for (path, methods) in groups.into_iter().flatten() {
        cfg.service(resource(&format!("{BASE}{path}"), methods));
    }
}

/// A path under the API's base and the methods it answers.
type Entry = (&'static str, Vec<(Method, actix_web::Route)>);

fn client_routes() -> Vec<Entry> {
    vec![
        (
            "/clients",
            vec![
                (Method::GET, web::get().to(list_clients)),
                (Method::POST, web::post().to(create_client)),
            ],
        ),
        (
            "/clients/{id}",
            vec![
                (Method::GET, web::get().to(get_client)),
                (Method::PUT, web::put().to(update_client)),
                (Method::DELETE, web::delete().to(delete_client)),
            ],
        ),
        (
            "/clients/{id}/secret",
            vec![(Method::POST, web::post().to(rotate_secret))],
        ),
        (
            "/clients/{id}/secret/grace",
            vec![(Method::DELETE, web::delete().to(end_secret_grace))],
        ),
        ("/clients/{id}/apis", vec![(Method::PUT, web::put().to(set_access))]),
        (
            "/clients/{id}/registration-access-token",
            vec![
                (Method::POST, web::post().to(rotate_registration_access_token)),
                (Method::DELETE, web::delete().to(revoke_registration_access_token)),
            ],
        ),
    ]
}

fn api_routes() -> Vec<Entry> {
    vec![
        (
            "/apis",
            vec![
                (Method::GET, web::get().to(list_apis)),
                (Method::POST, web::post().to(create_api)),
            ],
        ),
        (
            "/apis/{id}",
            vec![
                (Method::GET, web::get().to(get_api)),
                (Method::PUT, web::put().to(update_api)),
                (Method::DELETE, web::delete().to(delete_api)),
            ],
        ),
    ]
}

fn user_routes() -> Vec<Entry> {
    vec![
        (
            "/users",
            vec![
                (Method::GET, web::get().to(list_users)),
                (Method::POST, web::post().to(create_user)),
            ],
        ),
        (
            "/users/{sub}",
            vec![
                (Method::GET, web::get().to(get_user)),
                (Method::PUT, web::put().to(update_user)),
                (Method::DELETE, web::delete().to(delete_user)),
            ],
        ),
        (
            "/users/{sub}/disable",
            vec![(Method::POST, web::post().to(disable_user))],
        ),
        ("/users/{sub}/enable", vec![(Method::POST, web::post().to(enable_user))]),
        ("/invitations", vec![(Method::POST, web::post().to(invite))]),
    ]
}

fn upstream_routes() -> Vec<Entry> {
    vec![
        (
            "/upstreams",
            vec![
                (Method::GET, web::get().to(list_upstreams)),
                (Method::POST, web::post().to(create_upstream)),
            ],
        ),
        (
            "/upstreams/{id}",
            vec![
                (Method::GET, web::get().to(get_upstream)),
                (Method::PUT, web::put().to(update_upstream)),
                (Method::DELETE, web::delete().to(delete_upstream)),
            ],
        ),
    ]
}

fn other_routes() -> Vec<Entry> {
    vec![
        ("/openapi.json", vec![(Method::GET, web::get().to(openapi))]),
        ("/keys", vec![(Method::GET, web::get().to(list_keys))]),
        ("/keys/rotate", vec![(Method::POST, web::post().to(rotate_keys))]),
        ("/audit", vec![(Method::GET, web::get().to(list_audit))]),
    ]
}

/// One resource with its methods; another method is 405 with the ones
/// allowed (RFC 9110 §15.5.6).
fn resource(path: &str, methods: Vec<(Method, actix_web::Route)>) -> actix_web::Resource {
    let allow = methods.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
    let mut r = web::resource(path);
    for (_, route) in methods {
        r = r.route(route);
    }
    r.default_service(web::to(move || not_allowed(allow.clone())))
}

async fn not_allowed(allow: String) -> Result<HttpResponse, WebError> {
    Err(WebError::Api(ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: format!("this resource takes {allow}"),
        challenges: Vec::new(),
        allow: Some(allow),
    }))
}

fn ok(status: StatusCode, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// A JSON body of the expected shape.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, WebError> {
    serde_json::from_slice(bytes).map_err(|e| WebError::bad_request(format!("the body is not the expected JSON: {e}")))
}

/// An admin flow's refusal or failure, as this API answers it.
fn refused(e: AdminError) -> WebError {
    WebError::from_admin_api(e)
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
    /// RFC 9449 §5.2 client metadata.
    dpop_bound_access_tokens: bool,
    dpop_nonce: bool,
    /// private_key_jwt: the client's JWK Set of public keys, or its jwks_uri.
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    /// Back-Channel Logout §2.2 client metadata.
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    /// RFC 9126 §6 client metadata.
    require_pushed_authorization_requests: bool,
}

async fn list_clients(_: AdminCaller, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let ids = clients::list_ids(&state.provider.pool).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, json!({ "clients": ids })))
}

async fn create_client(
    AdminCaller(actor): AdminCaller,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: ClientBody = body(&bytes)?;
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
        dpop_bound: b.dpop_bound_access_tokens,
        dpop_nonce: b.dpop_nonce,
        jwks: b.jwks,
        jwks_uri: b.jwks_uri,
        backchannel_logout_uri: b.backchannel_logout_uri,
        backchannel_logout_session_required: b.backchannel_logout_session_required,
        require_par: b.require_pushed_authorization_requests,
    };
    let actor = Actor::new(&state.provider, actor);
    let created = clients::create_by(&actor, &mut crate::random::rng(), input)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::CREATED, created))
}

async fn get_client(_: AdminCaller, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    view_client(&state, &id).await
}

async fn view_client(state: &AppState, id: &str) -> Result<HttpResponse, WebError> {
    let view = clients::view(&state.provider.pool, state.provider.clock.as_ref(), id)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, view))
}

async fn update_client(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: ClientBody = body(&bytes)?;
    let change = ClientUpdate {
        name: b.name,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        auth_method: b.auth_method,
        grant_types: b.grant_types,
        scopes: b.scopes,
        first_party: b.first_party,
        id_token_alg: b.id_token_alg,
        dpop_bound: b.dpop_bound_access_tokens,
        dpop_nonce: b.dpop_nonce,
        jwks: b.jwks,
        jwks_uri: b.jwks_uri,
        backchannel_logout_uri: b.backchannel_logout_uri,
        backchannel_logout_session_required: b.backchannel_logout_session_required,
        require_par: b.require_pushed_authorization_requests,
    };
    let actor = Actor::new(&state.provider, actor);
    let secret = clients::update_by(&actor, &mut crate::random::rng(), &id, change)
        .await
        .map_err(refused)?;
    let view = clients::view(&state.provider.pool, state.provider.clock.as_ref(), &id)
        .await
        .map_err(refused)?;
    let mut shown = serde_json::to_value(view).map_err(|e| WebError::api_internal(&e))?;
    // A client moved to a secret method got a secret: shown this once.
    if let (Some(secret), Some(fields)) = (secret, shown.as_object_mut()) {
        fields.insert("client_secret".into(), json!(secret));
    }
    Ok(ok(StatusCode::OK, shown))
}

async fn delete_client(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&state.provider, actor);
    clients::delete_by(&actor, &id).await.map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The optional body of a rotation: how long the current secret stays valid.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    grace_seconds: Option<u64>,
}

async fn rotate_secret(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: RotateBody = match bytes.is_empty() {
        true => RotateBody::default(),
        false => body(&bytes)?,
    };
    let grace = clients::secret_grace(b.grace_seconds.map(|s| s.to_string()).as_deref()).map_err(refused)?;
    let actor = Actor::new(&state.provider, actor);
    let rotated = clients::rotate_secret_by(&actor, &mut crate::random::rng(), &id, grace)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, rotated))
}

/// Ends the previous secret's grace now.
async fn end_secret_grace(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&state.provider, actor);
    clients::end_secret_grace_by(&actor, &id).await.map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A registered client's new registration access token (RFC 7592), shown once.
async fn rotate_registration_access_token(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&state.provider, actor);
    let rotated = registration::rotate_access_token_by(&actor, &mut crate::random::rng(), &id)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, rotated))
}

/// A registered client's registration access token revoked.
async fn revoke_registration_access_token(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&state.provider, actor);
    registration::revoke_access_token_by(&actor, &id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    audience: String,
    scopes: Vec<String>,
}

async fn set_access(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: AccessBody = body(&bytes)?;
    let actor = Actor::new(&state.provider, actor);
    let details = clients::set_access_by(&actor, &id, &b.audience, &b.scopes)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, details))
}

async fn list_apis(_: AdminCaller, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let list = apis::list(&state.provider.pool).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, json!({ "apis": list })))
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
    require_dpop: bool,
    dpop_nonce: bool,
    min_acr: Option<String>,
}

async fn create_api(
    AdminCaller(actor): AdminCaller,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: ApiBody = body(&bytes)?;
    let input = NewApiInput {
        audience: b.audience,
        name: b.name,
        scopes: b.scopes,
        access_token_ttl: b.access_token_ttl,
        alg: b.alg,
        resource_servers: b.resource_servers,
        require_dpop: b.require_dpop,
        dpop_nonce: b.dpop_nonce,
        min_acr: b.min_acr,
    };
    let api = apis::create_by(&Actor::new(&state.provider, actor), input)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::CREATED, api))
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

async fn create_user(
    AdminCaller(actor): AdminCaller,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: UserBody = body(&bytes)?;
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
    let user = users::create_by(&Actor::new(&state.provider, actor), input)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::CREATED, user))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct InvitationBody {
    email: String,
    admin: bool,
}

/// `POST /invitations`: the invitation, its link answered this once.
async fn invite(
    AdminCaller(actor): AdminCaller,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let b: InvitationBody = body(&bytes)?;
    let input = InviteInput {
        email: b.email,
        is_admin: b.admin,
    };
    let invitation = invitations::invite_by(&Actor::new(&state.provider, actor), input)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::CREATED, invitation))
}

/// The query parameters `names` of a request, each empty when absent; a
/// repeated one is 400 (RFC 6749 §3.1's rule, here too).
fn query_texts<const N: usize>(req: &HttpRequest, names: [&str; N]) -> Result<[String; N], WebError> {
    let q = super::query(req);
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, name) in out.iter_mut().zip(names) {
        let value = q.one(name).map_err(|e| WebError::bad_request(e.description))?;
        *slot = value.unwrap_or_default().to_owned();
    }
    Ok(out)
}

async fn list_users(_: AdminCaller, req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let [search] = query_texts(&req, ["q"])?;
    let rows = users::search(&state.provider.pool, &search, 1000, 0)
        .await
        .map_err(refused)?;
    let users: Vec<Value> = rows
        .iter()
        .map(|u| json!({ "sub": u.sub, "username": u.username, "admin": u.admin, "disabled": u.disabled }))
        .collect();
    Ok(ok(StatusCode::OK, json!({ "users": users })))
}

async fn get_user(_: AdminCaller, sub: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    view_user(&state, user_sub(&sub)?).await
}

/// An API's id in a path: a UUID, else no such API.
fn api_id(id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| WebError::api(StatusCode::NOT_FOUND, "not_found", "an API's id is a UUID"))
}

/// A user's sub in a path: a UUID, else no such user.
fn user_sub(sub: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(sub).map_err(|_| WebError::api(StatusCode::NOT_FOUND, "not_found", "a user's sub is a UUID"))
}

async fn get_api(_: AdminCaller, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let api = apis::get(&state.provider.pool, api_id(&id)?).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, api))
}

/// `PUT /apis/{id}`: the API's settings, replaced whole (its audience never changes).
async fn update_api(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let id = api_id(&id)?;
    let b: ApiBody = body(&bytes)?;
    let change = ApiUpdate {
        name: b.name,
        scopes: b.scopes,
        access_token_ttl: b.access_token_ttl,
        alg: b.alg,
        resource_servers: b.resource_servers,
        require_dpop: b.require_dpop,
        dpop_nonce: b.dpop_nonce,
        min_acr: b.min_acr,
    };
    apis::update_by(&Actor::new(&state.provider, actor), id, change)
        .await
        .map_err(refused)?;
    let api = apis::get(&state.provider.pool, id).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, api))
}

async fn delete_api(
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    apis::delete_by(&Actor::new(&state.provider, actor), api_id(&id)?)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /users/{sub}`: the standard claims replaced whole, and — when given —
/// the admin role.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct UserUpdateBody {
    admin: Option<bool>,
    claims: Option<StandardClaimsBody>,
}

/// The standard claims as the admin API takes them (OIDC Core §5.1).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct StandardClaimsBody {
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    middle_name: Option<String>,
    nickname: Option<String>,
    preferred_username: Option<String>,
    profile: Option<String>,
    picture: Option<String>,
    website: Option<String>,
    email: Option<String>,
    email_verified: bool,
    gender: Option<String>,
    birthdate: Option<String>,
    zoneinfo: Option<String>,
    locale: Option<String>,
    phone_number: Option<String>,
    phone_number_verified: bool,
    address: AddressBody,
}

/// The address claim (OIDC Core §5.1.1).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AddressBody {
    formatted: Option<String>,
    street_address: Option<String>,
    locality: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

impl StandardClaimsBody {
    fn into_claims(self) -> StandardClaims {
        StandardClaims {
            name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            middle_name: self.middle_name,
            nickname: self.nickname,
            preferred_username: self.preferred_username,
            profile: self.profile,
            picture: self.picture,
            website: self.website,
            email: self.email,
            email_verified: self.email_verified,
            gender: self.gender,
            birthdate: self.birthdate,
            zoneinfo: self.zoneinfo,
            locale: self.locale,
            phone_number: self.phone_number,
            phone_number_verified: self.phone_number_verified,
            address: Address {
                formatted: self.address.formatted,
                street_address: self.address.street_address,
                locality: self.address.locality,
                region: self.address.region,
                postal_code: self.address.postal_code,
                country: self.address.country,
            },
        }
    }
}

async fn update_user(
    AdminCaller(actor): AdminCaller,
    sub: Path<String>,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let sub = user_sub(&sub)?;
    let b: UserUpdateBody = body(&bytes)?;
    let actor = Actor::new(&state.provider, actor);
    // The role first: a refused demotion changes nothing else.
    if let Some(admin) = b.admin {
        let action = if admin { UserAction::Admin } else { UserAction::Unadmin };
        users::act_by(&actor, sub, action).await.map_err(refused)?;
    }
    if let Some(claims) = b.claims {
        let action = UserAction::Claims(Box::new(claims.into_claims()));
        users::act_by(&actor, sub, action).await.map_err(refused)?;
    }
    view_user(&state, sub).await
}

async fn disable_user(
    AdminCaller(actor): AdminCaller,
    sub: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let sub = user_sub(&sub)?;
    users::act_by(&Actor::new(&state.provider, actor), sub, UserAction::Disable)
        .await
        .map_err(refused)?;
    view_user(&state, sub).await
}

async fn enable_user(
    AdminCaller(actor): AdminCaller,
    sub: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let sub = user_sub(&sub)?;
    users::act_by(&Actor::new(&state.provider, actor), sub, UserAction::Enable)
        .await
        .map_err(refused)?;
    view_user(&state, sub).await
}

async fn delete_user(
    AdminCaller(actor): AdminCaller,
    sub: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    users::delete_by(&Actor::new(&state.provider, actor), user_sub(&sub)?)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn view_user(state: &AppState, sub: Uuid) -> Result<HttpResponse, WebError> {
    let view = users::view(&state.provider.pool, state.provider.clock.as_ref(), sub)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, view))
}

async fn list_keys(_: AdminCaller, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let list = keys::list(&state.provider.pool).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, json!({ "keys": list })))
}

async fn rotate_keys(
    AdminCaller(actor): AdminCaller,
    req: HttpRequest,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let [force] = query_texts(&req, ["force"])?;
    let force = match force.as_str() {
        "" | "false" => false,
        "true" => true,
        _ => return Err(WebError::bad_request("force is `true` or `false`")),
    };
    let changes = keys::rotate_by(&Actor::new(&state.provider, actor), force)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, json!({ "changes": changes })))
}

/// The `user` and `limit` of an audit query.
fn audit_filter(req: &HttpRequest) -> Result<(Filter, i64), WebError> {
    let [kind, client_id, user, limit] = query_texts(req, ["kind", "client", "user", "limit"])?;
    let user_id = match user.as_str() {
        "" => None,
        raw => Some(Uuid::parse_str(raw).map_err(|_| WebError::bad_request("user is a user's sub (a UUID)"))?),
    };
    let limit = match limit.as_str() {
        "" => 100,
        raw => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| WebError::bad_request("limit is a whole number from 1 to 500"))?,
    };
    let filter = Filter {
        kind,
        client_id,
        user_id,
        since: None,
    };
    Ok((filter, limit))
}

async fn list_audit(_: AdminCaller, req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let (filter, limit) = audit_filter(&req)?;
    let events = audit::list(&state.provider, &filter, limit, 0).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, json!({ "events": events })))
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

/// An upstream provider's settings; on `PUT` only the fields given change
/// (`id` stays; the secret, when given, is replaced and never shown).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct UpstreamBody {
    id: String,
    name: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scopes: Option<Vec<String>>,
    link_by_verified_email: Option<bool>,
    claims: Option<Vec<String>>,
    refresh_claims: Option<bool>,
    acr: Option<Vec<String>>,
    enabled: Option<bool>,
}

impl UpstreamBody {
    fn settings(self) -> (String, UpstreamSettings) {
        let settings = UpstreamSettings {
            name: self.name,
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            scopes: self.scopes,
            link_by_verified_email: self.link_by_verified_email,
            claims: self.claims,
            refresh_claims: self.refresh_claims,
            acr: self.acr,
            enabled: self.enabled,
            force: false,
        };
        (self.id, settings)
    }
}

async fn list_upstreams(_: AdminCaller, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let list = upstreams::list(&p.pool, &p.config.issuer).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, json!({ "upstreams": list })))
}

async fn create_upstream(
    AdminCaller(actor): AdminCaller,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (id, settings) = body::<UpstreamBody>(&bytes)?.settings();
    let actor = Actor::new(&state.provider, actor);
    let created = upstreams::create_by(&actor, &id, settings).await.map_err(refused)?;
    Ok(ok(StatusCode::CREATED, created))
}

async fn get_upstream(_: AdminCaller, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let view = upstreams::view(&upstreams::ctx(&state.provider), &id)
        .await
        .map_err(refused)?;
    Ok(ok(StatusCode::OK, view))
}

/// `?force=true`: go ahead though the upstream is the only way in for some accounts.
fn forced(req: &HttpRequest) -> bool {
    crate::web::query(req).one("force").ok().flatten() == Some("true")
}

async fn update_upstream(
    req: HttpRequest,
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    bytes: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (body_id, mut settings) = body::<UpstreamBody>(&bytes)?.settings();
    if !body_id.is_empty() && body_id != *id {
        return Err(WebError::bad_request(
            "the body's id is not the path's: an upstream's id never changes",
        ));
    }
    settings.force = forced(&req);
    let actor = Actor::new(&state.provider, actor);
    let updated = upstreams::update_by(&actor, &id, settings).await.map_err(refused)?;
    Ok(ok(StatusCode::OK, updated))
}

async fn delete_upstream(
    req: HttpRequest,
    AdminCaller(actor): AdminCaller,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&state.provider, actor);
    upstreams::delete_by(&actor, &id, forced(&req)).await.map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}
