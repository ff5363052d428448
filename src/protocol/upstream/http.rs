//! The HTTP client Lanyard uses as a relying party of upstream providers
//! (discovery, JWKS, token endpoint — OIDC Discovery §4, OIDC Core §3.1.3):
//! `remote`'s client (no redirects followed, 5 s) and a size limit on every answer.

use std::future::Future;
use std::pin::Pin;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The largest answer read from an upstream (discovery, JWKS, tokens).
pub const MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no HTTP client")]
    NoClient,
    #[error("request failed: {0}")]
    Request(String),
    #[error("the answer: {0}")]
    Body(String),
}

/// A reqwest client that never follows a redirect (a redirect answer is
/// handed back as it is, and fails as the document it is not).
pub struct UpstreamHttp {
    client: Option<reqwest::Client>,
}

impl Default for UpstreamHttp {
    fn default() -> Self {
        Self {
            client: crate::protocol::remote::client("upstream providers cannot be reached"),
        }
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
        let mut builder = openidconnect::http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            builder = builder.header(name, value);
        }
        let body = crate::protocol::remote::body(&mut res, MAX_BYTES)
            .await
            .map_err(FetchError::Body)?;
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
