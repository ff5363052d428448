//! `/metrics`: Prometheus text exposition (format 0.0.4) of this process.

use std::fmt::Write as _;

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::model::GrantType;
use crate::store;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let p = &state.provider;
    let up = tokio::time::timeout(std::time::Duration::from_secs(2), store::ping(&p.pool))
        .await
        .unwrap_or(false);
    let totals = p.counters.totals();
    let jwks: serde_json::Value = serde_json::from_slice(&p.keys.jwks()).unwrap_or_default();
    let published = jwks["keys"].as_array().map_or(0, Vec::len);
    let mut out = String::new();
    out.push_str("# HELP lanyard_tokens_issued_total Tokens issued by this process, by grant type.\n");
    out.push_str("# TYPE lanyard_tokens_issued_total counter\n");
    for grant in GrantType::ALL {
        let n = totals.iter().find(|(g, _)| *g == grant.as_str()).map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "lanyard_tokens_issued_total{{grant_type=\"{}\"}} {n}",
            grant.as_str()
        );
    }
    out.push_str(
        "# HELP lanyard_database_up Whether PostgreSQL answered just now.\n# TYPE lanyard_database_up gauge\n",
    );
    let _ = writeln!(out, "lanyard_database_up {}", u8::from(up));
    out.push_str("# HELP lanyard_signing_keys_published Keys in the JWKS this process serves.\n# TYPE lanyard_signing_keys_published gauge\n");
    let _ = writeln!(out, "lanyard_signing_keys_published {published}");
    out.push_str("# HELP lanyard_database_connections Open connections of this process's pool.\n# TYPE lanyard_database_connections gauge\n");
    let _ = writeln!(out, "lanyard_database_connections {}", p.pool.size());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(out)
}
