//! The token lab: any JWT explained — whether it verifies against Lanyard's
//! keys and exactly why not, what kind of token it is and where it may be
//! used, who and what it names, and whether it is still live. Nothing pasted
//! is stored or logged. The verdict is the verifier's own
//! (`KeyRing::verify_as`), put in words.

pub mod dry_run;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use crate::crypto::jwt::JwtError;
use crate::keys::VerifyError;
use crate::model::KeyState;
use crate::model::claims::{AccessTokenClaims, BACKCHANNEL_LOGOUT_EVENT, IdTokenClaims, LogoutTokenClaims, Typ};
use crate::model::lifecycle::{GrantState, SessionState};
use crate::store::{apis, clients, grants, logout_outbox, revoked_access_tokens, sessions, signing_keys, users};

/// What the lab says about one token.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The signature verifies with one of Lanyard's keys, the issuer is ours and it has not expired.
    pub valid: bool,
    /// One line: the verdict in words.
    pub verdict: String,
    /// `id_token`, `access token`, `logout token`, or `unknown`.
    pub kind: String,
    /// Facts in plain words, one per line.
    pub facts: Vec<String>,
    pub header: String,
    pub claims: String,
}

impl Explanation {
    fn not_a_jwt() -> Self {
        Self {
            valid: false,
            verdict: "Not a JWT: Lanyard's tokens are three base64url parts (header.claims.signature).".into(),
            kind: "unknown".into(),
            facts: vec![],
            header: String::new(),
            claims: String::new(),
        }
    }
}

fn time(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| ts.to_string())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Decodes a JWT part without trusting it.
fn decode(part: Option<&str>) -> Option<Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub async fn explain(p: &Provider, token: &str) -> Result<Explanation, OAuthError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (header, claims) = (decode(parts.next()), decode(parts.next()));
    let (Some(header), Some(claims_value)) = (header, claims) else {
        return Ok(Explanation::not_a_jwt());
    };
    let claims = claims_value.as_object().cloned().unwrap_or_default();
    let mut facts = Vec::new();
    let now = p.now();
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or_default().to_owned();
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default().to_owned();

    // The key the header names, whatever its state.
    let mut conn = p.pool.acquire().await?;
    let stored = signing_keys::list(&mut conn).await?.into_iter().find(|k| k.kid == kid);
    facts.push(match &stored {
        Some(k) => format!("Signed (it says) with key {kid} ({}, {}).", k.alg, k.state),
        None => format!("The header names kid {kid:?}, which is not one of Lanyard's keys."),
    });

    let typ = Kind::of(header.get("typ").and_then(Value::as_str));
    let is_access = typ == Kind::Access;
    // The verdict, from the one verifier every endpoint uses (any audience).
    let expect = p.expect();
    let verdict = match typ {
        Kind::Access => p.keys.verify_as::<AccessTokenClaims>(token, &expect).map(drop),
        Kind::Id => p.keys.verify_as::<IdTokenClaims>(token, &expect).map(drop),
        Kind::Logout => p.keys.verify_as::<LogoutTokenClaims>(token, &expect).map(drop),
    };
    if claims.get("iss").and_then(Value::as_str) != Some(p.config.issuer.as_str()) {
        facts.push(format!(
            "Its issuer {} is not this Lanyard ({}).",
            claims.get("iss").unwrap_or(&Value::Null),
            p.config.issuer
        ));
    }
    describe_times(&claims, now, &mut facts);

    let kind = describe_kind(&mut conn, &claims, typ, &mut facts).await?;
    describe_binding(&claims, is_access, &mut facts);
    let idle = p.config.lifetimes.session_idle;
    describe_liveness(&mut conn, &claims, (idle, now), &mut facts).await?;

    let stored_state = stored.as_ref().map(|k| (k.state, k.revoked_at));
    let verdict_text = match &verdict {
        Ok(()) => format!("Valid: a genuine, unexpired Lanyard {kind}."),
        Err(e) => refusal(e, &alg, &kid, stored_state),
    };
    Ok(Explanation {
        valid: verdict.is_ok(),
        verdict: verdict_text,
        kind,
        facts,
        header: pretty(&header),
        claims: pretty(&claims_value),
    })
}

/// When it expires (or expired) and was issued, by the provider's clock.
fn describe_times(claims: &Map<String, Value>, now: DateTime<Utc>, facts: &mut Vec<String>) {
    match claims.get("exp").and_then(Value::as_i64) {
        Some(e) if e <= now.timestamp() => facts.push(format!(
            "Expired at {} ({} s ago; now is {}).",
            time(e),
            now.timestamp() - e,
            now.to_rfc3339()
        )),
        Some(e) => facts.push(format!("Expires at {} (in {} s).", time(e), e - now.timestamp())),
        None => facts.push("It has no exp.".into()),
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        facts.push(format!("Issued at {}.", time(iat)));
    }
}

