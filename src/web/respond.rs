//! Successful protocol responses in one place: token JSON that is never
//! cached, and redirects. (Refusals are `web::error::WebError`.)

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;

/// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn json_no_store(body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
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

/// A result answered with CORS headers for a registered origin, the error too
/// (a browser client must be able to read why it was refused).
pub async fn with_cors<E: actix_web::ResponseError>(
    req: &actix_web::HttpRequest,
    state: &super::AppState,
    result: Result<HttpResponse, E>,
) -> HttpResponse {
    let mut res = result.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    super::cors::allow_registered_origin(req, state, &mut res).await;
    res
}
