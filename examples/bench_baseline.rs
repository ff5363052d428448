//! The benchmark's baselines (`bench/run` runs this pinned to Lanyard's core):
//! how many JWTs per second josekit signs and verifies for each algorithm,
//! through Lanyard's thin crypto layer, and the bare argon2id hash rate at
//! Lanyard's parameters. Prints one JSON object.

// An example program, not the server: the injected clock and random source
// (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use lanyard::crypto::jwt::Verifier;
use lanyard::crypto::{Alg, SigningKey, generate_key, password};
use serde_json::{Value, json};

/// Runs `op` for at least `window` and returns operations per second.
fn rate<T, E>(window: Duration, mut op: impl FnMut() -> Result<T, E>) -> Result<f64, E> {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < window {
        op()?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let window = Duration::from_secs(2);
    // A typical access token's claims (RFC 9068 §2.2, as Lanyard mints them).
    let claims = json!({
        "iss": "http://127.0.0.1:18080", "sub": "bench-service", "aud": "https://bench.example/es256",
        "client_id": "bench-service", "scope": "read", "iat": 1_800_000_000, "nbf": 1_800_000_000,
        "exp": 1_800_000_900, "jti": "0b5d2c1e-6a39-4f0e-9a51-3c8d1c3f4e7a"
    });
    let mut report = serde_json::Map::new();
    for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256] {
        let generated = generate_key(alg)?;
        let key = SigningKey::from_der(alg, &generated.kid, &generated.private_der)?;
        let verifier = Verifier::from_jwk(alg, &generated.public_jwk)?;
        let token = key.sign("at+jwt", &claims)?;
        let sign = rate(window, || key.sign("at+jwt", &claims))?;
        let verify = rate(window, || verifier.verify(&token))?;
        report.insert(format!("{}_sign_per_s", alg.as_str()), json!(sign.round()));
        report.insert(format!("{}_verify_per_s", alg.as_str()), json!(verify.round()));
    }
    let argon2 = rate(Duration::from_secs(3), || {
        password::hash("correct horse battery staple")
    })?;
    report.insert("argon2id_hash_per_s".into(), json!((argon2 * 10.0).round() / 10.0));
    println!("{}", Value::Object(report));
    Ok(())
}
