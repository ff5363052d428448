//! `POST /account/sessions/end` (one session) and
//! `POST /account/sessions/end-others` (all but this browser's).

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use uuid::Uuid;

use super::page::{Area, refused};
use super::{AccountForm, done};
use crate::protocol::account::{AccountError, sessions};
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn end_one(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let Ok(id) = Uuid::parse_str(&form.field("session")) else {
        let e = AccountError::NotFound("no such session");
        return refused(&state, &req, &form.session, Area::Sessions, e, None).await;
    };
    match sessions::end_one(&form.person(&state), id).await {
        Ok(()) => Ok(done("session")),
        Err(e) => refused(&state, &req, &form.session, Area::Sessions, e, None).await,
    }
}

pub async fn end_others(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    match sessions::end_others(&form.person(&state)).await {
        Ok(_) => Ok(done("others")),
        Err(e) => refused(&state, &req, &form.session, Area::Sessions, e, None).await,
    }
}
