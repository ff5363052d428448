//! The overview: counts, tokens issued per hour over the last day by grant (a
//! server-rendered SVG from the counters, not the audit rows), exchanges
//! allowed and denied, and the latest audit events.

use std::fmt::Write as _;

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::json;

use super::admin_page;
use crate::admin::dashboard::overview;
use crate::model::GrantType;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::Admin;

/// One colour per grant type, in `GrantType::ALL` order.
const COLOURS: [&str; 4] = ["#2f5bd3", "#7a4fd1", "#1f8a5b", "#d17a22"];

/// A stacked bar chart of tokens per hour for the 24 hours up to `now`.
fn chart(rows: &[(DateTime<Utc>, String, i64)], now: DateTime<Utc>) -> String {
    let (width, height, left, bottom) = (720.0_f64, 200.0_f64, 36.0_f64, 24.0_f64);
    let first = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now) - TimeDelta::hours(23);
    let mut hours = [[0i64; 4]; 24];
    for (hour, grant, n) in rows {
        let slot = (*hour - first).num_hours();
        let g = GrantType::ALL.iter().position(|x| x.as_str() == grant);
        if let (0..=23, Some(g)) = (slot, g) {
            hours[slot as usize][g] += n;
        }
    }
    let max = hours.iter().map(|h| h.iter().sum::<i64>()).max().unwrap_or(0).max(1) as f64;
    let bar = (width - left) / 24.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"chart-title\" class=\"chart\">\
         <title id=\"chart-title\">Tokens issued per hour, last 24 hours (peak {max})</title>\
         <line x1=\"{left}\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\" stroke=\"#d9dee8\"/>\
         <text x=\"0\" y=\"12\" font-size=\"11\" fill=\"#5b6478\">{max}</text>",
        y = height - bottom,
    );
    for (i, counts) in hours.iter().enumerate() {
        let mut top = height - bottom;
        for (g, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let h = (*n as f64 / max) * (height - bottom - 16.0);
            top -= h;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{n} {}</title></rect>",
                left + i as f64 * bar + 1.0,
                bar - 2.0,
                COLOURS[g],
                GrantType::ALL[g].as_str()
            );
        }
        if i % 6 == 0 {
            let label = (first + TimeDelta::hours(i as i64)).format("%H:00");
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{height}\" font-size=\"11\" fill=\"#5b6478\">{label}</text>",
                left + i as f64 * bar
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let o = overview(&state.provider).await.map_err(WebError::from_admin_page)?;
    let legend: Vec<_> = GrantType::ALL
        .iter()
        .zip(COLOURS)
        .map(|(g, c)| json!({ "grant": g.as_str(), "colour": c }))
        .collect();
    let svg = chart(&o.per_hour, o.now);
    Ok(admin_page(&state, &req, StatusCode::OK, "admin/home.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "home", "counts": o.counts, "chart": svg,
            "legend": legend, "issued": o.issued, "allowed": o.exchanges_allowed, "denied": o.exchanges_denied,
            "latest": o.latest,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_stacks_each_hours_grants() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T10:20:00Z").unwrap().to_utc();
        let hour = now.duration_trunc(TimeDelta::hours(1)).unwrap();
        let rows = vec![
            (hour, "client_credentials".to_owned(), 3),
            (hour, "authorization_code".to_owned(), 1),
        ];
        let svg = chart(&rows, now);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains("<title>3 client_credentials</title>") && svg.contains("<title>1 authorization_code</title>")
        );
        assert!(svg.contains("peak 4"));
    }
}
