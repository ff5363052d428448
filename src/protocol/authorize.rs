//! The authorization endpoint: OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636 (PKCE),
//! RFC 9207 (`iss` in the response), RFC 8707 (`resource`).

use chrono::TimeDelta;
use serde_json::Value;

use super::client_documents::Fetch;
use super::error::{ErrorCode, OAuthError};
use super::factors::Enrolled;
use super::mint::scope_of_claim;
use super::params::Params;
use super::pushed::{Continuation, Resolved};
use super::session::CurrentSession;
use super::{Provider, api_tokens};
use crate::crypto::secret;
use crate::model::auth_level::EssentialAcr;
use crate::model::claims::IdTokenClaims;
use crate::model::{Audience, AuthLevel, Client, GrantType, OidcScope};
use crate::store::codes::{self, CodeRow};
use crate::store::{apis, consents};

/// Longest `state` and `nonce` accepted (they travel in URLs).
pub const MAX_ECHO_LEN: usize = 2048;

/// Why a request cannot proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown on Lanyard's error page, never redirected: the client or its
    /// redirect URI cannot be trusted (RFC 6749 §4.1.2.1).
    Page(String),
    /// Sent to the client's redirect URI.
    Redirect(String),
    /// The database could not answer (the error page asks to retry).
    Unavailable(OAuthError),
    /// Not a refusal: a pushed request's `request_uri` was spent, and the
    /// browser goes on at this URL, its continuation (RFC 9126 §4).
    Continue(String),
}

impl From<super::pushed::Unresolved> for Refusal {
    fn from(e: super::pushed::Unresolved) -> Self {
        match e {
            super::pushed::Unresolved::Refused(m) => Refusal::Page(m.to_owned()),
            super::pushed::Unresolved::Store(e) => Refusal::Unavailable(e),
        }
    }
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Refusal::Page(e.description)
    }
}

/// The `prompt` values (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub state: Option<String>,
    /// OIDC scopes asked for, in the order asked (and those the `claims` parameter implies).
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// `None`: no `max_age`, or one too large to matter.
    pub max_age: Option<TimeDelta>,
    pub login_hint: Option<String>,
    /// The `sub` of a verified `id_token_hint` (one that does not verify is ignored).
    pub hinted_sub: Option<String>,
    pub claims: Option<Value>,
    pub resources: Vec<String>,
    /// The API scopes asked for, per resource (RFC 8707).
    pub api_scopes: Vec<ApiScopes>,
    /// The DPoP key the code will be bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The parameters as received (a pushed request's as pushed).
    pub params: Params,
    /// A pushed request's continuation (RFC 9126 §4): what the pages carry
    /// instead of the parameters, and what its one code spends.
    pub pushed: Option<Continuation>,
}

/// The scopes of one API an authorization request asks for.
#[derive(Debug, Clone)]
pub struct ApiScopes {
    pub api_id: uuid::Uuid,
    pub audience: String,
    pub api_name: String,
    /// `(name, description)`, as the consent page shows them.
    pub scopes: Vec<(String, String)>,
}

