//! Protocol responses in one place: RFC error JSON with its status and
//! headers, token JSON that is never cached, and redirects.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use serde::Serialize;

use crate::protocol::error::{ErrorCode, OAuthError};

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// `{"error", "error_description"}` with the RFC's status; 401 `invalid_client`
/// carries `WWW-Authenticate: Basic` when the client used Basic (RFC 6749 §5.2).
pub fn oauth_error(e: &OAuthError, basic_used: bool) -> HttpResponse {
    let mut res = HttpResponse::build(status(e.code));
    no_store(&mut res);
    if e.code == ErrorCode::InvalidClient && basic_used {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"lanyard\""));
    }
    if e.code == ErrorCode::TemporarilyUnavailable {
        res.insert_header((header::RETRY_AFTER, "5"));
    }
    res.json(ErrorBody {
        error: e.code.as_str(),
        error_description: &e.description,
    })
}

/// A Bearer-protected resource's error (RFC 6750 §3): the challenge names the
/// error; a request with no token gets a bare `Bearer` challenge.
pub fn bearer_error(e: Option<&OAuthError>) -> HttpResponse {
    let Some(e) = e else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"lanyard\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    };
    let challenge = format!(
        "Bearer realm=\"lanyard\", error=\"{}\", error_description=\"{}\"",
        e.code.as_str(),
        e.description.replace(['"', '\\'], "'")
    );
    let mut res = oauth_error(e, false);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_str(&challenge).unwrap_or_else(|_| header::HeaderValue::from_static("Bearer")),
    );
    res
}

/// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn json_no_store(body: &impl Serialize) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    res.json(body)
}

fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

fn status(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// 302 after a GET, 303 after a POST (never 307: it would replay the form, RFC 9700 §4.12).
pub fn redirect(location: &str, after_post: bool) -> HttpResponse {
    let mut res = if after_post {
        HttpResponse::SeeOther()
    } else {
        HttpResponse::Found()
    };
    res.insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
