//! DPoP proofs at a resource server (RFC 9449 §4.3, §7): a DPoP-bound
//! access token comes with a proof, signed by the client's key, for this
//! very request — its method and URL, the hash of the token, a fresh `iat`
//! and a `jti` never seen before — and that key must be the one the token
//! names in `cnf.jkt`. Self-contained: copy it beside `bearer.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The proof algorithms accepted: asymmetric only (RFC 9449 §4.3 (5)),
/// advertised in the `DPoP` challenge's `algs`.
pub const ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

/// How far a proof's `iat` may be from now, either way (§11.1).
const IAT_WINDOW_SECS: i64 = 60;

/// The most proofs remembered at once. A proof is remembered only while its
/// `iat` is in the window, so this bounds the proofs accepted per two
/// minutes; past it, new proofs wait (503) rather than go unremembered.
const MAX_REMEMBERED: usize = 100_000;

/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// JWK members holding private key material (RFC 7518 §6, RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError {
    /// `invalid_dpop_proof` (§7.1).
    Invalid(String),
    /// The proof is good but signed by another key than the token's: the
    /// token's binding fails, `invalid_token` (§7.1's example).
    WrongKey,
    /// The replay cache is full: try again shortly.
    Busy,
}

fn invalid(why: &str) -> ProofError {
    ProofError::Invalid(why.to_owned())
}

/// What the proof must be for.
pub struct ProofRequest<'a> {
    /// Every `DPoP` header field of the request (exactly one is allowed).
    pub proofs: &'a [&'a str],
    pub method: &'a str,
    /// The request's path; the proof's `htu` is this server's public URL
    /// with it.
    pub path: &'a str,
    /// The access token from `Authorization: DPoP`.
    pub access_token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
}

/// Checks proofs for this server, reached at `public_url`, and remembers
/// the `jti`s it accepted (in memory: with several instances, share this
/// cache — a database or a cache server — or a proof may be replayed to
/// another instance).
pub struct ProofChecker {
    public_url: String,
    /// Thumbprint + `jti` → when it may be forgotten (Unix seconds).
    seen: Mutex<HashMap<String, i64>>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn decode(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The RFC 7638 thumbprint of a public JWK (its required members, sorted,
/// no whitespace, SHA-256, base64url), and those members alone.
fn thumbprint(jwk: &Map<String, Value>) -> Option<(String, Map<String, Value>)> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => return None,
    };
    let mut required = Map::new();
    for m in members {
        required.insert((*m).to_owned(), Value::String(jwk.get(*m)?.as_str()?.to_owned()));
    }
    // serde_json's Map is sorted by key: the lexicographic order RFC 7638 asks.
    let json = serde_json::to_vec(&required).ok()?;
    Some((URL_SAFE_NO_PAD.encode(Sha256::digest(&json)), required))
}

/// `htu` and the expected URL compared without query and fragment, after
/// the usual normalisation (case of scheme and host, default port) (§4.3 (9)).
fn same_target(htu: &str, expected: &str) -> bool {
    let (Ok(mut htu), Ok(expected)) = (url::Url::parse(htu), url::Url::parse(expected)) else {
        return false;
    };
    htu.set_query(None);
    htu.set_fragment(None);
    htu == expected
}

impl ProofChecker {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Every rule of RFC 9449 §4.3 (but server nonces, which this server
    /// does not ask for), then the key binding, then the `jti` once.
    pub fn check(&self, req: &ProofRequest<'_>) -> Result<(), ProofError> {
        // (1) exactly one DPoP header, (2) a JWT.
        let proof = match req.proofs {
            [] => return Err(invalid("a DPoP-bound token needs a DPoP proof")),
            [one] => *one,
            _ => return Err(invalid("more than one DPoP header")),
        };
        let mut parts = proof.split('.');
        let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("the DPoP proof is not a compact JWS"));
        };
        let header = decode(header).ok_or_else(|| invalid("the DPoP proof's header is not JSON"))?;
        // (4) typ, (5) an asymmetric alg, (6) a public jwk.
        if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
            return Err(invalid("the DPoP proof's typ is not dpop+jwt"));
        }
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
        if !ALGS.contains(&alg) {
            return Err(invalid("the DPoP proof's alg is not allowed"));
        }
        let jwk = header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("the DPoP proof has no jwk"))?;
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(invalid("the DPoP proof's jwk holds a private key"));
        }
        let (jkt, members) = thumbprint(jwk).ok_or_else(|| invalid("the DPoP proof's jwk is not a usable key"))?;
        // (7) the signature, with the key of the header.
        let key = Jwk::from_map(members).map_err(|_| invalid("the DPoP proof's jwk is not a usable key"))?;
        let unusable = |_| invalid("the DPoP proof's jwk is not a usable key");
        let verifier: Box<dyn JwsVerifier> = match alg {
            "ES256" => Box::new(ES256.verifier_from_jwk(&key).map_err(unusable)?),
            "EdDSA" => Box::new(EdDSA.verifier_from_jwk(&key).map_err(unusable)?),
            "RS256" => Box::new(RS256.verifier_from_jwk(&key).map_err(unusable)?),
            _ => Box::new(PS256.verifier_from_jwk(&key).map_err(unusable)?),
        };
        let (payload, _) = josekit::jws::deserialize_compact(proof, verifier.as_ref())
            .map_err(|_| invalid("the DPoP proof's signature does not verify"))?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| invalid("the DPoP proof's claims are not JSON"))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        // (3) the claims, (8) htm, (9) htu.
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or_else(|| invalid("the DPoP proof has no usable jti"))?;
        if text("htm") != Some(req.method) {
            return Err(invalid("the DPoP proof's htm is not this request's method"));
        }
        let url = format!("{}{}", self.public_url, req.path);
        if !text("htu").is_some_and(|htu| same_target(htu, &url)) {
            return Err(invalid("the DPoP proof's htu is not this request's URL"));
        }
        // (11) a fresh iat.
        let now = now();
        let iat = claims
            .get("iat")
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
            })
            .ok_or_else(|| invalid("the DPoP proof has no iat"))?;
        // abs_diff: no overflow whatever the proof says (`i64::MIN` included).
        if iat.abs_diff(now) > IAT_WINDOW_SECS.unsigned_abs() {
            return Err(invalid("the DPoP proof's iat is not within 60 s of now"));
        }
        // (12) ath, the hash of the access token, and the key binding.
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(req.access_token.as_bytes()));
        if text("ath") != Some(ath.as_str()) {
            return Err(invalid("the DPoP proof's ath is not the hash of this access token"));
        }
        if jkt != req.jkt {
            return Err(ProofError::WrongKey);
        }
        // (§11.1) the jti once: remembered while its iat is in the window.
        self.first_use(format!("{jkt}.{jti}"), iat.max(now) + IAT_WINDOW_SECS + 1, now)
    }

    /// Remembers `id` until `until`, or says it was seen. Expired entries
    /// are dropped when the cache is full; if it is still full, refuse.
    fn first_use(&self, id: String, until: i64, now: i64) -> Result<(), ProofError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get(&id).is_some_and(|&expires| expires > now) {
            return Err(invalid("the DPoP proof was used before (its jti is replayed)"));
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, &mut expires| expires > now);
            if seen.len() >= MAX_REMEMBERED {
                return Err(ProofError::Busy);
            }
        }
        seen.insert(id, until);
        Ok(())
    }
}
