//! What every outbox worker shares (README "Email and password reset",
//! "Back-channel logout"): how many rows a pass claims, how long a claim
//! holds, when a failed attempt is tried again (30 s, doubling, at most an
//! hour) and when it is given up (a day after the row was written), and the
//! loop that runs a pass every few seconds on every node. The rows
//! themselves are `store::outbox`'s; each job (`mail::worker`,
//! `protocol::backchannel_logout`) sends its own kind.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

/// How many rows one pass claims at most.
pub const BATCH: i64 = 20;
/// How long a claimed row is kept from other nodes: longer than one attempt
/// can take.
pub const LEASE: TimeDelta = TimeDelta::minutes(5);
/// The first retry waits this long; each next one twice as long.
const FIRST_RETRY: TimeDelta = TimeDelta::seconds(30);
/// The longest wait between two attempts.
const MAX_RETRY: TimeDelta = TimeDelta::hours(1);
/// After this long a row that never left is given up (and audited).
pub const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(24);

/// When the next attempt after `attempts` failed ones is due.
pub fn retry_delay(attempts: i32) -> TimeDelta {
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    (FIRST_RETRY * 2_i32.pow(doublings)).min(MAX_RETRY)
}

/// When a row written at `created_at` whose `attempts`-th attempt just
/// failed is tried again — `None` once that would be past [`GIVE_UP_AFTER`].
pub fn retry_at(now: DateTime<Utc>, attempts: i32, created_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(now + retry_delay(attempts)).filter(|at| *at < created_at + GIVE_UP_AFTER)
}

/// What a pass tells the loop: how many rows it attempted.
pub trait Attempted {
    fn attempted(&self) -> usize;
}

/// Runs `pass` every `every` until aborted (with the app's other background
/// tasks) — at once again after a pass that claimed a whole batch, so a
/// backlog drains at the receivers' pace, not one batch per interval; a pass
/// that fails is logged and the next one tries again.
pub fn spawn_every<F, Fut, T, E>(what: &'static str, every: std::time::Duration, pass: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Attempted,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        let mut full = false;
        loop {
            match full {
                true => tokio::task::yield_now().await,
                false => tokio::time::sleep(every).await,
            }
            full = match pass().await {
                Ok(done) => done.attempted() >= BATCH as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "the {what} could not be read");
                    false
                }
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay(1), TimeDelta::seconds(30));
        assert_eq!(retry_delay(2), TimeDelta::seconds(60));
        assert_eq!(retry_delay(3), TimeDelta::seconds(120));
        assert_eq!(retry_delay(40), TimeDelta::hours(1));
    }

    #[test]
    fn a_row_is_given_up_a_day_after_it_was_written() {
        let created = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        assert_eq!(retry_at(created, 1, created), Some(created + TimeDelta::seconds(30)));
        let late = created + TimeDelta::hours(23) + TimeDelta::minutes(30);
        assert_eq!(retry_at(late, 30, created), None);
    }
}
