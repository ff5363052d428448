//! Signing in through an upstream OpenID provider (OIDC Core §3.1, Lanyard
//! as the relying party): the start, the redirect URI the upstream answers
//! at, and the confirmation of a link to an existing account. The query
//! strings of these routes (codes, states) are never logged (`web::logging`
//! logs paths only).

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::{Carried, origin_of};
use crate::paths;
use crate::protocol::upstream::accounts::{self, Outcome, PendingLink};
use crate::protocol::upstream::flow::{self, Callback};
use crate::protocol::upstream::{UpstreamError, audit};
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::respond::redirect;
use crate::web::{AppState, form, form_page, query, refuse_cross_site};

const LINK_FORM: &str = "upstream-link";

/// `GET /signin/upstream/{id}`: on to the upstream's authorization endpoint
/// (303), carrying the sign-in page's authorization request or page to return to.
pub async fn start(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let params = query(&req);
    let one = |name| params.one(name).ok().flatten();
    // Checked now (a broken link fails here, not after the upstream); resumed
    // from scratch once back.
    let checked = Carried::from_fields(&state, one("request"), one("return_to")).await?;
    let carried = flow::Carried {
        request: checked.request.map(|r| r.params.encode()).unwrap_or_default(),
        return_to: checked.return_to,
    };
    let existing = state.cookies.upstream(&req);
    let binding = existing
        .clone()
        .unwrap_or_else(|| crate::crypto::secret::random_token(&mut crate::random::rng()));
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let url = flow::start(&state.provider, &id, &binding, &carried, ip.as_deref())
        .await
        .map_err(refused)?;
    let mut res = redirect(&url, true);
    let _ = res.add_cookie(&state.cookies.new_upstream(binding));
    Ok(res)
}

/// `GET /signin/upstream/{id}/callback`: the upstream's authorization
/// response; signed in (and on to what the sign-in carried), or the page
/// that asks to confirm a link.
pub async fn callback(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let params = query(&req);
    let one = |name| params.one(name).ok().flatten();
    let cb = Callback {
        state: one("state"),
        code: one("code"),
        error: one("error"),
        iss: one("iss"),
    };
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let binding = state.cookies.upstream(&req);
    let p = &state.provider;
    let assertion = flow::finish(p, &id, binding.as_deref(), &cb, ip.as_deref())
        .await
        .map_err(refused)?;
    let previous = state.cookies.session(&req);
    let from = origin_of(&req, ip.as_deref(), previous.as_deref());
    let binding = binding.unwrap_or_default();
    match accounts::sign_in(p, assertion, &binding, &from)
        .await
        .map_err(refused)?
    {
        Outcome::SignedIn(signed_in, carried) => {
            let carried = Carried::from_fields(&state, Some(&carried.request), Some(&carried.return_to)).await?;
            Ok(carried.signed_in(&state, signed_in))
        }
        Outcome::Confirm(pending) => {
            // The pending link waits as long again, for this browser.
            let mut res = confirm_page(&state, &req, &pending);
            let _ = res.add_cookie(&state.cookies.new_upstream(binding));
            Ok(res)
        }
    }
}

#[derive(Serialize)]
struct LinkPage<'a> {
    csrf: String,
    token: &'a str,
    username: &'a str,
    upstream_name: &'a str,
}

fn confirm_page(state: &AppState, req: &HttpRequest, pending: &PendingLink) -> HttpResponse {
    form_page(
        state,
        req,
        LINK_FORM,
        StatusCode::OK,
        "pages/upstream_link.html",
        |csrf| LinkPage {
            csrf,
            token: &pending.token,
            username: &pending.username,
            upstream_name: &pending.upstream_name,
        },
    )
}

/// `POST /signin/upstream-link`: the person links the account offered
/// (`decision=link`) or takes a new one (`decision=new`).
pub async fn link(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let one = |name| params.one(name).ok().flatten();
    if !state.csrf.check(&req, &state.cookies, LINK_FORM, one("csrf")) {
        return Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Sign in again to link your account.",
        ));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let previous = state.cookies.session(&req);
    let from = origin_of(&req, ip.as_deref(), previous.as_deref());
    let (token, binding) = (one("token").unwrap_or_default(), state.cookies.upstream(&req));
    let decision = one("decision") == Some("link");
    let p = &state.provider;
    let confirmed = accounts::confirm(p, token, binding.as_deref().unwrap_or_default(), decision, &from).await;
    let (signed_in, carried) = match confirmed {
        Ok(done) => done,
        Err(e) => {
            let _ = audit(
                p,
                "failed",
                None,
                ip.as_deref(),
                "-",
                &format!("link confirmation: {e}"),
            );
            return Err(refused(e));
        }
    };
    let carried = Carried::from_fields(&state, Some(&carried.request), Some(&carried.return_to)).await?;
    Ok(carried.signed_in(&state, signed_in))
}

/// A refused sign-in through an upstream, as a page (never a 5xx but an
/// internal failure, or an upstream that cannot be reached: 502).
fn refused(e: UpstreamError) -> WebError {
    let title = "Sign-in with another provider failed";
    let message = e.for_person();
    match e {
        UpstreamError::Internal(e) => WebError::unavailable_page(e),
        UpstreamError::Unknown => WebError::page(StatusCode::NOT_FOUND, title, message),
        UpstreamError::Unreachable(_) => WebError::page(StatusCode::BAD_GATEWAY, title, message),
        UpstreamError::Disabled => WebError::page(StatusCode::FORBIDDEN, title, message),
        UpstreamError::Throttled => WebError::retry_later(StatusCode::TOO_MANY_REQUESTS, title, &message, "900"),
        _ => WebError::page(StatusCode::BAD_REQUEST, title, message),
    }
}

/// The sign-in page's "Continue with NAME" links, carrying what it carries.
#[derive(Serialize)]
pub(super) struct UpstreamLink {
    pub name: String,
    pub href: String,
}

pub(super) fn links(state: &AppState, request: &str, return_to: &str) -> Vec<UpstreamLink> {
    let mut carried = url::form_urlencoded::Serializer::new(String::new());
    if !request.is_empty() {
        carried.append_pair("request", request);
    }
    if !return_to.is_empty() {
        carried.append_pair("return_to", return_to);
    }
    let carried = carried.finish();
    let query = if carried.is_empty() {
        String::new()
    } else {
        format!("?{carried}")
    };
    state
        .provider
        .catalog
        .upstreams()
        .into_iter()
        .map(|(id, name)| UpstreamLink {
            name,
            href: format!("{}{query}", paths::upstream_signin(&id)),
        })
        .collect()
}
