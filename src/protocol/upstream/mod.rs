//! Signing in through an upstream OpenID provider: Lanyard as a relying
//! party (OIDC Core §3.1, the code flow with PKCE, RFC 7636, and RFC 9207's
//! `iss`). The upstream only proves who someone is: the person becomes, or
//! is linked to, a Lanyard user (`accounts`), and every token stays Lanyard's.

pub mod accounts;
pub mod discovery;
pub mod flow;
pub mod http;

use super::Provider;
use super::error::OAuthError;
use crate::crypto::MasterKey;
use crate::model::upstream::mapped_claims;
use crate::model::{AcrMap, ProfileClaim, UpstreamId};
use crate::store::upstreams::{self, UpstreamRow};

/// How long a sign-in at an upstream may take, and a pending link wait.
pub const FLOW_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Sign-ins at upstreams one address may start per sign-in throttle window
/// (each waits in `upstream_flows`: the table stays bounded).
pub const STARTS_PER_ADDRESS: i32 = 300;

/// An upstream, ready to use: its secret opened.
pub struct Upstream {
    pub id: UpstreamId,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    secret: String,
    pub scopes: Vec<String>,
    pub link_by_verified_email: bool,
    pub claims: Vec<ProfileClaim>,
    pub refresh_claims: bool,
    pub acr_map: AcrMap,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Upstream({}, secret: <redacted>)", self.id)
    }
}

/// Why a sign-in through an upstream did not happen. Each is a page for the
/// person and an audit event with the reason; none is a 5xx but `Internal`.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no such upstream provider, or it is disabled")]
    Unknown,
    #[error("the upstream provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("this sign-in is unknown, was used, or was started in another browser")]
    NoFlow,
    #[error("this sign-in took too long")]
    Expired,
    #[error("the upstream provider refused: {0}")]
    Refused(String),
    #[error("the upstream provider's answer was refused: {0}")]
    Invalid(String),
    #[error("the account is disabled")]
    Disabled,
    #[error("too many sign-ins started from this address")]
    Throttled,
    #[error("this account at the provider is linked to another account, or yours has a link to it already")]
    LinkTaken,
    #[error("the upstream provider's discovery is refused: {0}")]
    Insecure(String),
    #[error("internal error")]
    Internal(#[from] OAuthError),
}

impl UpstreamError {
    /// What the person is told: the kind of refusal in words, and the
    /// upstream's own error code when it sent one — never a library's text
    /// (the audit event keeps the whole reason).
    pub fn for_person(&self) -> String {
        match self {
            UpstreamError::Unknown => "There is no such provider to sign in with.".into(),
            UpstreamError::Unreachable(_) => "The provider cannot be reached just now. Try again shortly.".into(),
            UpstreamError::NoFlow => {
                "This sign-in is unknown or was already used (or it started in another browser). Start again.".into()
            }
            UpstreamError::Expired => "This sign-in took too long. Start again.".into(),
            UpstreamError::Refused(code) => format!("The provider did not sign you in ({code}). Start again."),
            UpstreamError::Invalid(_) => "The provider's answer was refused: it broke a rule of OpenID Connect.".into(),
            UpstreamError::Disabled => "This account is disabled. Ask your administrator.".into(),
            UpstreamError::Throttled => "Too many sign-ins were started from your address. Try again later.".into(),
            UpstreamError::LinkTaken => "This account at the provider is already connected to another Lanyard \
                                         account, or yours is already connected to this provider."
                .into(),
            UpstreamError::Insecure(_) => "This provider's configuration is refused: its endpoints must use https. \
                                           Tell your administrator."
                .into(),
            UpstreamError::Internal(_) => "Something went wrong. Try again shortly.".into(),
        }
    }
}

impl From<crate::store::StoreError> for UpstreamError {
    fn from(e: crate::store::StoreError) -> Self {
        UpstreamError::Internal(e.into())
    }
}

impl From<sqlx::Error> for UpstreamError {
    fn from(e: sqlx::Error) -> Self {
        UpstreamError::Internal(e.into())
    }
}

/// What the sealed secret of an upstream is bound to (the JWE header names
/// it: a secret moved to another row does not open).
pub fn secret_label(id: &str) -> String {
    format!("upstream:{id}")
}

impl Upstream {
    /// An upstream as stored, its secret opened with `seal`.
    pub fn open(row: UpstreamRow, seal: &MasterKey) -> Result<Self, String> {
        let secret = seal
            .open(&secret_label(&row.id), &row.sealed_secret)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            id: UpstreamId::parse(&row.id)?,
            secret: String::from_utf8(secret).map_err(|_| "the secret is not UTF-8".to_owned())?,
            claims: mapped_claims(&row.claims)?,
            acr_map: AcrMap::from_json(&row.acr_map),
            name: row.name,
            issuer: row.issuer,
            client_id: row.client_id,
            scopes: row.scopes,
            link_by_verified_email: row.link_by_verified_email,
            refresh_claims: row.refresh_claims,
        })
    }

    /// The redirect URI registered at the upstream: `{issuer}/signin/upstream/ID/callback`.
    pub fn redirect_uri(p: &Provider, id: &str) -> String {
        p.config.issuer.url(&crate::paths::upstream_callback(id))
    }
}

/// An enabled upstream by id.
pub async fn load(p: &Provider, id: &str) -> Result<Upstream, UpstreamError> {
    let mut conn = p.pool.acquire().await?;
    let row = upstreams::find(&mut conn, id).await?;
    let row = row.filter(|r| r.enabled).ok_or(UpstreamError::Unknown)?;
    Upstream::open(row, &p.upstream_seal)
        .map_err(|e| UpstreamError::Internal(OAuthError::internal(format!("upstream `{id}` does not open: {e}"))))
}

/// Records a sign-in event through upstream `id` (kind `sign_in`, the
/// upstream and `fed` in its details), its refusals too.
pub fn audit(
    p: &Provider,
    outcome: &str,
    user_id: Option<uuid::Uuid>,
    ip: Option<&str>,
    id: &str,
    reason: &str,
) -> Result<(), UpstreamError> {
    let mut event = crate::store::audit::NewEvent::about("sign_in", outcome, user_id, ip, reason);
    event.details = serde_json::json!({ "upstream": id, "amr": ["fed"] });
    p.metrics.sign_in(outcome);
    p.audit(&event).map_err(|e| UpstreamError::Internal(e.into()))
}
