//! RFC 8693 token exchange: an id_token in, an access token for one API out,
//! downscope only (README "Token exchange") — or, delegated down a chain of
//! APIs, an API's access token in (`delegation`). Every decision is audited.

mod delegation;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use serde_json::json;
use uuid::Uuid;

use super::TokenResponse;
use crate::model::claims::IdTokenClaims;
use crate::model::{Client, GrantType};
use crate::protocol::Provider;
use crate::protocol::api_tokens;
use crate::protocol::dpop::{self, Proof};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::mint::AccessTokenFor;
use crate::protocol::params::Params;
use crate::store::audit::NewEvent;
use crate::store::grants::{self, GrantRow};
use crate::store::{consents, sessions, users};

/// RFC 8693 §3 token type identifiers.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What the decision learned, for its audit event.
#[derive(Default)]
pub(crate) struct Decision {
    pub user_id: Option<Uuid>,
    pub subject_client: Option<String>,
    pub api: Option<String>,
    pub scopes: Vec<String>,
    pub jkt: Option<String>,
    /// An access token delegated down a chain of APIs.
    pub delegated: bool,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, for an
/// authenticated client: decided and audited — a request that did not
/// parse is a denied decision too.
pub async fn exchange(
    p: &Provider,
    client: &Client,
    req: Result<(&ExchangeRequest, Option<&Proof>), OAuthError>,
) -> Result<TokenResponse, OAuthError> {
    let mut decision = Decision::default();
    let result = match req {
        Ok((req, proof)) if req.subject_type == SubjectType::AccessToken => {
            decision.delegated = true;
            delegation::delegate(p, client, req, proof, &mut decision).await
        }
        Ok((req, proof)) => decide(p, client, req, proof, &mut decision).await,
        Err(e) => Err(e),
    };
    let (outcome, reason) = match &result {
        Ok(_) if decision.delegated => (
            "allowed",
            "the subject token's API has this client as a resource server, and its allowance covers the scopes"
                .to_owned(),
        ),
        Ok(_) => (
            "allowed",
            "the subject token, the API allowance and the grant cover the scopes".to_owned(),
        ),
        Err(e) => ("denied", format!("{}: {}", e.code.as_str(), e.description)),
    };
    let code = result.as_ref().err().map_or("", |e| e.code.as_str());
    p.metrics.exchange(result.is_ok(), code);
    let event = NewEvent {
        kind: "token_exchange",
        outcome,
        actor: None,
        client_id: Some(&client.client_id),
        user_id: decision.user_id,
        ip: None,
        reason: Some(&reason),
        details: json!({
            "api": decision.api, "scopes": decision.scopes, "subject_client": decision.subject_client,
            "jkt": decision.jkt, "delegated": decision.delegated,
        }),
    };
    p.audit(&event)?;
    result
}

/// Who the exchange is for: the id_token in the request, or — for the admin
/// dry run — a user as if they had just signed in to the client.
#[derive(Debug, Clone, Copy)]
pub enum SubjectSource {
    Token,
    SignedIn(Uuid),
}

/// The kind of subject token (RFC 8693 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectType {
    /// An id_token: a sign-in, exchanged by its client for an API token.
    IdToken,
    /// An API's access token, delegated by that API's resource server.
    AccessToken,
}

/// An RFC 8693 §2.1 request, as Lanyard reads it: an id_token or access
/// token subject (or, for the dry run, a user as if just signed in), the API
/// named by `resource` and `audience`, and the scopes asked for.
#[derive(Debug)]
pub struct ExchangeRequest {
    pub source: SubjectSource,
    pub subject_type: SubjectType,
    /// The id_token, for `SubjectSource::Token`.
    pub subject_token: String,
    /// Every `resource` and then every `audience` value.
    pub api_names: Vec<String>,
    pub scope: Option<String>,
}

