//! A person's passkeys (`/account/passkeys`): the list (name, created, last
//! used), renaming and removing one with plain forms, and adding one — the
//! page's script runs the WebAuthn ceremony (W3C WebAuthn §7.1) through two
//! JSON requests. Every change needs a recent sign-in and is audited.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::signed_in;
use crate::paths;
use crate::protocol::account::{AccountError, Person, two_step};
use crate::protocol::factors::passkeys::{PasskeyError, manage};
use crate::protocol::session::CurrentSession;
use crate::store::passkeys::PasskeyListRow;
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::extract::csrf_checked;
use crate::web::respond::{json_no_store, redirect};
use crate::web::{AppState, NoFields, form_page, json_request, refuse_cross_site, stale_sign_in};

/// The CSRF purpose of the page's forms and of its script's requests.
const PASSKEYS_FORM: &str = "passkeys";

/// A passkey as the page shows it.
#[derive(Serialize)]
struct PasskeyLine {
    id: Uuid,
    name: String,
    created: String,
    last_used: String,
    /// May be synced to the person's other devices (backup eligible).
    synced: bool,
}

impl From<PasskeyListRow> for PasskeyLine {
    fn from(row: PasskeyListRow) -> Self {
        let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        Self {
            id: row.id,
            name: row.name,
            created: when(row.created_at),
            last_used: row.last_used_at.map(when).unwrap_or_else(|| "never".to_owned()),
            synced: row.backup_eligible,
        }
    }
}

#[derive(Serialize)]
struct PasskeysPage<'a> {
    csrf: String,
    username: &'a str,
    passkeys: &'a [PasskeyLine],
    /// Why passkeys are off, if they are.
    off: &'a str,
    done: &'a str,
    error: &'a str,
}

async fn render(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    session: &CurrentSession,
    error: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let passkeys: Vec<PasskeyLine> = manage::list(p, session.user.id)
        .await
        .map_err(WebError::unavailable_page)?
        .into_iter()
        .map(PasskeyLine::from)
        .collect();
    let done = crate::web::notice(req);
    let off = p.webauthn.as_ref().err().map(|off| off.explain()).unwrap_or_default();
    Ok(form_page(
        state,
        req,
        PASSKEYS_FORM,
        status,
        "pages/passkeys.html",
        |csrf| PasskeysPage {
            csrf,
            username: &session.user.username,
            passkeys: &passkeys,
            off,
            done: &done,
            error: error.unwrap_or_default(),
        },
    ))
}

/// The signed-in person, with a recent sign-in; else the redirect to sign
/// in (again) and come back to the list.
async fn recent_session(state: &AppState, req: &HttpRequest) -> Result<CurrentSession, WebError> {
    let session = signed_in(req, state).await?;
    stale_sign_in(state, &session, paths::PASSKEYS)?;
    Ok(session)
}

/// A change to the person's passkeys, once their session proved what they
/// can (as for an authenticator app: `protocol::account::two_step`).
async fn may_change(state: &AppState, req: &HttpRequest, session: &CurrentSession) -> Result<(), WebError> {
    match two_step::may_change(&person(state, req, session, &mut None)).await {
        Ok(_) => Ok(()),
        Err(AccountError::SecondStepFirst) => Err(WebError::redirect(
            format!("{}?return_to=%2Faccount%2Fpasskeys", paths::SECOND_STEP),
            true,
        )),
        Err(AccountError::Internal(e)) => Err(WebError::unavailable_page(e)),
        Err(_) => Err(WebError::unavailable_page(
            crate::protocol::error::OAuthError::internal("the second factors could not be read"),
        )),
    }
}

fn person<'a>(
    state: &'a AppState,
    req: &HttpRequest,
    session: &'a CurrentSession,
    ip: &'a mut Option<String>,
) -> Person<'a> {
    *ip = client_ip(req, &state.provider.config.trusted_proxies);
    Person {
        provider: &state.provider,
        session,
        ip: ip.as_deref(),
    }
}

/// `GET /account/passkeys`: the list, and the button to add one.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let session = recent_session(&state, &req).await?;
    render(&state, &req, StatusCode::OK, &session, None).await
}

/// The passkey a form names.
fn passkey_id(params: &crate::protocol::params::Params) -> Result<Uuid, WebError> {
    params
        .one("id")
        .ok()
        .flatten()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| WebError::page(StatusCode::BAD_REQUEST, "No such passkey", "The form names no passkey."))
}

fn not_yours() -> WebError {
    WebError::page(StatusCode::NOT_FOUND, "No such passkey", "You have no such passkey.")
}

