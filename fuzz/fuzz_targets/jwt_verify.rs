//! The JWT verifier: any input is refused cleanly or verifies; a token
//! Lanyard signed verifies to its claims, and no single-byte change makes it
//! verify to other claims.
#![no_main]

use std::sync::OnceLock;

use lanyard::crypto::jwt::{Verifier, peek_header};
use lanyard::crypto::{Alg, SigningKey, generate_key};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

struct Keys {
    signers: Vec<SigningKey>,
    verifiers: Vec<Verifier>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut signers = Vec::new();
        let mut verifiers = Vec::new();
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256] {
            let k = generate_key(alg).expect("a key");
            signers.push(SigningKey::from_der(alg, &k.kid, &k.private_der).expect("signer"));
            verifiers.push(Verifier::from_jwk(alg, &k.public_jwk).expect("verifier"));
        }
        Keys { signers, verifiers }
    })
}

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        // Whatever arrives as a token.
        let token = String::from_utf8_lossy(rest);
        let _ = peek_header(&token);
        for v in &keys.verifiers {
            if v.verify(&token).is_ok() {
                let header = peek_header(&token).expect("a verified token has a header");
                assert_eq!(header.alg, v.alg.as_str(), "only the key's own algorithm verifies");
            }
        }
        return;
    }
    // A token Lanyard signs over fuzzed claims, then one byte changed.
    let Some((&at, payload)) = rest.split_first() else { return };
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(payload) else { return };
    let which = usize::from(mode / 2) % keys.signers.len();
    let token = keys.signers[which].sign("at+jwt", &Value::Object(claims.clone())).expect("signs");
    // The claims as the token carries them: a number beyond f64's exact
    // range is read back as the nearest float to its printed form, which need
    // not be the one it was parsed as (found by this target; Lanyard reads
    // its own times as integers and refuses anything else).
    let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(&Value::Object(claims).to_string()) else {
        unreachable!("a JSON object prints as one")
    };
    let verifier = &keys.verifiers[which];
    assert_eq!(verifier.verify(&token).expect("its own signature verifies"), claims);
    let mut bytes = token.into_bytes();
    let i = usize::from(at) * bytes.len() / 256;
    bytes[i] ^= 1 << (at % 7);
    let changed = String::from_utf8_lossy(&bytes);
    for (j, v) in keys.verifiers.iter().enumerate() {
        if let Ok(got) = v.verify(&changed) {
            assert_eq!(j, which, "another key never verifies it");
            assert_eq!(got, claims, "a changed token never verifies to other claims");
        }
    }
});