impl ExchangeRequest {
    /// Reads the request; what it cannot carry is `invalid_request` (§2.2.2).
    pub fn parse(params: &Params, source: SubjectSource) -> Result<Self, OAuthError> {
        if let Some(name) = params.first_repeated(&["resource", "audience"]) {
            return Err(OAuthError::invalid_request(format!(
                "the `{name}` parameter is repeated"
            )));
        }
        if params.has("actor_token") || params.has("actor_token_type") {
            return Err(OAuthError::invalid_request("delegation (actor_token) is not supported"));
        }
        let subject_token = match source {
            SubjectSource::Token => params
                .one("subject_token")?
                .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?,
            SubjectSource::SignedIn(_) => "",
        };
        let subject_type = match (source, params.one("subject_token_type")?) {
            (SubjectSource::SignedIn(_), _) | (_, Some(ID_TOKEN_TYPE)) => SubjectType::IdToken,
            (_, Some(ACCESS_TOKEN_TYPE)) => SubjectType::AccessToken,
            (_, Some(other)) => {
                return Err(OAuthError::invalid_request(format!(
                    "subject_token_type `{other}` is not supported; send an id_token or an access token"
                )));
            }
            (_, None) => return Err(OAuthError::invalid_request("subject_token_type is required")),
        };
        if let Some(other) = params.one("requested_token_type")?.filter(|t| *t != ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type `{other}` is not supported; only access tokens are issued"
            )));
        }
        let mut api_names = params.all("resource").to_vec();
        api_names.extend(params.all("audience").iter().cloned());
        Ok(Self {
            source,
            subject_type,
            subject_token: subject_token.to_owned(),
            api_names,
            scope: params.one("scope")?.map(str::to_owned),
        })
    }
}

/// The DPoP proof an exchange is evaluated with.
#[derive(Clone, Copy)]
pub(crate) enum Possession<'a> {
    /// The request's proof, if it sent one.
    Proof(Option<&'a Proof>),
    /// The dry run's: a proof of the key the subject is bound to, if any.
    AssumedForDryRun,
}

/// What an exchange would issue.
pub(crate) struct Evaluated {
    pub subject: SubjectToken,
    pub api: Arc<api_tokens::Api>,
    pub scopes: Vec<String>,
    /// The DPoP key the token is bound to.
    pub jkt: Option<String>,
    /// The user's consent it rests on (a third-party sign-in); a first-party
    /// one rests on the client's allowance.
    consent_id: Option<Uuid>,
}

/// The checks of the README's "Token exchange" after client authentication
/// and parsing, in order; the first failure answers. Shared by the exchange
/// and its dry run.
pub(crate) async fn evaluate(
    p: &Provider,
    client: &Client,
    req: &ExchangeRequest,
    possession: Possession<'_>,
    d: &mut Decision,
) -> Result<Evaluated, OAuthError> {
    let mut subject = match req.source {
        SubjectSource::Token => verify_subject(p, client, &req.subject_token)?,
        SubjectSource::SignedIn(user_id) => signed_in_now(p, client, user_id).await?,
    };
    d.user_id = Some(subject.user_id);
    d.subject_client = Some(subject.client.client_id.clone());
    let jkt = bound_key(client, &subject, possession)?;
    d.jkt = jkt.clone();
    // A third-party sign-in's scopes come from the user's consent (a database
    // read anyway): check the session first. A first-party one is checked as
    // its grant is written, in the same statement (see `decide`).
    if !subject.client.first_party {
        subject.settle(p).await?;
    }
    match target_and_scopes(p, client, req, &subject, d).await {
        Ok((api, scopes, consent_id)) => Ok(Evaluated {
            subject,
            api,
            scopes,
            jkt,
            consent_id,
        }),
        Err(e) => {
            // The first failure answers: the session's, if it has one.
            subject.settle(p).await?;
            Err(e)
        }
    }
}