/// `POST /account/passkeys/rename`.
pub async fn rename(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let session = recent_session(&state, &req).await?;
    let params = csrf_checked(&req, &state, &body, PASSKEYS_FORM)?;
    let (p, id) = (&state.provider, passkey_id(&params)?);
    let typed = params.one("name").ok().flatten().unwrap_or_default();
    match manage::rename(p, session.user.id, id, typed).await {
        Ok(true) => {}
        Ok(false) => return Err(not_yours()),
        Err(PasskeyError::Malformed(why)) => {
            return render(&state, &req, StatusCode::BAD_REQUEST, &session, Some(why)).await;
        }
        Err(e) => return Err(page_refusal(e)),
    }
    audit(&state, &req, &session, "renamed a passkey")?;
    Ok(redirect(&format!("{}?done=renamed", paths::PASSKEYS), true))
}

/// `POST /account/passkeys/remove`: the password (and any authenticator
/// app) still signs the person in; the only way in is kept.
pub async fn remove(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let session = recent_session(&state, &req).await?;
    let id = passkey_id(&csrf_checked(&req, &state, &body, PASSKEYS_FORM)?)?;
    may_change(&state, &req, &session).await?;
    let removal = manage::remove(&state.provider, session.user.id, id)
        .await
        .map_err(WebError::unavailable_page)?;
    match removal {
        manage::Removal::Removed => {}
        manage::Removal::NotFound => return Err(not_yours()),
        manage::Removal::OnlyWayIn => {
            let message = "This passkey is your only way to sign in: set a password first.";
            return Err(WebError::page(StatusCode::BAD_REQUEST, "Refused", message));
        }
    }
    changed(&state, &req, &session, "removed a passkey").await?;
    Ok(redirect(&format!("{}?done=removed", paths::PASSKEYS), true))
}

/// Audits a change (renaming) that ends no other session.
fn audit(state: &AppState, req: &HttpRequest, session: &CurrentSession, what: &str) -> Result<(), WebError> {
    person(state, req, session, &mut None).record(what);
    Ok(())
}

/// After a passkey was added or removed: the person's other sessions end
/// (signed in before the change), audited.
async fn changed(state: &AppState, req: &HttpRequest, session: &CurrentSession, what: &str) -> Result<(), WebError> {
    match two_step::after_change(&person(state, req, session, &mut None), what).await {
        Ok(()) => Ok(()),
        Err(AccountError::Internal(e)) => Err(WebError::unavailable_page(e)),
        Err(_) => Ok(()),
    }
}

/// A refusal on the page itself (not its script).
fn page_refusal(e: PasskeyError) -> WebError {
    match e {
        PasskeyError::Internal(e) => WebError::unavailable_page(e),
        other => {
            let refusal = WebError::from_passkey(other);
            WebError::page(StatusCode::BAD_REQUEST, "Refused", refusal.to_string())
        }
    }
}

/// The signed-in person with a recent sign-in, for the page's script: a
/// 401 JSON answer otherwise (the page then sends them to sign in again).
async fn recent_session_json(state: &AppState, req: &HttpRequest) -> Result<CurrentSession, WebError> {
    match recent_session(state, req).await {
        Err(WebError::Redirect { .. }) => Err(WebError::json(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "adding a passkey needs a recent sign-in: sign in again",
        )),
        other => other,
    }
}

/// A change needs the second step first: the script sends the person there.
fn second_step_json() -> WebError {
    WebError::json(
        StatusCode::FORBIDDEN,
        "insufficient_user_authentication",
        "confirm it is you with your second factor first",
    )
}

/// `POST /account/passkeys/options`: options to create a passkey.
pub async fn options(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let NoFields {} = json_request(&state, &req, &body, PASSKEYS_FORM)?;
    let session = recent_session_json(&state, &req).await?;
    may_change(&state, &req, &session)
        .await
        .map_err(|_| second_step_json())?;
    let challenge = manage::registration_options(&state.provider, &session.user, session.id)
        .await
        .map_err(WebError::from_passkey)?;
    Ok(json_no_store(&challenge))
}

#[derive(Deserialize)]
struct NewPasskey {
    ceremony: String,
    credential: serde_json::Value,
    #[serde(default)]
    name: String,
}

/// `POST /account/passkeys/register`: the new credential; stored,
/// `{"redirect": …}` back to the list.
pub async fn register(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let new: NewPasskey = json_request(&state, &req, &body, PASSKEYS_FORM)?;
    let session = recent_session_json(&state, &req).await?;
    let p = &state.provider;
    manage::register(
        p,
        session.user.id,
        session.id,
        &new.ceremony,
        &new.credential,
        &new.name,
    )
    .await
    .map_err(WebError::from_passkey)?;
    changed(&state, &req, &session, "added a passkey").await?;
    let to = format!("{}?done=added", paths::PASSKEYS);
    Ok(json_no_store(&serde_json::json!({ "redirect": to })))
}
