//! CORS for /token, /userinfo and /revoke: only the origins of registered
//! redirect URIs, always with `Vary: Origin`. Pages and /authorize never answer CORS.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use super::AppState;

fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| o.len() <= 300)
}

/// Adds `Access-Control-Allow-Origin` when the request's origin is
/// registered, and lets the page read `WWW-Authenticate` (not a
/// CORS-safelisted response header): a refusal's challenge says why, and
/// which DPoP algorithms to use (RFC 9449 §7.1).
pub async fn allow_registered_origin(req: &HttpRequest, state: &AppState, res: &mut HttpResponse) {
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin(req)
        && state.provider.catalog.origin_registered(origin)
        && let Ok(value) = HeaderValue::from_str(origin)
    {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        res.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, DPoP-Nonce"),
        );
    }
}

/// An `OPTIONS` preflight.
pub async fn preflight(req: &HttpRequest, state: &AppState, methods: &'static str) -> HttpResponse {
    let mut res = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type, DPoP",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish();
    allow_registered_origin(req, state, &mut res).await;
    res
}
