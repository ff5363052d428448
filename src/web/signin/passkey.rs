//! Signing in with a passkey alone: the sign-in page's script asks for
//! options (`POST /signin/passkey/options`: a modal dialog, or the
//! username field's autofill — W3C WebAuthn §5.1.4.1 conditional
//! mediation), then sends the assertion (`POST /signin/passkey`) and goes
//! where the answer's `redirect` says.

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{PasskeyAnswer, SIGNIN_FORM, origin_of};
use crate::protocol::signin::passkey;
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::respond::json_no_store;
use crate::web::{AppState, json_request};

#[derive(Deserialize)]
struct OptionsAsked {
    /// The autofill of the username field rather than a dialog.
    #[serde(default)]
    conditional: bool,
}

/// `POST /signin/passkey/options`: a ceremony for this browser.
pub async fn options(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let asked: OptionsAsked = json_request(&state, &req, &body, SIGNIN_FORM)?;
    let browser = state.cookies.csrf(&req).unwrap_or_default();
    let challenge = passkey::options(&state.provider, &browser, asked.conditional)
        .await
        .map_err(WebError::from_passkey)?;
    Ok(json_no_store(&challenge))
}

/// `POST /signin/passkey`: the assertion; signed in, `{"redirect": …}`.
pub async fn finish(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let answer: PasskeyAnswer = json_request(&state, &req, &body, SIGNIN_FORM)?;
    let carried = answer.carried(&state).await?;
    let browser = state.cookies.csrf(&req).unwrap_or_default();
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let previous = state.cookies.session(&req);
    let from = origin_of(&req, ip.as_deref(), previous.as_deref());
    let signed_in = passkey::finish(&state.provider, &browser, &answer.ceremony, &answer.credential, &from)
        .await
        .map_err(WebError::from_passkey)?;
    Ok(carried.signed_in_own(&state, &req, signed_in, true).await)
}
