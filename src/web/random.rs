//! The random source of the HTTP layer (CSRF secrets, client secrets), made
//! once at start-up and handed to the flows, never taken from a global.

use std::sync::Mutex;

use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// A seeded CSPRNG; each request draws its own generator from it.
pub struct Random(Mutex<StdRng>);

impl Random {
    /// Seeded from the operating system (start-up only).
    pub fn from_os() -> Self {
        Self(Mutex::new(rand::make_rng()))
    }

    /// A generator of its own for one request, so no lock is held across an await.
    pub fn rng(&self) -> StdRng {
        let mut parent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        StdRng::from_rng(&mut *parent)
    }
}