/// The key the exchanged token is bound to: a bound id_token (its grant's
/// key, `cnf.jkt`) is exchanged only with a proof of that key — a copied
/// one is worth nothing (`dpop::binding`). A public client cannot
/// authenticate, so it may exchange only such an id_token, the proof
/// standing in for its authentication (README "Proof of possession").
fn bound_key(
    client: &Client,
    subject: &SubjectToken,
    possession: Possession<'_>,
) -> Result<Option<String>, OAuthError> {
    let bound = subject.jkt.as_deref();
    if client.is_public() && bound.is_none() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client may exchange only an id_token bound to its DPoP key",
        ));
    }
    match possession {
        Possession::Proof(proof) => Ok(dpop::binding(bound, proof, "the subject token")?.map(str::to_owned)),
        Possession::AssumedForDryRun => Ok(bound.map(str::to_owned)),
    }
}

/// The API (`invalid_target`) and the scopes (`invalid_scope`) of an
/// exchange, with the consent they rest on (third-party sign-ins).
async fn target_and_scopes(
    p: &Provider,
    client: &Client,
    req: &ExchangeRequest,
    subject: &SubjectToken,
    d: &mut Decision,
) -> Result<(Arc<api_tokens::Api>, Vec<String>, Option<Uuid>), OAuthError> {
    if req.api_names.is_empty() {
        return Err(OAuthError::invalid_request(
            "name the API with `resource` or `audience`",
        ));
    }
    let api = api_tokens::target(p, client, &req.api_names)?;
    d.api = Some(api.audience.clone());
    if api_tokens::is_admin_api(p, &api.audience) {
        let user = users::find(&mut *p.pool.acquire().await?, subject.user_id).await?;
        if !user.is_some_and(|u| u.is_admin) {
            return Err(api_tokens::not_an_administrator());
        }
    }

    // Scopes = requested ∩ the client's allowance ∩ what the sign-in covers.
    let allowance = p.catalog.allowed_scopes(&client.client_id, &api.audience);
    let (consent_id, covered) = match subject.client.first_party {
        true => (None, allowance.clone()),
        false => {
            let consent = consents::api_scopes(
                &mut *p.pool.acquire().await?,
                subject.user_id,
                &subject.client.client_id,
                api.id,
            )
            .await?;
            match consent {
                Some((id, scopes)) => (Some(id), scopes),
                None => (None, Vec::new()),
            }
        }
    };
    let allowed: Vec<String> = allowance.into_iter().filter(|s| covered.contains(s)).collect();
    let scopes = api_tokens::downscope(req.scope.as_deref(), &allowed).map_err(|e| {
        if covered.is_empty() {
            OAuthError::new(
                ErrorCode::InvalidScope,
                "the user has not consented to any scope of this API",
            )
        } else {
            e
        }
    })?;
    d.scopes = scopes.clone();
    Ok((api, scopes, consent_id))
}

async fn decide(
    p: &Provider,
    client: &Client,
    req: &ExchangeRequest,
    proof: Option<&Proof>,
    d: &mut Decision,
) -> Result<TokenResponse, OAuthError> {
    let Evaluated {
        mut subject,
        api,
        scopes,
        jkt,
        consent_id,
    } = evaluate(p, client, req, Possession::Proof(proof), d).await?;
    api_tokens::admit(p, client, &api, proof, Some(&subject.amr))?;
    let now = p.now();
    let mut grant = GrantRow {
        id: Uuid::now_v7(),
        user_id: subject.user_id,
        client_id: client.client_id.clone(),
        session_id: None,
        consent_id,
        scopes: scopes.clone(),
        resources: vec![api.audience.clone()],
        api_scopes: json!({ api.audience.clone(): scopes }),
        claims: None,
        auth_time: now,
        offline: false,
        created_at: now,
        revoked_at: None,
        grant_type: GrantType::TokenExchange.as_str().to_owned(),
        parent_grant_id: None,
        expires_at: None,
        dpop_jkt: jkt.clone(),
        amr: subject.amr.clone(),
    };
    write_grant(p, &mut grant, &mut subject).await?;
    let sub = subject.user_id.to_string();
    let holder = AccessTokenFor {
        sub: &sub,
        client_id: &client.client_id,
        scopes: &scopes,
        auth_time: Some(grant.auth_time),
        grant_id: Some(grant.id),
        jkt: jkt.as_deref(),
        act: None,
        amr: Some(&grant.amr),
    };
    let token = api_tokens::mint(p, &api, &holder, grant.expires_at)?;
    // RFC 8693 §2.2.1; no refresh token.
    Ok(TokenResponse {
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        ..TokenResponse::of(token)
    })
}