/// The verifier's refusal, as the lab's verdict.
fn refusal(e: &VerifyError, alg: &str, kid: &str, key: Option<(KeyState, Option<DateTime<Utc>>)>) -> String {
    match e {
        VerifyError::Signature(e) => format!("Does not verify: {}", why_not(e, alg, kid, key)),
        VerifyError::ForeignIssuer(_) => "The signature is Lanyard's, but the issuer is foreign.".into(),
        VerifyError::Expired { .. } => "A genuine Lanyard token, but expired.".into(),
        other => format!("Not a token Lanyard accepts: {other}."),
    }
}

/// Why a signature check failed, in words an admin can act on.
fn why_not(e: &JwtError, alg: &str, kid: &str, key: Option<(KeyState, Option<DateTime<Utc>>)>) -> String {
    match (e, key) {
        _ if alg.eq_ignore_ascii_case("none") => "alg `none` (an unsigned token) is never accepted.".into(),
        _ if alg.starts_with("HS") => {
            format!("alg `{alg}` (a shared-secret MAC, e.g. keyed with a public key) is never accepted.")
        }
        (JwtError::UnknownKey(_), Some((KeyState::Revoked, at))) => {
            format!(
                "key {kid} was revoked{}.",
                at.map(|t| format!(" at {}", t.to_rfc3339())).unwrap_or_default()
            )
        }
        (JwtError::UnknownKey(_), _) => format!("unknown kid {kid:?}: no published or retained key has it."),
        (JwtError::AlgorithmNotAllowed(a), _) => format!("alg `{a}` is not the algorithm of key {kid}."),
        (JwtError::BadSignature, _) => "bad signature: the token was changed or signed by someone else.".into(),
        (other, _) => other.to_string(),
    }
}

/// The kind of token a header's `typ` claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Id,
    Logout,
}

impl Kind {
    fn of(typ: Option<&str>) -> Self {
        match typ {
            t if Typ::AccessToken.admits(t) => Kind::Access,
            t if Typ::LogoutToken.admits(t) => Kind::Logout,
            _ => Kind::Id,
        }
    }
}

