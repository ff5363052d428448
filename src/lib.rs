//! Lanyard: an OpenID Connect provider and OAuth 2.0 authorization server over PostgreSQL.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod model;
pub mod store;
pub mod admin;
pub mod keys;
pub mod app;
pub mod paths;
pub mod protocol;
pub mod web;
pub mod pg_cluster;
pub mod cli;
pub mod telemetry;
