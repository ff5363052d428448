//! Fetching documents from other servers — a client's `jwks_uri` (RFC 7591
//! §2), an upstream provider's discovery, keys and token endpoint (OIDC
//! Discovery §4, OIDC Core §3.1.3): an HTTP client that follows no redirect
//! and gives up after a time limit, and a body read up to a size limit.

use std::time::Duration;

/// The longest a fetch may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The client every remote fetch uses; `None` (logged) if it cannot be
/// built, so what needs it fails its requests instead of the start.
pub fn client(purpose: &str) -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // Fetches are rare: no pooled connection outlives its request
        // (nor ties this client to one worker's runtime).
        .pool_max_idle_per_host(0)
        .user_agent(concat!("lanyard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| tracing::error!(error = %e, "no HTTP client: {purpose}"))
        .ok()
}

/// The answer's body, refused once it passes `max` bytes (whatever its
/// `Content-Length` says).
pub async fn body(res: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let too_large = || format!("larger than {max} bytes");
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| format!("reading failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
