//! The one source of randomness: every secret, code, session id and device id
//! is drawn from `rng()` — a cryptographically secure generator seeded from
//! the operating system (rand's thread-local ChaCha, reseeded periodically).
//! `clippy.toml` forbids drawing from anywhere else, as it forbids reading
//! the time anywhere but the injected `Clock`.

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
