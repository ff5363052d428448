//! The JWKS: every published public key, never a private member.

use std::collections::HashSet;
use std::time::Duration;

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, RS256};
use lanyard::crypto::{Alg, thumbprint};
use lanyard::keys::KeyRing;
use serde_json::Value;

use crate::support::{eventually, lanyard, master_key, spawn_app};

fn keys_of(jwks: &Value) -> Vec<Value> {
    jwks["keys"].as_array().expect("a `keys` array").clone()
}

#[tokio::test]
async fn jwks_keys_parse_as_josekit_verifiers() {
    let app = spawn_app().await;
    let jwks = app.get_json("/jwks").await;
    for key in keys_of(&jwks) {
        let jwk = Jwk::from_bytes(serde_json::to_vec(&key).unwrap()).expect("a JWK");
        let alg = key["alg"].as_str().unwrap();
        let ok = match alg {
            "RS256" => RS256.verifier_from_jwk(&jwk).is_ok(),
            "ES256" => ES256.verifier_from_jwk(&jwk).is_ok(),
            "EdDSA" => EdDSA.verifier_from_jwk(&jwk).is_ok(),
            other => panic!("unexpected alg {other}"),
        };
        assert!(ok, "{alg} key loads as a verifier");
        assert_eq!(key["use"], "sig");
    }
}

#[tokio::test]
async fn jwks_never_publishes_private_members() {
    let app = spawn_app().await;
    let body = app.get("/jwks").await.text().await.unwrap();
    let jwks: Value = serde_json::from_str(&body).unwrap();
    for key in keys_of(&jwks) {
        let members: HashSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!members.contains(private), "private member {private} in {key}");
        }
    }
}

#[tokio::test]
async fn jwks_kids_are_unique_rfc_7638_thumbprints() {
    let app = spawn_app().await;
    let jwks = app.get_json("/jwks").await;
    let keys = keys_of(&jwks);
    let kids: HashSet<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), keys.len(), "kids are unique");
    for key in &keys {
        assert_eq!(thumbprint(key.as_object().unwrap()).as_deref(), key["kid"].as_str());
    }
}

#[tokio::test]
async fn jwks_publishes_an_active_and_a_next_key_per_algorithm() {
    let app = spawn_app().await;
    let jwks = app.get_json("/jwks").await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        let n = keys_of(&jwks).iter().filter(|k| k["alg"] == alg).count();
        assert_eq!(n, 2, "{alg}: active + next");
    }
}

#[tokio::test]
async fn active_keys_sign_what_the_jwks_verifies() {
    let app = spawn_app().await;
    let jwks = app.get_json("/jwks").await;
    let ring = KeyRing::load(&app.pool, master_key()).await.unwrap();
    for alg in Alg::ALL {
        let signer = ring.signer(alg).expect("an active key");
        let jwt = signer.sign("JWT", &serde_json::json!({"sub": "x"})).unwrap();
        let published = keys_of(&jwks)
            .into_iter()
            .find(|k| k["kid"] == signer.kid.as_str())
            .expect("published");
        let jwk = Jwk::from_bytes(serde_json::to_vec(&published).unwrap()).unwrap();
        let verified = match alg {
            Alg::RS256 => josekit::jws::deserialize_compact(&jwt, &RS256.verifier_from_jwk(&jwk).unwrap()),
            Alg::ES256 => josekit::jws::deserialize_compact(&jwt, &ES256.verifier_from_jwk(&jwk).unwrap()),
            Alg::EdDSA => josekit::jws::deserialize_compact(&jwt, &EdDSA.verifier_from_jwk(&jwk).unwrap()),
        };
        let (_, header) = verified.expect("the signature verifies with the published key");
        assert_eq!(header.key_id(), Some(signer.kid.as_str()));
    }
}

#[tokio::test]
async fn jwks_follows_a_rotation_made_by_another_process() {
    let app = spawn_app().await;
    let before: HashSet<String> = keys_of(&app.get_json("/jwks").await)
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    lanyard(&["keys", "rotate", "--force", "--json"])
        .run_on(&app.db)
        .await
        .assert_ok();
    // LISTEN/NOTIFY carries the change; the test polls generously.
    let changed = eventually(Duration::from_secs(10), || async {
        let after: HashSet<String> = keys_of(&app.get_json("/jwks").await)
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        // Retired keys stay published, three new `next` keys appear.
        after.is_superset(&before) && after.len() == before.len() + 3
    })
    .await;
    assert!(changed, "the JWKS shows the rotation");
}