impl ApiScopes {
    pub fn names(&self) -> Vec<String> {
        self.scopes.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// `{"<audience>": ["scope", …]}`, as codes and grants store it.
pub fn api_scopes_json(apis: &[ApiScopes]) -> Value {
    Value::Object(
        apis.iter()
            .map(|a| (a.audience.clone(), serde_json::json!(a.names())))
            .collect(),
    )
}

impl AuthRequest {
    pub fn wants_id_token(&self) -> bool {
        self.scopes.iter().any(|s| s == OidcScope::Openid.as_str())
    }

    /// What the sign-in and consent pages carry to resume this request: its
    /// parameters, or a pushed request's continuation (the request itself
    /// stays in the database, whatever its size).
    pub fn carried(&self) -> String {
        match &self.pushed {
            Some(continuation) => continuation.params(),
            None => self.params.encode(),
        }
    }
}

/// The response for a request (RFC 6749 §4.1.2): the redirect URI with its own
/// query kept, and `code` or `error`, `state` and `iss` (RFC 9207 §2) added.
pub fn redirect_url(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return redirect_uri.to_owned();
    }
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

fn error_redirect(p: &Provider, redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> Refusal {
    Refusal::Redirect(error_url(p, redirect_uri, state, e))
}

fn error_url(p: &Provider, redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> String {
    let mut pairs = vec![
        ("error", e.code.as_str()),
        ("error_description", e.description.as_str()),
    ];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", p.config.issuer.as_str()));
    redirect_url(redirect_uri, &pairs)
}

/// Why a request failed its checks, before it becomes a page, a redirect
/// (at /authorize) or a JSON error (at the PAR endpoint).
enum Failure {
    /// The client or its redirect URI cannot be trusted.
    Page(String),
    /// The database could not answer (looking up a metadata-document client).
    Unavailable(OAuthError),
    /// Anything after: the client's error, with where it would go.
    Client {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Checks a request at /authorize: a pushed one (`request_uri`, RFC 9126
/// §4) is first spent and replaced by what was pushed. Until the client and
/// redirect URI are known good, errors go to the error page; after that, to
/// the client — and so does a plain request from a client that must push
/// (RFC 9126 §6, `invalid_request`).
///
/// `fetch` says whether a client_id URL that is no client yet may be
/// fetched (`client_documents::Fetch`): yes for a browser's request, with
/// its address.
pub async fn parse(p: &Provider, params: Params, fetch: Fetch<'_>) -> Result<AuthRequest, Refusal> {
    let (params, pushed) = match super::pushed::resolve(p, params).await? {
        Resolved::Plain(params) => (params, None),
        Resolved::Pushed(params, continuation) => (params, Some(continuation)),
        Resolved::Spent(continuation) => {
            let url = format!("{}?{}", crate::paths::AUTHORIZE, continuation.params());
            return Err(Refusal::Continue(url));
        }
    };
    let mut request = validate(p, params, fetch).await.map_err(|f| match f {
        Failure::Page(m) => Refusal::Page(m),
        Failure::Unavailable(e) => Refusal::Unavailable(e),
        Failure::Client {
            redirect_uri,
            state,
            error,
        } => error_redirect(p, &redirect_uri, state.as_deref(), &error),
    })?;
    if pushed.is_none() && (request.client.require_par || p.config.require_par) {
        let e = OAuthError::invalid_request("this client must push its authorization requests first (RFC 9126 §6)");
        return Err(error_redirect(p, &request.redirect_uri, request.state.as_deref(), &e));
    }
    request.pushed = pushed;
    Ok(request)
}

/// Checks a request pushed to the PAR endpoint (RFC 9126 §2.1): the checks
/// of /authorize, each failure a JSON error (`invalid_request` where
/// /authorize would show its error page).
pub async fn parse_pushed(p: &Provider, params: Params) -> Result<AuthRequest, OAuthError> {
    // The pushing client was resolved (and fetched) already.
    validate(p, params, Fetch::IfKnown).await.map_err(|f| match f {
        Failure::Page(m) => OAuthError::invalid_request(m),
        Failure::Unavailable(e) | Failure::Client { error: e, .. } => e,
    })
}

async fn validate(p: &Provider, params: Params, fetch: Fetch<'_>) -> Result<AuthRequest, Failure> {
    let page = |m: &str| Failure::Page(m.to_owned());
    let client_id = params
        .one("client_id")
        .map_err(|_| page("The request repeats client_id."))?
        .ok_or_else(|| page("The request names no client (client_id is missing)."))?;
    let client = match super::client_documents::resolve(p, client_id, fetch).await {
        Ok(client) => {
            client.ok_or_else(|| page("This application is not registered with Lanyard (unknown client_id)."))?
        }
        Err(e) => match e.refusal() {
            Ok(why) => return Err(page(&format!("This application cannot be used: {why}."))),
            // Throttled (429), too busy or the database away (503).
            Err(e) => return Err(Failure::Unavailable(e)),
        },
    };
    let redirect_uri = params
        .one("redirect_uri")
        .map_err(|_| page("The request repeats redirect_uri."))?
        .ok_or_else(|| page("The request has no redirect_uri."))?
        .to_owned();
    if !client.redirect_uri_matches(&redirect_uri) {
        return Err(page("The redirect_uri is not registered for this application."));
    }
    let state = params.one("state").ok().flatten().map(str::to_owned);
    // An oversized state is never echoed, not even in an error redirect.
    if state.as_ref().is_some_and(|s| s.len() > MAX_ECHO_LEN) {
        return Err(page(&format!(
            "The state parameter is longer than {MAX_ECHO_LEN} characters."
        )));
    }
    match check(p, &client, &params).await {
        Ok(checked) => Ok(checked.into_request(client.as_ref().clone(), redirect_uri, state, params)),
        Err(error) => Err(Failure::Client {
            redirect_uri,
            state,
            error,
        }),
    }
}

/// The checks after the redirect URI is trusted; each failure is redirected.
struct Checked {
    scopes: Vec<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt: Prompt,
    max_age: Option<TimeDelta>,
    login_hint: Option<String>,
    hinted_sub: Option<String>,
    claims: Option<Value>,
    resources: Vec<String>,
    api_scopes: Vec<ApiScopes>,
    dpop_jkt: Option<String>,
}

impl Checked {
    fn into_request(self, client: Client, redirect_uri: String, state: Option<String>, params: Params) -> AuthRequest {
        AuthRequest {
            client,
            redirect_uri,
            state,
            scopes: self.scopes,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            prompt: self.prompt,
            max_age: self.max_age,
            login_hint: self.login_hint,
            hinted_sub: self.hinted_sub,
            claims: self.claims,
            resources: self.resources,
            api_scopes: self.api_scopes,
            dpop_jkt: self.dpop_jkt,
            params,
            pushed: None,
        }
    }
}

async fn check(p: &Provider, client: &Client, params: &Params) -> Result<Checked, OAuthError> {
    let read = read(client, params)?;
    let api_scopes = resolve_api_scopes(p, client, &read.resources, &read.api_tokens).await?;
    Ok(Checked {
        hinted_sub: read.id_token_hint.and_then(|hint| verified_hint_sub(p, &hint)),
        scopes: read.scopes,
        nonce: read.nonce,
        code_challenge: read.code_challenge,
        prompt: read.prompt,
        max_age: read.max_age,
        login_hint: read.login_hint,
        claims: read.claims,
        resources: read.resources,
        api_scopes,
        dpop_jkt: read.dpop_jkt,
    })
}

/// An authorization request as its parameters say it, for a known client:
/// every check that needs nothing but the two (no keys, no database).
#[derive(Debug)]
pub struct Read {
    pub scopes: Vec<String>,
    /// API scopes named in `scope` (with `resource`).
    pub api_tokens: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<TimeDelta>,
    pub login_hint: Option<String>,
    /// Not verified yet.
    pub id_token_hint: Option<String>,
    pub claims: Option<Value>,
    pub resources: Vec<String>,
    pub dpop_jkt: Option<String>,
}

/// Reads and checks an authorization request's parameters for `client`;
/// each failure is the error the client is redirected with.
pub fn read(client: &Client, params: &Params) -> Result<Read, OAuthError> {
    check_request_form(client, params)?;
    let claims = parse_claims(params.one("claims")?)?;
    let resources = params
        .all("resource")
        .iter()
        .map(|r| {
            Audience::parse(r)
                .map(|a| a.to_string())
                .map_err(|m| OAuthError::new(ErrorCode::InvalidTarget, m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (scopes, api_tokens) = parse_scopes(client, params.one("scope")?, claims.as_ref(), !resources.is_empty())?;
    let code_challenge = parse_pkce(client, params)?;
    let prompt = parse_prompt(params.one("prompt")?)?;
    // OIDC Core §3.1.2.1: seconds since the last active authentication.
    let max_age = match params.one("max_age")? {
        Some(raw) => super::params::duration(raw, TimeDelta::seconds(1))
            .map_err(|()| OAuthError::invalid_request("max_age must be a whole number of seconds"))?,
        None => None,
    };
    Ok(Read {
        scopes,
        api_tokens,
        nonce: parse_nonce(params)?,
        code_challenge,
        prompt,
        max_age,
        login_hint: params.one("login_hint")?.map(|h| h.chars().take(64).collect()),
        id_token_hint: params.one("id_token_hint")?.map(str::to_owned),
        claims,
        resources,
        dpop_jkt: parse_dpop_jkt(params)?,
    })
}

/// The request's form, before its values: no request objects (OIDC Core
/// §6), no repeated parameter but `resource` (RFC 6749 §3.1, RFC 8707 §2),
/// `response_type=code` in the query response mode, for a client of the
/// code flow.
fn check_request_form(client: &Client, params: &Params) -> Result<(), OAuthError> {
    if params.has("request") {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.has("request_uri") {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    if let Some(name) = params.first_repeated(&["resource"]) {
        return Err(OAuthError::invalid_request(format!(
            "the `{name}` parameter is repeated"
        )));
    }
    match params.one("response_type")? {
        None => return Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type `{other}` is not supported; use `code`"),
            ));
        }
    }
    if let Some(mode) = params.one("response_mode")?.filter(|m| *m != "query") {
        return Err(OAuthError::invalid_request(format!(
            "response_mode `{mode}` is not supported; use `query`"
        )));
    }
    if !client.has_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    Ok(())
}

/// `nonce` (OIDC Core §3.1.2.1), echoed in the id_token, so bounded.
fn parse_nonce(params: &Params) -> Result<Option<String>, OAuthError> {
    let nonce = params.one("nonce")?.map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHO_LEN) {
        return Err(OAuthError::invalid_request(format!(
            "nonce may be at most {MAX_ECHO_LEN} characters"
        )));
    }
    Ok(nonce)
}

/// `dpop_jkt` (RFC 9449 §10): the base64url SHA-256 thumbprint (RFC 7638)
/// of the key the code is to be bound to — 43 characters.
fn parse_dpop_jkt(params: &Params) -> Result<Option<String>, OAuthError> {
    let jkt = params.one("dpop_jkt")?;
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match jkt {
        Some(j) if j.len() != 43 || !j.chars().all(base64url) => Err(OAuthError::invalid_request(
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)",
        )),
        _ => Ok(jkt.map(str::to_owned)),
    }
}

/// Each resource must be an API the client may get (else `invalid_target`);
/// the API scopes asked for are those of `tokens` it allows, or all it allows
/// when none are named; a token no resource allows is `invalid_scope`.
async fn resolve_api_scopes(
    p: &Provider,
    client: &Client,
    resources: &[String],
    tokens: &[String],
) -> Result<Vec<ApiScopes>, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    let allowed = apis::audiences_for_client(&mut conn, &client.client_id).await?;
    let mut out: Vec<ApiScopes> = Vec::new();
    for audience in resources {
        if out.iter().any(|a| &a.audience == audience) {
            continue;
        }
        if !allowed.contains(audience) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("this client may not get tokens for `{audience}`"),
            ));
        }
        let Some(api) = apis::find_by_audience(&mut conn, audience).await? else {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("unknown API `{audience}`"),
            ));
        };
        let allowance = apis::allowed_scopes(&mut conn, &client.client_id, api.id).await?;
        let defined = apis::scopes(&mut conn, api.id).await?;
        let scopes = defined
            .into_iter()
            .filter(|d| allowance.contains(&d.name) && (tokens.is_empty() || tokens.contains(&d.name)))
            .map(|d| (d.name, d.description))
            .collect();
        out.push(ApiScopes {
            api_id: api.id,
            audience: api.audience,
            api_name: api.name,
            scopes,
        });
    }
    if let Some(extra) = tokens
        .iter()
        .find(|t| !out.iter().any(|a| a.scopes.iter().any(|(n, _)| n == *t)))
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope `{extra}` is not available to this client"),
        ));
    }
    Ok(out)
}

