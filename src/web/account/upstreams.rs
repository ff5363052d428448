//! `POST /account/upstreams/unlink`: removes one of the person's links to an
//! upstream provider (refused when it is their only way in).

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::page::{Area, refused};
use super::{AccountForm, done};
use crate::protocol::account::upstreams;
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn unlink(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let (upstream, subject) = (form.field("upstream"), form.field("subject"));
    match upstreams::unlink(&form.person(&state), &upstream, &subject).await {
        Ok(()) => Ok(done("unlink")),
        Err(e) => refused(&state, &req, &form.session, Area::Upstreams, e, None).await,
    }
}
