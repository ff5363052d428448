//! One client: edit its settings, its API allowances and whose id_tokens it
//! may exchange; rotate its secret (shown once); delete it.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{actor, admin_page, missing, notice, stale_sign_in};
use crate::admin::AdminError;
use crate::admin::clients::{self, ClientUpdate};
use crate::model::{AuthMethod, FieldError, GrantType, OidcScope};
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};
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
) -> Result<HttpResponse, WebError> {
    let client = clients::view(&state.provider.pool, state.provider.clock.as_ref(), id)
        .await
        .map_err(missing("No such client"))?;
    let checks = |all: &mut dyn Iterator<Item = &'static str>, chosen: &[String]| -> Vec<Value> {
        all.map(|v| json!({ "value": v, "checked": chosen.iter().any(|x| x == v) }))
            .collect()
    };
    let grants = checks(&mut GrantType::ALL.iter().map(|g| g.as_str()), &client.grant_types);
    let scopes = checks(&mut OidcScope::ALL.iter().map(|s| s.as_str()), &client.scopes);
    let notice = notice(req);
    let jwks = client
        .jwks
        .as_ref()
        .and_then(|j| serde_json::to_string_pretty(j).ok())
        .unwrap_or_default();
    // A grace that has run out is not shown: the previous secret no longer works.
    let grace_until = client
        .previous_secret_valid_until
        .filter(|until| *until > state.provider.now())
        .map(|until| until.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    Ok(admin_page(state, req, status, "admin/client.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "clients", "client": client,
            "redirect_uris": client.redirect_uris.join("\n"), "post_logout_redirect_uris": client.post_logout_redirect_uris.join("\n"),
            "jwks": jwks,
            "grants": grants, "scopes": scopes, "error": error, "secret": secret, "notice": notice,
            "grace_until": grace_until,
        })
    }))
}

/// After a change: back to the page, or the page again with the refusal.
async fn answer(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    id: &str,
    result: Result<(), AdminError>,
) -> Result<HttpResponse, WebError> {
    match result {
        Ok(()) => Ok(redirect(&format!("{}?done=saved", page_of(id)), true)),
        Err(e) if e.is_refusal() => render(req, state, admin, id, StatusCode::BAD_REQUEST, &e.to_string(), "").await,
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}

pub async fn page(
    req: HttpRequest,
    Admin(admin): Admin,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    render(&req, &state, &admin, &id, StatusCode::OK, "", "").await
}

fn change(params: &Params) -> Result<ClientUpdate, AdminError> {
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let lines = |name: &str| {
        let text = field(name).unwrap_or_default();
        text.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    };
    // The key fields belong to private_key_jwt; with a secret method they are left out.
    let pkjwt = field("auth_method").as_deref() == Some(AuthMethod::PrivateKeyJwt.as_str());
    let (jwks, jwks_uri) = if pkjwt {
        (parse_jwks(field("jwks"))?, field("jwks_uri"))
    } else {
        (None, None)
    };
    Ok(ClientUpdate {
        name: field("name"),
        redirect_uris: lines("redirect_uris"),
        post_logout_redirect_uris: lines("post_logout_redirect_uris"),
        auth_method: field("auth_method"),
        grant_types: params.all("grant_type").to_vec(),
        scopes: params.all("scope").to_vec(),
        first_party: field("first_party").is_some(),
        id_token_alg: field("id_token_alg"),
        dpop_bound: field("dpop_bound").is_some(),
        dpop_nonce: field("dpop_nonce").is_some(),
        jwks,
        jwks_uri,
        backchannel_logout_uri: field("backchannel_logout_uri"),
        backchannel_logout_session_required: field("backchannel_logout_session_required").is_some(),
        require_par: field("require_pushed_authorization_requests").is_some(),
    })
}

/// A JWK Set typed into a form, as JSON.
pub(super) fn parse_jwks(text: Option<String>) -> Result<Option<Value>, AdminError> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| FieldError::new("jwks", format!("not JSON: {e}")).into())
}

pub async fn update(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let result = match change(&params) {
        Ok(change) => clients::update_by(&actor(&state, &admin), &mut crate::random::rng(), &id, change).await,
        Err(e) => Err(e),
    };
    match result {
        // Moved to a secret method: its new secret, shown in this response only.
        Ok(Some(secret)) => render(&req, &state, &admin, &id, StatusCode::OK, "", &secret).await,
        other => answer(&req, &state, &admin, &id, other.map(|_| ())).await,
    }
}

/// A new secret, shown in this response only.
pub async fn rotate_secret(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, &page_of(&id))?;
    let rotated = match clients::secret_grace(params.one("grace_seconds").ok().flatten()) {
        Ok(grace) => clients::rotate_secret_by(&actor(&state, &admin), &mut crate::random::rng(), &id, grace).await,
        Err(e) => Err(e),
    };
    match rotated {
        Ok(r) => render(&req, &state, &admin, &id, StatusCode::OK, "", &r.client_secret).await,
        Err(e) => answer(&req, &state, &admin, &id, Err(e)).await,
    }
}

/// Ends the previous secret's grace now (one click; a recent sign-in).
pub async fn end_secret_grace(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let admin = form.admin;
    stale_sign_in(&state, &admin, &page_of(&id))?;
    let result = clients::end_secret_grace_by(&actor(&state, &admin), &id).await;
    answer(&req, &state, &admin, &id, result).await
}

pub async fn delete(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    if params.one("confirm").ok().flatten() != Some(id.as_str()) {
        let message = "Type the client id to confirm the deletion.";
        return render(&req, &state, &admin, &id, StatusCode::BAD_REQUEST, message, "").await;
    }
    clients::delete_by(&actor(&state, &admin), &id)
        .await
        .map_err(missing("No such client"))?;
    Ok(redirect("/admin/clients", true))
}

/// Which scopes of one API the client may get.
pub async fn access(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let audience = params.one("audience").ok().flatten().unwrap_or_default().to_owned();
    let scopes = params.all("scope").to_vec();
    // Allowing the admin API makes the client an administrator: a recent
    // sign-in, as for a secret.
    if crate::protocol::api_tokens::is_admin_api(&state.provider, &audience) && !scopes.is_empty() {
        stale_sign_in(&state, &admin, &page_of(&id))?;
    }
    let result = clients::set_access_by(&actor(&state, &admin), &id, &audience, &scopes).await;
    answer(&req, &state, &admin, &id, result.map(|_| ())).await
}

/// Lets the client exchange another client's id_tokens, or stops it (`remove`).
pub async fn trust(
    req: HttpRequest,
    form: AdminForm,
    id: Path<String>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let other = params.one("other").ok().flatten().unwrap_or_default().to_owned();
    let remove = params.one("remove").ok().flatten().is_some();
    let result = clients::trust_by(&actor(&state, &admin), &id, &other, remove).await;
    answer(&req, &state, &admin, &id, result).await
}
