//! One user: edit the standard claims, reset the password, disable or enable,
//! clear a sign-in throttle, grant or take the admin role (never the last
//! admin), and end sessions, consents and grants.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use uuid::Uuid;

use super::{admin_page, admitted, failed, require_admin, stale_sign_in};
use crate::admin::AdminError;
use crate::admin::users as service;
use crate::model::{Address, StandardClaims};
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::respond::redirect;

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    sub: Uuid,
    status: StatusCode,
    error: &str,
) -> HttpResponse {
    let user = match service::view(&state.provider.pool, state.provider.clock.as_ref(), sub).await {
        Ok(u) => u,
        Err(AdminError::NotFound(m)) => return state.pages.error(StatusCode::NOT_FOUND, "No such user", &m),
        Err(e) => return failed(state, &e),
    };
    let claims = serde_json::to_value(&user.claims).unwrap_or_default();
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let fields: Vec<_> = [
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "email",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "phone_number",
    ]
    .iter()
    .map(|k| json!({ "name": k, "value": text(k) }))
    .collect();
    let address = &user.claims.address;
    let address_lines: Vec<_> = [
        ("address_locality", "locality", &address.locality),
        ("address_region", "region", &address.region),
        ("address_postal_code", "postal code", &address.postal_code),
        ("address_country", "country", &address.country),
    ]
    .iter()
    .map(|(name, label, value)| json!({ "name": name, "label": label, "value": value.as_deref().unwrap_or_default() }))
    .collect();
    let notice = crate::web::query(req)
        .one("done")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    admin_page(state, req, status, "admin/user.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "users", "user": user, "fields": fields,
            "address_formatted": address.formatted.as_deref().unwrap_or_default(),
            "address_street": address.street_address.as_deref().unwrap_or_default(),
            "address_lines": address_lines,
            "error": error, "notice": notice,
        })
    })
}

pub async fn page(req: HttpRequest, sub: Path<Uuid>, state: Data<AppState>) -> HttpResponse {
    match require_admin(&req, &state).await {
        Ok(admin) => render(&req, &state, &admin, *sub, StatusCode::OK, "").await,
        Err(res) => res,
    }
}

fn claims_from(params: &Params) -> StandardClaims {
    let f = |name: &str| params.one(name).ok().flatten().map(str::to_owned);
    StandardClaims {
        name: f("name"),
        given_name: f("given_name"),
        family_name: f("family_name"),
        middle_name: f("middle_name"),
        nickname: f("nickname"),
        preferred_username: f("preferred_username"),
        profile: f("profile"),
        picture: f("picture"),
        website: f("website"),
        email: f("email"),
        email_verified: f("email_verified").is_some(),
        gender: f("gender"),
        birthdate: f("birthdate"),
        zoneinfo: f("zoneinfo"),
        locale: f("locale"),
        phone_number: f("phone_number"),
        phone_number_verified: f("phone_number_verified").is_some(),
        address: Address {
            formatted: f("address_formatted"),
            street_address: f("address_street_address"),
            locality: f("address_locality"),
            region: f("address_region"),
            postal_code: f("address_postal_code"),
            country: f("address_country"),
        },
    }
}

/// `POST /admin/users/{sub}/{action}`.
pub async fn act(req: HttpRequest, path: Path<(Uuid, String)>, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let (sub, action) = path.into_inner();
    let (admin, params) = match admitted(&req, &state, &body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let back = format!("/admin/users/{sub}");
    // Passwords and roles are sensitive: a recent sign-in is required.
    if matches!(action.as_str(), "password" | "admin" | "unadmin")
        && let Some(res) = stale_sign_in(&state, &admin, &back)
    {
        return res;
    }
    let (pool, clock) = (&state.provider.pool, state.provider.clock.as_ref());
    let id = |name: &str| {
        params
            .one(name)
            .ok()
            .flatten()
            .and_then(|v| Uuid::parse_str(v).ok())
            .unwrap_or_default()
    };
    let result: Result<serde_json::Value, AdminError> = match action.as_str() {
        "claims" => service::update_claims(pool, clock, sub, claims_from(&params))
            .await
            .map(|(b, a)| json!({ "before": b, "after": a })),
        "password" => {
            let password = params.one("password").ok().flatten().unwrap_or_default().to_owned();
            service::reset_password(pool, clock, sub, password)
                .await
                .map(|()| json!({}))
        }
        "disable" => service::set_disabled(pool, clock, sub, true).await.map(|()| json!({})),
        "enable" => service::set_disabled(pool, clock, sub, false).await.map(|()| json!({})),
        "admin" => service::set_admin(pool, sub, true).await.map(|()| json!({})),
        "unadmin" => service::set_admin(pool, sub, false).await.map(|()| json!({})),
        "throttle" => service::clear_throttle(pool, sub).await.map(|()| json!({})),
        "session" => service::end_session(pool, clock, id("session"))
            .await
            .map(|()| json!({ "session": id("session") })),
        "consent" => service::withdraw_consent(pool, clock, id("consent"))
            .await
            .map(|()| json!({ "consent": id("consent") })),
        "grant" => service::end_grant(pool, clock, id("grant"))
            .await
            .map(|()| json!({ "grant": id("grant") })),
        _ => {
            return state
                .pages
                .error(StatusCode::NOT_FOUND, "No such action", "Go back and try again.");
        }
    };
    match result {
        Ok(mut details) => {
            details["sub"] = json!(sub);
            state
                .changed(&admin.user.username, &format!("user: {action}"), details)
                .await;
            redirect(&format!("{back}?done={action}"), true)
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::NotFound(_) | AdminError::Conflict(_))) => {
            render(&req, &state, &admin, sub, StatusCode::BAD_REQUEST, &e.to_string()).await
        }
        Err(e) => failed(&state, &e),
    }
}
