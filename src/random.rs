//! The one source of randomness: every secret, code, session id and device id
//! is drawn from `rng()` — a cryptographically secure generator seeded from
//! the operating system (rand's thread-local ChaCha, reseeded periodically).
//! `clippy.toml` forbids drawing from anywhere else, as it forbids reading
//! the time anywhere but the injected `Clock`. (Row ids are UUID v7s the
//! `uuid` crate stamps with its own clock and randomness: they order rows
//! and decide nothing. An access token's `jti` decides — the admin API
//! compares it with a secret's change — so `mint::new_jti` stamps it with
//! the injected clock.)

use rand::rngs::ThreadRng;

/// The generator to draw from (cheap: a handle to the thread's generator).
#[allow(clippy::disallowed_methods)]
pub fn rng() -> ThreadRng {
    rand::rng()
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::Rng::fill_bytes(&mut rng(), &mut out);
    out
}
