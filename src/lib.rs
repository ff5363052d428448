//! Lanyard: an OpenID Connect provider and OAuth 2.0 authorization server over PostgreSQL.

pub mod admin;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod keys;
pub mod model;
pub mod paths;
pub mod pg_cluster;
pub mod protocol;
pub mod store;
pub mod telemetry;
pub mod web;
