//! The code flow driven like a browser, as free functions: the authorization
//! URL with PKCE, the sign-in form, and reading redirects and hidden fields.
//! (The steps that need the app — `authorize`, `code_for`, `redeem` — are
//! methods of `TestApp`.)

use sha2::{Digest, Sha256};

use super::app::TestApp;
use super::fixtures::{PASSWORD, TestClient};

/// The sign-in form `authorize_url` leads to, filled in for `username`: what a
/// browser posts to `/signin` (for nodes running outside the test process).
pub async fn sign_in_form(
    browser: &reqwest::Client,
    authorize_url: &str,
    username: &str,
) -> Vec<(&'static str, String)> {
    let page = browser
        .get(authorize_url)
        .send()
        .await
        .expect("the sign-in page")
        .text()
        .await
        .expect("its HTML");
    vec![
        ("csrf", hidden_field(&page, "csrf").expect("a CSRF token")),
        (
            "request",
            hidden_field(&page, "request").expect("the authorization request"),
        ),
        ("username", username.into()),
        ("password", PASSWORD.into()),
    ]
}

/// The value of a hidden form field, HTML-unescaped.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a Location header on {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A query parameter of an absolute URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An authorization URL for a client, with PKCE S256.
pub struct AuthUrl {
    pub url: String,
    pub verifier: String,
    pub state: String,
    pub nonce: String,
}

pub fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    let verifier = lanyard::crypto::secret::random_token(&mut rand::rng());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn auth_url(app: &TestApp, client: &TestClient, scope: &str, extra: &[(&str, &str)]) -> AuthUrl {
    let (verifier, challenge) = pkce_pair();
    let state = "st&te=1 ~!".to_owned();
    let nonce = lanyard::crypto::secret::random_token(&mut rand::rng());
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    AuthUrl {
        url: url.to_string(),
        verifier,
        state,
        nonce,
    }
}

/// The `openidconnect` crate's client, as discovery leaves it.
pub type CrateClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The `openidconnect` crate as the relying party `rp` of `app`: discovery,
/// then the client with its redirect URI.
pub async fn crate_client(app: &TestApp, rp: &TestClient) -> CrateClient {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
    let issuer = IssuerUrl::new(app.address.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &super::app::oidc_http())
        .await
        .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        rp.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap())
}

/// The crate's authorization URL with PKCE S256, `state` and `nonce`,
/// asking `scopes` besides `openid`: (url, verifier, state, nonce).
pub fn crate_authorize(
    client: &CrateClient,
    scopes: &[&str],
) -> (
    url::Url,
    openidconnect::PkceCodeVerifier,
    openidconnect::CsrfToken,
    openidconnect::Nonce,
) {
    use openidconnect::core::CoreResponseType;
    use openidconnect::{AuthenticationFlow, CsrfToken, Nonce, PkceCodeChallenge, Scope};
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    (url, verifier, state, nonce)
}

/// The crate's code exchange, with the PKCE verifier.
pub async fn crate_redeem(
    client: &CrateClient,
    code: String,
    verifier: openidconnect::PkceCodeVerifier,
) -> openidconnect::core::CoreTokenResponse {
    client
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&super::app::oidc_http())
        .await
        .expect("the code exchange")
}
