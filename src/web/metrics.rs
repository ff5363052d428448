//! `/metrics`: Prometheus text exposition (format 0.0.4) of this process.

use std::fmt::Write as _;

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::crypto::Alg;
use crate::metrics::write_header;
use crate::model::GrantType;
use crate::store;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let p = &state.provider;
    let up = tokio::time::timeout(std::time::Duration::from_secs(2), store::ping(&p.pool))
        .await
        .unwrap_or(false);
    let mut out = String::new();
    let issued = "lanyard_tokens_issued_total";
    write_header(
        &mut out,
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
    p.metrics.write(&mut out);
    let (written, refused) = p.audit.totals();
    let mut one_value = |name: &str, kind: &str, help: &str, value: String| {
        write_header(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    };
    one_value(
        "lanyard_audit_buffer_depth",
        "gauge",
        "Audit events waiting in memory to be written.",
        p.audit.depth().to_string(),
    );
    one_value(
        "lanyard_audit_events_written_total",
        "counter",
        "Buffered audit events written to PostgreSQL.",
        written.to_string(),
    );
    one_value(
        "lanyard_audit_events_refused_total",
        "counter",
        "Requests refused (503) because the audit buffer was full.",
        refused.to_string(),
    );
    one_value(
        "lanyard_database_up",
        "gauge",
        "Whether PostgreSQL answered just now.",
        u8::from(up).to_string(),
    );
    one_value(
        "lanyard_database_connections",
        "gauge",
        "Open connections of this process's pool.",
        p.pool.size().to_string(),
    );
    one_value(
        "lanyard_database_connections_in_use",
        "gauge",
        "Connections of this process's pool serving a request now.",
        (p.pool.size() as usize).saturating_sub(p.pool.num_idle()).to_string(),
    );
    let jwks: serde_json::Value = serde_json::from_slice(&p.keys.jwks()).unwrap_or_default();
    one_value(
        "lanyard_signing_keys_published",
        "gauge",
        "Keys in the JWKS this process serves.",
        jwks["keys"].as_array().map_or(0, Vec::len).to_string(),
    );
    let age = "lanyard_signing_key_age_seconds";
    write_header(&mut out, age, "gauge", "How long each active signing key has signed.");
    let now = p.now();
    for (alg, kid, since) in p.keys.active_since() {
        let _ = writeln!(
            out,
            "{age}{{alg=\"{alg}\",kid=\"{kid}\"}} {}",
            (now - since).num_seconds()
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(out)
}
