//! Password hashing: argon2id at the OWASP parameters (m=19 MiB, t=2, p=1).

use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

use super::CryptoError;
use super::secret::constant_time_eq;

/// Hashes a password as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
/// Slow on purpose (tens of milliseconds): call it off the async threads.
pub fn hash(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Password(e.to_string()))
}

/// New passwords hashed at once (registrations, changes, resets; sign-ins
/// verify on the `VerifierPool`): each hash takes 19 MiB, so memory stays
/// bounded however many arrive; the others wait their turn.
pub const HASHES_AT_ONCE: usize = 2;

static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASHES_AT_ONCE);

/// [`hash`] on a blocking thread, off the async ones, at most
/// [`HASHES_AT_ONCE`] at a time.
pub async fn hash_off_thread(password: String) -> Result<String, CryptoError> {
    let _turn = HASHING
        .acquire()
        .await
        .map_err(|e| CryptoError::Password(e.to_string()))?;
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| CryptoError::Password(e.to_string()))?
}

/// Whether `password` matches the PHC string `hash` (memory of its own; the
/// server verifies on a `VerifierPool`).
pub fn verify(password: &str, hash: &str) -> bool {
    verify_in(password, hash, &mut Vec::new())
}

/// The most memory a stored hash may ask for (the default is 19 MiB): a hash
/// asking for more is refused rather than allowed to exhaust memory.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// How long a hashing thread keeps its memory without a verification.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// argon2id verification on a fixed set of threads, each keeping its own
/// memory (19 MiB) while sign-ins keep coming (released after 30 s without). Sign-ins therefore use at
/// most `threads × 19 MiB`, however many arrive, and no verification pays for
/// fresh pages (a new 19 MiB allocation per hash is both page faults and, with
/// glibc, memory kept by the allocator afterwards).
pub struct VerifierPool {
    jobs: mpsc::SyncSender<Job>,
}

/// Verifications that may wait per hashing thread (about two seconds'
/// worth at 36 ms a hash): beyond that, a sign-in is refused at once rather
/// than queued without bound.
pub const QUEUE_PER_THREAD: usize = 64;

/// Every hashing thread is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password hashing thread is busy")]
pub struct QueueFull;

struct Job {
    password: String,
    hash: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

impl VerifierPool {
    /// `threads` hashing threads; at most `queue` verifications wait for one.
    pub fn new(threads: usize, queue: usize) -> Result<Self, CryptoError> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(queue);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("lanyard-argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let next = match queue.lock() {
                            Ok(q) => q.recv_timeout(RELEASE_AFTER),
                            Err(_) => return,
                        };
                        match next {
                            Ok(job) => {
                                let _ = job.reply.send(verify_in(&job.password, &job.hash, &mut memory));
                            }
                            // Quiet for a while: give the memory back until the next sign-in.
                            Err(mpsc::RecvTimeoutError::Timeout) => memory = Vec::new(),
                            // The pool is gone.
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .map_err(|e| CryptoError::Password(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Whether `password` matches the PHC string `hash`; waits its turn for a
    /// hashing thread, or is refused when the queue is full.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, QueueFull> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.jobs.try_send(Job { password, hash, reply }) {
            Ok(()) => Ok(answer.await.unwrap_or(false)),
            Err(mpsc::TrySendError::Full(_)) => Err(QueueFull),
            // The threads are gone: nothing verifies.
            Err(mpsc::TrySendError::Disconnected(_)) => Ok(false),
        }
    }
}

/// `verify`, computing in `memory` (grown to the hash's size once).
fn verify_in(password: &str, hash: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = Version::try_from(parsed.version.unwrap_or(0x13));
    let params = Params::try_from(&parsed);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return false;
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, &mut memory[..])
        .is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
    }

    #[tokio::test]
    async fn the_pool_verifies_again_and_again_reusing_its_memory() {
        let pool = VerifierPool::new(1, 4).unwrap();
        let h = hash("correct horse").unwrap();
        for _ in 0..2 {
            assert_eq!(pool.verify("correct horse".into(), h.clone()).await, Ok(true));
            assert_eq!(pool.verify("wrong horse".into(), h.clone()).await, Ok(false));
        }
        assert_eq!(
            pool.verify("correct horse".into(), "not a hash".into()).await,
            Ok(false)
        );
        let greedy = h.replace("m=19456", "m=4000000");
        assert_eq!(
            pool.verify("correct horse".into(), greedy).await,
            Ok(false),
            "refuses to allocate 4 GB"
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_growing() {
        let pool = std::sync::Arc::new(VerifierPool::new(1, 2).unwrap());
        let h = hash("correct horse").unwrap();
        let many = (0..12).map(|_| {
            let (pool, h) = (pool.clone(), h.clone());
            tokio::spawn(async move { pool.verify("correct horse".into(), h).await })
        });
        let answers: Vec<Result<bool, QueueFull>> = futures_join(many).await;
        let refused = answers.iter().filter(|a| **a == Err(QueueFull)).count();
        assert!(refused >= 12 - 3, "one hashing and two waiting at most: {answers:?}");
        assert!(answers.iter().all(|a| *a != Ok(false)), "{answers:?}");
    }

    #[tokio::test]
    async fn a_new_password_waits_for_a_free_hashing_turn() {
        let held = HASHING.acquire_many(HASHES_AT_ONCE as u32).await.unwrap();
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            hash_off_thread("correct horse".into()),
        )
        .await;
        assert!(waiting.is_err(), "no hash while every turn is taken");
        drop(held);
        assert!(hash_off_thread("correct horse".into()).await.is_ok());
    }

    async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles.collect::<Vec<_>>() {
            out.push(h.await.unwrap());
        }
        out
    }
}
