//! Users: list and search; create (the same rules as `lanyard user create`);
//! invite someone (the same rules as `lanyard user invite`); the pending
//! invitations, each with "Withdraw" (`lanyard user uninvite`).

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{Paging, actor, admin_page, stale_sign_in};
use crate::admin::invitations::{self, InviteInput};
use crate::admin::users::{self, NewUserInput};
use crate::model::StandardClaims;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};
use crate::web::respond::redirect;

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    error: &str,
    values: Value,
) -> Result<HttpResponse, WebError> {
    render_with(req, state, admin, status, json!({ "error": error, "values": values })).await
}

/// The page; `forms` holds what its forms show again (`error`, `values`,
/// `invitation` just made, `invite_error`, `invite_values`).
async fn render_with(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    forms: Value,
) -> Result<HttpResponse, WebError> {
    let paging = Paging::of(req);
    let mut rows = users::search(&state.provider.pool, &paging.search, paging.limit(), paging.offset())
        .await
        .map_err(WebError::from_admin_page)?;
    let pager = paging.finish(&mut rows);
    let created = crate::web::query(req)
        .one("created")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    let signup = state.provider.config.signup;
    let pending = invitations::pending(&state.provider.pool, state.provider.clock.as_ref())
        .await
        .map_err(WebError::from_admin_page)?;
    Ok(admin_page(state, req, status, "admin/users.html", |csrf| {
        let mut page = json!({
            "csrf": csrf, "admin": admin.user.username, "section": "users", "users": rows, "pager": pager,
            "notice": created, "signup": signup, "pending": pending, "error": "", "invite_error": "", "invitation": null,
            "values": { "username": "", "name": "", "email": "" }, "invite_values": { "email": "" },
        });
        if let (Some(page), Value::Object(forms)) = (page.as_object_mut(), forms) {
            page.extend(forms);
        }
        page
    }))
}

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let values = json!({ "username": "", "name": "", "email": "" });
    render(&req, &state, &admin, StatusCode::OK, "", values).await
}

/// Creates a user; a validation error re-renders the form with the message and saves nothing.
pub async fn create(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let is_admin = field("admin").as_deref() == Some("on");
    // Granting the admin role is sensitive.
    if is_admin {
        stale_sign_in(&state, &admin, "/admin/users")?;
    }
    let input = NewUserInput {
        username: field("username").unwrap_or_default(),
        password: field("password").unwrap_or_default(),
        is_admin,
        claims: StandardClaims {
            name: field("name"),
            email: field("email"),
            email_verified: field("email_verified").is_some(),
            ..Default::default()
        },
    };
    let values = json!({
        "username": input.username,
        "name": input.claims.name.clone().unwrap_or_default(),
        "email": input.claims.email.clone().unwrap_or_default(),
    });
    match users::create_by(&actor(&state, &admin), input).await {
        Ok(user) => {
            let name = crate::web::pages::percent_encode(&user.username);
            Ok(redirect(&format!("/admin/users?created={name}"), true))
        }
        Err(e) if e.is_refusal() => render(&req, &state, &admin, StatusCode::BAD_REQUEST, &e.to_string(), values).await,
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}

/// `POST /admin/invitations`: an invitation to register, its link shown
/// this once (and mailed when mail is on).
pub async fn invite(req: HttpRequest, form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    let email = params.one("email").ok().flatten().unwrap_or_default().to_owned();
    let is_admin = params.one("admin").ok().flatten() == Some("on");
    if is_admin {
        stale_sign_in(&state, &admin, "/admin/users")?;
    }
    let input = InviteInput {
        email: email.clone(),
        is_admin,
    };
    match invitations::invite_by(&actor(&state, &admin), input).await {
        Ok(invitation) => {
            render_with(
                &req,
                &state,
                &admin,
                StatusCode::OK,
                json!({ "invitation": invitation }),
            )
            .await
        }
        Err(e) if e.is_refusal() => {
            let forms = json!({ "invite_error": e.to_string(), "invite_values": { "email": email } });
            render_with(&req, &state, &admin, StatusCode::BAD_REQUEST, forms).await
        }
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}

/// `POST /admin/invitations/withdraw`: a pending invitation withdrawn (a
/// recent sign-in needed, audited); back to the list.
pub async fn withdraw(form: AdminForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let AdminForm { admin, params } = form;
    stale_sign_in(&state, &admin, "/admin/users")?;
    let raw = params.one("invitation").ok().flatten().unwrap_or_default();
    let not_found = || {
        WebError::page(
            StatusCode::NOT_FOUND,
            "No such invitation",
            "It was used, withdrawn or has expired.",
        )
    };
    let id = uuid::Uuid::parse_str(raw).map_err(|_| not_found())?;
    match invitations::withdraw_by(&actor(&state, &admin), id).await {
        Ok(_) => Ok(redirect("/admin/users#invite", true)),
        Err(crate::admin::AdminError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}
