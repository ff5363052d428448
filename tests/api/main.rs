//! Lanyard's integration tests: one binary, the real app on port 0, a real
//! PostgreSQL, the real `lanyard` binary, the `openidconnect` crate as the RP.

// The tests drive real time and make their own secrets: the injected clock and
// random source (clippy.toml) are rules for the server, not for its tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod account;
mod account_browser;
mod admin;
mod admin_api;
mod admin_browser;
mod admin_mfa;
mod auth_level;
mod authorize;
mod backchannel_logout;
mod browser;
mod catalog;
mod cli;
mod client_id_metadata;
mod concurrency;
mod config;
mod cors;
mod delegation;
mod dev;
mod discovery;
mod dpop;
mod dpop_grants;
mod dpop_policy;
mod dpop_resources;
mod exchange;
mod flow;
mod health;

mod housekeeping;
mod jwks;
mod keys;
mod lab;
mod logout;
mod mail;
mod metrics;
mod nodes;
mod outage;
mod par;
mod passkeys;
mod passkeys_browser;
mod private_key_jwt;
mod registration;
mod resource_server;
mod resources;
mod secret_grace;
mod service_tokens;
mod shutdown;
mod signin;
mod signup;
mod signup_browser;
mod support;
mod throttle;
mod token;
mod two_step;
mod two_step_browser;
mod upstream;
mod upstream_browser;
mod userinfo;
