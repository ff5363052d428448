//! `POST /register` (RFC 7591 §3) and `GET|PUT|DELETE /register/{client_id}`
//! (RFC 7592 §2): JSON in and out; the flows are `protocol::registration`.

use actix_web::http::{StatusCode, header};
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};

use super::AppState;
use super::client_ip::client_ip;
use super::error::WebError;
use super::extract::credentials;
use crate::protocol::bearer::Scheme;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::registration::{self, Metadata, Registrant, RegistrationError};

/// The Bearer token of the `Authorization` header (RFC 6750 §2.1), if any;
/// any other header counts as none (RFC 7591 §3 and RFC 7592 §2 answer it
/// with the same `invalid_token`).
fn bearer(req: &HttpRequest) -> Option<&str> {
    match credentials(req) {
        Ok(Some((scheme, token))) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => Some(token),
        _ => None,
    }
}

/// The body as client metadata; anything else is `invalid_client_metadata`.
fn metadata(body: &Bytes) -> Result<Metadata, WebError> {
    serde_json::from_slice(body).map_err(|_| {
        refusal(RegistrationError::InvalidClientMetadata(
            "the body is not a JSON object of client metadata (RFC 7591 §2)".into(),
        ))
    })
}

/// A refusal as RFC 7591 §3.2.2 and RFC 7592 §2 answer it.
fn refusal(e: RegistrationError) -> WebError {
    match e {
        RegistrationError::Off => WebError::json(StatusCode::NOT_FOUND, "not_found", "client registration is off"),
        RegistrationError::InvalidToken(m) => WebError::Resource {
            scheme: Some(Scheme::Bearer),
            error: Some(OAuthError::new(ErrorCode::InvalidToken, m)),
        },
        RegistrationError::InvalidRedirectUri(m) => WebError::json(StatusCode::BAD_REQUEST, "invalid_redirect_uri", m),
        RegistrationError::InvalidClientMetadata(m) => {
            WebError::json(StatusCode::BAD_REQUEST, "invalid_client_metadata", m)
        }
        RegistrationError::Throttled => WebError::json(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many registrations from this address; try again later",
        ),
        RegistrationError::Store(e) if e.is_bad_input() => WebError::json(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "a metadata value cannot be stored",
        ),
        RegistrationError::Store(e) if e.is_unreachable() => WebError::json(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the database is unreachable",
        ),
        RegistrationError::Store(e) => {
            tracing::error!(error = %e, "client registration failed");
            WebError::json(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
        }
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// RFC 7591 §3.1: 201 with the client information.
pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let ip = client_ip(&req, &p.config.trusted_proxies);
    let who = Registrant {
        initial_access_token: bearer(&req),
        ip: ip.as_deref(),
    };
    // `off` answers 404 before the body is read; a body that is not JSON
    // metadata is refused before an initial access token is spent.
    let metadata = match p.config.client_registration {
        crate::config::ClientRegistration::Off => return Err(refusal(RegistrationError::Off)),
        _ => metadata(&body)?,
    };
    let created = registration::register(p, &mut crate::random::rng(), who, metadata)
        .await
        .map_err(refusal)?;
    Ok(json(StatusCode::CREATED, &created))
}

/// RFC 7592 §2.1.
pub async fn get(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let info = registration::read(&state.provider, &id, bearer(&req))
        .await
        .map_err(refusal)?;
    Ok(json(StatusCode::OK, &info))
}

/// RFC 7592 §2.2.
pub async fn put(
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let ip = client_ip(&req, &p.config.trusted_proxies);
    let metadata = metadata(&body)?;
    let info = registration::update(p, &id, bearer(&req), ip.as_deref(), metadata)
        .await
        .map_err(refusal)?;
    Ok(json(StatusCode::OK, &info))
}

/// RFC 7592 §2.3: 204.
pub async fn delete(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let ip = client_ip(&req, &p.config.trusted_proxies);
    registration::delete(p, &id, bearer(&req), ip.as_deref())
        .await
        .map_err(refusal)?;
    Ok(HttpResponse::NoContent().finish())
}
