//! One log line per request: method, path, status, time (never the query
//! string: those of `/authorize` and `/logout` carry hints and tokens); and the
//! request counted for /metrics by its route pattern and status.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let metrics = req
        .app_data::<actix_web::web::Data<super::AppState>>()
        .map(|state| state.provider.metrics.clone());
    let res = next.call(req).await?;
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        let route = res.request().match_pattern();
        metrics.request(
            route.as_deref().unwrap_or("unmatched"),
            res.status().as_u16(),
            elapsed.as_secs_f64(),
        );
    }
    tracing::info!(
        target: "lanyard::http",
        %method,
        path,
        status = res.status().as_u16(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    Ok(res)
}