/// Which kind of token, where it may be used, and who and what it names.
async fn describe_kind(
    conn: &mut sqlx::PgConnection,
    claims: &Map<String, Value>,
    typ: Kind,
    facts: &mut Vec<String>,
) -> Result<String, OAuthError> {
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let aud = text("aud")
        .or_else(|| claims.get("aud")?.as_array()?.first()?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let kind = if typ == Kind::Logout {
        describe_logout(conn, claims, &aud, facts).await?;
        "logout token".to_owned()
    } else if typ == Kind::Access {
        facts.push(format!(
            "An access token (typ at+jwt) for exactly one audience: {aud}. Send it as a Bearer token to that API only."
        ));
        match apis::find_by_audience(conn, &aud).await? {
            Some(api) => facts.push(format!("The audience is the API \"{}\".", api.name)),
            None if aud.ends_with("/userinfo") => facts.push("The audience is Lanyard's UserInfo endpoint.".into()),
            None => facts.push("No registered API has that audience.".into()),
        }
        if let Some(scope) = text("scope") {
            facts.push(format!("Scopes: {scope}."));
        }
        "access token".to_owned()
    } else {
        facts.push(format!(
            "An id_token: it proves who signed in to the client {aud}. It is never an access token: APIs must refuse it (its aud is a client and it has no typ at+jwt). The client may exchange it at /token for an API token."
        ));
        "id_token".to_owned()
    };
    let client_id = text("client_id").unwrap_or(aud);
    if let Some(c) = clients::find(conn, &client_id).await? {
        facts.push(format!("Client: {} ({}).", c.name, c.client_id));
    }
    if let Some(sub) = text("sub") {
        match Uuid::parse_str(&sub).ok() {
            Some(id) => match users::find(conn, id).await? {
                Some(u) => facts.push(format!(
                    "User: {} (sub {sub}){}.",
                    u.username,
                    if u.is_enabled() { "" } else { ", disabled" }
                )),
                None => facts.push(format!("sub {sub} is no user of this Lanyard.")),
            },
            None => facts.push(format!("sub {sub}: a service (client_credentials), not a person.")),
        }
    }
    Ok(kind)
}

/// A logout token (Back-Channel Logout §2.4): whom it told what, and what
/// became of the deliveries for its session.
async fn describe_logout(
    conn: &mut sqlx::PgConnection,
    claims: &Map<String, Value>,
    aud: &str,
    facts: &mut Vec<String>,
) -> Result<(), OAuthError> {
    facts.push(format!(
        "A logout token (typ logout+jwt, OpenID Connect Back-Channel Logout 1.0): Lanyard POSTed it to the back-channel logout URI of the client {aud} to tell it that a sign-in session ended. It is neither an id_token nor an access token: nothing accepts it as either."
    ));
    let has_event = claims
        .get("events")
        .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !has_event {
        facts.push("It lacks the back-channel logout event: a relying party must refuse it.".into());
    }
    if claims.contains_key("nonce") {
        facts.push("It carries a nonce: a relying party must refuse it (§2.4).".into());
    }
    let Some(sid) = claims.get("sid").and_then(Value::as_str) else {
        return Ok(());
    };
    for d in logout_outbox::of_sid(conn, sid)
        .await?
        .into_iter()
        .filter(|d| d.client_id == aud)
    {
        facts.push(match (d.sent_at, d.failed_at) {
            (Some(at), _) => format!("Delivered to {aud} at {} (attempt {}).", at.to_rfc3339(), d.attempts),
            (None, Some(at)) => format!(
                "Delivery to {aud} given up at {} after {} attempts: {}.",
                at.to_rfc3339(),
                d.attempts,
                d.last_error.as_deref().unwrap_or("no reason recorded")
            ),
            (None, None) => format!("Delivery to {aud} still waiting ({} attempts so far).", d.attempts),
        });
    }
    Ok(())
}

/// The key it is bound to (RFC 9449 §6.1 `cnf.jkt`) and what that asks of
/// whoever presents it, and who acts in a delegation (RFC 8693 §4.1 `act`).
fn describe_binding(claims: &Map<String, Value>, is_access: bool, facts: &mut Vec<String>) {
    let jkt = claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str);
    match (jkt, is_access) {
        (Some(jkt), true) => facts.push(format!(
            "Bound to the DPoP key {jkt} (cnf.jkt): send it as `Authorization: DPoP` with a DPoP proof signed by that key, carrying its ath. As a Bearer token it is refused."
        )),
        (Some(jkt), false) => facts.push(format!(
            "Its grant is bound to the DPoP key {jkt} (cnf.jkt): exchanging it needs a DPoP proof of that key — without one /token answers invalid_dpop_proof, with another key invalid_grant. A copy is worth nothing without the key."
        )),
        (None, true) => facts.push("A bearer token: whoever holds it can use it.".into()),
        (None, false) => {}
    }
    let mut actors = Vec::new();
    let mut act = claims.get("act");
    while let Some(a) = act {
        actors.push(a.get("sub").and_then(Value::as_str).unwrap_or("?").to_owned());
        act = a.get("act");
    }
    if !actors.is_empty() {
        facts.push(format!(
            "Delegated (act): {} acts for the subject{}.",
            actors[0],
            match actors.len() {
                1 => String::new(),
                _ => format!(", after {}", actors[1..].join(", then ")),
            }
        ));
    }
}

/// Whether its grant, jti and session are still live.
async fn describe_liveness(
    conn: &mut sqlx::PgConnection,
    claims: &Map<String, Value>,
    (idle, now): (chrono::TimeDelta, DateTime<Utc>),
    facts: &mut Vec<String>,
) -> Result<(), OAuthError> {
    let uuid = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .and_then(|v| Uuid::parse_str(v).ok())
    };
    if let Some(id) = uuid("grant_id") {
        match grants::find(conn, id).await? {
            Some(g) if g.state() == GrantState::Revoked => facts.push(format!(
                "Its grant {id} is revoked: the token is no longer honoured by Lanyard."
            )),
            Some(_) => facts.push(format!("Its grant {id} is live.")),
            None => facts.push(format!("Its grant {id} no longer exists.")),
        }
    }
    if let Some(jti) = uuid("jti")
        && revoked_access_tokens::is_revoked(conn, jti).await?
    {
        facts.push(format!("Its jti {jti} is on the revocation list."));
    }
    if let Some(sid) = claims.get("sid").and_then(Value::as_str) {
        facts.push(
            match sessions::find_by_sid(conn, sid).await?.map(|s| s.state(idle, now)) {
                Some(SessionState::SignedOut) => "Its sign-in session was signed out.".into(),
                Some(SessionState::Expired) => "Its sign-in session has expired.".into(),
                Some(SessionState::IdledOut) => "Its sign-in session idled out.".into(),
                Some(SessionState::Live) => "Its sign-in session is live.".into(),
                None => "Its sign-in session is unknown.".into(),
            },
        );
    }
    Ok(())
}
