//! Signing in through an upstream OpenID provider (OIDC Core §3.1, Lanyard
//! as the relying party): the start (or, from the account page, connecting
//! an upstream), the redirect URI the upstream answers at, the page that
//! offers a link to an existing account, and the link made once this
//! browser signs in to that account with its own factors. The query strings
//! of these routes (codes, states) are never logged (`web::logging` logs
//! paths only).

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::{Carried, origin_of};
use crate::model::UpstreamId;
use crate::paths;
use crate::protocol::session;
use crate::protocol::upstream::accounts::{self, Outcome, PendingLink};
use crate::protocol::upstream::flow::{self, Asked, Callback};
use crate::protocol::upstream::{UpstreamError, audit};
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::respond::redirect;
use crate::web::{AppState, form, form_page, query, refuse_cross_site, stale_sign_in};

const LINK_FORM: &str = "upstream-link";

/// The path's upstream id, parsed before anything: a malformed one is the
/// 404 page of an unknown upstream, with no audit event and no throttle count.
fn upstream_id(raw: &str) -> Result<UpstreamId, WebError> {
    UpstreamId::parse(raw).map_err(|_| refused(UpstreamError::Unknown))
}

/// `GET /signin/upstream/{id}`: on to the upstream's authorization endpoint
/// (303), carrying the sign-in page's authorization request or page to
/// return to; with `connect=1`, connecting the upstream to the signed-in
/// person's account (from the account page, a recent sign-in needed).
pub async fn start(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let id = upstream_id(&id)?;
    let params = query(&req);
    let one = |name| params.one(name).ok().flatten();
    let (carried, asked) = match one("connect") == Some("1") {
        true => connecting(&state, &req).await?,
        false => {
            // Checked now (a broken link fails here, not after the upstream);
            // resumed from scratch once back.
            let checked = Carried::from_fields(&state, one("request"), one("return_to")).await?;
            let asked = asked_of(checked.request.as_ref(), one("reauth") == Some("1"));
            let request = checked.request.map(|r| r.carried()).unwrap_or_default();
            (
                flow::Carried {
                    request,
                    return_to: checked.return_to,
                },
                asked,
            )
        }
    };
    let existing = state.cookies.upstream(&req);
    let binding = existing.unwrap_or_else(|| crate::crypto::secret::random_token(&mut crate::random::rng()));
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let url = flow::start(&state.provider, id.as_str(), &binding, (&carried, asked), ip.as_deref())
        .await
        .map_err(refused)?;
    let mut res = redirect(&url, true);
    let _ = res.add_cookie(&state.cookies.new_upstream(binding));
    Ok(res)
}

/// What Lanyard asks of the upstream's sign-in: a fresh one when the carried
/// request has `prompt=login` or the sign-in page asked again (`reauth`),
/// and the request's `max_age` (OIDC Core §3.1.2.1).
fn asked_of(request: Option<&crate::protocol::authorize::AuthRequest>, reauth: bool) -> Asked {
    Asked {
        prompt_login: reauth || request.is_some_and(|r| r.prompt.login),
        max_age: request.and_then(|r| r.max_age).map(|m| m.num_seconds()),
        link_user_id: None,
    }
}

