//! One user: edit the standard claims, reset the password, disable or enable,
//! clear a sign-in throttle, grant or take the admin role (never the last
//! admin), and end sessions, consents and grants.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use uuid::Uuid;

use super::{actor, admin_page, missing, notice, stale_sign_in};
use crate::admin::users::{self as service, UserAction};
use crate::model::{Address, StandardClaims};
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::{Admin, AdminForm};
use crate::web::respond::redirect;

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &CurrentSession,
    sub: Uuid,
    status: StatusCode,
    error: &str,
) -> Result<HttpResponse, WebError> {
    let user = service::view(&state.provider.pool, state.provider.clock.as_ref(), sub)
        .await
        .map_err(missing("No such user"))?;
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
    let notice = notice(req);
    Ok(admin_page(state, req, status, "admin/user.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "users", "user": user, "fields": fields,
            "address_formatted": address.formatted.as_deref().unwrap_or_default(),
            "address_street": address.street_address.as_deref().unwrap_or_default(),
            "address_lines": address_lines,
            "error": error, "notice": notice,
        })
    }))
}

pub async fn page(
    req: HttpRequest,
    Admin(admin): Admin,
    sub: Path<Uuid>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    render(&req, &state, &admin, *sub, StatusCode::OK, "").await
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

/// The action a form names, with what it needs from the form; `None` for an unknown one.
fn action_of(name: &str, params: &Params) -> Option<UserAction> {
    let id = |field: &str| {
        let raw = params.one(field).ok().flatten();
        raw.and_then(|v| Uuid::parse_str(v).ok()).unwrap_or_default()
    };
    Some(match name {
        "claims" => UserAction::Claims(Box::new(claims_from(params))),
        "password" => UserAction::Password(params.one("password").ok().flatten().unwrap_or_default().to_owned()),
        "disable" => UserAction::Disable,
        "enable" => UserAction::Enable,
        "admin" => UserAction::Admin,
        "unadmin" => UserAction::Unadmin,
        "throttle" => UserAction::Throttle,
        "factors" => UserAction::ResetFactors,
        "session" => UserAction::EndSession(id("session")),
        "consent" => UserAction::WithdrawConsent(id("consent")),
        "grant" => UserAction::EndGrant(id("grant")),
        _ => return None,
    })
}

/// `POST /admin/users/{sub}/{action}`.
pub async fn act(
    req: HttpRequest,
    form: AdminForm,
    path: Path<(Uuid, String)>,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (sub, name) = path.into_inner();
    let AdminForm { admin, params } = form;
    let back = format!("/admin/users/{sub}");
    let action = action_of(&name, &params);
    // Passwords and roles are sensitive: a recent sign-in is required.
    if action.as_ref().is_some_and(UserAction::is_sensitive) {
        stale_sign_in(&state, &admin, &back)?;
    }
    let action =
        action.ok_or_else(|| WebError::page(StatusCode::NOT_FOUND, "No such action", "Go back and try again."))?;
    match service::act_by(&actor(&state, &admin), sub, action).await {
        Ok(()) => Ok(redirect(&format!("{back}?done={name}"), true)),
        Err(e) if e.is_refusal() => render(&req, &state, &admin, sub, StatusCode::BAD_REQUEST, &e.to_string()).await,
        Err(e) => Err(WebError::from_admin_page(e)),
    }
}
