//! The test harness, one file per job; everything a test needs is re-exported
//! here, so a test file says `use crate::support::{…}`.
//!
//! - `db`: the private PostgreSQL, the migrated template, a fresh or empty
//!   database per test, a cluster of a test's own.
//! - `app`: `TestApp`, its builder, and the HTTP helpers on it.
//! - `cli`: the `lanyard` binary as the CLI tests run it.
//! - `flow`: the code flow's free functions (auth URL, PKCE, forms, redirects).
//! - `fixtures`: users, clients, APIs and allowances put in place before a test acts.
//! - `jwt`: a JWT's header and claims, unverified.
//! - `logout_receiver`: a relying party's back-channel logout endpoint that
//!   records the logout tokens it gets and can be told to fail.
//! - `smtp`: a small SMTP sink that collects the mail Lanyard sends.
//! - `upstream`: a second Lanyard as an upstream provider, a mock OP, a
//!   browser walking through both.

mod app;
mod cli;
mod db;
mod fixtures;
mod flow;
mod jwt;
mod logout_receiver;
mod smtp;
mod upstream;

use std::time::Duration;

pub use app::*;
pub use cli::*;
pub use db::*;
pub use fixtures::*;
pub use flow::*;
pub use jwt::*;
pub use logout_receiver::*;
pub use smtp::*;
pub use upstream::*;

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
