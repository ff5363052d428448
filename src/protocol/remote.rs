//! Fetching documents from other servers — a client's `jwks_uri` (RFC 7591
//! §2), an upstream provider's discovery, keys and token endpoint (OIDC
//! Discovery §4, OIDC Core §3.1.3) — and posting logout tokens: an HTTP
//! client that follows no redirect and gives up after a time limit, and a
//! body read up to a size limit. For URLs a client registered itself
//! (`Remote`), the name is resolved to public addresses only, at the moment
//! of the fetch (RFC 7591 §5: a name checked when registered may point
//! elsewhere by the time it is used — DNS rebinding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::model;

/// The longest a fetch may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The client every remote fetch uses; `None` (logged) if it cannot be
/// built, so what needs it fails its requests instead of the start.
pub fn client(purpose: &str) -> Option<reqwest::Client> {
    builder()
        .build()
        .map_err(|e| tracing::error!(error = %e, "no HTTP client: {purpose}"))
        .ok()
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // Fetches are rare: no pooled connection outlives its request
        // (nor ties this client to one worker's runtime).
        .pool_max_idle_per_host(0)
        .user_agent(concat!("lanyard/", env!("CARGO_PKG_VERSION")))
}

/// Resolves a name as the system does and keeps its public addresses only
/// (`model::is_public`); a name left with none does not resolve. The
/// connection goes to an address checked here, so a name cannot be made to
/// point at the operator's network between the check and the connection.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| model::is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("`{host}` resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP clients of one kind of fetch: one for URLs an administrator
/// registered (any address: the operator's choice), one for URLs a client
/// registered itself (https to public addresses only, no proxy in between).
pub struct Remote {
    any: Option<reqwest::Client>,
    public: Option<reqwest::Client>,
}

impl Remote {
    /// `None` clients (logged) if they cannot be built: their fetches fail.
    pub fn new(purpose: &str) -> Self {
        let public = builder()
            .dns_resolver(Arc::new(PublicOnly))
            .no_proxy()
            .build()
            .map_err(|e| tracing::error!(error = %e, "no HTTP client: {purpose}"))
            .ok();
        Self {
            any: client(purpose),
            public,
        }
    }

    /// The client to reach `url` with; a self-registered client's URL must
    /// be https to a public host (an IP literal is never resolved, so it is
    /// checked here; a name is checked as it resolves).
    pub fn for_url(&self, url: &str, self_registered: bool) -> Result<&reqwest::Client, String> {
        let client = match self_registered {
            true => {
                model::public_https(url)?;
                self.public.as_ref()
            }
            false => self.any.as_ref(),
        };
        client.ok_or_else(|| "no HTTP client".to_owned())
    }
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
