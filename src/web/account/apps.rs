//! `POST /account/apps/withdraw`: withdraws the consent to one application.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::page::{Area, refused};
use super::{AccountForm, done};
use crate::protocol::account::apps;
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn withdraw(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    match apps::withdraw(&form.person(&state), &form.field("client_id")).await {
        Ok(()) => Ok(done("app")),
        Err(e) => refused(&state, &req, &form.session, Area::Apps, e, None).await,
    }
}
