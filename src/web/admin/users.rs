//! Users: list and search; create (the same rules as `lanyard user create`).

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{Paging, admin_page, admitted, require_admin, stale_sign_in};
use crate::admin::{AdminError, users::NewUserInput};
use crate::model::StandardClaims;
use crate::protocol::session::CurrentSession;
use crate::store::users;
use crate::web::AppState;
use crate::web::respond::redirect;
use crate::web::signin::unavailable;

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    status: StatusCode,
    error: &str,
    values: serde_json::Value,
) -> HttpResponse {
    let paging = Paging::of(req);
    let rows = async {
        let mut conn = state.provider.pool.acquire().await?;
        users::list(&mut conn, &paging.search, paging.limit(), paging.offset()).await
    };
    let mut rows = match rows.await {
        Ok(r) => r,
        Err(e) => return unavailable(state, &e.into()),
    };
    let pager = paging.finish(&mut rows);
    let list: Vec<_> = rows
        .iter()
        .map(|u| json!({ "sub": u.id, "username": u.username, "name": u.name, "email": u.email, "admin": u.is_admin, "disabled": u.disabled_at.is_some() }))
        .collect();
    admin_page(state, req, status, "admin/users.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "users", "users": list, "pager": pager,
            "error": error, "values": values, "notice": crate::web::query(req).one("created").ok().flatten().unwrap_or_default(),
        })
    })
}

pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => {
            render(
                &req,
                &state,
                &admin,
                StatusCode::OK,
                "",
                json!({ "username": "", "name": "", "email": "" }),
            )
            .await
        }
        Err(res) => res,
    }
}

/// Creates a user; a validation error re-renders the form with the message and saves nothing.
pub async fn create(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let field = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    let is_admin = field("admin").as_deref() == Some("on");
    // Granting the admin role is sensitive.
    if is_admin && let Some(res) = stale_sign_in(&state, &admin, "/admin/users") {
        return res;
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
    match crate::admin::users::create(&state.provider.pool, state.provider.clock.as_ref(), input).await {
        Ok(user) => {
            let details = json!({ "sub": user.sub, "username": user.username, "admin": user.admin });
            state.changed(&admin.user.username, "created a user", details).await;
            redirect(
                &format!(
                    "/admin/users?created={}",
                    crate::web::pages::percent_encode(&user.username)
                ),
                true,
            )
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::Conflict(_) | AdminError::NotFound(_))) => {
            render(&req, &state, &admin, StatusCode::BAD_REQUEST, &e.to_string(), values).await
        }
        Err(e) => {
            tracing::error!(error = %e, "creating a user failed");
            state.pages.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The user was not created.",
            )
        }
    }
}
