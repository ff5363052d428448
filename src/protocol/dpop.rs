//! DPoP proofs (RFC 9449 §4.3): at the token endpoint a request carrying a
//! `DPoP` header proves possession of a key, and the access token it gets
//! is bound to that key (`cnf.jkt`, `token_type` `DPoP`, §5 and §6.1); at a
//! protected resource the proof also names the access token it comes with
//! (`ath`, §7).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::proof::{self, SelfSigned};
use crate::crypto::secret;
use crate::model::DpopPolicy;
use crate::paths;

/// The response header that carries a server nonce (RFC 9449 §8.1).
pub const DPOP_NONCE: &str = "DPoP-Nonce";

/// The algorithms advertised in `dpop_signing_alg_values_supported`.
pub use crate::crypto::proof::PROOF_ALGS as SIGNING_ALGS;

/// How far a proof's `iat` may be from now, either way (RFC 9449 §11.1):
/// proofs are made just before they are sent.
pub const IAT_WINDOW: TimeDelta = TimeDelta::seconds(60);

/// The longest `jti` accepted (RFC 9449 §4.2 asks for enough entropy, not
/// for a length; a bound keeps the replay store's keys small).
const MAX_JTI_LEN: usize = 256;

/// A checked proof: the key it proves, as the token will name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's key (`cnf.jkt`).
    pub jkt: String,
    /// Whether it carries a server nonce, and a current one.
    pub nonce: NonceState,
}

/// A proof's `nonce` claim (RFC 9449 §4.2, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    Absent,
    /// One of the current or the previous window's nonces.
    Fresh,
    /// Any other value: an old nonce, or none of ours.
    Stale,
}

/// Server nonces (RFC 9449 §8) that every node computes alike with no
/// database round trip: the HMAC-SHA256, under a key derived from the master
/// key, of the number of the current five-minute window. A nonce is
/// accepted during its window and the next, so it lives 5 to 10 minutes —
/// and a window early, so that a node whose clock runs ahead of another's
/// does not send clients round in `use_dpop_nonce` at a window's edge.
pub struct Nonces {
    key: [u8; 32],
}

impl Nonces {
    /// The length of a nonce's window, in seconds.
    pub const WINDOW_SECS: i64 = 300;

    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn of_window(&self, window: i64) -> String {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The nonce to hand out now.
    pub fn current(&self, now: DateTime<Utc>) -> String {
        self.of_window(now.timestamp().div_euclid(Self::WINDOW_SECS))
    }

    /// Whether `nonce` is the current window's, the previous one's or the
    /// next one's.
    pub fn accepts(&self, nonce: &str, now: DateTime<Utc>) -> bool {
        let window = now.timestamp().div_euclid(Self::WINDOW_SECS);
        [window, window - 1, window + 1]
            .into_iter()
            .any(|w| secret::constant_time_eq(self.of_window(w).as_bytes(), nonce.as_bytes()))
    }
}

/// The `DPoP` header fields of a request, as received.
#[derive(Debug, Clone, Default)]
pub struct DpopHeader(pub Vec<String>);

/// The request a proof must have been made for. Built by its constructors,
/// so that what a proof is checked against can grow without changing
/// their callers.
#[derive(Debug, Clone, Copy)]
pub struct ProofFor<'a> {
    /// The request's method (`htm`, §4.3 (8)).
    htm: &'a str,
    /// The request's path under the issuer (`htu`, §4.3 (9)).
    path: &'a str,
    /// The access token presented with the proof to a protected resource:
    /// the proof's `ath` must be its hash (§4.3 (12), §7).
    access_token: Option<&'a str>,
}

impl<'a> ProofFor<'a> {
    /// A token request: `POST {issuer}/token`, no access token.
    pub fn token() -> Self {
        ProofFor {
            htm: "POST",
            path: paths::TOKEN,
            access_token: None,
        }
    }