/// The `claims` parameter (OIDC Core §5.5): a JSON object with `userinfo`
/// and/or `id_token` members.
fn parse_claims(raw: Option<&str>) -> Result<Option<Value>, OAuthError> {
    let Some(raw) = raw else { return Ok(None) };
    let bad = || OAuthError::invalid_request("claims must be a JSON object with userinfo and/or id_token objects");
    let value: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let object = value.as_object().ok_or_else(bad)?;
    for member in ["userinfo", "id_token"] {
        if object.get(member).is_some_and(|m| !m.is_object() && !m.is_null()) {
            return Err(bad());
        }
    }
    Ok(Some(value))
}

/// What a request asks of the sign-in's level.
#[derive(Debug)]
enum LevelCheck {
    Enough,
    /// The person can reach what must be reached: ask them for more (a
    /// step-up) to this level.
    StepUp(AuthLevel),
    /// The person can reach what `acr_values` wish for: ask for it, unless
    /// the client asked for no interaction (then the tokens say the level
    /// reached).
    WishedStepUp(AuthLevel),
    /// What must be reached cannot be (the refusal to send).
    Refused(OAuthError),
}

/// An essential `acr` (OIDC Core §5.5.1.1) and every API named (RFC 9470)
/// must be reached; `acr_values` (OIDC Core §3.1.2.1) are a wish, asked for
/// only when the person's factors can reach it. Either way a session below
/// is stepped up, not signed in again, when the person can reach the level.
async fn judge_level(p: &Provider, req: &AuthRequest, session: &CurrentSession) -> Result<LevelCheck, OAuthError> {
    let have = AuthLevel::of_methods(&session.amr);
    let unmet = |why: &str| OAuthError::new(ErrorCode::UnmetAuthenticationRequirements, why);
    let mut must: Option<(AuthLevel, OAuthError)> = match essential_acr(req.claims.as_ref()) {
        Some(None) => return Ok(LevelCheck::Refused(unmet("none of the essential acr values is known"))),
        Some(Some(level)) if level > have => {
            Some((level, unmet("the sign-in does not reach the essential acr asked for")))
        }
        _ => None,
    };
    for api in req.resources.iter().filter_map(|r| p.catalog.api(r)) {
        if let (Err(refusal), Some(level)) = (
            api_tokens::require_level(p, &api, &session.amr),
            api_tokens::min_level(p, &api),
        ) && must.as_ref().is_none_or(|(l, _)| level > *l)
        {
            must = Some((level, refusal));
        }
    }
    let wish = wished_acr(&req.params).filter(|w| *w > have);
    if must.is_none() && wish.is_none() {
        return Ok(LevelCheck::Enough);
    }
    let reach = Enrolled::of(p, session.user.id).await?.reach();
    Ok(match (must, wish) {
        (Some((level, refusal)), _) if level > reach => LevelCheck::Refused(refusal),
        (Some((level, _)), _) => LevelCheck::StepUp(level),
        (None, Some(wish)) if wish <= reach => LevelCheck::WishedStepUp(wish),
        (None, _) => LevelCheck::Enough,
    })
}