/// Writes an exchange's grant, resting on the subject's session (or offline
/// grant) and ending with it — only if that still stands at the moment of
/// writing. A session not checked yet is checked by the insert itself (one
/// round trip); when that writes nothing, the session check says why, or
/// finds the offline grant the id_token stands for.
async fn write_grant(p: &Provider, grant: &mut GrantRow, subject: &mut SubjectToken) -> Result<(), OAuthError> {
    let idle = p.config.lifetimes.session_idle.num_seconds();
    if let Session::Unchecked { sid, auth_time } = &subject.session {
        let mut conn = p.pool.acquire().await?;
        if let Some((session_id, auth_time, until)) =
            grants::insert_for_live_session(&mut conn, grant, sid, *auth_time, idle).await?
        {
            grant.session_id = Some(session_id);
            grant.auth_time = auth_time;
            grant.expires_at = Some(until);
            return Ok(());
        }
        drop(conn);
        subject.settle(p).await?;
    }
    let Session::Live(standing) = &subject.session else {
        return Err(bad_subject("its session is unchecked"));
    };
    grant.session_id = standing.session_id;
    grant.auth_time = standing.auth_time;
    grant.expires_at = standing.until;
    grant.parent_grant_id = standing.parent_grant_id;
    match grants::insert_if_standing(&mut *p.pool.acquire().await?, grant, idle).await? {
        true => Ok(()),
        false => Err(bad_subject("its session or grant has just ended")),
    }
}

/// A verified id_token subject.
pub(crate) struct SubjectToken {
    pub user_id: Uuid,
    /// The client the id_token was issued to.
    client: Arc<Client>,
    /// The DPoP key the id_token's grant is bound to (its `cnf.jkt`).
    pub jkt: Option<String>,
    /// How the person signed in (the id_token's `amr`, RFC 8176).
    pub amr: Vec<String>,
    session: Session,
}

/// The sign-in session behind a subject.
enum Session {
    /// Checked: what the id_token stands for is live and its user enabled.
    Live(Standing),
    /// Named by the id_token's `sid`, not checked yet; `auth_time` is the
    /// id_token's, if it has one.
    Unchecked {
        sid: String,
        auth_time: Option<DateTime<Utc>>,
    },
}

/// What a checked subject stands for, and until when.
struct Standing {
    /// Its sign-in session (`None` for the dry run's "as if signed in now").
    session_id: Option<Uuid>,
    auth_time: DateTime<Utc>,
    /// The session's absolute expiry, or the offline grant's refresh
    /// lifetime: no token of the exchange outlives it.
    until: Option<DateTime<Utc>>,
    /// The offline grant whose refresh issued the id_token, when its
    /// session is no longer live.
    parent_grant_id: Option<Uuid>,
}