    /// A pushed authorization request: `POST {issuer}/par` (RFC 9449 §10.1).
    pub fn par() -> Self {
        ProofFor {
            htm: "POST",
            path: paths::PAR,
            access_token: None,
        }
    }

    /// A request with method `htm` to Lanyard's protected resource at
    /// `path`, presenting `access_token` (RFC 9449 §7).
    pub fn resource(htm: &'a str, path: &'a str, access_token: &'a str) -> Self {
        ProofFor {
            htm,
            path,
            access_token: Some(access_token),
        }
    }
}

fn invalid(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// Checks the request's proof, if it has one, for the request `req`;
/// `Ok(None)` without a `DPoP` header (at no cost). Every rule of RFC 9449
/// §4.3 but the server nonce, and the `jti` once across nodes. That the
/// proof's key is the one an access token is bound to (§4.3 (12)) is the
/// caller's to compare with the returned `jkt`.
pub async fn check(p: &Provider, header: &DpopHeader, req: &ProofFor<'_>) -> Result<Option<Proof>, OAuthError> {
    let jwt = match header.0.as_slice() {
        [] => return Ok(None),
        [one] => one,
        // §4.3 (1): not more than one DPoP header.
        _ => return Err(invalid("more than one DPoP header")),
    };
    let now = p.now();
    let htu = p.config.issuer.url(req.path);
    let proof =
        proof::verify_self_signed(jwt, &p.dpop_keys).map_err(|e| invalid(format!("the DPoP proof is refused: {e}")))?;
    let (jti, iat) = check_claims(&proof, req.htm, &htu, now)?;
    if let Some(token) = req.access_token {
        check_ath(&proof, token)?;
    }
    // §11.1: each proof is accepted once, across every node, within its
    // window: remembered until its `iat` is out of the window for good.
    let seen = secret::sha256(&format!("{}.{jti}", proof.thumbprint));
    let expires_at = now.max(iat) + IAT_WINDOW + TimeDelta::seconds(1);
    if !p.dpop_jtis.first_use(&p.pool, seen.to_vec(), expires_at).await? {
        return Err(invalid("the DPoP proof was used before (its jti is replayed)"));
    }
    let nonce = match proof.claims.get("nonce").and_then(Value::as_str) {
        None => NonceState::Absent,
        Some(n) if p.dpop_nonces.accepts(n, now) => NonceState::Fresh,
        Some(_) => NonceState::Stale,
    };
    Ok(Some(Proof {
        jkt: proof.thumbprint,
        nonce,
    }))
}

/// What a client (RFC 9449 §5.2 `dpop_bound_access_tokens`) or an API asks
/// of a token request: no proof where one is required is
/// `invalid_dpop_proof`; a proof without a current server nonce where one is
/// asked for is `use_dpop_nonce`, naming a fresh nonce in `DPoP-Nonce`
/// (§8). A request without a proof where none is required is a bearer's,
/// and nonces are only asked of proofs.
pub fn enforce(
    p: &Provider,
    policy: DpopPolicy,
    proof: Option<&Proof>,
    whose: impl std::fmt::Display,
) -> Result<(), OAuthError> {
    match proof {
        None if policy.required => Err(invalid(format!(
            "{whose} accepts only DPoP-bound tokens: send a DPoP proof"
        ))),
        Some(proof) if policy.nonce && proof.nonce != NonceState::Fresh => Err(OAuthError {
            dpop_nonce: Some(p.dpop_nonces.current(p.now())),
            ..OAuthError::new(
                ErrorCode::UseDpopNonce,
                format!("{whose} asks for a server nonce in the DPoP proof: use the one in DPoP-Nonce"),
            )
        }),
        _ => Ok(()),
    }
}

/// The key a token request's tokens are bound to, when what it presents —
/// a code issued with `dpop_jkt` or redeemed with a proof, a refresh token
/// or an id_token of a bound grant — is `bound` to a key (RFC 9449 §5,
/// §10): a proof of that very key is required. No proof is
/// `invalid_dpop_proof`; a proof of another key is `invalid_grant`, since
/// the credential is not that key holder's. Something unbound is bound to
/// the proof's key, if the request sends one.
pub fn binding<'a>(
    bound: Option<&'a str>,
    proof: Option<&'a Proof>,
    presented: &str,
) -> Result<Option<&'a str>, OAuthError> {
    match (bound, proof) {
        (Some(_), None) => Err(invalid(format!(
            "{presented} is bound to a DPoP key: send a DPoP proof of that key"
        ))),
        (Some(jkt), Some(proof)) if proof.jkt != jkt => Err(OAuthError::invalid_grant(format!(
            "{presented} is bound to another DPoP key than the proof's"
        ))),
        (Some(jkt), Some(_)) => Ok(Some(jkt)),
        (None, proof) => Ok(proof.map(|p| p.jkt.as_str())),
    }
}

