//! Lanyard: an OpenID Connect provider and OAuth 2.0 authorization server over PostgreSQL.

/// `Display` and `FromStr` for an enum with `ALL` and `as_str()`, whose string
/// forms are the protocol's own names; an unknown name lists the known ones.
macro_rules! protocol_names {
    ($ty:ty, $what:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} `{s}` (use {})", $what, known.join(", "))
                })
            }
        }
    };
}

pub mod admin;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod keys;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod paths;
pub mod pg_cluster;
pub mod protocol;
pub mod random;
pub mod refresher;
pub mod reloadable;
pub mod store;
pub mod telemetry;
pub mod web;
