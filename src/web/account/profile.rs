//! `POST /account/profile`: the person's editable profile claims.

use actix_web::HttpResponse;
use actix_web::web::Data;

use super::page::{Area, refused};
use super::{AccountForm, done};
use crate::model::FieldError;
use crate::protocol::account::AccountError;
use crate::protocol::account::profile::{self, Submitted};
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn post(
    req: actix_web::HttpRequest,
    form: AccountForm,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let mut submitted: Submitted = Vec::new();
    for name in form.params.names().filter(|n| *n != "csrf") {
        match form.params.one(name) {
            Ok(Some(value)) => submitted.push((name.to_owned(), value.to_owned())),
            Ok(None) => {}
            Err(_) => {
                let e = AccountError::Invalid(FieldError::new("profile", format!("`{name}` is given twice")));
                return refused(&state, &req, &form.session, Area::Profile, e, None).await;
            }
        }
    }
    match profile::update(&form.person(&state), &submitted).await {
        Ok(()) => Ok(done("profile")),
        Err(e) => refused(&state, &req, &form.session, Area::Profile, e, Some(submitted)).await,
    }
}
