//! Protocol flows: the rules of the RFCs as plain functions over typed inputs
//! (the provider's pool, clock, keys and configuration) — no HTTP types here.

pub mod account;
pub mod address_budget;
pub mod api_tokens;
pub mod audit_buffer;
pub mod authorize;
pub mod backchannel_logout;
pub mod bearer;
pub mod client_assertion;
pub mod client_auth;
pub mod client_documents;
pub mod client_keys;
pub mod client_metadata;
pub mod counters;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod email_verification;
pub mod error;
pub mod factors;
pub mod introspect;
pub mod jti_batch;
pub mod lab;
pub mod logout;
pub mod mint;
pub mod par;
pub mod params;
pub mod password_reset;
pub mod pushed;
pub mod registration;
pub mod remote;
pub mod revoke;
pub mod session;
pub mod signin;
pub mod signup;
pub mod token;
pub mod upstream;
pub mod userinfo;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::password;
use crate::crypto::{CryptoError, MasterKey};
use crate::keys::{Expect, KeyRing};
use crate::store::audit::NewEvent;
use crate::store::used_jtis::JtiTable;

/// Verified for unknown users, so they cost what a wrong password costs: an
/// argon2id hash of a random password nobody kept, at the parameters of every
/// stored hash. (Whatever it verifies, an unknown user never signs in.)
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$nr2kYAAc2IgzUD1l7QrYDg$lahEZOq9cgvgR6qZ9vfvllX0l8md/Qe/wY27hNgrOJE";

/// Everything a flow needs: the database, the clock, the keys, the settings.
#[derive(Clone)]
pub struct Provider {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub keys: Arc<KeyRing>,
    /// Clients, APIs and allowances, in memory.
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    /// argon2id verification on one thread per core, so memory stays bounded
    /// (19 MiB per thread) however many sign-ins arrive.
    passwords: Arc<password::VerifierPool>,
    /// Tokens issued, counted in memory and written in batches.
    pub counters: Arc<counters::Counters>,
    /// Audit events waiting to be written in batches.
    pub audit: Arc<audit_buffer::AuditBuffer>,
    /// Requests, decisions and sign-ins counted for /metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Issues and checks the device cookies of the sign-in throttle.
    pub devices: Arc<device::DeviceCookies>,
    /// The keys DPoP proofs were signed with, ready to verify.
    pub dpop_keys: Arc<crate::crypto::proof::VerifierCache>,
    /// Server nonces for DPoP proofs (RFC 9449 §8).
    pub dpop_nonces: Arc<dpop::Nonces>,
    /// The keys of `private_key_jwt` clients, ready to verify (and fetched).
    pub client_keys: Arc<client_keys::ClientKeys>,
    /// Client assertions' `jti`s, recorded in batches.
    pub assertion_jtis: Arc<jti_batch::JtiBatcher>,
    /// DPoP proofs' `jti`s, recorded in batches.
    pub dpop_jtis: Arc<jti_batch::JtiBatcher>,
    /// Sign-ins waiting for their second step.
    pub pending: Arc<factors::pending::PendingSignIns>,
    /// Seals second factors' secrets at rest.
    pub factor_seal: Arc<MasterKey>,
    /// Keys the hashes of recovery codes (so a copy of the database alone
    /// cannot test guesses).
    pub recovery_codes: Arc<crate::crypto::field_mac::FieldMac>,
    /// Tags a pushed request (RFC 9126) resolved at /authorize, as the
    /// sign-in pages carry it on.
    pub pushed_requests: Arc<crate::crypto::field_mac::FieldMac>,
    /// The WebAuthn relying party of the issuer, or why passkeys are off.
    pub webauthn: Result<Arc<webauthn_rs::Webauthn>, factors::passkeys::PasskeysOff>,
    /// Where mail goes (SMTP, a directory under `lanyard dev`, or off).
    pub mail: Arc<crate::mail::Mailer>,
    /// Upstream providers' metadata and keys, and the HTTP client that fetches them.
    pub upstreams: Arc<upstream::discovery::Discovery>,
    /// Seals upstream providers' client secrets at rest.
    pub upstream_seal: Arc<MasterKey>,
    /// Posts logout tokens (`backchannel_logout`; `remote::Remote`: no
    /// redirects, a time limit, public addresses only for self-registered
    /// clients).
    pub logout_http: Arc<remote::Remote>,
    /// Fetches clients' metadata documents (a URL as client_id) and
    /// remembers which failed a moment ago.
    pub client_documents: Arc<client_documents::Documents>,
}

