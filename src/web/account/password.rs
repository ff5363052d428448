//! `POST /account/password`: the current password, then the new one twice.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::page::{Area, refused};
use super::{AccountForm, done};
use crate::protocol::account::password::{self, PasswordChange};
use crate::web::AppState;
use crate::web::error::WebError;

pub async fn post(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let change = PasswordChange {
        current: form.field("current_password"),
        new: form.field("new_password"),
        repeated: form.field("new_password_again"),
    };
    match password::change(&form.person(&state), change).await {
        Ok(_) => Ok(done("password")),
        Err(e) => refused(&state, &req, &form.session, Area::Password, e, None).await,
    }
}
