//! Security headers on every response (README "Security", "Pages").

use actix_web::middleware::DefaultHeaders;

/// `default-src 'self'`, never framed, no `<base>` and no plugins, no inline
/// script or style. No `form-action`: Chromium applies it to the redirect
/// after a form POST and would block the return to the client.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Two years, the preload list's minimum (RFC 6797 §6.1.1); not for
/// subdomains, which Lanyard does not speak for.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000";

/// The headers of every response; `https` when the issuer is https (then
/// browsers are told to use https only, RFC 6797).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
        // A page never shares a browsing context group with its opener.
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    match https {
        true => headers.add(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)),
        false => headers,
    }
}