/// §4.3 (3)–(11) on a proof whose signature verified: `typ`, the claims,
/// `htm`, `htu` and `iat`. Returns its `jti` and `iat`.
fn check_claims<'a>(
    proof: &'a SelfSigned,
    htm: &str,
    htu: &str,
    now: DateTime<Utc>,
) -> Result<(&'a str, DateTime<Utc>), OAuthError> {
    if proof.header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("the DPoP proof's typ is not dpop+jwt"));
    }
    let text = |name: &str| proof.claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| invalid("the DPoP proof has no usable jti"))?;
    if text("htm") != Some(htm) {
        return Err(invalid(format!("the DPoP proof's htm is not {htm}")));
    }
    if !text("htu").is_some_and(|u| same_target(u, htu)) {
        return Err(invalid(format!("the DPoP proof's htu is not {htu}")));
    }
    // A NumericDate may have a fraction (RFC 7519 §2).
    let iat = proof
        .claims
        .get("iat")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
        })
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| invalid("the DPoP proof has no usable iat"))?;
    if iat.timestamp().abs_diff(now.timestamp()) > IAT_WINDOW.num_seconds().unsigned_abs() {
        return Err(invalid(format!(
            "the DPoP proof's iat is more than {} s from now",
            IAT_WINDOW.num_seconds()
        )));
    }
    Ok((jti, iat))
}

/// §4.3 (12), §4.2: at a protected resource the proof's `ath` is the
/// base64url SHA-256 of the ASCII access token it comes with.
fn check_ath(proof: &SelfSigned, access_token: &str) -> Result<(), OAuthError> {
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()));
    match proof.claims.get("ath").and_then(Value::as_str) {
        Some(ath) if secret::constant_time_eq(ath.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(invalid("the DPoP proof's ath is not the hash of this access token")),
        None => Err(invalid("the DPoP proof has no ath (the hash of the access token)")),
    }
}

