//! `POST /account/email`: a new email address, verified by a mailed link
//! before it becomes the account's.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::page::{Area, refused};
use super::{AccountForm, done};
use crate::protocol::account::email;
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn post(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    match email::change(&form.person(&state), &form.field("email")).await {
        Ok(_) => Ok(done("email")),
        Err(e) => refused(&state, &req, &form.session, Area::Email, e, None).await,
    }
}
