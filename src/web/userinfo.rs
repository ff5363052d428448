//! `GET` and `POST /userinfo` (OIDC Core §5.3) with RFC 6750 bearer tokens
//! and RFC 9449 §7 DPoP-bound ones.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::error::WebError;
use super::extract::AccessToken;
use super::respond::{json_no_store, with_cors};
use super::{AppState, cors};
use crate::protocol::userinfo;

/// Both methods: the token from the header (Bearer or DPoP) or, a bearer's
/// only, (POST, RFC 6750 §2.2) the form body; every answer, a refusal too,
/// carries CORS for a registered origin.
pub async fn get(req: HttpRequest, token: Result<AccessToken, WebError>, state: Data<AppState>) -> HttpResponse {
    let result = async {
        let AccessToken(presented) = token?;
        let presented = presented.ok_or(WebError::Resource {
            scheme: None,
            error: None,
        })?;
        let claims = userinfo::userinfo(&state.provider, &presented)
            .await
            .map_err(|e| WebError::Resource {
                scheme: Some(presented.scheme()),
                error: Some(e),
            })?;
        Ok(json_no_store(&claims))
    };
    with_cors::<WebError>(&req, &state, result.await).await
}

pub async fn post(req: HttpRequest, token: Result<AccessToken, WebError>, state: Data<AppState>) -> HttpResponse {
    get(req, token, state).await
}

pub async fn preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "GET, POST").await
}
