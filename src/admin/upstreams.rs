//! Administration of upstream OpenID providers: create, list, change,
//! delete — the CLI, the admin page and the admin API call these. The
//! client secret is sealed at rest and never shown again.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Actor, AdminError, field};
use crate::clock::Clock;
use crate::config::Issuer;
use crate::crypto::MasterKey;
use crate::model::upstream::{mapped_claims, upstream_scopes};
use crate::model::{AcrMap, DisplayName, UpstreamId, UpstreamIssuer};
use crate::protocol::Provider;
use crate::protocol::upstream::secret_label;
use crate::store::upstreams::{self, UpstreamFields, UpstreamRow};

/// The settings of `create` and `update`: `None` keeps what is (on create,
/// the default); `id`, `issuer`, `client_id` and `client_secret` are
/// required on create.
#[derive(Default, Clone)]
pub struct UpstreamSettings {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Never shown again (redacted in `Debug`).
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub link_by_verified_email: Option<bool>,
    pub claims: Option<Vec<String>>,
    pub refresh_claims: Option<bool>,
    /// `VALUE=LEVEL` pairs.
    pub acr: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// Disable it even when it is the only way in for some accounts.
    pub force: bool,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamSettings({})", change_details("", self))
    }
}

/// An upstream as the admin interfaces show it (never its secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpstreamView {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// The redirect URI to register at the upstream.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub link_by_verified_email: bool,
    pub claims: Vec<String>,
    pub refresh_claims: bool,
    pub acr: Vec<String>,
    pub enabled: bool,
    /// Links made at a former issuer of this upstream: they no longer apply
    /// (a `sub` is unique only within one issuer, OIDC Core §2).
    pub former_issuer_links: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UpstreamView {
    fn of(row: UpstreamRow, issuer: &Issuer, former_issuer_links: i64) -> Self {
        Self {
            former_issuer_links,
            redirect_uri: issuer.url(&crate::paths::upstream_callback(&row.id)),
            acr: AcrMap::from_json(&row.acr_map).pairs(),
            id: row.id,
            name: row.name,
            issuer: row.issuer,
            client_id: row.client_id,
            scopes: row.scopes,
            link_by_verified_email: row.link_by_verified_email,
            claims: row.claims,
            refresh_claims: row.refresh_claims,
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The fields to store, parsed: `old` (on update) fills what `s` leaves out.
struct Parsed {
    name: String,
    issuer: String,
    client_id: String,
    sealed_secret: String,
    scopes: Vec<String>,
    link_by_verified_email: bool,
    claims: Vec<String>,
    refresh_claims: bool,
    acr_map: serde_json::Value,
    enabled: bool,
}

fn parse(
    id: &UpstreamId,
    s: UpstreamSettings,
    old: Option<&UpstreamRow>,
    seal: &MasterKey,
) -> Result<Parsed, AdminError> {
    let required = |name: &'static str| AdminError::Invalid(crate::model::FieldError::new(name, "is required"));
    let issuer = match (s.issuer, old) {
        (Some(raw), _) => field("issuer", UpstreamIssuer::parse(&raw))?.as_str().to_owned(),
        (None, Some(o)) => o.issuer.clone(),
        (None, None) => return Err(required("issuer")),
    };
    let client_id = match (s.client_id.filter(|c| !c.trim().is_empty()), old) {
        (Some(c), _) if c.len() <= 500 && !c.chars().any(char::is_control) => c,
        (Some(_), _) => return Err(field("client-id", Err("must be 1 to 500 characters".into()))?),
        (None, Some(o)) => o.client_id.clone(),
        (None, None) => return Err(required("client-id")),
    };
    let sealed_secret = match (s.client_secret.filter(|c| !c.is_empty()), old) {
        (Some(secret), _) if secret.len() <= 1000 => seal.seal(&secret_label(id.as_str()), secret.as_bytes())?,
        (Some(_), _) => return Err(field("client-secret", Err("must be at most 1000 bytes".into()))?),
        (None, Some(o)) => o.sealed_secret.clone(),
        (None, None) => return Err(required("client-secret")),
    };
    let name = match (s.name.filter(|n| !n.trim().is_empty()), old) {
        (Some(n), _) => field("name", DisplayName::parse(&n))?.as_str().to_owned(),
        (None, Some(o)) => o.name.clone(),
        (None, None) => id.as_str().to_owned(),
    };
    let scopes = match (s.scopes, old) {
        (Some(raw), _) => field("scope", upstream_scopes(&raw))?,
        (None, Some(o)) => o.scopes.clone(),
        (None, None) => field("scope", upstream_scopes(&[]))?,
    };
    // The claims given, else the stored ones, else the default (no claims given).
    let claims = match (s.claims, old) {
        (None, Some(o)) => o.claims.clone(),
        (raw, _) => field("claim", mapped_claims(&raw.unwrap_or_default()))?
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    };
    let acr_map = match (s.acr, old) {
        (Some(raw), _) => field("acr", AcrMap::parse(&raw))?.to_json(),
        (None, Some(o)) => o.acr_map.clone(),
        (None, None) => AcrMap::default().to_json(),
    };
    let flag = |new: Option<bool>, old: Option<bool>, default: bool| new.or(old).unwrap_or(default);
    Ok(Parsed {
        link_by_verified_email: flag(s.link_by_verified_email, old.map(|o| o.link_by_verified_email), false),
        refresh_claims: flag(s.refresh_claims, old.map(|o| o.refresh_claims), false),
        enabled: flag(s.enabled, old.map(|o| o.enabled), true),
        name,
        issuer,
        client_id,
        sealed_secret,
        scopes,
        claims,
        acr_map,
    })
}

fn fields<'a>(id: &'a str, p: &'a Parsed) -> UpstreamFields<'a> {
    UpstreamFields {
        id,
        name: &p.name,
        issuer: &p.issuer,
        client_id: &p.client_id,
        sealed_secret: &p.sealed_secret,
        scopes: &p.scopes,
        link_by_verified_email: p.link_by_verified_email,
        claims: &p.claims,
        refresh_claims: p.refresh_claims,
        acr_map: &p.acr_map,
        enabled: p.enabled,
    }
}

/// Where an upstream change is stored and how it is shown: the pool, the
/// clock, the seal of secrets and Lanyard's own issuer (for the redirect URI).
pub struct Ctx<'a> {
    pub pool: &'a PgPool,
    pub clock: &'a dyn Clock,
    pub seal: &'a MasterKey,
    pub issuer: &'a Issuer,
}

pub async fn create(c: &Ctx<'_>, id: &str, settings: UpstreamSettings) -> Result<UpstreamView, AdminError> {
    let id = field("id", UpstreamId::parse(id))?;
    let parsed = parse(&id, settings, None, c.seal)?;
    let mut conn = c.pool.acquire().await?;
    upstreams::insert(&mut conn, &fields(id.as_str(), &parsed), c.clock.now()).await?;
    view(c, id.as_str()).await
}

/// Changes an upstream; disabling one that is the only way in for some
/// accounts is refused unless `force` (`LocksOut` says how many).
pub async fn update(c: &Ctx<'_>, id: &str, settings: UpstreamSettings) -> Result<UpstreamView, AdminError> {
    let mut tx = c.pool.begin().await?;
    let old = upstreams::find_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let id = field("id", UpstreamId::parse(id))?;
    let force = settings.force;
    let parsed = parse(&id, settings, Some(&old), c.seal)?;
    if old.enabled && !parsed.enabled && !force {
        refuse_lock_out(&mut tx, id.as_str()).await?;
    }
    upstreams::update(&mut tx, &fields(id.as_str(), &parsed), c.clock.now()).await?;
    tx.commit().await?;
    view(c, id.as_str()).await
}

/// Refused (`LocksOut`) when upstream `id` is the only way in for some accounts.
async fn refuse_lock_out(conn: &mut sqlx::PgConnection, id: &str) -> Result<(), AdminError> {
    match upstreams::sole_way_in(conn, id).await? {
        0 => Ok(()),
        accounts => Err(AdminError::LocksOut {
            id: id.to_owned(),
            accounts,
        }),
    }
}

pub async fn view(c: &Ctx<'_>, id: &str) -> Result<UpstreamView, AdminError> {
    let mut conn = c.pool.acquire().await?;
    let row = upstreams::find(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
    let former = upstreams::former_issuer_links(&mut conn, id, &row.issuer).await?;
    Ok(UpstreamView::of(row, c.issuer, former))
}

pub async fn list(pool: &PgPool, issuer: &Issuer) -> Result<Vec<UpstreamView>, AdminError> {
    let mut conn = pool.acquire().await?;
    let rows = upstreams::list(&mut conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let former = upstreams::former_issuer_links(&mut conn, &row.id, &row.issuer).await?;
        out.push(UpstreamView::of(row, issuer, former));
    }
    Ok(out)
}

/// Deletes an upstream and its links (people linked keep their accounts);
/// refused when it is the only way in for some accounts, unless `force`.
pub async fn delete(pool: &PgPool, id: &str, force: bool) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    upstreams::find_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !force {
        refuse_lock_out(&mut tx, id).await?;
    }
    upstreams::delete(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

fn not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("no upstream `{id}`"))
}

/// The context of an administrator's change (or view) on this node.
pub fn ctx(p: &Provider) -> Ctx<'_> {
    Ctx {
        pool: &p.pool,
        clock: p.clock.as_ref(),
        seal: &p.upstream_seal,
        issuer: &p.config.issuer,
    }
}

/// The audit details of a change: what it set, never the secret (whether one was given).
pub fn change_details(id: &str, s: &UpstreamSettings) -> serde_json::Value {
    serde_json::json!({
        "upstream": id, "name": s.name, "issuer": s.issuer, "client_id": s.client_id,
        "secret_changed": s.client_secret.is_some(), "scopes": s.scopes,
        "link_by_verified_email": s.link_by_verified_email, "claims": s.claims,
        "refresh_claims": s.refresh_claims, "acr": s.acr, "enabled": s.enabled, "force": s.force,
    })
}

/// An upstream as an audit event records it before and after a change
/// (never its secret: the view has none).
fn audited(v: &UpstreamView) -> serde_json::Value {
    serde_json::json!({
        "name": v.name, "issuer": v.issuer, "client_id": v.client_id, "scopes": v.scopes,
        "link_by_verified_email": v.link_by_verified_email, "claims": v.claims,
        "refresh_claims": v.refresh_claims, "acr": v.acr, "enabled": v.enabled,
    })
}

/// A change's audit details: what was asked, and the upstream before and after.
pub fn before_after(id: &str, s: &UpstreamSettings, before: &UpstreamView, after: &UpstreamView) -> serde_json::Value {
    let mut details = change_details(id, s);
    details["before"] = audited(before);
    details["after"] = audited(after);
    details
}

pub async fn create_by(actor: &Actor<'_>, id: &str, s: UpstreamSettings) -> Result<UpstreamView, AdminError> {
    let details = change_details(id, &s);
    let created = create(&ctx(actor.provider()), id, s).await?;
    actor.changed("created an upstream provider", details).await;
    Ok(created)
}

/// `update`, audited with the upstream before and after.
pub async fn update_by(actor: &Actor<'_>, id: &str, s: UpstreamSettings) -> Result<UpstreamView, AdminError> {
    let c = ctx(actor.provider());
    let before = view(&c, id).await?;
    let asked = s.clone();
    let updated = update(&c, id, s).await?;
    actor
        .changed(
            "changed an upstream provider",
            before_after(id, &asked, &before, &updated),
        )
        .await;
    Ok(updated)
}

pub async fn delete_by(actor: &Actor<'_>, id: &str, force: bool) -> Result<(), AdminError> {
    let before = view(&ctx(actor.provider()), id).await?;
    delete(&actor.provider().pool, id, force).await?;
    let details = serde_json::json!({ "upstream": id, "before": audited(&before), "force": force });
    actor.changed("deleted an upstream provider", details).await;
    Ok(())
}