/// `htu` compared with the endpoint "without query and fragment parts",
/// after RFC 3986 §6.2.2–6.2.3 normalisation (the case of scheme and host,
/// the default port) (RFC 9449 §4.3 (9)).
fn same_target(htu: &str, endpoint: &str) -> bool {
    let (Ok(mut htu), Ok(endpoint)) = (url::Url::parse(htu), url::Url::parse(endpoint)) else {
        return false;
    };
    htu.set_query(None);
    htu.set_fragment(None);
    htu == endpoint
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn proof(header: Value, claims: Value) -> SelfSigned {
        SelfSigned {
            header: header.as_object().cloned().unwrap(),
            claims: claims.as_object().cloned().unwrap(),
            thumbprint: "t".into(),
        }
    }

    const HTU: &str = "https://id.example/token";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn good() -> Value {
        json!({"jti": "j1", "htm": "POST", "htu": HTU, "iat": 1_800_000_000})
    }

    fn refused(header: Value, claims: Value) -> String {
        check_claims(&proof(header, claims), "POST", HTU, now())
            .unwrap_err()
            .description
    }

    #[test]
    fn binding_needs_a_proof_of_the_bound_key() {
        let proof = |jkt: &str| Proof {
            jkt: jkt.into(),
            nonce: NonceState::Absent,
        };
        let (mine, other) = (proof("k1"), proof("k2"));
        assert_eq!(binding(Some("k1"), Some(&mine), "it").unwrap(), Some("k1"));
        assert_eq!(binding(None, Some(&other), "it").unwrap(), Some("k2"));
        assert_eq!(binding(None, None, "it").unwrap(), None);
        let code = |r: Result<Option<&str>, OAuthError>| r.unwrap_err().code;
        assert_eq!(code(binding(Some("k1"), None, "it")), ErrorCode::InvalidDpopProof);
        assert_eq!(code(binding(Some("k1"), Some(&other), "it")), ErrorCode::InvalidGrant);
    }

    #[test]
    fn a_nonce_lives_in_its_window_and_the_next() {
        let nonces = Nonces::new([7; 32]);
        let start = DateTime::from_timestamp(1_800_000_000 / 300 * 300, 0).unwrap();
        let nonce = nonces.current(start);
        assert_eq!(nonce.len(), 43);
        let later = |secs| start + TimeDelta::seconds(secs);
        assert!(nonces.accepts(&nonce, later(299)), "same window");
        assert!(nonces.accepts(&nonce, later(599)), "the next window");
        assert!(!nonces.accepts(&nonce, later(600)), "two windows on");
        assert!(nonces.accepts(&nonce, later(-1)), "a clock a window behind");
        assert!(!nonces.accepts(&nonce, later(-301)), "two windows before");
        assert!(!Nonces::new([8; 32]).accepts(&nonce, start), "another master key");
        assert!(!nonces.accepts("", start));
    }

    #[test]
    fn a_proof_for_this_request_now_passes() {
        let typ = json!({"typ": "dpop+jwt"});
        let checked = proof(typ.clone(), good());
        assert_eq!(check_claims(&checked, "POST", HTU, now()).unwrap(), ("j1", now()));
        for htu in [format!("{HTU}?x=1#f"), "HTTPS://ID.example:443/token".to_owned()] {
            let mut claims = good();
            claims["htu"] = json!(htu);
            assert!(
                check_claims(&proof(typ.clone(), claims), "POST", HTU, now()).is_ok(),
                "{htu}"
            );
        }
        let mut fractional = good();
        fractional["iat"] = json!(1_800_000_000.5);
        assert!(
            check_claims(&proof(typ, fractional), "POST", HTU, now()).is_ok(),
            "a fractional iat"
        );
    }

    #[test]
    fn each_claim_of_the_proof_is_checked() {
        let typ = json!({"typ": "dpop+jwt"});
        assert!(refused(json!({"typ": "JWT"}), good()).contains("typ"));
        for (name, value, says) in [
            ("htm", json!("GET"), "htm"),
            ("htu", json!("https://id.example/userinfo"), "htu"),
            ("iat", json!(1_800_000_000 - 61), "iat"),
            ("iat", json!(1_800_000_000 + 61), "iat"),
            ("jti", json!(""), "jti"),
            ("iat", json!(i64::MIN + 1_800_000_000), "iat"),
            ("htu", json!("https://id.example/token/"), "htu"),
        ] {
            let mut claims = good();
            claims[name] = value;
            assert!(refused(typ.clone(), claims).contains(says), "{name}");
        }
    }

    #[test]
    fn ath_is_the_hash_of_the_access_token() {
        // RFC 9449 §7.1's example: the token and the `ath` of its proof.
        let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
        let mut claims = good();
        claims["ath"] = json!("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
        let typ = json!({"typ": "dpop+jwt"});
        assert!(check_ath(&proof(typ.clone(), claims.clone()), token).is_ok());
        let other = check_ath(&proof(typ.clone(), claims), "another token").unwrap_err();
        assert!(other.description.contains("ath"), "{other:?}");
        let missing = check_ath(&proof(typ, good()), token).unwrap_err();
        assert!(missing.description.contains("no ath"), "{missing:?}");
    }
}
