//! The key lifecycle of the README's "Signing keys": every change runs in one transaction
//! under an advisory lock, so concurrent processes never make two active keys,
//! and ends with a NOTIFY so every node reloads.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::clock::Clock;
use crate::config::Lifetimes;
use crate::crypto::{Alg, CryptoError, MasterKey, SigningKey, generate_key};
use crate::model::KeyState;
use crate::store::signing_keys::{self, StoredKey};
use crate::store::{StoreError, apis};

/// How long a retained key (unpublished) still verifies old `id_token_hint`s.
pub const RETAIN_FOR: TimeDelta = TimeDelta::days(30);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The master key does not open a stored key: never regenerate, stop.
    #[error(
        "LANYARD_MASTER_KEY: does not decrypt the stored signing key {kid}; use the master key the keys were created with"
    )]
    WrongMasterKey { kid: String },
    #[error("no signing key with kid `{0}`")]
    NotFound(String),
    #[error("key {kid}: {reason}")]
    Refused { kid: String, reason: String },
    /// Rotating now would sign with a key some cached JWKS may not hold yet.
    #[error(
        "the next {alg} key has been published for {published_secs} s, less than twice the JWKS cache lifetime ({needed_secs} s): relying parties that cached the JWKS may not know its kid yet; it is safe in {wait_secs} s"
    )]
    TooSoon {
        alg: Alg,
        published_secs: i64,
        needed_secs: i64,
        wait_secs: i64,
    },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// One change a command made: a key created (`from` absent), moved, or deleted (`to` absent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyChange {
    pub kid: String,
    pub alg: Alg,
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
}