/// The keys a provider derives from the master key, one per purpose (so
/// every node sharing the master key derives the same ones).
pub struct DerivedKeys {
    pub device: [u8; 32],
    pub dpop_nonce: [u8; 32],
    pub pending_sign_in: [u8; 32],
    pub recovery_code: [u8; 32],
    pub pushed_request: [u8; 32],
    pub factor_seal: MasterKey,
    pub upstream_seal: MasterKey,
}

impl DerivedKeys {
    pub fn from_master(master: &MasterKey) -> Self {
        Self {
            device: master.derive("lanyard/device/v1"),
            dpop_nonce: master.derive("lanyard/dpop-nonce/v1"),
            pending_sign_in: master.derive("lanyard/pending-sign-in/v1"),
            recovery_code: master.derive("lanyard/recovery-code/v1"),
            pushed_request: master.derive("lanyard/pushed-request/v1"),
            factor_seal: MasterKey::from_bytes(master.derive("lanyard/factor-seal/v1")),
            upstream_seal: MasterKey::from_bytes(master.derive("lanyard/upstream-seal/v1")),
        }
    }
}

impl Provider {
    pub fn new(
        config: Arc<Config>,
        pool: PgPool,
        keys: Arc<KeyRing>,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
        derived: DerivedKeys,
    ) -> Result<Self, CryptoError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let audit = Arc::new(audit_buffer::AuditBuffer::new(config.audit_buffer));
        let mail = crate::mail::Mailer::from_config(&config).unwrap_or_else(|e| {
            tracing::warn!("{e}: mail is off");
            crate::mail::Mailer::Off
        });
        Ok(Self {
            audit,
            mail: Arc::new(mail),
            webauthn: factors::passkeys::relying_party(config.issuer.as_str()),
            config,
            pool,
            keys,
            catalog,
            clock,
            passwords: Arc::new(password::VerifierPool::new(cores, password::QUEUE_PER_THREAD * cores)?),
            devices: Arc::new(device::DeviceCookies::new(derived.device)),
            counters: Arc::default(),
            metrics: Arc::default(),
            dpop_keys: Arc::default(),
            dpop_nonces: Arc::new(dpop::Nonces::new(derived.dpop_nonce)),
            client_keys: Arc::default(),
            assertion_jtis: Arc::new(jti_batch::JtiBatcher::new(JtiTable::ClientAssertions)),
            dpop_jtis: Arc::new(jti_batch::JtiBatcher::new(JtiTable::DpopProofs)),
            pending: Arc::new(factors::pending::PendingSignIns::new(derived.pending_sign_in)),
            factor_seal: Arc::new(derived.factor_seal),
            upstream_seal: Arc::new(derived.upstream_seal),
            upstreams: Arc::default(),
            logout_http: Arc::new(remote::Remote::new("back-channel logout")),
            client_documents: Arc::default(),
            recovery_codes: Arc::new(crate::crypto::field_mac::FieldMac::new(derived.recovery_code)),
            pushed_requests: Arc::new(crate::crypto::field_mac::FieldMac::new(derived.pushed_request)),
        })
    }

    /// What the mail worker needs of this provider.
    pub fn outbox(&self) -> crate::mail::worker::Outbox {
        crate::mail::worker::Outbox {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
            mailer: self.mail.clone(),
            metrics: self.metrics.clone(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// What every verifier expects of a token by default: our issuer, not
    /// expired now (`KeyRing::verify_as`).
    pub fn expect(&self) -> Expect<'_> {
        Expect::new(self.config.issuer.as_str(), self.now())
    }

    /// Queues an audit event (written in batches by the audit writer); refused
    /// when the buffer is full.
    pub fn audit(&self, event: &NewEvent<'_>) -> Result<(), audit_buffer::BufferFull> {
        self.audit.push(event.at(self.now()))
    }

    /// Verifies a password off the async threads (the hashing pool). `None`
    /// (unknown user) verifies against a dummy hash and fails. Refused at
    /// once when the pool's queue is full.
    pub async fn verify_password(&self, password: &str, hash: Option<&str>) -> Result<bool, password::QueueFull> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        let ok = self.passwords.verify(password.to_owned(), hash).await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_stored_hash_costs() {
        let stored = password::hash("anything").unwrap();
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(DUMMY_HASH), params(&stored));
    }
}
