//! Clients: list and search; create with the fields of `lanyard client create`
//! — the secret is shown once, on the page that answers the creation.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{Paging, actor, admin_page};
use crate::admin::AdminError;
use crate::admin::clients::{self, NewClientInput};
use crate::model::AuthMethod;
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};

/// What the page shows besides the list: a refusal with the values sent, or
/// the client just made (with its secret).
struct Shown<'a> {
    status: StatusCode,
    error: &'a str,
    values: Value,
    created: Value,
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    shown: Shown<'_>,
) -> Result<HttpResponse, WebError> {
    let paging = Paging::of(req);
    let mut rows = clients::search(&state.provider.pool, &paging.search, paging.limit(), paging.offset())
        .await
        .map_err(WebError::from_admin_page)?;
    let pager = paging.finish(&mut rows);
    Ok(admin_page(state, req, shown.status, "admin/clients.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "clients", "clients": rows, "pager": pager,
            "error": shown.error, "values": shown.values, "created": shown.created,
        })
    }))
}

/// The new-client form, blank.
fn empty_values() -> Value {
    json!({ "client_id": "", "name": "", "redirect_uris": "", "post_logout_redirect_uris": "", "jwks": "", "jwks_uri": "", "backchannel_logout_uri": "" })
}

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let shown = Shown {
        status: StatusCode::OK,
        error: "",
        values: empty_values(),
        created: Value::Null,
    };
    render(&req, &state, &admin, shown).await
}

fn new_client(params: &Params) -> Result<NewClientInput, AdminError> {
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let lines = |name: &str| {
        let text = field(name).unwrap_or_default();
        text.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    };
    let public = field("public").is_some();
    let pkjwt = !public && field("auth_method").as_deref() == Some(AuthMethod::PrivateKeyJwt.as_str());
    // The key fields belong to private_key_jwt; with any other method they are left out.
    let (jwks, jwks_uri) = if pkjwt {
        (super::client::parse_jwks(field("jwks"))?, field("jwks_uri"))
    } else {
        (None, None)
    };
    Ok(NewClientInput {
        client_id: field("client_id").unwrap_or_default(),
        name: field("name"),
        redirect_uris: lines("redirect_uris"),
        post_logout_redirect_uris: lines("post_logout_redirect_uris"),
        public,
        // A public client authenticates with `none`; the select names the secret methods.
        auth_method: if public { None } else { field("auth_method") },
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

/// Registers a client. The answer shows its secret this once; a validation
/// error re-renders the form with the message and saves nothing.
pub async fn create(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let field = |name: &str| params.one(name).ok().flatten().unwrap_or_default().to_owned();
    let values = json!({
        "client_id": field("client_id"), "name": field("name"), "redirect_uris": field("redirect_uris"),
        "post_logout_redirect_uris": field("post_logout_redirect_uris"), "jwks": field("jwks"), "jwks_uri": field("jwks_uri"),
        "backchannel_logout_uri": field("backchannel_logout_uri"),
    });
    let created = match new_client(&params) {
        Ok(input) => clients::create_by(&actor(&state, &admin), &mut crate::random::rng(), input).await,
        Err(e) => Err(e),
    };
    let shown = match created {
        // Shown once, in this response only: it is not stored, only its SHA-256.
        Ok(created) => Shown {
            status: StatusCode::CREATED,
            error: "",
            values: empty_values(),
            created: json!({
                "client_id": created.client_id, "client_secret": created.client_secret, "auth_method": created.auth_method,
            }),
        },
        Err(e) if e.is_refusal() => {
            let error = e.to_string();
            let shown = Shown {
                status: StatusCode::BAD_REQUEST,
                error: &error,
                values,
                created: Value::Null,
            };
            return render(&req, &state, &admin, shown).await;
        }
        Err(e) => return Err(WebError::from_admin_page(e)),
    };
    render(&req, &state, &admin, shown).await
}