impl SubjectToken {
    /// Checks an unchecked session: its user is enabled, and it is live —
    /// not signed out, not past its absolute or idle expiry — or, once it is
    /// not, the sign-in's offline grant for the id_token's client still has
    /// a live refresh token (a refreshed id_token stands for that grant).
    /// Else `invalid_request`.
    pub(crate) async fn settle(&mut self, p: &Provider) -> Result<(), OAuthError> {
        let Session::Unchecked { sid, auth_time } = &self.session else {
            return Ok(());
        };
        let idle = p.config.lifetimes.session_idle.num_seconds();
        let mut conn = p.pool.acquire().await?;
        let session = sessions::subject_session(&mut conn, sid, self.user_id, &self.client.client_id, p.now(), idle)
            .await?
            .ok_or_else(|| bad_subject("its session is unknown"))?;
        if !session.user_enabled {
            return Err(bad_subject("the user is disabled"));
        }
        let auth_time = auth_time.unwrap_or(session.auth_time);
        let standing = match (session.live, session.offline_grant_id) {
            (true, _) => Standing {
                session_id: Some(session.id),
                auth_time,
                until: Some(session.expires_at),
                parent_grant_id: None,
            },
            (false, Some(grant)) => Standing {
                session_id: Some(session.id),
                auth_time,
                until: session.offline_until,
                parent_grant_id: Some(grant),
            },
            (false, None) if session.signed_out => return Err(bad_subject("its session was signed out")),
            (false, None) => return Err(bad_subject("its session has expired")),
        };
        self.session = Session::Live(standing);
        Ok(())
    }

    /// When the user signed in (the dry run shows it; `None` until checked
    /// when the id_token does not say).
    pub(crate) fn auth_time(&self) -> Option<DateTime<Utc>> {
        match &self.session {
            Session::Live(standing) => Some(standing.auth_time),
            Session::Unchecked { auth_time, .. } => *auth_time,
        }
    }

    /// When what the subject stands for ends, once checked.
    pub(crate) fn until(&self) -> Option<DateTime<Utc>> {
        match &self.session {
            Session::Live(standing) => standing.until,
            Session::Unchecked { .. } => None,
        }
    }
}

fn bad_subject(why: &str) -> OAuthError {
    OAuthError::invalid_request(format!("the subject token is not acceptable: {why}"))
}

/// The id_token verified as far as it speaks for itself (`KeyRing::verify_as`:
/// our signature — never `none`, never HS256, never an unknown `kid` — an
/// id_token's `typ`, our `iss`, not expired), issued to this client or one it
/// may exchange for. Its session and user are checked against the database
/// afterwards (`settle`, or the grant's insert). Any failure is
/// `invalid_request` (RFC 8693 §2.2.2).
fn verify_subject(p: &Provider, client: &Client, token: &str) -> Result<SubjectToken, OAuthError> {
    let bad = bad_subject;
    let claims: IdTokenClaims = p.keys.verify_as(token, &p.expect()).map_err(|e| bad(&e.to_string()))?;
    if claims.aud != client.client_id && !p.catalog.trusts(&client.client_id, &claims.aud) {
        return Err(bad("it was issued to another client"));
    }
    let subject_client = p
        .catalog
        .client(&claims.aud)
        .ok_or_else(|| bad("its client no longer exists"))?;
    let user_id = claims.user_id().ok_or_else(|| bad("its sub is not a user"))?;
    let auth_time = claims.auth_time();
    let sid = claims.sid.ok_or_else(|| bad("it has no sid"))?;
    Ok(SubjectToken {
        user_id,
        client: subject_client,
        jkt: claims.cnf.map(|c| c.jkt),
        amr: claims.amr,
        session: Session::Unchecked { sid, auth_time },
    })
}

/// The dry run's subject: the user, enabled, as if just signed in to `client`.
async fn signed_in_now(p: &Provider, client: &Client, user_id: Uuid) -> Result<SubjectToken, OAuthError> {
    users::find(&mut *p.pool.acquire().await?, user_id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| {
            OAuthError::invalid_request("the subject token is not acceptable: the user is disabled or unknown")
        })?;
    Ok(SubjectToken {
        user_id,
        client: Arc::new(client.clone()),
        jkt: None,
        amr: vec!["pwd".to_owned()],
        session: Session::Live(Standing {
            session_id: None,
            auth_time: p.now(),
            until: None,
            parent_grant_id: None,
        }),
    })
}
