//! Security headers on every response (DESIGN.md "Browser-facing rules").

use actix_web::middleware::DefaultHeaders;

/// `default-src 'self'`, never framed, no inline script or style. No
/// `form-action`: Chromium applies it to the redirect after a form POST and
/// would block the return to the client.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'";

pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
}