/// The least of the known `acr_values` (space-separated, in order of
/// preference: any of them will do).
fn wished_acr(params: &Params) -> Option<AuthLevel> {
    let raw = params.one("acr_values").ok().flatten()?;
    raw.split(' ').filter_map(|v| v.parse::<AuthLevel>().ok()).min()
}

/// An essential `acr` of the `claims` parameter (OIDC Core §5.5.1.1): the
/// lowest level Lanyard knows among those asked for (any level when none is
/// named), or `Some(None)` when it knows none of them.
fn essential_acr(claims: Option<&Value>) -> Option<Option<AuthLevel>> {
    let essential = EssentialAcr::of(claims)?;
    match essential.named {
        false => Some(Some(AuthLevel::Password)),
        true => Some(essential.known.iter().min().copied()),
    }
}

/// The scopes asked for, split into OIDC scopes — each registered for the
/// client (RFC 6749 §3.3) — and, when resources are named, API scope tokens.
/// Claims asked for by name bring in their scope when the client has it, so
/// consent covers them.
fn parse_scopes(
    client: &Client,
    raw: Option<&str>,
    claims: Option<&Value>,
    has_resources: bool,
) -> Result<(Vec<String>, Vec<String>), OAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    let mut api_tokens: Vec<String> = Vec::new();
    for token in raw.unwrap_or_default().split(' ').filter(|t| !t.is_empty()) {
        match token.parse::<OidcScope>() {
            Ok(s) if client.scopes.contains(&s) => {
                if !scopes.iter().any(|x| x == token) {
                    scopes.push(token.to_owned());
                }
            }
            Err(_) if has_resources => {
                if !api_tokens.iter().any(|x| x == token) {
                    api_tokens.push(token.to_owned());
                }
            }
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{token}` is not available to this client"),
                ));
            }
        }
    }
    if scopes.is_empty() && !has_resources {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope is required"));
    }
    let requested_claims = claims
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|o| {
            ["userinfo", "id_token"]
                .into_iter()
                .filter_map(|m| o.get(m)?.as_object())
        })
        .flat_map(|members| members.keys());
    for claim in requested_claims {
        if let Some(scope) = scope_of_claim(claim).filter(|s| client.scopes.contains(s))
            && !scopes.iter().any(|s| s == scope.as_str())
        {
            scopes.push(scope.as_str().to_owned());
        }
    }
    Ok((scopes, api_tokens))
}

/// PKCE (RFC 7636 §4.2-4.3): only S256; `plain`, a challenge without a method
/// (which means plain) and malformed challenges are refused; public clients must send one.
fn parse_pkce(client: &Client, params: &Params) -> Result<Option<String>, OAuthError> {
    let challenge = params.one("code_challenge")?;
    let method = params.one("code_challenge_method")?;
    match (challenge, method) {
        (None, None) if client.is_public() => Err(OAuthError::invalid_request(
            "a public client must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "code_challenge_method is required and must be S256 (plain is not allowed)",
        )),
        (Some(_), Some(m)) if m != "S256" => Err(OAuthError::invalid_request(format!(
            "code_challenge_method `{m}` is not supported; use S256"
        ))),
        (Some(c), Some(_)) if is_pkce_value(c) => Ok(Some(c.to_owned())),
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge is malformed (43 to 128 unreserved characters)",
        )),
    }
}

/// `43*128(ALPHA / DIGIT / "-" / "." / "_" / "~")` (RFC 7636 §4.1).
pub fn is_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            other => return Err(OAuthError::invalid_request(format!("unknown prompt value `{other}`"))),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

/// The `sub` of an id_token_hint whose signature verifies with a published or
/// retained key and whose `iss` is ours; it may be expired (RP-Initiated Logout §2).
pub fn verified_hint_sub(p: &Provider, hint: &str) -> Option<String> {
    let claims: IdTokenClaims = p.keys.verify_as(hint, &p.expect().at_any_time()).ok()?;
    Some(claims.sub)
}

/// Whether the user has not yet consented to some scope the request asks
/// of this (third-party) client, an API's scopes included.
async fn lacks_consent(p: &Provider, req: &AuthRequest, session: &CurrentSession) -> Result<bool, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    let consent = consents::find(&mut conn, session.user.id, &req.client.client_id).await?;
    let mut missing = req
        .scopes
        .iter()
        .any(|s| !consent.as_ref().is_some_and(|c| c.scopes.contains(s)));
    for api in &req.api_scopes {
        let consented = consents::api_scopes(&mut conn, session.user.id, &req.client.client_id, api.api_id)
            .await?
            .map(|(_, scopes)| scopes)
            .unwrap_or_default();
        missing |= api.scopes.iter().any(|(name, _)| !consented.contains(name));
    }
    Ok(missing)
}

/// What happens next for a checked request.
#[derive(Debug)]
pub enum Outcome {
    /// Show the sign-in page.
    SignIn,
    /// Ask the signed-in person for a second step (a stronger sign-in)
    /// reaching this level.
    StepUp { level: AuthLevel },
    /// Show the consent page for these scopes.
    Consent { scopes: Vec<String> },
    /// Send the browser to the client (a code, or an error).
    Redirect(String),
}

/// Whether the request needs the person to sign in (again): no session,
/// `prompt=login`, a `max_age` the sign-in is older than, or an
/// `id_token_hint` naming someone else (OIDC Core §3.1.2.1).
fn needs_login(p: &Provider, req: &AuthRequest, session: Option<&CurrentSession>) -> bool {
    match session {
        None => true,
        Some(s) => {
            let too_old = req.max_age.is_some_and(|max| p.now() - s.auth_time > max);
            let other_user = req.hinted_sub.as_ref().is_some_and(|sub| *sub != s.user.id.to_string());
            req.prompt.login || too_old || other_user
        }
    }
}

/// Decides, given the browser's session, whether to sign in, step up, ask
/// consent, or issue a code.
pub async fn decide(p: &Provider, req: &AuthRequest, session: Option<&CurrentSession>) -> Result<Outcome, OAuthError> {
    let needs_login = needs_login(p, req, session);
    let redirect_error = |code: ErrorCode, description: &str| {
        let Refusal::Redirect(url) = error_redirect(
            p,
            &req.redirect_uri,
            req.state.as_deref(),
            &OAuthError::new(code, description),
        ) else {
            unreachable!("error_redirect always redirects")
        };
        Ok(Outcome::Redirect(url))
    };
    let session = match session {
        Some(s) if !needs_login => s,
        _ if req.prompt.none => return redirect_error(ErrorCode::LoginRequired, "the user must sign in"),
        _ => return Ok(Outcome::SignIn),
    };
    // The admin API is for administrators only, whatever a client may get.
    if !session.user.is_admin && req.resources.iter().any(|r| api_tokens::is_admin_api(p, r)) {
        return redirect_error(
            ErrorCode::InvalidTarget,
            &api_tokens::not_an_administrator().description,
        );
    }
    // RFC 9470: a level the request needs is judged now, not after consent
    // at /token.
    match judge_level(p, req, session).await? {
        LevelCheck::Enough => {}
        LevelCheck::WishedStepUp(_) if req.prompt.none => {}
        // OIDC Core §3.1.2.6: authentication is needed, and may not be shown.
        LevelCheck::StepUp(_) if req.prompt.none => {
            return redirect_error(ErrorCode::LoginRequired, "a stronger sign-in is needed");
        }
        LevelCheck::StepUp(level) | LevelCheck::WishedStepUp(level) => return Ok(Outcome::StepUp { level }),
        LevelCheck::Refused(refusal) => return redirect_error(refusal.code, &refusal.description),
    }
    // First-party clients: the organisation vouches, no consent page (not even for prompt=consent).
    if !req.client.first_party && (req.prompt.consent || lacks_consent(p, req, session).await?) {
        if req.prompt.none {
            return redirect_error(ErrorCode::ConsentRequired, "the user must consent");
        }
        return Ok(Outcome::Consent {
            scopes: req.scopes.clone(),
        });
    }
    let Some(code) = issue_code(p, req, session).await? else {
        // RFC 9126 §4: a pushed request is one authorization request.
        return redirect_error(
            ErrorCode::InvalidRequest,
            "this pushed authorization request has been used already; push a new one",
        );
    };
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &req.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", p.config.issuer.as_str()));
    Ok(Outcome::Redirect(redirect_url(&req.redirect_uri, &pairs)))
}

/// A new code for the request; `None` when the request was pushed and its
/// one code was issued already (spent in the transaction that inserts
/// this one, so two at once get one code).
async fn issue_code(p: &Provider, req: &AuthRequest, session: &CurrentSession) -> Result<Option<String>, OAuthError> {
    let now = p.now();
    let code = secret::random_token(&mut crate::random::rng());
    let row = CodeRow {
        client_id: req.client.client_id.clone(),
        user_id: session.user.id,
        session_id: Some(session.id),
        redirect_uri: req.redirect_uri.clone(),
        scopes: req.scopes.clone(),
        resources: req.resources.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge.as_ref().map(|_| "S256".to_owned()),
        claims: req.claims.clone(),
        api_scopes: api_scopes_json(&req.api_scopes),
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now + p.config.lifetimes.auth_code,
        redeemed_at: None,
        grant_id: None,
        dpop_jkt: req.dpop_jkt.clone(),
        amr: session.amr.clone(),
    };
    let mut tx = p.pool.begin().await?;
    if let Some(continuation) = &req.pushed
        && !super::pushed::spend(&mut tx, continuation, p).await?
    {
        return Ok(None);
    }
    codes::insert(&mut tx, &secret::sha256(&code), &row).await?;
    tx.commit().await?;
    Ok(Some(code))
}

/// Records the user's consent to the request's scopes (the consent page's "Allow").
pub async fn record_consent(p: &Provider, req: &AuthRequest, session: &CurrentSession) -> Result<(), OAuthError> {
    let mut tx = p.pool.begin().await?;
    let consent = consents::grant_scopes(&mut tx, session.user.id, &req.client.client_id, &req.scopes, p.now()).await?;
    for api in &req.api_scopes {
        consents::grant_api_scopes(&mut tx, consent, api.api_id, &api.names()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The redirect for "Deny" on the consent page (RFC 6749 §4.1.2.1 `access_denied`).
pub fn denied(p: &Provider, req: &AuthRequest) -> String {
    let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
    error_url(p, &req.redirect_uri, req.state.as_deref(), &e)
}

/// The request to resume at `/authorize` once the user has signed in or
/// consented: the prompt already satisfied is dropped, so it is not asked
/// again — for a pushed request, recorded in its continuation (whose MAC
/// covers it), the pushed parameters untouched.
pub fn resume(p: &Provider, request: &AuthRequest, satisfied: &str) -> String {
    if let Some(continuation) = &request.pushed {
        return continuation.satisfying(p, satisfied).params();
    }
    let mut params = request.params.clone();
    let prompt = params.one("prompt").ok().flatten().map(|p| {
        p.split(' ')
            .filter(|v| !v.is_empty() && *v != satisfied)
            .collect::<Vec<_>>()
            .join(" ")
    });
    params.set("prompt", prompt);
    params.encode()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::crypto::Alg;
    use crate::model::AuthMethod;

    fn client(public: bool) -> Client {
        Client {
            client_id: "rp".into(),
            name: "RP".into(),
            auth_method: if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            secret_hash: None,
            keys: None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: OidcScope::ALL.to_vec(),
            first_party: true,
            id_token_alg: Alg::RS256,
            dpop: Default::default(),
            backchannel_logout: None,
            require_par: false,
            previous_secret: None,
            self_registered: false,
            document_fresh_until: None,
            by_previous_secret: false,
        }
    }

    /// A parameter an authorization request may carry, with any value.
    fn parameter() -> impl Strategy<Value = (String, String)> {
        let names = prop::sample::select(vec![
            "response_type",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "claims",
            "resource",
            "response_mode",
            "login_hint",
            "id_token_hint",
            "request",
        ]);
        (
            names,
            prop_oneof![".{0,30}", Just("code".to_owned()), Just("openid".to_owned())],
        )
            .prop_map(|(n, v)| (n.to_owned(), v))
    }

    proptest! {
        #[test]
        fn any_request_is_read_or_refused_never_a_panic(pairs in prop::collection::vec(parameter(), 0..12), public in any::<bool>()) {
            let mut out = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                out.append_pair(k, v);
            }
            let params = Params::parse(&out.finish());
            if let Ok(read) = read(&client(public), &params) {
                prop_assert_eq!(params.one("response_type").ok().flatten(), Some("code"));
                prop_assert!(!public || read.code_challenge.is_some(), "PKCE for public clients");
                prop_assert!(!(read.prompt.none && (read.prompt.login || read.prompt.consent)));
            }
        }
    }
}
