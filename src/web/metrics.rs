//! `/metrics`: Prometheus text exposition (format 0.0.4) of this process.

use std::fmt::Write as _;

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::crypto::Alg;
use crate::metrics::write_header;
use crate::model::GrantType;
use crate::protocol::Provider;
use crate::store;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let p = &state.provider;
    let up = tokio::time::timeout(std::time::Duration::from_secs(2), store::ping(&p.pool))
        .await
        .unwrap_or(false);
    let mut out = String::new();
    tokens_issued(p, &mut out);
    p.metrics.write(&mut out);
    audit_and_database(p, up, &mut out);
    signing_keys(p, &mut out);
    catalog(p, &mut out);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(out)
}

/// Tokens issued, by grant type and algorithm (every pair, zeros too).
fn tokens_issued(p: &Provider, out: &mut String) {
    let issued = "lanyard_tokens_issued_total";
    write_header(
        out,
        issued,
        "counter",
        "Tokens issued by this process, by grant type and the access token's algorithm.",
    );
    let totals = p.counters.totals();
    for grant in GrantType::ALL {
        for alg in Alg::ALL {
            let n = totals
                .iter()
                .find(|((g, a), _)| *g == grant.as_str() && *a == alg)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "{issued}{{grant_type=\"{}\",alg=\"{alg}\"}} {n}", grant.as_str());
        }
    }
}

/// One metric with one value.
fn one_value(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    write_header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The audit buffer, and the database with this process's pool.
fn audit_and_database(p: &Provider, up: bool, out: &mut String) {
    let (written, refused) = p.audit.totals();
    let (gauge, counter) = ("gauge", "counter");
    let depth_help = "Audit events waiting in memory to be written.";
    one_value(out, "lanyard_audit_buffer_depth", gauge, depth_help, p.audit.depth());
    let written_help = "Buffered audit events written to PostgreSQL.";
    one_value(
        out,
        "lanyard_audit_events_written_total",
        counter,
        written_help,
        written,
    );
    let refused_help = "Requests refused (503) because the audit buffer was full.";
    one_value(
        out,
        "lanyard_audit_events_refused_total",
        counter,
        refused_help,
        refused,
    );
    let up_help = "Whether PostgreSQL answered just now.";
    one_value(out, "lanyard_database_up", gauge, up_help, u8::from(up));
    let size_help = "Open connections of this process's pool.";
    one_value(out, "lanyard_database_connections", gauge, size_help, p.pool.size());
    let in_use = (p.pool.size() as usize).saturating_sub(p.pool.num_idle());
    let in_use_help = "Connections of this process's pool serving a request now.";
    one_value(out, "lanyard_database_connections_in_use", gauge, in_use_help, in_use);
}

/// The clients in memory, and how often the whole catalog was read (start-up,
/// a new listener, the safety net, a burst of changes too big to name).
fn catalog(p: &Provider, out: &mut String) {
    let clients_help = "Clients in this process's in-memory catalog.";
    one_value(
        out,
        "lanyard_catalog_clients",
        "gauge",
        clients_help,
        p.catalog.client_count(),
    );
    let reads_help = "Whole reads of the catalog by this process (a change reads only the clients it names).";
    one_value(
        out,
        "lanyard_catalog_whole_reads_total",
        "counter",
        reads_help,
        p.catalog.whole_reads(),
    );
}

/// The published keys, and how long each active key has signed.
fn signing_keys(p: &Provider, out: &mut String) {
    let jwks: serde_json::Value = serde_json::from_slice(&p.keys.jwks()).unwrap_or_default();
    let published = jwks["keys"].as_array().map_or(0, Vec::len);
    let help = "Keys in the JWKS this process serves.";
    one_value(out, "lanyard_signing_keys_published", "gauge", help, published);
    let age = "lanyard_signing_key_age_seconds";
    write_header(out, age, "gauge", "How long each active signing key has signed.");
    let now = p.now();
    for (alg, kid, since) in p.keys.active_since() {
        let secs = (now - since).num_seconds();
        let _ = writeln!(out, "{age}{{alg=\"{alg}\",kid=\"{kid}\"}} {secs}");
    }
}