/// Connecting from the account page: the signed-in person, whose sign-in is
/// recent (else signed in again first), back to the account page after.
async fn connecting(state: &AppState, req: &HttpRequest) -> Result<(flow::Carried, Asked), WebError> {
    let current = session::current(&state.provider, state.cookies.session(req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    let Some(current) = current else {
        return Err(WebError::redirect(
            format!("{}?return_to={}", paths::SIGNIN, paths::ACCOUNT),
            true,
        ));
    };
    stale_sign_in(state, &current, paths::ACCOUNT)?;
    let carried = flow::Carried {
        request: String::new(),
        return_to: paths::ACCOUNT.to_owned(),
    };
    let asked = Asked {
        link_user_id: Some(current.user.id),
        ..Asked::default()
    };
    Ok((carried, asked))
}

/// `GET /signin/upstream/{id}/callback`: the upstream's authorization
/// response; signed in (and on to what the sign-in carried), connected
/// (back to the account page), or the page that offers a link.
pub async fn callback(req: HttpRequest, id: Path<String>, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let id = upstream_id(&id)?;
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
    let assertion = flow::finish(p, id.as_str(), binding.as_deref(), &cb, ip.as_deref())
        .await
        .map_err(refused)?;
    let previous = state.cookies.session(&req);
    if let Some(user_id) = assertion.link_user_id {
        // Connecting: still that person's session in this browser.
        let current = session::current(p, previous.as_deref())
            .await
            .map_err(WebError::unavailable_page)?;
        if current.is_none_or(|s| s.user.id != user_id) {
            return Err(refused(UpstreamError::NoFlow));
        }
    }
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
        Outcome::Connected(carried) => Ok(redirect(
            &format!("{}?done=connected#upstreams", carried.return_to),
            true,
        )),
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

/// `POST /signin/upstream-link`: the person signs in to the account offered
/// to connect it (`decision=signin`: the sign-in page, the link waiting in
/// this browser), or takes a separate account (`decision=new`). No answer
/// links by itself.
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
    let (token, binding) = (one("token").unwrap_or_default(), state.cookies.upstream(&req));
    let binding = binding.unwrap_or_default();
    let p = &state.provider;
    let answer = match one("decision") {
        Some("signin") => return sign_in_to_connect(&state, &req, token, &binding).await,
        Some("new") => {
            let previous = state.cookies.session(&req);
            let from = origin_of(&req, ip.as_deref(), previous.as_deref());
            accounts::separate(p, token, &binding, &from).await
        }
        _ => {
            let message = "Choose to sign in to the account, or to make a separate one.";
            return Err(WebError::page(StatusCode::BAD_REQUEST, "Nothing chosen", message));
        }
    };
    let (signed_in, carried) = answer.map_err(|e| {
        let _ = audit(p, "failed", None, ip.as_deref(), "-", &format!("separate account: {e}"));
        refused(e)
    })?;
    let carried = Carried::from_fields(&state, Some(&carried.request), Some(&carried.return_to)).await?;
    Ok(carried.signed_in(&state, signed_in))
}

/// "Sign in to connect": the sign-in page for the account offered, carrying
/// the authorization request; the link waits in this browser (a cookie
/// naming the pending link, itself bound to the browser) until it signs in.
async fn sign_in_to_connect(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    binding: &str,
) -> Result<HttpResponse, WebError> {
    let awaiting = accounts::awaiting(&state.provider, token, binding)
        .await
        .map_err(refused)?;
    let mut carried = Carried::from_fields(
        state,
        Some(&awaiting.carried.request),
        Some(&awaiting.carried.return_to),
    )
    .await?;
    carried.username = awaiting.username;
    let message = format!("Sign in to {} to connect {}.", carried.username, awaiting.upstream_name);
    let mut res = carried.again(state, req, StatusCode::OK, &message);
    let _ = res.add_cookie(&state.cookies.new_link(token.to_owned()));
    Ok(res)
}

/// After a sign-in with the account's own factors as `user_id`: the pending
/// link this browser holds ("Sign in to connect") is made if it names that
/// account, else dropped (audited either way); the sign-in stands.
pub(super) async fn complete_link(
    state: &AppState,
    req: &HttpRequest,
    user_id: uuid::Uuid,
    mut res: HttpResponse,
) -> HttpResponse {
    let Some(token) = state.cookies.link(req) else {
        return res;
    };
    let binding = state.cookies.upstream(req).unwrap_or_default();
    let ip = client_ip(req, &state.provider.config.trusted_proxies);
    let p = &state.provider;
    if let Err(e) = accounts::link_signed_in(p, &token, &binding, user_id, ip.as_deref()).await {
        let _ = audit(
            p,
            "failed",
            Some(user_id),
            ip.as_deref(),
            "-",
            &format!("link after sign-in: {e}"),
        );
    }
    let _ = res.add_cookie(&state.cookies.end_link());
    res
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
        UpstreamError::LinkTaken => WebError::page(StatusCode::CONFLICT, title, message),
        _ => WebError::page(StatusCode::BAD_REQUEST, title, message),
    }
}

/// The sign-in page's "Continue with NAME" links, carrying what it carries.
#[derive(Serialize)]
pub(super) struct UpstreamLink {
    pub name: String,
    pub href: String,
}

pub(super) fn links(state: &AppState, request: &str, return_to: &str, reauth: bool) -> Vec<UpstreamLink> {
    let mut carried = url::form_urlencoded::Serializer::new(String::new());
    if reauth {
        carried.append_pair("reauth", "1");
    }
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