/// A key as `keys list` shows it (never its private half).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: Alg,
    pub state: &'static str,
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retained_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&StoredKey> for KeyInfo {
    fn from(k: &StoredKey) -> Self {
        KeyInfo {
            kid: k.kid.clone(),
            alg: k.alg,
            state: k.state.as_str(),
            published: k.state.is_published(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            retained_at: k.retained_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// Every key, grouped by algorithm (RS256 first), then active, next, retired, retained, revoked.
pub async fn list(pool: &PgPool) -> Result<Vec<KeyInfo>, KeyError> {
    let mut keys = signing_keys::list(&mut *pool.acquire().await?).await?;
    keys.sort_by_key(|k| (k.alg, state_rank(k.state), std::cmp::Reverse(k.created_at)));
    Ok(keys.iter().map(KeyInfo::from).collect())
}

pub(super) fn state_rank(state: KeyState) -> u8 {
    match state {
        KeyState::Active => 0,
        KeyState::Next => 1,
        KeyState::Retired => 2,
        KeyState::Retained => 3,
        KeyState::Revoked => 4,
    }
}

/// Opens every sealed private key with `master`: start-up stops (exit 2) if one does not.
pub async fn verify_master_key(pool: &PgPool, master: &MasterKey) -> Result<(), KeyError> {
    for key in signing_keys::list(&mut *pool.acquire().await?).await? {
        open(master, &key)?;
    }
    Ok(())
}

/// Opens a stored key's private half.
pub(super) fn open(master: &MasterKey, key: &StoredKey) -> Result<Option<SigningKey>, KeyError> {
    let Some(sealed) = &key.private_key_jwe else {
        return Ok(None);
    };
    let der = master
        .open(&key.kid, sealed)
        .map_err(|_| KeyError::WrongMasterKey { kid: key.kid.clone() })?;
    Ok(Some(SigningKey::from_der(key.alg, &key.kid, &der)?))
}

/// First start: gives every algorithm an `active` and a `next` key, creating
/// only what is missing. Existing keys must open with `master` first.
pub async fn ensure(pool: &PgPool, clock: &dyn Clock, master: &MasterKey) -> Result<Vec<KeyChange>, KeyError> {
    let (mut tx, keys) = begin(pool).await?;
    let mut changes = Vec::new();
    for alg in Alg::ALL {
        fill_alg(&mut tx, master, clock.now(), alg, &keys, &mut changes).await?;
    }
    finish(tx, changes).await
}

/// How long clients may cache the JWKS (`Cache-Control: max-age`). A new key is
/// published at least twice this long before it signs.
pub const JWKS_MAX_AGE_SECS: i64 = 300;

/// How long a `next` key must have been published before it may sign: twice
/// the JWKS cache lifetime, so every relying party's cached JWKS holds it.
pub const PUBLISH_BEFORE_SIGNING: TimeDelta = TimeDelta::seconds(2 * JWKS_MAX_AGE_SECS);

/// `keys rotate`: per algorithm, `active` → `retired`, `next` → `active`, and
/// a new `next`. Refused (`TooSoon`, nothing changes) while a `next` key has
/// been published for less than `PUBLISH_BEFORE_SIGNING`, unless `force`d.
/// On a database with no keys it creates them.
pub async fn rotate(
    pool: &PgPool,
    clock: &dyn Clock,
    master: &MasterKey,
    force: bool,
) -> Result<Vec<KeyChange>, KeyError> {
    let (mut tx, keys) = begin(pool).await?;
    let now = clock.now();
    if !force {
        too_soon(&keys, now)?;
    }
    let mut changes = Vec::new();
    for alg in Alg::ALL {
        if let Some(active) = find(&keys, alg, KeyState::Active) {
            move_key(&mut tx, active, active.state.retire(), now, &mut changes).await?;
        }
        match find(&keys, alg, KeyState::Next) {
            Some(next) => move_key(&mut tx, next, next.state.promote(), now, &mut changes).await?,
            None => create(&mut tx, master, now, alg, KeyState::Active, &mut changes).await?,
        }
        create(&mut tx, master, now, alg, KeyState::Next, &mut changes).await?;
    }
    finish(tx, changes).await
}

/// Refuses when a `next` key is too new to be in every cached JWKS.
fn too_soon(keys: &[StoredKey], now: DateTime<Utc>) -> Result<(), KeyError> {
    let fresh = keys
        .iter()
        .filter(|k| k.state == KeyState::Next)
        .find(|k| k.created_at + PUBLISH_BEFORE_SIGNING > now);
    match fresh {
        Some(k) => Err(KeyError::TooSoon {
            alg: k.alg,
            published_secs: (now - k.created_at).num_seconds().max(0),
            needed_secs: PUBLISH_BEFORE_SIGNING.num_seconds(),
            wait_secs: (k.created_at + PUBLISH_BEFORE_SIGNING - now).num_seconds().max(1),
        }),
        None => Ok(()),
    }
}

/// `keys revoke`: unpublishes a key at once. A revoked `active` key is replaced
/// by the `next` one, and a new `next` is made, so the algorithm keeps signing.
pub async fn revoke(
    pool: &PgPool,
    clock: &dyn Clock,
    master: &MasterKey,
    kid: &str,
) -> Result<Vec<KeyChange>, KeyError> {
    let (mut tx, keys) = begin(pool).await?;
    let now = clock.now();
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| KeyError::NotFound(kid.to_owned()))?;
    let mut changes = Vec::new();
    move_key(&mut tx, key, key.state.revoke(), now, &mut changes).await?;
    let remaining: Vec<StoredKey> = keys.iter().filter(|k| k.kid != kid).cloned().collect();
    fill_alg(&mut tx, master, now, key.alg, &remaining, &mut changes).await?;
    finish(tx, changes).await
}

/// The rotation schedule (`LANYARD_KEY_ROTATION_DAYS`): per algorithm, once
/// the active key has signed for `every`, the `next` key is promoted — but only
/// after it has been published at least twice the JWKS cache lifetime, so
/// every cached JWKS knows its `kid` — the active key retires and a new `next`
/// is published. Runs under the key lock: when several nodes run it at once,
/// the first rotates and the others find nothing due.
pub async fn rotate_due(
    pool: &PgPool,
    clock: &dyn Clock,
    master: &MasterKey,
    every: TimeDelta,
) -> Result<Vec<KeyChange>, KeyError> {
    let (mut tx, keys) = begin(pool).await?;
    let now = clock.now();
    let mut changes = Vec::new();
    for alg in Alg::ALL {
        let (Some(active), Some(next)) = (find(&keys, alg, KeyState::Active), find(&keys, alg, KeyState::Next)) else {
            continue;
        };
        let signed_since = active.activated_at.unwrap_or(active.created_at);
        let next_known = next.created_at + PUBLISH_BEFORE_SIGNING <= now;
        if signed_since + every <= now && next_known {
            move_key(&mut tx, active, active.state.retire(), now, &mut changes).await?;
            move_key(&mut tx, next, next.state.promote(), now, &mut changes).await?;
            create(&mut tx, master, now, alg, KeyState::Next, &mut changes).await?;
        }
    }
    finish(tx, changes).await
}

/// The scheduled part of the lifecycle: a `retired` key is unpublished once every
/// token it signed has expired and every JWKS cache has turned over; a `retained`
/// key is deleted after 30 days.
pub async fn maintain(pool: &PgPool, clock: &dyn Clock, lifetimes: &Lifetimes) -> Result<Vec<KeyChange>, KeyError> {
    let (mut tx, keys) = begin(pool).await?;
    let now = clock.now();
    let api_max = apis::max_access_token_ttl(&mut tx)
        .await?
        .map(|s| TimeDelta::seconds(s.into()));
    let longest = [lifetimes.access_token, lifetimes.id_token]
        .into_iter()
        .chain(api_max)
        .max();
    let publish_after_retire = longest.unwrap_or(lifetimes.access_token) + TimeDelta::seconds(JWKS_MAX_AGE_SECS);
    let mut changes = Vec::new();
    for key in &keys {
        match (key.state, key.retired_at, key.retained_at) {
            (KeyState::Retired, Some(at), _) if at + publish_after_retire <= now => {
                move_key(&mut tx, key, key.state.retain(), now, &mut changes).await?;
            }
            (KeyState::Retained, _, Some(at)) if at + RETAIN_FOR <= now => {
                signing_keys::delete(&mut tx, &key.kid).await?;
                changes.push(KeyChange {
                    kid: key.kid.clone(),
                    alg: key.alg,
                    from: Some(key.state.as_str()),
                    to: None,
                });
            }
            _ => {}
        }
    }
    finish(tx, changes).await
}

/// Opens a transaction holding the key lock, with the keys as they are now.
async fn begin(pool: &PgPool) -> Result<(Transaction<'static, Postgres>, Vec<StoredKey>), KeyError> {
    let mut tx = pool.begin().await?;
    signing_keys::lock(&mut tx).await?;
    let keys = signing_keys::list(&mut tx).await?;
    Ok((tx, keys))
}

/// Commits, with a NOTIFY so every node reloads when something changed.
async fn finish(mut tx: Transaction<'static, Postgres>, changes: Vec<KeyChange>) -> Result<Vec<KeyChange>, KeyError> {
    if !changes.is_empty() {
        signing_keys::notify_changed(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changes)
}

fn find(keys: &[StoredKey], alg: Alg, state: KeyState) -> Option<&StoredKey> {
    keys.iter().find(|k| k.alg == alg && k.state == state)
}

/// Gives `alg` an active key (promoting `next` if there is one) and a next key.
async fn fill_alg(
    conn: &mut PgConnection,
    master: &MasterKey,
    now: DateTime<Utc>,
    alg: Alg,
    keys: &[StoredKey],
    changes: &mut Vec<KeyChange>,
) -> Result<(), KeyError> {
    let mut next = find(keys, alg, KeyState::Next);
    if find(keys, alg, KeyState::Active).is_none() {
        match next.take() {
            Some(n) => move_key(conn, n, n.state.promote(), now, changes).await?,
            None => create(conn, master, now, alg, KeyState::Active, changes).await?,
        }
    }
    if next.is_none() {
        create(conn, master, now, alg, KeyState::Next, changes).await?;
    }
    Ok(())
}

async fn move_key(
    conn: &mut PgConnection,
    key: &StoredKey,
    to: Result<KeyState, String>,
    now: DateTime<Utc>,
    changes: &mut Vec<KeyChange>,
) -> Result<(), KeyError> {
    let to = to.map_err(|reason| KeyError::Refused {
        kid: key.kid.clone(),
        reason,
    })?;
    signing_keys::set_state(conn, &key.kid, to, now).await?;
    changes.push(KeyChange {
        kid: key.kid.clone(),
        alg: key.alg,
        from: Some(key.state.as_str()),
        to: Some(to.as_str()),
    });
    Ok(())
}

async fn create(
    conn: &mut PgConnection,
    master: &MasterKey,
    now: DateTime<Utc>,
    alg: Alg,
    state: KeyState,
    changes: &mut Vec<KeyChange>,
) -> Result<(), KeyError> {
    let key = tokio::task::spawn_blocking(move || generate_key(alg))
        .await
        .map_err(|e| CryptoError::Generate(e.to_string()))??;
    let sealed = master.seal(&key.kid, &key.private_der)?;
    signing_keys::insert(conn, &key.kid, alg, state, &key.public_jwk, &sealed, now).await?;
    changes.push(KeyChange {
        kid: key.kid,
        alg,
        from: None,
        to: Some(state.as_str()),
    });
    Ok(())
}
