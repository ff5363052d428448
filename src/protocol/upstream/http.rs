//! The HTTP client Lanyard uses as a relying party of upstream providers
//! (discovery, JWKS, token endpoint — OIDC Discovery §4, OIDC Core §3.1.3):
//! no redirects followed, a time limit, a size limit on every answer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The longest a request to an upstream may take, connection to last byte.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read from an upstream (discovery, JWKS, tokens).
pub const MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no HTTP client")]
    NoClient,
    #[error("request failed: {0}")]
    Request(String),
    #[error("the answer is larger than {MAX_BYTES} bytes")]
    TooLarge,
}

/// A reqwest client that never follows a redirect (a redirect answer is
/// handed back as it is, and fails as the document it is not).
pub struct UpstreamHttp {
    client: Option<reqwest::Client>,
}

impl Default for UpstreamHttp {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .user_agent(concat!("lanyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| tracing::error!(error = %e, "no HTTP client: upstream providers cannot be reached"))
            .ok();
        Self { client }
    }
}

impl UpstreamHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let client = self.client.as_ref().ok_or(FetchError::NoClient)?;
        let (parts, body) = request.into_parts();
        let mut res = client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            // Without the URL: a token request's URL carries nothing secret,
            // but the error's text is the library's.
            .map_err(|e| FetchError::Request(e.without_url().to_string()))?;
        if res.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(FetchError::TooLarge);
        }
        let mut builder = openidconnect::http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| FetchError::Request(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|e| FetchError::Request(e.to_string()))
    }
}

impl<'c> AsyncHttpClient<'c> for UpstreamHttp {
    type Error = FetchError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, FetchError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
