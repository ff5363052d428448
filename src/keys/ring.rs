//! The key ring: the keys every node signs with and the JWKS bytes it serves,
//! held in memory and reloaded on NOTIFY (with a short TTL as a fallback).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::lifecycle::{KeyError, open, state_rank};
use super::verify::{self, Expect, VerifyError};
use crate::crypto::jwt::{JwtError, Verifier, peek_header};
use crate::crypto::{Alg, MasterKey, SigningKey};
use crate::model::KeyState;
use crate::model::claims::TokenClaims;
use crate::reloadable::Reloadable;
use crate::store::signing_keys;

/// One consistent view of the keys.
struct Snapshot {
    jwks: Bytes,
    signers: HashMap<Alg, Arc<SigningKey>>,
    /// Published and retained keys by kid; revoked ones are absent.
    verifiers: HashMap<String, Arc<Verifier>>,
    /// The active keys: algorithm, kid, when each began to sign.
    active_since: Vec<(Alg, String, DateTime<Utc>)>,
}

pub struct KeyRing {
    master: MasterKey,
    current: Reloadable<Snapshot>,
}

impl KeyRing {
    /// Loads the keys; fails if the master key does not open them.
    pub async fn load(pool: &PgPool, master: MasterKey) -> Result<Self, KeyError> {
        let snapshot = Self::snapshot(pool, &master).await?;
        Ok(Self {
            master,
            current: Reloadable::new(snapshot),
        })
    }

    pub async fn reload(&self, pool: &PgPool) -> Result<(), KeyError> {
        self.current.reload(Self::snapshot(pool, &self.master)).await
    }

    /// The JWKS document (RFC 7517 §5) as precomputed bytes.
    pub fn jwks(&self) -> Bytes {
        self.get().jwks.clone()
    }

    /// The active key of an algorithm.
    pub fn signer(&self, alg: Alg) -> Option<Arc<SigningKey>> {
        self.get().signers.get(&alg).cloned()
    }

    /// Verifies a token of kind `T` (the one verifier every caller uses): the
    /// signature with the key its `kid` names (published or retained), then
    /// what `expect` says — `typ`, claims, `iss`, `exp`, `aud`.
    pub fn verify_as<T: TokenClaims>(&self, jwt: &str, expect: &Expect<'_>) -> Result<T, VerifyError> {
        let (typ, payload) = self.verify_signature(jwt)?;
        verify::check(typ.as_deref(), &payload, expect)
    }

    /// The header's `typ` and the payload of a token whose signature verifies.
    fn verify_signature(&self, jwt: &str) -> Result<(Option<String>, Vec<u8>), JwtError> {
        let header = peek_header(jwt)?;
        let snapshot = self.get();
        let verifier = header
            .kid
            .as_ref()
            .and_then(|kid| snapshot.verifiers.get(kid))
            .ok_or_else(|| JwtError::UnknownKey(header.kid.clone()))?;
        Ok((header.typ, verifier.verify_payload(jwt)?))
    }

    /// The active keys and when each began to sign (for /metrics).
    pub fn active_since(&self) -> Vec<(Alg, String, DateTime<Utc>)> {
        self.get().active_since.clone()
    }

    fn get(&self) -> Arc<Snapshot> {
        self.current.get()
    }

    async fn snapshot(pool: &PgPool, master: &MasterKey) -> Result<Snapshot, KeyError> {
        let mut keys = signing_keys::list(&mut *pool.acquire().await?).await?;
        keys.sort_by_key(|k| (k.alg, state_rank(k.state), std::cmp::Reverse(k.created_at)));
        let mut signers = HashMap::new();
        let mut active_since = Vec::new();
        for key in keys.iter().filter(|k| k.state == KeyState::Active) {
            if let Some(signer) = open(master, key)? {
                signers.insert(key.alg, Arc::new(signer));
                active_since.push((key.alg, key.kid.clone(), key.activated_at.unwrap_or(key.created_at)));
            }
        }
        let mut verifiers = HashMap::new();
        for key in keys
            .iter()
            .filter(|k| k.state.is_published() || k.state == KeyState::Retained)
        {
            verifiers.insert(key.kid.clone(), Arc::new(Verifier::from_jwk(key.alg, &key.public_jwk)?));
        }
        let published: Vec<_> = keys
            .iter()
            .filter(|k| k.state.is_published())
            .map(|k| &k.public_jwk)
            .collect();
        let jwks = serde_json::to_vec(&json!({ "keys": published })).map_err(|e| KeyError::Refused {
            kid: String::new(),
            reason: format!("cannot serialise the JWKS: {e}"),
        })?;
        Ok(Snapshot {
            jwks: Bytes::from(jwks),
            signers,
            verifiers,
            active_since,
        })
    }
}
