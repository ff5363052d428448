//! The delegation chain of the demo (RFC 8693 §2.1, §4.1): the demo API,
//! asked to ship the user's order, exchanges the token it received for one
//! to the shipping API — as its own client `demo-api`, bound to its own DPoP
//! key — and calls that API, which answers with the `act` it was given.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::bearer::Validator;
use super::dpop_key::DpopKey;
use super::{API, Demo, SHIPPING, checked, decode, escape, page, pretty};

/// The demo API's own client, its resource server at Lanyard.
const API_CLIENT_ID: &str = "demo-api";

/// What the demo API needs to call the shipping API for a user.
pub struct Chain {
    /// `demo-api`'s secret; `None` when `.lanyard/demo-api.secret` is missing.
    secret: Option<String>,
    /// The demo API's own DPoP key: the delegated token is bound to it.
    key: DpopKey,
    /// The shipping API's side: it verifies the delegated token.
    shipping: Validator,
}

impl Chain {
    pub async fn new(issuer: &str, public_url: &str) -> Result<Self, String> {
        let secret = std::env::var("API_CLIENT_SECRET")
            .or_else(|_| std::fs::read_to_string(".lanyard/demo-api.secret").map(|s| s.trim().to_owned()))
            .ok();
        Ok(Self {
            secret,
            key: DpopKey::generate()?,
            // `SHIPPING_MIN_ACR`: the level of sign-in the shipping API needs (RFC 9470).
            shipping: Validator::discover(issuer, SHIPPING, public_url)
                .await?
                .requiring(std::env::var("SHIPPING_MIN_ACR").ok().as_deref())?,
        })
    }
}

/// The relying party asks the demo API to ship, with its bound token.
pub async fn ship(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    let Some(token) = demo.visit(&req).access_token else {
        return page("<h1>Exchange the id_token first</h1><p><a href=\"/\">Back</a></p>".into());
    };
    let url = format!("{API}/ship");
    let res = demo
        .http
        .get(&url)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", demo.key.proof("GET", &url, Some(&token)))
        .send()
        .await;
    let (status, body) = match res {
        Ok(r) => (r.status(), r.json::<Value>().await.unwrap_or(Value::Null)),
        Err(e) => {
            return page(format!(
                "<h1>The API did not answer</h1><p>{}</p>",
                escape(&e.to_string())
            ));
        }
    };
    if body["error"] == STEP_UP {
        return step_up_page(&body);
    }
    page(format!(
        "<h1>The API shipped through the shipping API</h1><p>Status <b>{status}</b>. The demo API exchanged the token it got for one to the shipping API (<code>subject_token_type</code> access_token): the same user (<code>sub</code>), the demo API acting (<code>act</code>), bound to the demo API's own key.</p><pre>{}</pre><p><a href=\"/\">Back</a></p>",
        pretty(&body)
    ))
}

/// RFC 9470's error: the sign-in behind the token is below what an API needs.
const STEP_UP: &str = "insufficient_user_authentication";

/// The shipping API needs a stronger sign-in than the user's: the demo
/// offers to sign in again asking for it (`acr_values`), which Lanyard
/// answers with a second step on the same session (a step-up).
fn step_up_page(body: &Value) -> HttpResponse {
    let levels = body["acr_values"].as_str().unwrap_or("mfa phishing-resistant");
    let login = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("acr_values", levels)
        .finish();
    page(format!(
        "<h1>A stronger sign-in is needed</h1><p>The shipping API asks for a sign-in of level <code>{}</code> (RFC 9470): the demo API passed its challenge on.</p><pre>{}</pre>\
         <p><a href=\"/login?{login}\">Sign in again with a second factor</a> (Lanyard asks for the second step on the same session; set up an authenticator app on your Lanyard account page first), then exchange and ship again.</p><p><a href=\"/\">Back</a></p>",
        escape(levels),
        pretty(body)
    ))
}

/// `GET /api/ship` — the demo API (API A): shipping places an order, so the
/// caller's token must carry `write` (not merely `read`: the API must not
/// do for a caller more than the caller may ask of it); then it calls the
/// shipping API for the same user with a delegated token.
pub async fn api_ship(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    if let Err(refusal) = checked(&demo.api, &req, "write").await {
        return refusal.response();
    }
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    let Some(token) = authorization.and_then(|a| a.split_once(' ')).map(|(_, t)| t.trim()) else {
        return HttpResponse::Unauthorized().finish();
    };
    match delegate_and_call(&demo, token).await {
        Ok(answer) => HttpResponse::Ok().json(answer),
        // The shipping API (or Lanyard, for it) needs a stronger sign-in:
        // the demo API passes the challenge on to its caller (RFC 9470 §3).
        Err(why) if why["error"] == STEP_UP => {
            let levels = why["acr_values"]
                .as_str()
                .unwrap_or("mfa phishing-resistant")
                .to_owned();
            let challenge = format!(r#"DPoP error="{STEP_UP}", acr_values="{levels}""#);
            HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", challenge))
                .json(json!({ "error": STEP_UP, "error_description": why["error_description"], "acr_values": levels }))
        }
        Err(why) => HttpResponse::BadGateway().json(json!({ "error": why })),
    }
}

/// RFC 8693 §2.1 as the resource server `demo-api`: the user's token for
/// the demo API in, a token for the shipping API out; then the call.
async fn delegate_and_call(demo: &Demo, token: &str) -> Result<Value, Value> {
    let chain = &demo.chain;
    let secret = chain.secret.as_deref().ok_or_else(|| {
        json!("no secret for demo-api: run the demo where `lanyard dev` wrote .lanyard/demo-api.secret, or set API_CLIENT_SECRET")
    })?;
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("resource", SHIPPING),
        ("scope", "ship"),
    ];
    let answer: Value = demo
        .http
        .post(&demo.token_endpoint)
        .basic_auth(API_CLIENT_ID, Some(secret))
        .header("DPoP", chain.key.proof("POST", &demo.token_endpoint, None))
        .form(&form)
        .send()
        .await
        .map_err(|e| json!(e.to_string()))?
        .json()
        .await
        .map_err(|e| json!(e.to_string()))?;
    let delegated = answer["access_token"].as_str().ok_or_else(|| answer.clone())?;
    let url = format!("{SHIPPING}/shipments");
    let shipped: Value = demo
        .http
        .get(&url)
        .header("Authorization", format!("DPoP {delegated}"))
        .header("DPoP", chain.key.proof("GET", &url, Some(delegated)))
        .send()
        .await
        .map_err(|e| json!(e.to_string()))?
        .json()
        .await
        .map_err(|e| json!(e.to_string()))?;
    if shipped["error"] == STEP_UP {
        return Err(shipped);
    }
    Ok(json!({ "delegated_token": decode(delegated)["claims"], "shipping_api_answered": shipped }))
}

/// `GET /shipping/shipments` — the shipping API (API B): a token for it with
/// `ship`; it shows who the user is and who acts for them.
pub async fn shipments(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    match checked(&demo.chain.shipping, &req, "ship").await {
        Ok(claims) => HttpResponse::Ok().json(json!({
            "shipments": [{ "order": 1, "status": "on its way" }],
            "sub": claims.get("sub"), "client_id": claims.get("client_id"), "act": claims.get("act"),
        })),
        Err(refusal) => refusal.response(),
    }
}
